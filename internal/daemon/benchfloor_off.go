//go:build !benchfloor

package daemon

import (
	"gl-signerd/signer"
	"gl-signerd/signer/state"
	"gl-signerd/streamer"
)

// The shipped binary runs as configured; benchfloor.go (built only with
// -tags benchfloor) says what a floor build changes.

func floorEngineOptions(opts []signer.Option) ([]signer.Option, error) { return opts, nil }

func floorHandler(full streamer.RequestHandler, _ *signer.Engine, _ *state.Store) streamer.RequestHandler {
	return full
}
