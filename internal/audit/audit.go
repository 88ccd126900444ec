// Package audit keeps gl-signerd's audit log: one JSON line per signing
// decision (every hsmd request the daemon answered or refused), appended to
// <state-dir>/audit.log.
//
//	log, err := audit.Open(path, audit.Options{SyncInterval: 10 * time.Millisecond})
//	err = log.Append(ctx, audit.Record{...}) // returns once the line is written
//	err = log.Close()                          // writes and syncs what is left
//
// # Durability
//
// Append always returns after its line has been written to the file, so a
// decision that was acted on is never missing from the log whatever
// happens to the process (a crash, SIGKILL, OOM kill): the kernel has the
// line. Options.SyncInterval chooses what a crash of the whole machine
// may cost:
//
//   - Zero: Append returns only once its line is also fsync(2)ed. One
//     writer goroutine commits in groups (every line queued while an fsync
//     runs goes out with the next single write and fsync), but a request
//     still waits for a disk flush, about 0.2 ms here and much longer in
//     the tail.
//   - Above zero: a background goroutine fsyncs written lines within the
//     interval, so a power loss can lose the lines of the last interval,
//     and no request waits for the disk. A line that comes after a quiet
//     spell is synced at once; under load, at most twice per interval.
//
// The audit log is a record of decisions, not signer state: nothing is
// signed differently because of it, so gl-signerd uses a short interval by
// default (see BenchmarkAppend and docs/performance.md for the costs).
// Close stops new appends (ErrClosed), then writes and syncs everything, so
// a clean shutdown loses nothing in either mode.
//
// # Rotation
//
// With Options.MaxSize, a log that has grown past it is synced, renamed
// audit.log.1 (older files shift up to Options.Keep; the oldest goes) and
// replaced by a new audit.log, by the goroutine that syncs, between two
// commits. A failed rename or open is sticky, like a failed write.
//
// A failed write or fsync is sticky: the kernel may have dropped the data
// (an fsync error is reported once), so every later Append fails with the
// same error rather than pretend the log is whole. Callers treat that as a
// reason to stop signing.
//
// # Format
//
// Each line is a JSON object with the fields of Record; lines are
// independent and only ever appended. Nothing secret is recorded: no
// request payload, no signature, no key.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"gl-signerd/internal/atomicfile"
)

// FileName is the audit log's name in the state directory.
const FileName = "audit.log"

// Outcomes of a decision.
const (
	OutcomeAnswered = "answered"
	OutcomeRefused  = "refused"
)

