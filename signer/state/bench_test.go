package state

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// fillStore writes n channels, each with the given counterparty secrets
// and a full set-up and commitments, in one transaction.
func fillStore(t testing.TB, path string, n int, secrets Secrets) {
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := sampleChannel(t)
	base.Secrets = secrets
	err = st.updateDB(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChannels)
		for i := 0; i < n; i++ {
			ch := base.Clone()
			ch.ID = ChannelID{Peer: [33]byte{2, byte(i >> 8), byte(i)}, DBID: uint64(i + 1)}
			rec, err := EncodeChannel(ch)
			if err != nil {
				return err
			}
			if err := b.Put(channelKey(ch.ID), rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func thousandSecrets(t testing.TB) Secrets {
	p := newPeerChain(t)
	var s Secrets
	for i := uint64(0); i < 1000; i++ {
		if _, err := s.Add(i, p.secret(t, i)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// BenchmarkLoad1000Channels: opening a store of 1,000 channels with 1,000
// revealed secrets each (the target: < 100 ms).
func BenchmarkLoad1000Channels(b *testing.B) {
	path := filepath.Join(b.TempDir(), FileName)
	fillStore(b, path, 1000, thousandSecrets(b))
	b.ResetTimer()
	for b.Loop() {
		st, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if st.ChannelCount() != 1000 {
			b.Fatal("channels missing")
		}
		st.Close()
	}
}

// BenchmarkGroupCommit: updates of different channels from 1, 8 and 64
// goroutines; commits/op is how many fsynced transactions each update
// cost (1 without group commit).
func BenchmarkGroupCommit(b *testing.B) {
	for _, workers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			st, err := Open(filepath.Join(b.TempDir(), FileName))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N/workers + 1
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := ChannelID{DBID: uint64(w)}
					for i := 0; i < per; i++ {
						if err := st.UpdateChannel(ctx, id, func(ch *Channel) error { ch.HolderPointNext++; return nil }); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			s := st.Stats()
			b.ReportMetric(float64(s.Commits)/float64(s.Changes), "commits/update")
		})
	}
}

// TestRSS1000Channels: a process holding a store of 1,000 channels (1,000
// secrets each) stays under 40 MB resident, at its peak, while it loads the
// store and then changes every channel ten times from eight goroutines (a
// new counterparty commitment each time: a commit, a log frame, and a
// checkpoint into bbolt every 1 MB). The store is opened in a child process
// so that the test binary's own memory does not count.
func TestRSS1000Channels(t *testing.T) {
	if path := os.Getenv("GL_SIGNERD_RSS_STORE"); path != "" {
		st, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		loaded := rssKB(t)
		chans := st.Channels()
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := range 10 {
					for i := w; i < len(chans); i += 8 {
						err := st.UpdateChannel(context.Background(), chans[i].ID, func(ch *Channel) error {
							c := ch.LastCounterparty.clone()
							c.Num += uint64(round + 1)
							ch.PrevCounterparty, ch.LastCounterparty = ch.LastCounterparty, c
							ch.CounterpartyCommitNum = c.Num
							return nil
						})
						if err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		fmt.Printf("channels %d rss_kb %d loaded_kb %d commits %d\n", st.ChannelCount(), rssKB(t), loaded, st.Stats().Commits)
		st.Close()
		return
	}
	if testing.Short() {
		t.Skip("builds a 1,000-channel store")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory inflates the resident set; run without -race (CI runs this test so, after the suite)")
	}
	path := filepath.Join(t.TempDir(), FileName)
	fillStore(t, path, 1000, thousandSecrets(t))
	cmd := exec.Command(os.Args[0], "-test.run=^TestRSS1000Channels$", "-test.count=1")
	// The daemon's own Go memory settings (internal/daemon/memory.go:
	// GOGC 50, a 28 MiB soft limit), so that the child holds what the
	// daemon would.
	cmd.Env = append(os.Environ(), "GL_SIGNERD_RSS_STORE="+path, "GOGC=50", "GOMEMLIMIT=28MiB")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var channels, kb, loaded, commits int
	for _, l := range strings.Split(string(out), "\n") {
		if _, err := fmt.Sscanf(l, "channels %d rss_kb %d loaded_kb %d commits %d", &channels, &kb, &loaded, &commits); err == nil {
			break
		}
	}
	if channels != 1000 || kb == 0 || commits == 0 {
		t.Fatalf("child said: %s", out)
	}
	fi, _ := os.Stat(path)
	t.Logf("1,000 channels: %d kB resident at the peak (%d kB once loaded; %d commits; store file %d kB)", kb, loaded, commits, fi.Size()/1024)
	if kb > 40*1024 {
		t.Fatalf("%d kB resident with 1,000 channels; the target is < 40 MB", kb)
	}
}

// rssKB is this process's peak resident set (VmHWM), in kB.
func rssKB(t testing.TB) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
