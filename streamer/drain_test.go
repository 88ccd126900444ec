package streamer

import (
	"context"
	"testing"
	"time"

	glpb "gl-signerd/streamer/pb/greenlight"
)

// With DrainTimeout, a request in the handler when Run's ctx ends is still
// answered, and Run returns after it.
func TestDrainAnswersInFlight(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	sched := &fakeScheduler{uri: "https://node.example:1"}
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	h := RequestHandlerFunc(func(ctx context.Context, r Request) Response {
		started <- struct{}{}
		select {
		case <-release:
			return Response{Raw: msg(105, 1)}
		case <-ctx.Done():
			return Response{Err: ctx.Err()}
		}
	})
	s := newTestStreamer(t, node, sched, h, func(c *Config) { c.DrainTimeout = 5 * time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	node.waitOpened(t)
	node.requests <- &glpb.HsmRequest{RequestId: 7, Raw: msg(5)}
	<-started
	cancel()
	select {
	case err := <-errc:
		t.Fatalf("Run returned (%v) with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if r := node.response(t); r.GetRequestId() != 7 || r.GetError() != "" {
		t.Errorf("response %+v", r)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the drain")
	}
}

// A handler that does not finish within DrainTimeout is cancelled.
func TestDrainTimeout(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	sched := &fakeScheduler{uri: "https://node.example:1"}
	started := make(chan struct{}, 1)
	h := RequestHandlerFunc(func(ctx context.Context, r Request) Response {
		started <- struct{}{}
		<-ctx.Done()
		return Response{Err: ctx.Err()}
	})
	s := newTestStreamer(t, node, sched, h, func(c *Config) { c.DrainTimeout = 100 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	node.waitOpened(t)
	node.requests <- &glpb.HsmRequest{RequestId: 8, Raw: msg(5)}
	<-started
	start := time.Now()
	cancel()
	select {
	case <-errc:
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("Run returned after %v, before the drain timeout", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the drain timeout")
	}
	select {
	case r := <-node.responses:
		t.Errorf("an abandoned request was answered: %+v", r)
	default:
	}
}
