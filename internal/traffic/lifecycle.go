package traffic

import (
	"context"
	"fmt"
)

// CloseKind says how a lifecycle ends.
type CloseKind int

// Ways to end a channel.
const (
	CloseMutual CloseKind = iota // sign_mutual_close_tx, forget_channel
	CloseForce                   // sign_commitment_tx, to_local sweep, forget_channel
	CloseNone                    // leave the channel open
	CloseRemote                  // the peer force-closes: to_remote swept with close_info
	CloseBreach                  // the peer broadcasts a revoked commitment: penalty sweep
)

func (k CloseKind) String() string {
	switch k {
	case CloseMutual:
		return "mutual close"
	case CloseForce:
		return "force close"
	case CloseRemote:
		return "peer's force close"
	case CloseBreach:
		return "peer's breach, penalty"
	}
	return "left open"
}

// Lifecycle is a channel's whole life.
type Lifecycle struct {
	Channel ChannelOptions
	// Payments: this many payments, alternating outgoing and incoming,
	// every fifth one failed by the recipient.
	Payments int
	// FeeUpdates: update_fee rounds, spread among the payments.
	FeeUpdates int
	Close      CloseKind
}

// RunLifecycle opens a channel, makes the payments and fee updates, and
// closes it. It returns the channel (closed unless CloseNone).
func (g *Generator) RunLifecycle(ctx context.Context, l Lifecycle) (*Channel, error) {
	ch, err := g.OpenChannel(ctx, l.Channel)
	if err != nil {
		return nil, err
	}
	every := 0
	if l.FeeUpdates > 0 {
		every = l.Payments/l.FeeUpdates + 1
	}
	fees := 0
	for i := 0; i < l.Payments; i++ {
		amt := uint64(10_000+ch.rng.IntN(200_000)) * 1000
		// Pay first from the side that has the funds.
		outgoing := (i%2 == 0) == l.Channel.WeFund
		if i%5 == 4 {
			n, err := ch.PayFailing(ctx, amt)
			if err == nil && n == 0 {
				err = ch.payOrReceive(ctx, amt, false)
			}
			if err != nil {
				return ch, fmt.Errorf("payment %d: %w", i+1, err)
			}
		} else if err := ch.payOrReceive(ctx, amt, outgoing); err != nil {
			return ch, fmt.Errorf("payment %d: %w", i+1, err)
		}
		if every > 0 && (i+1)%every == 0 && fees < l.FeeUpdates {
			fees++
			if err := ch.UpdateFee(ctx, ch.feerate+uint32(50+ch.rng.IntN(200))); err != nil {
				return ch, err
			}
		}
	}
	for ; fees < l.FeeUpdates; fees++ {
		if err := ch.UpdateFee(ctx, ch.feerate+uint32(50+ch.rng.IntN(200))); err != nil {
			return ch, err
		}
	}
	switch l.Close {
	case CloseMutual:
		err = ch.CloseMutual(ctx)
	case CloseForce:
		err = ch.ForceClose(ctx)
	case CloseRemote:
		err = ch.CloseRemote(ctx)
	case CloseBreach:
		err = ch.CloseBreach(ctx)
	}
	return ch, err
}

// payOrReceive makes a payment in the given direction, or in the other
// if that side cannot spend.
func (ch *Channel) payOrReceive(ctx context.Context, amt uint64, outgoing bool) error {
	for try := 0; try < 2; try++ {
		var done uint64
		var err error
		if outgoing {
			done, err = ch.Pay(ctx, amt)
		} else {
			done, err = ch.Receive(ctx, amt)
		}
		if err != nil || done > 0 {
			return err
		}
		outgoing = !outgoing
	}
	return nil
}
