package signer_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"gl-signerd/signer"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/replay"
	"gl-signerd/signer/state"
)

// stateFuzzEngine is an engine with a state store and the policy off, so
// that malformed requests reach the handlers and the state recorders
// behind them (run answers with state on).
func stateFuzzEngine(t testing.TB) (*signer.Engine, *state.Store) {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := signer.NewEngine(bytes.Repeat([]byte{1}, 32), signer.WithState(st), signer.WithPolicyMode(policy.ModeOff))
	if err != nil {
		t.Fatal(err)
	}
	return e, st
}

// TestRandomClientsWithState is TestRandomClients with state on: vector
// requests, whole or with a few bits flipped, from random clients, mixed so
// that channels advance through the recorders while bad input arrives. No
// panic; every answer a decodable reply or a *RefusalError.
func TestRandomClientsWithState(t *testing.T) {
	lines := vectorLines(t)
	e, st := stateFuzzEngine(t)
	rng := rand.New(rand.NewPCG(3, 4))
	n := 1500
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		l := lines[rng.IntN(len(lines))]
		raw := append([]byte(nil), l.Request...)
		c := l.SignerClient()
		if rng.IntN(2) == 0 && len(raw) > 2 {
			for j := rng.IntN(4); j >= 0; j-- {
				raw[2+rng.IntN(len(raw)-2)] ^= byte(1 << rng.IntN(8))
			}
			c.DBID = rng.Uint64N(4)
		}
		reply, err := e.Handle(context.Background(), c, raw)
		checkAnswer(t, c, raw, reply, err)
	}
	if st.ChannelCount() == 0 || st.Stats().Changes == 0 {
		t.Fatalf("the requests reached no recorder (%d channels, %+v): the test checks nothing of the state layer", st.ChannelCount(), st.Stats())
	}
	t.Logf("%d channels, %d changes in %d commits", st.ChannelCount(), st.Stats().Changes, st.Stats().Commits)
}

// FuzzHandleWithState is FuzzHandle with state on.
func FuzzHandleWithState(f *testing.F) {
	f.Add([]byte{0, 1}, uint64(1027), uint64(0), uint8(0))
	if lines, err := replay.ReadFile("../../shared/vectors/public.jsonl"); err == nil {
		for _, l := range lines {
			c := l.SignerClient()
			f.Add([]byte(l.Request), c.Capabilities, c.DBID, c.PeerID[32])
		}
	}
	e, _ := stateFuzzEngine(f)
	f.Fuzz(func(t *testing.T, raw []byte, caps, dbid uint64, peerByte uint8) {
		c := signer.Client{Capabilities: caps & 0x7ff, DBID: dbid % 8}
		c.PeerID[0] = 2 + peerByte&1
		c.PeerID[32] = peerByte
		reply, err := e.Handle(context.Background(), c, raw)
		checkAnswer(t, c, raw, reply, err)
	})
}
