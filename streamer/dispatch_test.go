package streamer

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Jobs of one channel run in order, one at a time, while idle goroutines
// and drained queues are reused across channels; wait returns once every
// goroutine is gone.
func TestDispatcherOrderAndReuse(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := newDispatcher(ctx, 4, 3)
	const keys, perKey = 50, 40
	var mu sync.Mutex
	got := make(map[uint64][]int)
	running := make(map[uint64]bool)
	for round := 0; round < perKey; round++ {
		for k := uint64(0); k < keys; k++ {
			key, i := channelKey{dbid: k}, round
			if !d.submit(key, func(context.Context) {
				mu.Lock()
				if running[k] {
					t.Errorf("two jobs of channel %d at once", k)
				}
				running[k] = true
				mu.Unlock()
				if i%7 == 0 {
					time.Sleep(50 * time.Microsecond)
				}
				mu.Lock()
				running[k] = false
				got[k] = append(got[k], i)
				mu.Unlock()
			}) {
				t.Fatal("submit refused with a live context")
			}
		}
		if round%5 == 0 {
			time.Sleep(2 * time.Millisecond) // let queues drain and goroutines idle
		}
	}
	d.wait()
	for k := uint64(0); k < keys; k++ {
		if len(got[k]) != perKey {
			t.Fatalf("channel %d: %d jobs ran, want %d", k, len(got[k]), perKey)
		}
		for i, v := range got[k] {
			if v != i {
				t.Fatalf("channel %d: job %d ran as number %d", k, v, i)
			}
		}
	}
	if len(d.queues) != 0 || len(d.free) > d.maxIdle {
		t.Fatalf("%d queues left, %d kept", len(d.queues), len(d.free))
	}
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after wait, %d before", n, before)
	}
}
