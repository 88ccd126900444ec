package main

import (
	"github.com/spf13/cobra"

	"gl-signerd/config"
)

// flagValues are the values of flags that take one of a few, which shell
// completion offers wherever such a flag is.
var flagValues = map[string][]string{
	"network":    config.Networks,
	"log-level":  config.LogLevels,
	"log-format": config.LogFormats,
}

// addFlagCompletions registers flagValues' completions on c and every
// command under it. It runs once, after every subcommand's init.
func addFlagCompletions(c *cobra.Command) {
	for name, values := range flagValues {
		if c.LocalFlags().Lookup(name) == nil {
			continue
		}
		values := values
		// An error means the flag has a completion already; keep it.
		_ = c.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		})
	}
	for _, sub := range c.Commands() {
		addFlagCompletions(sub)
	}
}

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script for bash, zsh or fish",
		Long: `Print a script that completes gl-signerd's commands and flags in your shell.

  bash: gl-signerd completion bash > /etc/bash_completion.d/gl-signerd
        (or: source <(gl-signerd completion bash) in ~/.bashrc)
  zsh:  gl-signerd completion zsh > "${fpath[1]}/_gl-signerd"
  fish: gl-signerd completion fish > ~/.config/fish/completions/gl-signerd.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("%s takes one argument, the shell: bash, zsh or fish", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return rootCmd.GenBashCompletion(out)
			case "zsh":
				return rootCmd.GenZshCompletion(out)
			case "fish":
				return rootCmd.GenFishCompletion(out, true)
			}
			return usageErr("%s: shell %q is not one of bash, zsh, fish", cmd.CommandPath(), args[0])
		},
	})
}
