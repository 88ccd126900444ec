package main

import "gl-signerd/secretstore"

// Transcripts create many stores; the test binary (which testscript runs as
// the gl-signerd command) uses a cheap Argon2id cost. Only test binaries
// contain this file, so no flag or environment variable can weaken a real
// store.
func init() {
	storeOptions = append(storeOptions, secretstore.WithKDFParams(secretstore.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}))
}
