package glemu_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"gl-signerd/internal/glemu"
	"gl-signerd/signer/intent"
	"gl-signerd/streamer"
	glpb "gl-signerd/streamer/pb/greenlight"
)

// A device's call, added to the node, reaches the signer with every
// request submitted while it is in flight, and verifies as the signer
// checks Greenlight clients' calls; once removed it is not sent.
func TestDeviceCallsReachSigner(t *testing.T) {
	checkLeaks(t)
	emu := startEmu(t, glemu.Options{AutoSchedule: true})
	ks := newSigner(t)
	_, conf, sched := register(t, emu, ks)
	node := emu.Node(ks.NodeID())
	var mu sync.Mutex
	var seen [][]streamer.PendingRequest
	h := func(ctx context.Context, r streamer.Request) streamer.Response {
		mu.Lock()
		seen = append(seen, r.Requests)
		mu.Unlock()
		return echo(ctx, r)
	}
	runStreamer(t, streamer.Config{NodeID: ks.NodeID(), Scheduler: sched, NodeTLS: conf, Handler: streamer.RequestHandlerFunc(h)})

	seed := make([]byte, 32)
	m, err := intent.MasterFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := glemu.NewDevice()
	if err != nil {
		t.Fatal(err)
	}
	r, err := intent.ParseRestriction(dev.PubkeyRestriction())
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.SetRune(m.Carve(1, r).Encode()); err != nil {
		t.Fatal(err)
	}
	call, err := dev.Call(intent.MethodPay, glemu.PayBody("lnbcrt1demo"))
	if err != nil {
		t.Fatal(err)
	}
	remove := node.AddCall(call)
	submit(t, node, &glpb.HsmRequest{Raw: msg(38, 1)})
	remove()
	submit(t, node, &glpb.HsmRequest{Raw: msg(38, 2)})

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || len(seen[0]) != 1 || len(seen[1]) != 0 {
		t.Fatalf("the signer saw calls %v; want one with the first request, none with the second", seen)
	}
	p := seen[0][0]
	v := &intent.Verifier{Master: m, MaxAge: time.Minute}
	got, err := v.Verify(intent.Pending{Request: p.Request, URI: p.URI, Signature: p.Signature, PubKey: p.PubKey, Timestamp: p.Timestamp, Rune: p.Rune}, time.Now())
	if err != nil || got.Call.Bolt11 != "lnbcrt1demo" {
		t.Fatalf("the device's call: %+v, %v", got, err)
	}
}

// InvoiceBody is read back as the signer reads an Invoice call.
func TestInvoiceBody(t *testing.T) {
	c, err := intent.DecodeCall(intent.MethodInvoice, intent.Frame(glemu.InvoiceBody("coffee", "l1", 2500)))
	if err != nil || c.Description != "coffee" || !c.HasAmount || c.AmountMsat != 2500 || c.Any {
		t.Fatalf("%+v, %v", c, err)
	}
}
