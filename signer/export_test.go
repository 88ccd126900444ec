package signer

import "gl-signerd/signer/state"

// ThreadCPU is threadCPU for the package's external tests.
var ThreadCPU = threadCPU

// CachedCommitmentChannels is the number of channels the policy's rebuild
// cache holds.
func CachedCommitmentChannels(e *Engine) int {
	seen := map[state.ChannelID]bool{}
	for _, id := range append(e.built.m.Keys(), e.built.peers.Keys()...) {
		seen[id] = true
	}
	return len(seen)
}

// LimitCachedCommitmentChannels makes the policy's rebuild cache hold at
// most n channels.
func LimitCachedCommitmentChannels(e *Engine, n int) { e.built = newBuiltCommitments(n) }
