package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func openTemp(t testing.TB) (*Store, string) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestStorePersists(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	want := sampleChannel(t)
	err := s.UpdateChannelAndNode(ctx, want.ID, func(ch *Channel, n *Node) error {
		*ch = *want.Clone()
		n.DBIDHighWater = want.ID.DBID
		n.AddAddress(3)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state.db mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateNode(ctx, func(n *Node) error { n.DBIDHighWater++; return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("update after Close: %v", err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, ok := s2.Channel(want.ID)
	if !ok {
		t.Fatal("channel lost on reopen")
	}
	a, _ := EncodeChannel(got)
	want.Version = 1 // the store numbers its own changes
	b, _ := EncodeChannel(want)
	if string(a) != string(b) {
		t.Fatalf("reopened channel differs:\n%x\n%x", a, b)
	}
	if n := s2.Node(); n.DBIDHighWater != 42 || len(n.Addresses) != 1 || n.Version != 1 {
		t.Fatalf("node %+v", n)
	}
	if s2.Stats().LastCommit.IsZero() {
		t.Fatal("last commit time not kept")
	}
}

// TestStoreUnchangedWritesNothing: a retried request that changes nothing
// commits nothing and advances no version.
func TestStoreUnchangedWritesNothing(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	id := ChannelID{DBID: 1}
	set := func(ch *Channel) error { ch.Status = StatusDeclared; return nil }
	for i := 0; i < 3; i++ {
		if err := s.UpdateChannel(ctx, id, set); err != nil {
			t.Fatal(err)
		}
	}
	ch, _ := s.Channel(id)
	if st := s.Stats(); st.Commits != 1 || ch.Version != 1 {
		t.Fatalf("3 identical updates: %d commits, version %d; want 1, 1", st.Commits, ch.Version)
	}
	boom := errors.New("boom")
	if err := s.UpdateChannel(ctx, id, func(ch *Channel) error { ch.Status = StatusClosing; return boom }); err != boom {
		t.Fatal(err)
	}
	if ch, _ := s.Channel(id); ch.Status != StatusDeclared {
		t.Fatal("a failed update changed the state")
	}
}

// TestStoreConcurrency: updates of one channel are serialized (no lost
// update); updates of different channels share commits.
func TestStoreConcurrency(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const channels, perChannel = 16, 20
	var wg sync.WaitGroup
	for c := 0; c < channels; c++ {
		for i := 0; i < perChannel; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.UpdateChannel(ctx, ChannelID{DBID: uint64(c)}, func(ch *Channel) error {
					ch.HolderPointNext++
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	for c := 0; c < channels; c++ {
		ch, _ := s.Channel(ChannelID{DBID: uint64(c)})
		if ch.HolderPointNext != perChannel || ch.Version != perChannel {
			t.Fatalf("channel %d: counter %d version %d, want %d", c, ch.HolderPointNext, ch.Version, perChannel)
		}
	}
	st := s.Stats()
	if st.Changes != channels*perChannel {
		t.Fatalf("%d changes, want %d", st.Changes, channels*perChannel)
	}
	if st.Commits >= st.Changes {
		t.Fatalf("%d commits for %d changes: no group commit", st.Commits, st.Changes)
	}
	t.Logf("%d changes in %d commits", st.Changes, st.Commits)
}

func TestOpenRefuses(t *testing.T) {
	t.Run("too open", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), FileName)
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("Open of a 0644 file: %v", err)
		}
	})
	t.Run("corrupt record", func(t *testing.T) {
		s, path := openTemp(t)
		id := ChannelID{Peer: [33]byte{2}, DBID: 5}
		if err := s.UpdateChannel(context.Background(), id, func(ch *Channel) error { ch.Status = StatusOpen; return nil }); err != nil {
			t.Fatal(err)
		}
		s.Close()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketChannels).Put(channelKey(id), []byte{1, 0}) })
		db.Close()
		_, err = Open(path)
		var de *DecodeError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "channel 02") || !strings.Contains(err.Error(), "/5") {
			t.Fatalf("Open of a corrupt record: %v", err)
		}
	})
}

// TestNodeInvoices: the invoice list keeps one entry per payment hash,
// drops expired invoices, and never holds more than MaxInvoices.
func TestNodeInvoices(t *testing.T) {
	h := func(i int) [32]byte { return [32]byte{byte(i >> 8), byte(i)} }
	const now = 1_000_000
	cases := []struct {
		name    string
		start   []Invoice
		add     Invoice
		changed bool
		want    []Invoice
	}{
		{"added", nil, Invoice{PaymentHash: h(1), AmountMsat: 5, Expiry: now + 10}, true,
			[]Invoice{{PaymentHash: h(1), AmountMsat: 5, Expiry: now + 10}}},
		{"the same again changes nothing", []Invoice{{PaymentHash: h(1), AmountMsat: 5, Expiry: now + 10}}, Invoice{PaymentHash: h(1), AmountMsat: 5, Expiry: now + 10}, false,
			[]Invoice{{PaymentHash: h(1), AmountMsat: 5, Expiry: now + 10}}},
		{"same hash replaced in place", []Invoice{{PaymentHash: h(1), AmountMsat: 5}, {PaymentHash: h(2)}}, Invoice{PaymentHash: h(1), AmountMsat: 7, Keysend: true}, true,
			[]Invoice{{PaymentHash: h(1), AmountMsat: 7, Keysend: true}, {PaymentHash: h(2)}}},
		{"expired ones dropped", []Invoice{{PaymentHash: h(1), Expiry: now}, {PaymentHash: h(2), Expiry: now + 1}, {PaymentHash: h(3)}}, Invoice{PaymentHash: h(4), Expiry: now + 5}, true,
			[]Invoice{{PaymentHash: h(2), Expiry: now + 1}, {PaymentHash: h(3)}, {PaymentHash: h(4), Expiry: now + 5}}},
		{"already expired: not added", nil, Invoice{PaymentHash: h(1), Expiry: now - 1}, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := &Node{Invoices: c.start}
			if got := n.AddInvoice(c.add, now); got != c.changed {
				t.Fatalf("AddInvoice reported %v, want %v", got, c.changed)
			}
			if !slices.Equal(n.Invoices, c.want) {
				t.Fatalf("invoices %+v, want %+v", n.Invoices, c.want)
			}
		})
	}
	t.Run("bounded, oldest out first", func(t *testing.T) {
		n := &Node{}
		for i := range MaxInvoices + 3 {
			n.AddInvoice(Invoice{PaymentHash: h(i), Keysend: true}, now)
		}
		if len(n.Invoices) != MaxInvoices || n.Invoices[0].PaymentHash != h(3) || n.Invoices[MaxInvoices-1].PaymentHash != h(MaxInvoices+2) {
			t.Fatalf("%d invoices, first %x", len(n.Invoices), n.Invoices[0].PaymentHash[:2])
		}
		if _, ok := n.Invoice(h(2)); ok {
			t.Fatal("the oldest entry is still there")
		}
		if inv, ok := n.Invoice(h(MaxInvoices)); !ok || !inv.Keysend {
			t.Fatal("a recent entry is missing")
		}
	})
}
