package state

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// crashClose drops the store as a killed process would: the log is not
// checkpointed, the files are just closed.
func crashClose(t testing.TB, s *Store) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if err := s.wal.close(); err != nil {
		t.Fatal(err)
	}
}

// TestWALRecovery: what the log holds at a crash is what Open finds; a
// frame torn or damaged at the end was never acknowledged and is dropped;
// frames of an earlier generation (left in the file by a checkpoint) are
// never replayed.
func TestWALRecovery(t *testing.T) {
	ctx := context.Background()
	id := ChannelID{DBID: 7}
	set := func(v uint64) func(*Channel) error {
		return func(ch *Channel) error { ch.HolderPointNext = v; return nil }
	}
	cases := []struct {
		name string
		// run changes the store at path and leaves it as a crash would.
		run  func(t *testing.T, path string)
		want uint64
	}{
		{"every acknowledged change survives", func(t *testing.T, path string) {
			s := mustOpen(t, path)
			for v := uint64(1); v <= 3; v++ {
				if err := s.UpdateChannel(ctx, id, set(v)); err != nil {
					t.Fatal(err)
				}
			}
			crashClose(t, s)
		}, 3},
		{"a torn last frame is dropped", func(t *testing.T, path string) {
			s := mustOpen(t, path)
			s.UpdateChannel(ctx, id, set(1))
			s.UpdateChannel(ctx, id, set(2))
			end := s.wal.off
			crashClose(t, s)
			zero(t, walPath(path), end-10, 10) // the second frame's tail
		}, 1},
		{"a damaged last frame is dropped", func(t *testing.T, path string) {
			s := mustOpen(t, path)
			s.UpdateChannel(ctx, id, set(1))
			mid := s.wal.off
			s.UpdateChannel(ctx, id, set(2))
			crashClose(t, s)
			flip(t, walPath(path), mid+walFrameHead+3)
		}, 1},
		{"frames of an earlier generation are not replayed", func(t *testing.T, path string) {
			s := mustOpen(t, path)
			for v := uint64(1); v <= 5; v++ {
				s.UpdateChannel(ctx, id, set(v))
			}
			if err := s.Close(); err != nil { // checkpoint: generation 2
				t.Fatal(err)
			}
			s = mustOpen(t, path)
			s.UpdateChannel(ctx, id, set(9)) // overwrites the first old frame only
			crashClose(t, s)
		}, 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			c.run(t, path)
			s := mustOpen(t, path)
			defer s.Close()
			ch, _ := s.Channel(id)
			if ch.HolderPointNext != c.want {
				t.Fatalf("after reopening: %d, want %d", ch.HolderPointNext, c.want)
			}
			if s.wal.off != walHeaderSize {
				t.Fatalf("Open left %d bytes in the log; it checkpoints", s.wal.off)
			}
		})
	}
}

func mustOpen(t testing.TB, path string) *Store {
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func zero(t testing.TB, path string, off, n int64) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, n), off); err != nil {
		t.Fatal(err)
	}
}

func flip(t testing.TB, path string, off int64) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// FuzzWALOpen: whatever the log file holds, Open-time reading returns the
// puts of its valid frames or an error; it never panics, and the puts it
// returns name known buckets.
func FuzzWALOpen(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, FileName)
	s := mustOpen(f, path)
	s.UpdateChannel(context.Background(), ChannelID{DBID: 1}, func(ch *Channel) error { ch.Status = StatusDeclared; return nil })
	s.UpdateNode(context.Background(), func(n *Node) error { n.DBIDHighWater = 4; return nil })
	end := s.wal.off
	crashClose(f, s)
	good, err := os.ReadFile(walPath(path))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:end])
	f.Add(good[:walHeaderSize])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "fuzz-wal")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		w, puts, err := openWAL(p)
		if err != nil {
			return
		}
		defer w.close()
		for _, pt := range puts {
			walBucketID(pt.bucket) // panics on an unknown bucket
		}
	})
}
