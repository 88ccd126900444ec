package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() {
	configCmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the configuration",
		Args:  noArgs,
	}
	var stateDir, configFile string
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration, secrets redacted",
		Long: `Print the configuration gl-signerd would run with: built-in defaults, overridden
by the config file (--config, default <state-dir>/config.toml), by GL_SIGNERD_*
environment variables (and Greenlight's GL_SCHEDULER_GRPC_URI, GL_CA_CRT,
GL_NOBODY_CRT, GL_NOBODY_KEY), and by flags. PEM text of private keys is
redacted. The TOML output is a valid config file, with each key explained.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	configCmd.AddCommand(show)
	rootCmd.AddCommand(configCmd)
}
