package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"gl-signerd/config"
)

func init() {
	configCmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the configuration",
		Args:  noArgs,
	}
	var stateDir, configFile string
	var asJSON, example bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration, secrets redacted",
		Long: `Print the configuration gl-signerd would run with: built-in defaults, overridden
by the config file (--config, default <state-dir>/config.toml), by GL_SIGNERD_*
environment variables (and Greenlight's GL_SCHEDULER_GRPC_URI, GL_CA_CRT,
GL_NOBODY_CRT, GL_NOBODY_KEY), and by flags. PEM text of private keys is
redacted. The TOML output is a valid config file, with each key explained.

--example prints the example config file that ships with gl-signerd
(deploy/gl-signerd.toml): every key commented out, with its unit, default,
environment variable and flag; a starting point for <state-dir>/config.toml.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if example {
				if cmd.Flags().NFlag() > 1 {
					return usageErr("--example prints the example file alone; drop the other flags")
				}
				b, err := config.Example()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			dir, err := resolveStateDir(stateDir)
			if err != nil {
				return err
			}
			c, err := loadConfig(cmd, dir, configFile)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, err := c.ShowJSON()
				if err != nil {
					return err
				}
				_, err = out.Write(b)
				return err
			}
			fmt.Fprintln(out, "# gl-signerd effective configuration: defaults < config file < environment < flags; secrets redacted")
			_, err = out.Write(c.ShowTOML())
			return err
		},
	}
	addStateDirFlag(show, &stateDir)
	addConfigFlags(show, &configFile)
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of TOML")
	show.Flags().BoolVar(&example, "example", false, "print the example config file instead: every key, commented out, with its unit and default (deploy/gl-signerd.toml)")
	configCmd.AddCommand(show)
	rootCmd.AddCommand(configCmd)
}
