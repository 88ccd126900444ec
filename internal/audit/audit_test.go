package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func readRecords(t *testing.T, path string) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d is not a JSON record: %v: %q", len(out)+1, err, sc.Text())
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func rec(id uint32) Record {
	return Record{Time: time.Now().UTC(), RequestID: id, Type: 5, TypeName: "hsmd_sign_commitment_tx",
		Peer: "02aa", DBID: 7, Capabilities: 1027, Outcome: OutcomeAnswered}
}

// modes are the two durability modes; each test runs in both.
var modes = []struct {
	name string
	opts Options
}{
	{"sync-before-return", Options{}},
	{"sync-interval", Options{SyncInterval: 5 * time.Millisecond}},
}

// inEachMode runs f as a subtest in each durability mode.
func inEachMode(t *testing.T, f func(t *testing.T, opts Options)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { f(t, m.opts) })
	}
}

// openTemp opens a log in a new temporary directory.
func openTemp(t *testing.T, opts Options) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l, path
}

func TestLinesPresentAfterClose(t *testing.T) { inEachMode(t, testLinesPresentAfterClose) }

func testLinesPresentAfterClose(t *testing.T, opts Options) {
	l, path := openTemp(t, opts)
	for i := range 10 {
		if err := l.Append(context.Background(), rec(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	// Queued but not waited for: Close must still write it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = l.Append(ctx, rec(99))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := readRecords(t, path)
	if len(got) != 11 || got[10].RequestID != 99 {
		t.Fatalf("got %d records (last %+v), want 11 ending with request 99", len(got), got[len(got)-1])
	}
	for i := range 10 {
		if got[i].RequestID != uint32(i) || got[i].Outcome != OutcomeAnswered || got[i].TypeName != "hsmd_sign_commitment_tx" {
			t.Errorf("record %d = %+v", i, got[i])
		}
	}
	if err := l.Append(context.Background(), rec(100)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v (%v), want 0600", fi.Mode(), err)
	}

	// Reopening appends; nothing is truncated.
	l, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), rec(200)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if got := readRecords(t, path); len(got) != 12 || got[11].RequestID != 200 {
		t.Fatalf("after reopening: %d records, want 12", len(got))
	}
}

// appendFromWriters appends each lines from each of writers goroutines at
// once; writer w's i-th line is request w·1000+i.
func appendFromWriters(t *testing.T, l *Log, writers, each int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := l.Append(context.Background(), rec(uint32(w*1000+i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// checkWriters checks records (oldest first) hold every line of
// appendFromWriters exactly once, each writer's in its order.
func checkWriters(t *testing.T, records []Record, writers, each int) {
	t.Helper()
	seen := map[uint32]bool{}
	last := map[uint32]int{}
	for _, r := range records {
		if seen[r.RequestID] {
			t.Errorf("request %d appears twice", r.RequestID)
		}
		seen[r.RequestID] = true
		w, i := r.RequestID/1000, int(r.RequestID%1000)
		if prev, ok := last[w]; ok && i <= prev {
			t.Errorf("writer %d: line %d after line %d", w, i, prev)
		}
		last[w] = i
	}
	if len(seen) != writers*each {
		t.Errorf("%d distinct lines, want %d", len(seen), writers*each)
	}
}

func TestConcurrentWriters(t *testing.T) { inEachMode(t, testConcurrentWriters) }

func testConcurrentWriters(t *testing.T, opts Options) {
	l, path := openTemp(t, opts)
	const writers, each = 32, 25
	appendFromWriters(t, l, writers, each)
	lines, commits := l.Stats()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := readRecords(t, path)
	if len(got) != writers*each || lines != writers*each {
		t.Fatalf("%d records in the file, %d counted; want %d", len(got), lines, writers*each)
	}
	checkWriters(t, got, writers, each)
	t.Logf("%d lines in %d fsyncs", lines, commits)
}

func TestWriteErrorIsSticky(t *testing.T) { inEachMode(t, testWriteErrorIsSticky) }

func testWriteErrorIsSticky(t *testing.T, opts Options) {
	l, _ := openTemp(t, opts)
	if err := l.Append(context.Background(), rec(1)); err != nil {
		t.Fatal(err)
	}
	l.f.Close() // every later write fails
	err1 := l.Append(context.Background(), rec(2))
	if err1 == nil {
		t.Fatal("Append on a broken file succeeded")
	}
	if err2 := l.Append(context.Background(), rec(3)); err2 == nil || err2.Error() != err1.Error() {
		t.Errorf("second Append: %v, want the same error %v", err2, err1)
	}
	if err := l.Close(); err == nil {
		t.Error("Close hid the write error")
	}
}

// TestIntervalLineWrittenBeforeReturn: with a sync interval, Append returns
// once the line is in the file (another reader sees it: a crash of the
// daemon cannot lose it), before any fsync, and a background fsync follows
// within the interval, shared by the lines written meanwhile.
func TestIntervalLineWrittenBeforeReturn(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	const interval = 200 * time.Millisecond
	l, err := Open(path, Options{SyncInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	for i := range 50 {
		if err := l.Append(context.Background(), rec(uint32(i))); err != nil {
			t.Fatal(err)
		}
		if got := readRecords(t, path); len(got) != i+1 || got[i].RequestID != uint32(i) {
			t.Fatalf("after Append %d returned: %d records in the file, want %d", i, len(got), i+1)
		}
	}
	appended := time.Since(start)
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines, commits := l.Stats()
		if lines == 50 && commits > 0 {
			// The first line is synced at once; the rest wait for the
			// interval, so 50 lines appended within it share at most
			// two fsyncs (more only if appending took longer).
			if limit := 2 + uint64(appended/interval); commits > limit {
				t.Errorf("%d fsyncs for 50 lines appended in %s, want at most %d", commits, appended, limit)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no background fsync after 5 s: %d lines, %d fsyncs", lines, commits)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIntervalCloseSyncsAtOnce: Close does not wait out the interval.
func TestIntervalCloseSyncsAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	l, err := Open(path, Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Append(context.Background(), rec(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %s", d)
	}
	// The first line is synced at once (with whatever followed it in the
	// meantime); the rest, if any, by Close.
	if lines, commits := l.Stats(); lines != 3 || commits < 1 || commits > 2 {
		t.Errorf("%d lines in %d fsyncs, want 3 in 1 or 2", lines, commits)
	}
	if got := readRecords(t, path); len(got) != 3 {
		t.Errorf("%d records in the file, want 3", len(got))
	}
	if _, err := Open(path, Options{SyncInterval: -time.Second}); err == nil {
		t.Error("a negative sync interval was accepted")
	}
}

// BenchmarkAppend measures what a signing request pays to have its line
// durable: one goroutine (every line its own fsync), and 16 concurrent
// requests sharing fsyncs. perline-fsync is the naive alternative under
// the same concurrency (a mutex, write, fsync per line).
func BenchmarkAppend(b *testing.B) {
	for _, par := range []int{1, 16} {
		for _, mode := range []struct {
			name string
			opts Options
		}{{"group-commit", Options{}}, {"sync-interval-10ms", Options{SyncInterval: 10 * time.Millisecond}}} {
			b.Run(fmt.Sprintf("%s/p%d", mode.name, par), func(b *testing.B) {
				l, err := Open(filepath.Join(b.TempDir(), FileName), mode.opts)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				runPar(b, par, func() {
					if err := l.Append(context.Background(), rec(1)); err != nil {
						b.Error(err)
					}
				})
				lines, commits := l.Stats()
				b.ReportMetric(float64(lines)/float64(max(commits, 1)), "lines/fsync")
			})
		}
		b.Run(fmt.Sprintf("perline-fsync/p%d", par), func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), FileName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var mu sync.Mutex
			runPar(b, par, func() {
				line, _ := json.Marshal(rec(1))
				line = append(line, '\n')
				mu.Lock()
				defer mu.Unlock()
				if _, err := f.Write(line); err != nil {
					b.Error(err)
				}
				if err := f.Sync(); err != nil {
					b.Error(err)
				}
			})
		})
	}
}

// runPar runs fn b.N times from par goroutines.
func runPar(b *testing.B, par int, fn func()) {
	b.ResetTimer()
	var wg sync.WaitGroup
	next := make(chan struct{})
	go func() {
		for range b.N {
			next <- struct{}{}
		}
		close(next)
	}()
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				fn()
			}
		}()
	}
	wg.Wait()
}

// TestRotation: past MaxSize the log moves to audit.log.1 (older files
// shift up, the oldest beyond Keep is removed) and a new audit.log starts;
// with enough files kept, every line is in exactly one of them, in each
// writer's order, and every file is 0600.
func TestRotation(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			opts := m.opts
			opts.MaxSize, opts.Keep = 4000, 1000
			l, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			const writers, each = 8, 100
			appendFromWriters(t, l, writers, each)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			rotations := l.Rotations() // Close's last sync may rotate too
			if rotations == 0 {
				t.Fatal("no rotation after 800 lines with a 4000-byte limit")
			}
			// Oldest first: audit.log.N … audit.log.1, audit.log.
			var files []string
			for i := 1; ; i++ {
				p := fmt.Sprintf("%s.%d", path, i)
				if _, err := os.Stat(p); err != nil {
					break
				}
				files = append([]string{p}, files...)
			}
			files = append(files, path)
			if uint64(len(files)) != rotations+1 {
				t.Errorf("%d files for %d rotations", len(files), rotations)
			}
			var all []Record
			for _, f := range files {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v", f, fi.Mode().Perm())
				}
				all = append(all, readRecords(t, f)...)
			}
			checkWriters(t, all, writers, each)
		})
	}
}

// TestRotationKeepsAtMostKeep: the oldest rotated file goes.
func TestRotationKeepsAtMostKeep(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	l, err := Open(path, Options{MaxSize: 500, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := l.Append(context.Background(), rec(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.Rotations() < 3 {
		t.Fatalf("%d rotations", l.Rotations())
	}
	for _, name := range []string{FileName, FileName + ".1", FileName + ".2"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, FileName+".3")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("audit.log.3 exists beyond Keep = 2 (%v)", err)
	}
	// The newest lines are in the current file and audit.log.1.
	got := append(readRecords(t, filepath.Join(dir, FileName+".1")), readRecords(t, path)...)
	if len(got) == 0 || got[len(got)-1].RequestID != 99 {
		t.Errorf("the last line is not request 99: %+v", got)
	}
	if _, err := Open(path, Options{MaxSize: -1}); err == nil {
		t.Error("a negative MaxSize was accepted")
	}
}

// A daemon killed in the middle of writing a line leaves part of it; the
// next Open drops that part (its answer was never sent), so the log goes on
// with whole lines only.
func TestOpenDropsTornLastLine(t *testing.T) { inEachMode(t, testOpenDropsTornLastLine) }

func testOpenDropsTornLastLine(t *testing.T, opts Options) {
	long := strings.Repeat("x", 9000) // a torn line longer than one read chunk
	for _, tc := range []struct {
		name, torn string
		keep       int // whole records before the torn part
	}{
		{"short torn line", `{"request_id":7,"type_na`, 3},
		{"torn line longer than a chunk", `{"request_id":7,"note":"` + long, 3},
		{"only a torn line", `{"request_id":7`, 0},
		{"no torn line", "", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, path := openTemp(t, opts)
			for i := range tc.keep {
				if err := l.Append(context.Background(), rec(uint32(i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(tc.torn); err != nil {
				t.Fatal(err)
			}
			f.Close()

			l, err = Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Append(context.Background(), rec(500)); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			got := readRecords(t, path)
			if len(got) != tc.keep+1 || got[tc.keep].RequestID != 500 {
				t.Fatalf("got %d records, want the %d whole ones and request 500", len(got), tc.keep)
			}
		})
	}
}
