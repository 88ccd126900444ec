package streamer

import (
	"context"
	"sync"
)

// maxIdleWorkers bounds the queue goroutines kept waiting for a new queue
// once theirs has drained (and the drained queues kept for reuse): as many
// as may run at once, at most this many. Each keeps its stack, grown to
// the engine's depth (32 of them cost the 1,000-channel phase of gl-signerd
// bench 4 MB of RSS).
const maxIdleWorkers = 32

// dispatcher runs jobs with one ordered queue per channel. Each queue has
// a goroutine of its own while it holds jobs; once it drains, the queue is
// gone, so idle channels cost nothing. The goroutine then waits, up to
// maxIdle of them, to take over the next channel's new queue: a
// channeld with one request in flight empties its queue with every answer,
// and a fresh goroutine per request would grow its stack to the engine's
// depth each time. A semaphore bounds how many jobs run at once across
// channels. Submitting to a full queue blocks: the receive loop then stops
// reading, which is the backpressure we want.
type dispatcher struct {
	ctx    context.Context
	depth  int
	sem    chan struct{}
	mu     sync.Mutex
	queues map[channelKey]*queue
	free   []*queue // drained queues (empty channels) to reuse; guarded by mu
	idle   int      // goroutines waiting on handoff; guarded by mu
	// maxIdle bounds idle and free: min(concurrency, maxIdleWorkers).
	maxIdle int
	// handoff gives a new queue to an idle goroutine (unbuffered: a send
	// succeeds only if one is waiting).
	handoff  chan queueRun
	quit     chan struct{} // closed by wait: idle goroutines return
	quitOnce sync.Once
	wg       sync.WaitGroup
}

type queue struct {
	ch chan func(context.Context)
	n  int // jobs submitted and not yet finished; guarded by dispatcher.mu
}

type queueRun struct {
	key channelKey
	q   *queue
}

func newDispatcher(ctx context.Context, depth, concurrency int) *dispatcher {
	return &dispatcher{
		ctx:     ctx,
		depth:   depth,
		sem:     make(chan struct{}, concurrency),
		maxIdle: min(concurrency, maxIdleWorkers),
		queues:  make(map[channelKey]*queue),
		handoff: make(chan queueRun),
		quit:    make(chan struct{}),
	}
}

// submit queues job behind the earlier jobs of key. It returns false if
// the dispatcher's context ended first; the job then never runs.
func (d *dispatcher) submit(key channelKey, job func(context.Context)) bool {
	d.mu.Lock()
	q := d.queues[key]
	fresh := q == nil
	if fresh {
		if n := len(d.free); n > 0 {
			q, d.free = d.free[n-1], d.free[:n-1]
		} else {
			q = &queue{ch: make(chan func(context.Context), d.depth)}
		}
		d.queues[key] = q
	}
	q.n++
	d.mu.Unlock()
	if fresh {
		select {
		case d.handoff <- queueRun{key, q}: // an idle goroutine runs it
		default:
			d.wg.Add(1)
			go d.work(key, q)
		}
	}
	select {
	case q.ch <- job:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// work runs the queue of key until it drains, then waits for another
// queue, until the context ends or wait is called.
func (d *dispatcher) work(key channelKey, q *queue) {
	defer d.wg.Done()
	for d.drain(key, q) {
		d.mu.Lock()
		if d.idle >= d.maxIdle {
			d.mu.Unlock()
			return
		}
		d.idle++
		d.mu.Unlock()
		var r queueRun
		select {
		case r = <-d.handoff:
		case <-d.quit:
		case <-d.ctx.Done():
		}
		d.mu.Lock()
		d.idle--
		d.mu.Unlock()
		if r.q == nil {
			return
		}
		key, q = r.key, r.q
	}
}

// drain runs the jobs of key's queue until none is left (true: the queue
// is removed and kept for reuse) or the context ends (false).
func (d *dispatcher) drain(key channelKey, q *queue) bool {
	for {
		select {
		case job := <-q.ch:
			select {
			case d.sem <- struct{}{}:
			case <-d.ctx.Done():
				return false
			}
			job(d.ctx)
			<-d.sem
			d.mu.Lock()
			q.n--
			if q.n == 0 {
				delete(d.queues, key)
				if len(d.free) < d.maxIdle {
					d.free = append(d.free, q)
				}
				d.mu.Unlock()
				return true
			}
			d.mu.Unlock()
		case <-d.ctx.Done():
			return false
		}
	}
}

// wait blocks until every queue goroutine has returned: those running a
// queue return once it drains. Cancel the dispatcher's context first
// unless all submitted jobs should finish. No job may be submitted after.
func (d *dispatcher) wait() {
	d.quitOnce.Do(func() { close(d.quit) })
	d.wg.Wait()
}
