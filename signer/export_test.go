package signer

import "sync"

// ThreadCPU is threadCPU for the package's external tests.
var ThreadCPU = threadCPU

// CachedCommitmentChannels is the number of channels the policy's rebuild
// cache holds.
func CachedCommitmentChannels(e *Engine) int {
	seen := map[any]bool{}
	for _, m := range []*sync.Map{&e.built.m, &e.built.peers} {
		m.Range(func(k, _ any) bool { seen[k] = true; return true })
	}
	return len(seen)
}
