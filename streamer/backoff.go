package streamer

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is jittered exponential backoff: each delay is drawn from
// [d/2, d) where d doubles from initial up to max.
type backoff struct {
	initial, max time.Duration
	cur          time.Duration
}

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{initial: initial, max: max, cur: initial}
}

// next returns the delay to wait now and grows the next one.
func (b *backoff) next() time.Duration {
	d := b.cur
	if b.cur < b.max {
		b.cur *= 2
		if b.cur > b.max {
			b.cur = b.max
		}
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half)
}

// reset starts over from the initial delay.
func (b *backoff) reset() { b.cur = b.initial }

// sleep waits d or until ctx ends; it reports whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
