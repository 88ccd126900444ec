package traffic_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
)

func engine(t testing.TB, seed byte) *signer.Engine {
	t.Helper()
	e, err := signer.NewEngine(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newGen(t testing.TB, send traffic.Sender, oracle traffic.Sender, seed byte) *traffic.Generator {
	t.Helper()
	init, err := engine(t, seed).InitReply("bitcoin")
	if err != nil {
		t.Fatal(err)
	}
	g, err := traffic.New(init, send, traffic.Options{Seed: 7, Oracle: oracle})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Every kind of lifecycle, against the engine with an oracle of the same
// seed: everything answered, checked and byte-equal.
func TestLifecyclesAgainstEngine(t *testing.T) {
	ctx := context.Background()
	g := newGen(t, traffic.EngineSender(engine(t, 0x11)), traffic.EngineSender(engine(t, 0x11)), 0x11)
	if err := g.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range []traffic.Lifecycle{
		{Channel: traffic.ChannelOptions{WeFund: true, Anchors: true, Announce: true}, Payments: 6, FeeUpdates: 1, Close: traffic.CloseMutual},
		{Channel: traffic.ChannelOptions{WeFund: false, Anchors: false}, Payments: 5, FeeUpdates: 1, Close: traffic.CloseForce},
		{Channel: traffic.ChannelOptions{WeFund: true, Anchors: false, FeeRate: 5000}, Payments: 4, Close: traffic.CloseForce},
		{Channel: traffic.ChannelOptions{WeFund: false, Anchors: true}, Payments: 4, Close: traffic.CloseMutual},
		{Channel: traffic.ChannelOptions{WeFund: true, Anchors: true}, Payments: 3, Close: traffic.CloseRemote},
		{Channel: traffic.ChannelOptions{WeFund: false}, Payments: 3, Close: traffic.CloseRemote},
		{Channel: traffic.ChannelOptions{WeFund: true, Anchors: true}, Payments: 3, Close: traffic.CloseBreach},
		{Channel: traffic.ChannelOptions{WeFund: false}, Payments: 4, Close: traffic.CloseBreach},
	} {
		ch, err := g.RunLifecycle(ctx, l)
		if err != nil {
			t.Fatalf("%+v: %v", l, err)
		}
		if loc, rem := ch.Commitments(); loc != uint64(ch.Rounds()) || rem != loc || ch.Payments() != l.Payments {
			t.Errorf("%+v: commitments %d/%d after %d rounds, %d payments", l, loc, rem, ch.Rounds(), ch.Payments())
		}
	}
	for i := 0; i < 3; i++ {
		if err := g.ECDH(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Invoice(ctx, 123_456_789); err != nil {
		t.Fatal(err)
	}
	if n, err := g.Withdraw(ctx, 10); err != nil || n == 0 {
		t.Fatalf("Withdraw: %d inputs, %v", n, err)
	}
	s := g.Stats()
	t.Log(s)
	if s.Sent == 0 || s.Answered != s.Sent {
		t.Fatalf("stats: %v", s)
	}
	for _, name := range []string{"hsmd_sign_remote_commitment_tx", "hsmd_sign_remote_htlc_tx", "hsmd_validate_commitment_tx",
		"hsmd_revoke_commitment_tx", "hsmd_validate_revocation", "hsmd_sign_mutual_close_tx", "hsmd_sign_commitment_tx",
		"hsmd_sign_any_delayed_payment_to_us", "hsmd_sign_any_penalty_to_us", "hsmd_sign_withdrawal", "hsmd_ecdh_req", "hsmd_sign_invoice",
		"hsmd_preapprove_invoice", "hsmd_cupdate_sig_req", "hsmd_cannouncement_sig_req", "hsmd_node_announcement_sig_req",
		"hsmd_check_pubkey", "hsmd_setup_channel", "hsmd_forget_channel"} {
		if s.ByType[name] == 0 {
			t.Errorf("no %s sent", name)
		}
	}
}

// A signer with another seed: its answers fail the checks (signatures by
// other keys, points that do not match), so the checker can fail.
func TestCheckerCatchesWrongSigner(t *testing.T) {
	ctx := context.Background()
	right, wrong := engine(t, 0x22), engine(t, 0x23)
	// Channel set-up and the first commitments come from the right
	// signer; then the wrong one answers.
	var mu sync.Mutex
	var switched bool
	send := func(ctx context.Context, r traffic.Request) ([]byte, error) {
		mu.Lock()
		e := right
		if switched {
			e = wrong
		}
		mu.Unlock()
		return traffic.EngineSender(e)(ctx, r)
	}
	g := newGen(t, send, nil, 0x22)
	ch, err := g.OpenChannel(ctx, traffic.ChannelOptions{WeFund: true, Anchors: true})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	switched = true
	mu.Unlock()
	_, err = ch.Pay(ctx, 50_000_000)
	var ce *traffic.CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("Pay against another seed: %v, want a CheckError", err)
	}
	t.Log(err)
	if s := g.Stats(); s.Wrong != 1 {
		t.Errorf("stats: %v", s)
	}
}

// The oracle catches a reply that differs from the engine's bytes even
// when it would pass the checks.
func TestOracleMismatch(t *testing.T) {
	ctx := context.Background()
	e := engine(t, 0x33)
	send := func(ctx context.Context, r traffic.Request) ([]byte, error) {
		reply, err := traffic.EngineSender(e)(ctx, r)
		if err == nil && r.Type() == hsmproto.TypeNewChannel {
			reply = append(reply, 0) // a trailing byte
		}
		return reply, err
	}
	g := newGen(t, send, traffic.EngineSender(engine(t, 0x33)), 0x33)
	_, err := g.OpenChannel(ctx, traffic.ChannelOptions{})
	var ce *traffic.CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a CheckError", err)
	}
}

// Channels run in parallel on one generator.
func TestParallelChannels(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g := newGen(t, traffic.EngineSender(engine(t, 0x44)), nil, 0x44)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := g.RunLifecycle(ctx, traffic.Lifecycle{Channel: traffic.ChannelOptions{WeFund: i%2 == 0, Anchors: i%3 != 0}, Payments: 3, Close: traffic.CloseKind(i % 3)})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s := g.Stats(); s.Answered != s.Sent {
		t.Fatal(s)
	}
}
