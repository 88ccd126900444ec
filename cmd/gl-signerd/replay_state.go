package main

import (
	"fmt"
	"os"
	"path/filepath"

	"gl-signerd/signer"
	"gl-signerd/signer/state"
)

// stateStores gives each replayed signer a state store of its own, in a
// temporary state directory, so that vector files exercise the state
// layer as the daemon runs it. cleanup closes the stores and removes the
// directory.
func stateStores() (options func() ([]signer.Option, error), cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "gl-signerd-replay-state-")
	if err != nil {
		return nil, nil, fmt.Errorf("could not make a temporary state directory: %w", err)
	}
	var stores []*state.Store
	options = func() ([]signer.Option, error) {
		st, err := state.Open(filepath.Join(dir, fmt.Sprintf("%d-%s", len(stores), state.FileName)))
		if err != nil {
			return nil, err
		}
		stores = append(stores, st)
		return []signer.Option{signer.WithState(st)}, nil
	}
	cleanup = func() {
		for _, st := range stores {
			st.Close()
		}
		os.RemoveAll(dir)
	}
	return options, cleanup, nil
}
