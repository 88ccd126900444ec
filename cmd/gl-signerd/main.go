// Command gl-signerd is the signer daemon (key manager) for a self-custodial
// Core Lightning node hosted by a Greenlight-style service: it holds the seed,
// answers the node's hsmd requests byte for byte as CLN's own hsmd would, and
// refuses what a validating signer must refuse.
//
// Each subcommand lives in its own file and registers itself on rootCmd from
// an init function, so adding a subcommand touches no other file.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:           "gl-signerd",
	Short:         "Signer daemon for a self-custodial, cloud-hosted Core Lightning node",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	os.Exit(run(commandLine(os.Args)))
}

// run executes the command line and maps the error to a documented exit code.
func run(args []string) int {
	requireSubcommands(rootCmd)
	addFlagCompletions(rootCmd)
	rootCmd.SetArgs(args)
	err := rootCmd.Execute()
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(os.Stderr, "gl-signerd: %v\n", err)
	return exitCodeOf(err)
}

func init() {
	rootCmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return withExitCode(ExitUsage, err)
	})
}
