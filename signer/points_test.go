package signer

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"gl-signerd/hsmproto"
)

// The parsed-point cache changes no answer: HTLC signatures for 40
// commitment points (more than fit in a 16-entry cache), asked from 4
// goroutines at once, equal those of an engine that never saw the points;
// the cache stays bounded and Wipe empties it (go test -race).
func TestPointCache(t *testing.T) {
	e := txEngine(t)
	e.points = newPointCache(16)
	var raws [][]byte
	for p := range 40 {
		for _, r := range htlcTxRequests(t, 2) {
			r.RemotePerCommitPoint = hsmproto.PubkeyFrom(remoteKey(t, byte(p+1)))
			raws = append(raws, r.Encode())
		}
	}
	want := make([][]byte, len(raws))
	for i, raw := range raws {
		var err error
		if want[i], err = txEngine(t).Handle(context.Background(), txChanneld, raw); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for n := range 3 * len(raws) {
				i := (n*7 + g*13) % len(raws)
				got, err := e.Handle(context.Background(), txChanneld, raws[i])
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(got, want[i]) {
					t.Errorf("request %d: answer differs from an uncached engine's", i)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := e.points.Len(); n == 0 || n > 16 {
		t.Errorf("point cache holds %d points, bound 16", n)
	}
	e.Wipe()
	if n := e.points.Len(); n != 0 {
		t.Errorf("point cache holds %d points after Wipe", n)
	}
}
