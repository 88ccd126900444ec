package main

// gl-signerd bench: the whole daemon measured on this machine (package
// internal/loadgen does the work).

import (
	"context"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gl-signerd/internal/loadgen"
)

type benchFlags struct {
	rates          []int
	duration       time.Duration
	workers        int
	generatorCPUs  int
	scriptRequests int
	live           bool
	channels       int
	fastKDF        bool
	pin            bool
	keep           bool
}

func init() {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the whole daemon on this machine: latency, throughput, CPU and memory",
		Long: `Measure gl-signerd as it runs: this binary's init, register and run against an
emulated Greenlight on loopback, driven over the node's gRPC stream by generated
channel traffic (commitments, HTLCs, revocations, closes, wallet spends, gossip,
invoices), every answer checked.

It reports, for each paced phase (--rates) and at saturation, the rate achieved,
the p50/p99/max round trip of a request (node → signer → node) and the daemon's
CPU time per request; the time the signing engine alone takes for the same
requests; and the daemon's peak RSS while --channels channels are set up,
exercised and left open. It takes about a minute with the defaults and leaves
nothing behind. The machine should be otherwise idle: the load generator runs
here too.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.duration <= 0 || f.workers <= 0 || f.generatorCPUs <= 0 || f.scriptRequests <= 0 {
				return usageErr("--duration, --workers, --generator-cpus and --script-requests must be positive")
			}
			self, err := selfPath()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
			defer cancel()
			out := cmd.OutOrStdout()
			rep, err := loadgen.Run(ctx, loadgen.Config{Binary: self, Out: out, Rates: f.rates, PhaseDuration: f.duration,
				Workers: f.workers, Channels: f.channels, FastKDF: f.fastKDF, PinCPUs: f.pin, KeepDir: f.keep,
				GeneratorCPUs: f.generatorCPUs, Live: f.live, ScriptRequests: f.scriptRequests})
			if rep != nil {
				rep.Write(out)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.IntSliceVar(&f.rates, "rates", []int{100, 1000}, "paced phases, in requests per second (a saturation phase follows)")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "length of each phase")
	fl.IntVar(&f.workers, "workers", 64, "concurrent channels during the phases")
	fl.BoolVar(&f.live, "live", false, "build each request of the paced phases as the run goes (the generator then competes with the daemon for CPU) instead of replaying recorded lifecycles")
	fl.IntVar(&f.scriptRequests, "script-requests", 50000, "requests of lifecycles recorded (against the engine in process, every answer checked) for the phases to replay, each once")
	fl.IntVar(&f.generatorCPUs, "generator-cpus", 1, "with --live: channel workers that may build and check transactions at once; the rest of the load generator's process is left to the emulated node's network work")
	fl.IntVar(&f.channels, "channels", 1000, "channels set up for the memory phase (-1: skip it)")
	fl.BoolVar(&f.fastKDF, "fast-kdf", false, "make the throw-away store with a cheap KDF instead of gl-signerd init, to see the daemon's memory without the start-up KDF's 256 MiB")
	fl.BoolVar(&f.pin, "pin", false, "run the daemon on CPU 1 and the load generator on CPU 0 (taskset), so they do not compete for CPU")
	fl.BoolVar(&f.keep, "keep", false, "keep the temporary directory (state, the daemon's debug log) and print where it is")
	rootCmd.AddCommand(cmd)
}
