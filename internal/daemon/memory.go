package daemon

import (
	"os"
	"runtime/debug"

	"go.uber.org/zap"
)

// The Go runtime's memory settings once the daemon has started (the
// Argon2id KDF, which needs 256 MiB, has run by then). A signer runs for
// months next to other programs, so it trades a little GC work for a
// small footprint: the heap may grow to 1.5× what is live rather than 2×,
// and under the soft limit the runtime hands memory freed after a burst
// back to the OS at once instead of over minutes. The limit must stay well
// above the live heap, or the collector runs without pause: with state
// and policy, 1,000 channels kept about 12 MB live (about 11 MB since the
// engine's caches are bounded by channels used recently), and at a 20 MiB limit
// gl-signerd bench counted 8,461 collections in its run (19 % of the
// daemon's CPU) against 1,526 at 28 MiB and 949 at 36 MiB; CPU per request
// at saturation 987 / 691 / 592 µs; peak RSS 47.4 / 43.6 / 52.8 MB (about
// 21 MB of it the binary's pages; runs vary by a few MB). A GOGC of 40
// instead of 50 took 1.3 MB off the peak RSS and added a third to the
// daemon's CPU per request at 1,000 req/s (two runs each). An operator with
// other needs sets GOMEMLIMIT.
const (
	defaultGCPercent   = 50
	defaultMemoryLimit = 28 << 20
)

// tuneGC applies defaultGCPercent and defaultMemoryLimit unless GOGC or
// GOMEMLIMIT is set: an operator's own settings win.
func tuneGC(log *zap.Logger) {
	gogc, limit := os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT")
	if gogc == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if limit == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	log.Debug("Go memory settings", zap.Bool("gogc_from_environment", gogc != ""),
		zap.Bool("gomemlimit_from_environment", limit != ""), zap.Int64("memory_limit", debug.SetMemoryLimit(-1)))
}
