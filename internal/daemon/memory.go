package daemon

import (
	"os"
	"runtime/debug"

	"go.uber.org/zap"
)

// The Go runtime's memory settings once the daemon has started (the
// Argon2id KDF, which needs 256 MiB, has run by then). A signer's live heap
// is small (a few MB with 1,000 channels) and it runs for months next to
// other programs, so it trades a little GC work for a small footprint:
// the heap may grow to 1.5× what is live rather than 2× (this kept the
// 1,000-channel RSS of gl-signerd bench at 32 MB instead of 36–41 MB, with
// no latency or CPU cost we could measure), and under the soft limit the
// runtime hands memory freed after a burst back to the OS at once instead
// of over minutes: at 32 MiB the same benchmark's RSS still ranged 32–43 MB
// (12–24 MB of it Go heap pages freed but kept); at 20 MiB, 31–35 MB in
// seven runs, with p99 and CPU per request unchanged. The live heap is a
// few MB and the caches are bounded (4,096 channels' keys), so the limit
// is far above what is live; an operator with other needs sets GOMEMLIMIT.
const (
	defaultGCPercent   = 50
	defaultMemoryLimit = 20 << 20
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
