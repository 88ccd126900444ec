package clnhsmd

import (
	"sync"
	"syscall"
)

// Each client connection is read by a goroutine blocked in read(2): the
// reply path then has no hand-off through Go's network poller (which
// measured slower per request). A goroutine blocked in a system call holds
// an OS thread, so every connection lightningd keeps open (one per channel,
// plus gossipd, connectd, …) needs a thread of its own, and Go makes one
// only when no idle thread is left. Made then, with the request already
// sent, the thread's creation was the larger part of a new connection's
// first request (check_outpoint, get_per_commitment_point: 3–5 × slower
// with a hundred connections open). threadReserve makes them ahead of
// need, in the background: Go keeps idle threads for reuse.

// Reserve sizes: threads made at start, and the spare kept above the
// number of open client connections.
const (
	reserveStart = 32
	reserveSpare = 16
)

type threadReserve struct {
	mu      sync.Mutex
	made    int  // threads this reserve has had made
	growing bool // a batch is being made
}

// need makes sure, in the background, that Go has made at least open +
// reserveSpare threads for blocking reads (doubling what it made).
func (r *threadReserve) need(open int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.growing || open+reserveSpare <= r.made {
		return
	}
	n := max(reserveStart, r.made)
	r.growing = true
	go func() {
		makeThreads(n)
		r.mu.Lock()
		r.made += n
		r.growing = false
		r.mu.Unlock()
	}()
}

// makeThreads has n goroutines block in read(2) at once, so that Go gives
// each its own thread, then lets them all return: the threads stay idle in
// Go's pool.
func makeThreads(n int) {
	var p [2]int
	if syscall.Pipe2(p[:], syscall.O_CLOEXEC) != nil {
		return
	}
	var blocked, done sync.WaitGroup
	blocked.Add(n)
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			blocked.Done()
			var b [1]byte
			syscall.Read(p[0], b[:])
		}()
	}
	// Each goroutine got a thread to run on before it said so; all but
	// the last few are blocked in read(2) holding it.
	blocked.Wait()
	syscall.Close(p[1])
	done.Wait()
	syscall.Close(p[0])
}
