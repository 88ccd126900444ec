package main

import (
	"github.com/spf13/cobra"
)

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
