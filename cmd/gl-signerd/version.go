package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"gl-signerd/hsmproto"
)

// version is gl-signerd's version, set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise the module version, or
// "devel".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// buildCommit is the commit the binary was built from, as the go command
// recorded it (vcs.revision, with "-modified" for a dirty tree), or
// "unknown" when it recorded none (go run, go test, a build outside git).
func buildCommit(bi *debug.BuildInfo) string {
	if bi == nil {
		return "unknown"
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if modified {
		rev += "-modified"
	}
	return rev
}

// versionText is what version and --version print: the version, the
// commit, the Go toolchain and the hsmd wire protocol versions spoken.
func versionText() string {
	bi, _ := debug.ReadBuildInfo()
	var b strings.Builder
	fmt.Fprintf(&b, "gl-signerd %s\n", versionString())
	fmt.Fprintf(&b, "commit: %s\n", buildCommit(bi))
	fmt.Fprintf(&b, "go: %s\n", runtime.Version())
	fmt.Fprintf(&b, "hsmd wire protocol: %d-%d (Core Lightning %s)\n", hsmproto.MinVersion, hsmproto.MaxVersion, hsmproto.CLNVersion)
	return b.String()
}

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and hsmd wire protocol range",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(cmd.OutOrStdout(), versionText())
			return err
		},
	})
	// --version on the root command prints the same text.
	rootCmd.Version = versionString()
	rootCmd.Flags().Bool("version", false, "print the version, commit, Go version and hsmd wire protocol range")
	cobra.AddTemplateFunc("glSignerdVersion", versionText)
	rootCmd.SetVersionTemplate("{{glSignerdVersion}}")
}
