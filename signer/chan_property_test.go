package signer_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// The channel life-cycle rules as properties: an honest channel (the
// traffic generator plays lightningd and the peer) with mutated requests
// mixed in — old or claimed holder commitments to broadcast, secrets
// asked for early (also as version 5's old secrets), counterparty
// commitments re-signed as other transactions or signed ahead — never makes the signer sign a revoked
// holder commitment, reveal a secret before the next commitment was
// countersigned, or sign two different counterparty commitments with one
// number; and every honest request is answered. The observer judges only
// from what the signer answered, not from its state.

// lifecycleObserver records what the signer answered for one channel and
// the first broken property.
type lifecycleObserver struct {
	validated map[uint64]bool     // holder commitments countersigned (validate_commitment_tx answered)
	revealed  map[uint64]bool     // holder secrets revealed (revoke_commitment_tx answered)
	remote    map[uint64][32]byte // counterparty commitments signed, by number
	revoked   uint64              // counterparty secrets accepted (validate_revocation answered), in order

	// What the mutations are made of.
	holderTx  map[uint64]hsmproto.BitcoinTx
	remoteReq map[uint64]*hsmproto.SignRemoteCommitmentTx
	channeld  signer.Client
	localNum  uint64
	broken    error
	mutations int // mutated requests sent
	refused   int // of which refused
}

func newLifecycleObserver() *lifecycleObserver {
	return &lifecycleObserver{validated: map[uint64]bool{}, revealed: map[uint64]bool{}, remote: map[uint64][32]byte{},
		holderTx: map[uint64]hsmproto.BitcoinTx{}, remoteReq: map[uint64]*hsmproto.SignRemoteCommitmentTx{}}
}

func (o *lifecycleObserver) breaks(format string, args ...any) {
	if o.broken == nil {
		o.broken = fmt.Errorf(format, args...)
	}
}

// answered takes note of a request the signer answered.
func (o *lifecycleObserver) answered(c signer.Client, m hsmproto.Message) {
	switch req := m.(type) {
	case *hsmproto.ValidateCommitmentTx:
		o.validated[req.CommitNum] = true
		o.holderTx[req.CommitNum] = req.Tx
		o.localNum = max(o.localNum, req.CommitNum)
		o.channeld = c
	case *hsmproto.RevokeCommitmentTx:
		if !o.validated[req.CommitNum+1] {
			o.breaks("revealed the secret of holder commitment %d before commitment %d was countersigned", req.CommitNum, req.CommitNum+1)
		}
		o.revealed[req.CommitNum] = true
	case *hsmproto.SignCommitmentTx:
		if o.revealed[req.CommitNum] {
			o.breaks("signed holder commitment %d for broadcast after revealing its secret", req.CommitNum)
		}
	case *hsmproto.SignRemoteCommitmentTx:
		txid := req.Tx.Tx.TxHash()
		if old, ok := o.remote[req.CommitNum]; ok && old != txid {
			o.breaks("signed counterparty commitment %d as two different transactions", req.CommitNum)
		}
		if req.CommitNum >= 2 && o.revoked < req.CommitNum-1 {
			o.breaks("signed counterparty commitment %d while commitment %d was not revoked", req.CommitNum, req.CommitNum-2)
		}
		o.remote[req.CommitNum] = txid
		if _, ok := o.remoteReq[req.CommitNum]; !ok {
			o.remoteReq[req.CommitNum] = req
		}
	case *hsmproto.ValidateRevocation:
		if req.RevokeNum == o.revoked {
			o.revoked++
		}
	}
}

// sender sends honest requests through e and notes the answers.
func (o *lifecycleObserver) sender(e *signer.Engine) traffic.Sender {
	send := traffic.EngineSender(e)
	return func(ctx context.Context, r traffic.Request) ([]byte, error) {
		out, err := send(ctx, r)
		if err == nil {
			if m, derr := hsmproto.Decode(r.Raw); derr == nil {
				o.answered(r.Client, m)
			}
		}
		return out, err
	}
}

