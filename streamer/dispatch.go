package streamer

import (
	"context"
	"sync"
)

// dispatcher runs jobs with one ordered queue per channel. Each queue has
// its own goroutine, started with the queue's first job and gone when the
// queue drains, so idle channels cost nothing. A semaphore bounds how many
// jobs run at once across channels. Submitting to a full queue blocks: the
// receive loop then stops reading, which is the backpressure we want.
type dispatcher struct {
	ctx    context.Context
	depth  int
	sem    chan struct{}
	mu     sync.Mutex
	queues map[channelKey]*queue
	wg     sync.WaitGroup
}

type queue struct {
	ch chan func(context.Context)
	n  int // jobs submitted and not yet finished; guarded by dispatcher.mu
}

func newDispatcher(ctx context.Context, depth, concurrency int) *dispatcher {
	return &dispatcher{
		ctx:    ctx,
		depth:  depth,
		sem:    make(chan struct{}, concurrency),
		queues: make(map[channelKey]*queue),
	}
}

// submit queues job behind the earlier jobs of key. It returns false if
// the dispatcher's context ended first; the job then never runs.
func (d *dispatcher) submit(key channelKey, job func(context.Context)) bool {
	d.mu.Lock()
	q := d.queues[key]
	if q == nil {
		q = &queue{ch: make(chan func(context.Context), d.depth)}
		d.queues[key] = q
		d.wg.Add(1)
		go d.work(key, q)
	}
	q.n++
	d.mu.Unlock()
	select {
	case q.ch <- job:
		return true
	case <-d.ctx.Done():
		return false
	}
}

func (d *dispatcher) work(key channelKey, q *queue) {
	defer d.wg.Done()
	for {
		select {
		case job := <-q.ch:
			select {
			case d.sem <- struct{}{}:
			case <-d.ctx.Done():
				return
			}
			job(d.ctx)
			<-d.sem
			d.mu.Lock()
			q.n--
			if q.n == 0 {
				delete(d.queues, key)
				d.mu.Unlock()
				return
			}
			d.mu.Unlock()
		case <-d.ctx.Done():
			return
		}
	}
}

// wait blocks until every queue goroutine has returned. Cancel the
// dispatcher's context first unless all submitted jobs should finish.
func (d *dispatcher) wait() { d.wg.Wait() }
