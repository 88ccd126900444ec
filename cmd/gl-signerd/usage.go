package main

// Usage errors exit 2 everywhere (README's exit-code table): a command that
// only groups others (gl-signerd itself, config, hsmd) refuses a missing or
// unknown subcommand, where cobra would print help and exit 0, or fail with
// exit 1; so does help for an unknown topic.

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// requireSubcommands gives every command under c (and c) that has
// subcommands but nothing to run of its own a RunE that reports a missing
// or unknown subcommand as a usage error. It runs once, after every
// subcommand's init has registered it.
func requireSubcommands(c *cobra.Command) {
	if c.HasSubCommands() && !c.Runnable() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			cmd.Usage() // to stderr
			return usageErr("%s needs a command: %s", cmd.CommandPath(), strings.Join(subcommandNames(cmd), ", "))
		}
	}
	for _, sub := range c.Commands() {
		requireSubcommands(sub)
	}
}

func unknownCommand(parent *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %s", name, parent.CommandPath())
	if parent.SuggestionsMinimumDistance <= 0 {
		parent.SuggestionsMinimumDistance = 2
	}
	if s := parent.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
	}
	return usageErr("%s (run %s --help for the list)", msg, parent.CommandPath())
}

func subcommandNames(c *cobra.Command) []string {
	var out []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			out = append(out, sub.Name())
		}
	}
	return out
}

// helpCmd replaces cobra's help command, which prints the root's help and
// exits 0 for a topic it does not know.
var helpCmd = &cobra.Command{
	Use:   "help [command]",
	Short: "Help about any command",
	Args:  cobra.ArbitraryArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		target, rest, err := rootCmd.Find(args)
		if err != nil || len(rest) > 0 {
			parent := rootCmd
			if target != nil {
				parent = target
			}
			name := strings.Join(args, " ")
			if len(rest) > 0 {
				name = rest[0]
			}
			return unknownCommand(parent, name)
		}
		target.InitDefaultHelpFlag()
		return target.Help()
	},
}

func init() {
	rootCmd.SetHelpCommand(helpCmd)
}
