package signer

// ThreadCPU is threadCPU for the package's external tests.
var ThreadCPU = threadCPU

// CachedCommitmentChannels is the number of channels the policy's rebuild
// cache holds.
func CachedCommitmentChannels(e *Engine) int { return e.built.channels() }