// Record is one decision.
type Record struct {
	Time time.Time `json:"time"`
	// RequestID is the node's request id (it restarts with every node
	// process; with Time it identifies the request in the node's logs).
	RequestID uint32 `json:"request_id"`
	Type      uint16 `json:"type"`
	TypeName  string `json:"type_name"`
	// Peer and DBID name the hsmd client the request came from: the
	// channel peer's node id (hex) and channel dbid; both empty for
	// lightningd's own connection.
	Peer         string `json:"peer,omitempty"`
	DBID         uint64 `json:"dbid"`
	Capabilities uint64 `json:"capabilities"`
	Outcome      string `json:"outcome"`
	// Reason says why a request was refused.
	Reason string `json:"reason,omitempty"`
	// Tag is a stable name for the reason ("paused", "capability", ...).
	Tag        string  `json:"tag,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("the audit log is closed")

// Options tunes a Log.
type Options struct {
	// SyncInterval is how long a written line may wait for its fsync; zero
	// makes Append wait for it (see Durability in the package comment).
	SyncInterval time.Duration
	// MaxSize, if above zero, rotates the log once it has grown past this
	// many bytes: audit.log becomes audit.log.1 (audit.log.1 becomes
	// audit.log.2, and so on), and a new audit.log is started. The file
	// may pass MaxSize by the lines of one commit.
	MaxSize int64
	// Keep is how many rotated files are kept (audit.log.1 … .Keep); the
	// oldest is removed. Zero keeps one.
	Keep int
}

// Log is an open audit log. It is safe for concurrent use.
type Log struct {
	f        *os.File
	path     string
	interval time.Duration
	maxSize  int64
	keep     int
	size     int64 // bytes in the current file; guarded by mu

	mu     sync.Mutex
	queue  []pending
	spare  []pending // the previous batch's array, for the next queue
	closed bool
	err    error // sticky write/sync error

	dirty bool // written and not yet synced; guarded by mu (SyncInterval mode)

	wake chan struct{}
	stop chan struct{} // closed by Close
	done chan struct{}

	// statistics, guarded by mu
	lines, commits, rotations uint64
}

type pending struct {
	line []byte
	done chan error
}

// Open opens (creating it with mode 0600 if needed) the audit log at path
// for appending.
func Open(path string, opts Options) (*Log, error) {
	if opts.SyncInterval < 0 {
		return nil, fmt.Errorf("audit: the sync interval %s is negative", opts.SyncInterval)
	}
	if opts.MaxSize < 0 || opts.Keep < 0 {
		return nil, fmt.Errorf("audit: a negative rotation setting (size %d, keep %d)", opts.MaxSize, opts.Keep)
	}
	f, size, err := openFile(path)
	if err != nil {
		return nil, err
	}
	l := &Log{f: f, path: path, interval: opts.SyncInterval, maxSize: opts.MaxSize, keep: max(opts.Keep, 1), size: size,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if l.interval > 0 {
		go l.syncer()
	} else {
		go l.writer()
	}
	return l, nil
}

// openFile opens path for appending, creating it (mode 0600, its directory
// entry synced) if needed, and returns its size.
func openFile(path string) (*os.File, int64, error) {
	_, statErr := os.Lstat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot open the audit log: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// Make the new file's directory entry durable too.
		if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("cannot create the audit log: %w", err)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("cannot open the audit log: %w", err)
	}
	size, err := dropTornTail(path, fi.Size())
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

// dropTornTail removes an unfinished last line from the log at path (size
// bytes long) and returns the new size. A daemon killed while it wrote a
// line can leave part of it (the kernel may stop a write at a page
// boundary for a fatal signal); that line's answer was never sent, since
// answers wait for their line, so dropping it loses no decision, and the
// next line starts on a line of its own.
func dropTornTail(path string, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("cannot check the audit log's last line: %w", err)
	}
	defer f.Close()
	var buf [4096]byte
	end := size
	for end > 0 {
		n := int64(len(buf))
		if end < n {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, fmt.Errorf("cannot check the audit log's last line: %w", err)
		}
		if end == size && buf[n-1] == '\n' {
			return size, nil // the common case: the log ends with a whole line
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if err := f.Truncate(end); err != nil {
		return 0, fmt.Errorf("cannot drop the unfinished last line of the audit log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("cannot drop the unfinished last line of the audit log: %w", err)
	}
	return end, nil
}

// rotateLocked moves the full log aside (see Options.MaxSize) and starts
// a new one. It runs on the goroutine that syncs (the writer or the
// syncer), with mu held, so no write or fsync uses the file meanwhile.
// A failure is sticky: the log cannot go on safely.
func (l *Log) rotateLocked() {
	if l.err != nil || l.maxSize <= 0 || l.size < l.maxSize {
		return
	}
	fail := func(err error) { l.err = fmt.Errorf("audit: rotating %s: %w", l.path, err) }
	if err := l.f.Sync(); err != nil {
		fail(err)
		return
	}
	if err := l.f.Close(); err != nil {
		fail(err)
		return
	}
	rotated := func(i int) string { return l.path + "." + strconv.Itoa(i) }
	if err := os.Remove(rotated(l.keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
		fail(err)
		return
	}
	for i := l.keep - 1; i >= 1; i-- {
		if err := os.Rename(rotated(i), rotated(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			fail(err)
			return
		}
	}
	if err := os.Rename(l.path, rotated(1)); err != nil {
		fail(err)
		return
	}
	f, size, err := openFile(l.path)
	if err != nil {
		fail(err)
		return
	}
	l.f, l.size = f, size
	l.rotations++
}

// Path is the file the log appends to.
func (l *Log) Path() string { return l.path }

// Append writes r and returns once the line is in the file, and with a
// zero SyncInterval once it is also synced. If ctx ends first, Append
// returns ctx's error; the line is still written.
func (l *Log) Append(ctx context.Context, r Record) error {
	line, err := encode(r)
	if err != nil {
		return fmt.Errorf("audit: encoding a record: %w", err)
	}
	return l.appendLine(ctx, append(line, '\n'))
}

// appendLine writes one encoded line as Append does.
func (l *Log) appendLine(ctx context.Context, line []byte) error {
	if l.interval > 0 {
		return l.write(line)
	}
	p := pending{line: line, done: donePool.Get().(chan error)}
	l.mu.Lock()
	if err := l.refusingLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	l.queue = append(l.queue, p)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default: // the writer is already due to look at the queue
	}
	select {
	case err := <-p.done:
		donePool.Put(p.done) // empty again; unlike one given up on below
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// donePool holds the channels (buffered, empty) by which the writer tells
// Append its line is committed: one per request otherwise.
var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

// Stats returns the number of lines written and the number of fsyncs
// that committed them.
func (l *Log) Stats() (lines, commits uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines, l.commits
}

// Rotations returns how many times the log was rotated since Open.
func (l *Log) Rotations() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rotations
}

// Close stops new appends, commits every queued line, and closes the
// file. It returns the first write error, if any.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	select {
	case l.wake <- struct{}{}:
	default:
	}
	<-l.done
	cerr := l.f.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if cerr != nil {
		return fmt.Errorf("audit: closing the log: %w", cerr)
	}
	return nil
}

// writer commits the queue in groups until Close.
func (l *Log) writer() {
	defer close(l.done)
	var buf []byte
	for {
		l.mu.Lock()
		batch := l.queue
		l.queue, l.spare = l.spare, nil
		closed := l.closed
		l.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-l.wake
			continue
		}
		buf = buf[:0]
		for _, p := range batch {
			buf = append(buf, p.line...)
		}
		err := l.commit(buf)
		l.mu.Lock()
		if err != nil && l.err == nil {
			l.err = err
		}
		err = l.err
		if err == nil {
			l.lines += uint64(len(batch))
			l.commits++
			l.size += int64(len(buf))
		}
		l.mu.Unlock()
		for i, p := range batch {
			p.done <- err
			batch[i] = pending{}
		}
		l.mu.Lock()
		l.spare = batch[:0]
		l.rotateLocked()
		l.mu.Unlock()
	}
}

// refusingLocked says why no line may be added now: a sticky error, or
// Close. The caller holds mu.
func (l *Log) refusingLocked() error {
	switch {
	case l.err != nil:
		return l.err
	case l.closed:
		return ErrClosed
	}
	return nil
}

// write appends line at once (SyncInterval mode) and lets the syncer know.
func (l *Log) write(line []byte) error {
	l.mu.Lock()
	if err := l.refusingLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	if _, err := l.f.Write(line); err != nil {
		l.err = fmt.Errorf("audit: writing %s: %w", l.path, err)
		err := l.err
		l.mu.Unlock()
		return err
	}
	l.lines++
	l.size += int64(len(line))
	wasDirty := l.dirty
	l.dirty = true
	l.mu.Unlock()
	if !wasDirty {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// syncer fsyncs written lines until Close, then once more: at once when
// the last sync is at least half an interval old, else once it is. A line
// of sparse traffic is then synced while the daemon is awake for its
// request, not woken again an interval later (at 100 requests a second
// that second wake-up cost more CPU than the fsync); a busy stream still
// shares each fsync among many lines.
func (l *Log) syncer() {
	defer close(l.done)
	timer := time.NewTimer(0)
	<-timer.C
	var last time.Time
	for {
		select {
		case <-l.wake:
		case <-l.stop:
		}
		stopping := false
		if wait := l.interval/2 - time.Since(last); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-l.stop:
				timer.Stop()
				stopping = true
			}
		}
		l.mu.Lock()
		dirty, sticky := l.dirty, l.err
		l.dirty = false
		stopping = stopping || l.closed
		l.mu.Unlock()
		if dirty && sticky == nil {
			err := l.f.Sync()
			last = time.Now()
			l.mu.Lock()
			if err != nil && l.err == nil {
				l.err = fmt.Errorf("audit: syncing %s: %w", l.path, err)
			} else if err == nil {
				l.commits++
			}
			l.rotateLocked()
			l.mu.Unlock()
		}
		if stopping {
			return
		}
	}
}

func (l *Log) commit(buf []byte) error {
	l.mu.Lock()
	sticky := l.err
	l.mu.Unlock()
	if sticky != nil {
		return sticky
	}
	if _, err := l.f.Write(buf); err != nil {
		return fmt.Errorf("audit: writing %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit: syncing %s: %w", l.path, err)
	}
	return nil
}

// encode is json.Marshal(r), byte for byte, without reflection for the
// records the daemon writes (every request encodes one). Anything out of
// the ordinary (a string that needs escaping, a year json refuses, a
// duration printed in exponent form) goes through json.Marshal.
func encode(r Record) ([]byte, error) {
	if y := r.Time.Year(); y < 0 || y > 9999 || !plain(r.TypeName) || !plain(r.Peer) ||
		!plain(r.Outcome) || !plain(r.Reason) || !plain(r.Tag) {
		return json.Marshal(r)
	}
	f := r.DurationMS
	if a := math.Abs(f); math.IsNaN(f) || math.IsInf(f, 0) || (a != 0 && (a < 1e-6 || a >= 1e21)) {
		return json.Marshal(r)
	}
	b := make([]byte, 0, 384+len(r.Reason)) // room for the newline Append adds
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","request_id":`...)
	b = strconv.AppendUint(b, uint64(r.RequestID), 10)
	b = append(b, `,"type":`...)
	b = strconv.AppendUint(b, uint64(r.Type), 10)
	b = append(b, `,"type_name":"`...)
	b = append(b, r.TypeName...)
	b = append(b, '"')
	if r.Peer != "" {
		b = append(b, `,"peer":"`...)
		b = append(b, r.Peer...)
		b = append(b, '"')
	}
	b = append(b, `,"dbid":`...)
	b = strconv.AppendUint(b, r.DBID, 10)
	b = append(b, `,"capabilities":`...)
	b = strconv.AppendUint(b, r.Capabilities, 10)
	b = append(b, `,"outcome":"`...)
	b = append(b, r.Outcome...)
	b = append(b, '"')
	if r.Reason != "" {
		b = append(b, `,"reason":"`...)
		b = append(b, r.Reason...)
		b = append(b, '"')
	}
	if r.Tag != "" {
		b = append(b, `,"tag":"`...)
		b = append(b, r.Tag...)
		b = append(b, '"')
	}
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	return append(b, '}'), nil
}

// plain reports whether json.Marshal writes s as is between quotes:
// printable ASCII without the characters it escapes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
