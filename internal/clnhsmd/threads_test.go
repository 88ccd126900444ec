package clnhsmd

import (
	"runtime/pprof"
	"testing"
	"time"
)

// threadsMade is how many OS threads the Go runtime has made so far.
func threadsMade() int { return pprof.Lookup("threadcreate").Count() }

// makeThreads leaves Go with (nearly) as many threads as goroutines it
// blocked, and the reserve grows ahead of the connections open, in the
// background, to keep reserveSpare threads spare.
func TestThreadReserve(t *testing.T) {
	// More goroutines than there are threads: at least about 24 new ones.
	before := threadsMade()
	makeThreads(before + 24)
	if made := threadsMade() - before; made < 20 {
		t.Fatalf("makeThreads(%d) made %d threads; want at least about 24", before+24, made)
	}

	var r threadReserve
	wait := func() {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			r.mu.Lock()
			growing := r.growing
			r.mu.Unlock()
			if !growing {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the reserve is still growing after 10 s")
			}
			time.Sleep(time.Millisecond)
		}
	}
	for _, tc := range []struct{ open, made int }{
		{0, reserveStart},
		{reserveStart - reserveSpare, reserveStart}, // enough spare: nothing made
		{reserveStart - reserveSpare + 1, 2 * reserveStart},
		{100, 4 * reserveStart},
		{100, 4 * reserveStart},
	} {
		r.need(tc.open)
		wait()
		if r.made != tc.made {
			t.Errorf("after need(%d): made %d; want %d", tc.open, r.made, tc.made)
		}
	}
}
