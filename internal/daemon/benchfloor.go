//go:build benchfloor

package daemon

// This file is compiled only with -tags benchfloor, never into the shipped
// binary (benchfloor_off.go stands in for it). Such a build measures,
// under `gl-signerd bench`, what the daemon's round trip costs on this
// machine with less of a validating signer in it, so that the bench's
// figures can be read against a floor:
//
//	go build -tags benchfloor -o /tmp/gl-signerd-floor ./cmd/gl-signerd
//	BENCHFLOOR=commit /tmp/gl-signerd-floor bench --fast-kdf --channels -1
//
// BENCHFLOOR (not a GL_ variable: bench does not pass those to the daemon)
// chooses what `run` keeps:
//
//	transport   the node's stream and the answers, from the bare engine
//	            (policy off, no state), with no audit log: the protocol's
//	            own cost here
//	commit      transport, plus one change per request committed to the
//	            state store (write-ahead log, fdatasync, group commit)
//	            before the answer, as the durability asks of every
//	            state change
//	policy-off  the daemon as it runs, with the policy off
//	no-audit    the daemon's engine as it runs (state, policy), answering
//	            through the bare handler: no audit log, and no metrics,
//	            per-type counts or ctl pause either
//
// Unset, the build runs as the shipped one.

import (
	"context"
	"fmt"
	"os"

	"gl-signerd/internal/signing"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
	"gl-signerd/streamer"
)

func benchFloorMode() string { return os.Getenv("BENCHFLOOR") }

// floorEngineOptions replaces the engine's options for the floor modes.
func floorEngineOptions(opts []signer.Option) ([]signer.Option, error) {
	switch mode := benchFloorMode(); mode {
	case "":
		return opts, nil
	case "transport", "commit":
		return []signer.Option{signer.WithPolicyMode(policy.ModeOff)}, nil
	case "policy-off":
		return append(opts, signer.WithPolicyMode(policy.ModeOff)), nil
	case "no-audit":
		return opts, nil
	default:
		return nil, fmt.Errorf("BENCHFLOOR=%q is not one of transport, commit, policy-off, no-audit", mode)
	}
}

// floorHandler replaces the daemon's request handler (full) for the floor
// modes: eng's answers with no audit log.
func floorHandler(full streamer.RequestHandler, eng *signer.Engine, st *state.Store) streamer.RequestHandler {
	bare := signing.NewHandler(eng, signing.Options{})
	switch benchFloorMode() {
	case "transport", "no-audit":
		return bare
	case "commit":
		return committing{bare, st}
	}
	return full
}

// committing answers with next, then commits one change to the request's
// channel (lightningd's own requests share one record) before the answer
// leaves.
type committing struct {
	next streamer.RequestHandler
	st   *state.Store
}

func (c committing) HandleHsmRequest(ctx context.Context, r streamer.Request) streamer.Response {
	resp := c.next.HandleHsmRequest(ctx, r)
	var id state.ChannelID
	if r.Context != nil {
		id = state.ChannelID{Peer: r.Context.PeerID, DBID: r.Context.DBID}
	}
	err := c.st.UpdateChannel(ctx, id, func(ch *state.Channel) error {
		ch.HolderPointNext++
		return nil
	})
	if err != nil {
		return streamer.Response{Err: err}
	}
	return resp
}