// mutate sends one request made from what was seen, and notes it if the
// signer answered.
// e5 is an engine of the same seed and store that negotiated wire version
// 5, where get_per_commitment_point n also reveals secret n−2.
func (o *lifecycleObserver) mutate(t *rapid.T, e, e5 *signer.Engine, peer [33]byte, dbid uint64) {
	if o.channeld.Capabilities == 0 || len(o.remoteReq) == 0 {
		return
	}
	remoteNums := sortedKeys(o.remoteReq)
	holderNums := sortedKeys(o.holderTx)
	var c signer.Client
	var m hsmproto.Message
	switch rapid.IntRange(0, 4).Draw(t, "mutation") {
	case 0: // broadcast a holder commitment we hold, claiming some number
		n := rapid.SampledFrom(holderNums).Draw(t, "holder tx")
		claim := rapid.SampledFrom([]uint64{n, n + 1, n - min(n, 1), o.localNum}).Draw(t, "claimed number")
		c = signer.MasterClient
		m = &hsmproto.SignCommitmentTx{PeerID: peer, ChannelDBID: dbid, Tx: o.holderTx[n],
			RemoteFundingKey: o.remoteReq[remoteNums[0]].RemoteFundingKey, CommitNum: claim}
	case 1: // ask for a holder secret, up to two ahead of the current commitment
		c, m = o.channeld, &hsmproto.RevokeCommitmentTx{CommitNum: rapid.Uint64Range(0, o.localNum+2).Draw(t, "revoke")}
	case 2: // sign a counterparty commitment number as another one's transaction
		n := rapid.SampledFrom(remoteNums).Draw(t, "number")
		other := rapid.SampledFrom(remoteNums).Draw(t, "transaction of")
		req := *o.remoteReq[other]
		req.CommitNum = n
		c, m = o.channeld, &req
	case 3: // sign the counterparty commitment after the next one ahead of its revocation
		last := remoteNums[len(remoteNums)-1]
		req := *o.remoteReq[last]
		req.CommitNum = last + rapid.Uint64Range(2, 4).Draw(t, "ahead")
		c, m = o.channeld, &req
	case 4: // version 5: a point whose reply reveals secret n−2
		n := rapid.Uint64Range(0, o.localNum+3).Draw(t, "v5 point")
		o.mutations++
		out, err := e5.Handle(context.Background(), o.channeld, (&hsmproto.GetPerCommitmentPoint{N: n}).Encode())
		if err != nil {
			o.refused++
			return
		}
		reply, derr := hsmproto.Decode(out)
		if r, ok := reply.(*hsmproto.GetPerCommitmentPointReply); derr == nil && ok && r.OldCommitmentSecret != nil {
			o.answered(o.channeld, &hsmproto.RevokeCommitmentTx{CommitNum: n - 2})
		}
		return
	}
	o.mutations++
	if _, err := e.Handle(context.Background(), c, m.Encode()); err == nil {
		o.answered(c, m)
	} else {
		o.refused++
		var re *signer.RefusalError
		if !errors.As(err, &re) || !re.ByPolicy() {
			t.Fatalf("mutated %s refused without a policy tag: %v", m.MsgName(), err)
		}
	}
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	ks := make([]uint64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// runLifecycleProperty plays one drawn channel life with mutations on an
// engine in mode and returns the observer.
func runLifecycleProperty(t *rapid.T, dir string, mode policy.Mode) *lifecycleObserver {
	st, err := state.Open(filepath.Join(dir, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := signer.NewEngine(make([]byte, 32), signer.WithState(st), signer.WithPolicyMode(mode), approveAll)
	if err != nil {
		t.Fatal(err)
	}
	e5, err := signer.NewEngine(make([]byte, 32), signer.WithState(st), signer.WithPolicyMode(mode), approveAll)
	if err != nil {
		t.Fatal(err)
	}
	if v5, err := hsmproto.InitFor("bitcoin", 4, 5); err != nil {
		t.Fatal(err)
	} else if _, err := e5.Handle(context.Background(), signer.MasterClient, v5.Encode()); err != nil {
		t.Fatal(err)
	}
	o := newLifecycleObserver()
	init, _ := e.InitReply("bitcoin")
	g, err := traffic.New(init, o.sender(e), traffic.Options{Seed: rapid.Uint64().Draw(t, "seed")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ch, err := g.OpenChannel(ctx, traffic.ChannelOptions{WeFund: rapid.Bool().Draw(t, "we fund"), Anchors: rapid.Bool().Draw(t, "anchors"),
		CapacitySat: 2_000_000, FeeRate: 1000})
	if err != nil {
		t.Fatalf("honest open refused: %v", err)
	}
	steps := rapid.IntRange(1, 12).Draw(t, "steps")
	for i := 0; i < steps; i++ {
		switch rapid.IntRange(0, 5).Draw(t, "step") {
		case 0:
			_, err = ch.Pay(ctx, rapid.Uint64Range(10_000, 200_000).Draw(t, "pay sat")*1000)
		case 1:
			_, err = ch.Receive(ctx, rapid.Uint64Range(10_000, 200_000).Draw(t, "receive sat")*1000)
		case 2:
			err = ch.UpdateFee(ctx, rapid.Uint32Range(500, 3000).Draw(t, "feerate"))
		default: // half the steps
			o.mutate(t, e, e5, ch.PeerID(), ch.DBID())
		}
		if err != nil {
			t.Fatalf("honest step refused: %v", err)
		}
		if o.broken != nil {
			return o
		}
	}
	if rapid.Bool().Draw(t, "mutual close") {
		err = ch.CloseMutual(ctx)
	} else {
		err = ch.ForceClose(ctx)
	}
	if err != nil {
		t.Fatalf("honest close refused: %v", err)
	}
	return o
}

func TestChannelLifecycleProperties(t *testing.T) {
	if testing.Short() {
		t.Skip("drives whole channel lifecycles")
	}
	// Each case is a whole channel on a fsynced store: fewer cases than
	// rapid's default 100 unless -rapid.checks says otherwise.
	if f := flag.Lookup("rapid.checks"); f != nil && f.Value.String() == f.DefValue {
		f.Value.Set("25")
		defer f.Value.Set(f.DefValue)
	}
	mutations, refused := 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		o := runLifecycleProperty(rt, t.TempDir(), policy.ModeEnforce)
		mutations, refused = mutations+o.mutations, refused+o.refused
		if o.broken != nil {
			rt.Fatal(o.broken)
		}
	})
	// Otherwise the cases checked only honest traffic.
	if mutations == 0 || refused == 0 {
		t.Fatalf("%d mutated requests, %d refused: the property saw no attack", mutations, refused)
	}
	t.Logf("%d mutated requests, %d refused", mutations, refused)
}
