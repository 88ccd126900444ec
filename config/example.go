package config

import (
	"fmt"
	"reflect"
	"strings"
)

// ExampleFile is where the repository keeps Example's output: the example
// configuration that ships with gl-signerd (a test keeps it up to date).
const ExampleFile = "deploy/gl-signerd.toml"

// units gives each key's unit, for the example configuration. Every key
// must have one: Example fails for a key without, so a key added to Config
// is not released undocumented.
var units = map[string]string{
	"network":                                "a network name",
	"scheduler.uri":                          "an https:// URL",
	"tls.ca_cert":                            "a file path or PEM text",
	"tls.nobody_cert":                        "a file path or PEM text",
	"tls.nobody_key":                         "a file path or PEM text",
	"log.level":                              "a level name",
	"log.format":                             "a format name",
	"metrics.listen":                         "host:port",
	"metrics.allow_non_loopback":             "true or false",
	"control.socket":                         "a file path, relative to the state directory unless absolute",
	"streamer.backoff_initial":               "a duration (\"500ms\", \"30s\", \"1m30s\")",
	"streamer.backoff_max":                   "a duration",
	"streamer.keepalive":                     "a duration",
	"streamer.keepalive_timeout":             "a duration",
	"audit.sync_interval":                    "a duration",
	"audit.max_size_mb":                      "MiB",
	"audit.keep":                             "files",
	"policy.mode":                            "enforce, warn or off",
	"policy.profile":                         "a profile name",
	"policy.warn":                            "list of policy tags",
	"policy.allowlist":                       "list of destinations",
	"policy.min_feerate_sat_per_kw":          "satoshis per 1000 weight units",
	"policy.max_feerate_sat_per_kw":          "satoshis per 1000 weight units",
	"policy.max_fee_percent":                 "percent",
	"policy.min_to_self_delay_blocks":        "blocks",
	"policy.max_to_self_delay_blocks":        "blocks",
	"policy.auto_approve_below_msat":         "millisatoshis",
	"policy.auto_approve_channels_below_sat": "satoshis",
	"policy.approval_timeout":                "a duration",
	"policy.approval_valid_for":              "a duration",
	"policy.max_payments_per_hour_msat":      "millisatoshis",
	"policy.max_payments_per_day_msat":       "millisatoshis",
	"policy.max_withdrawals_per_hour_sat":    "satoshis",
	"policy.max_withdrawals_per_day_sat":     "satoshis",
	"intent.max_age_seconds":                 "seconds",
}

// exampleStateDir is the state directory the example's defaults are shown
// for: the one the systemd unit and the container use.
const exampleStateDir = "/var/lib/gl-signerd"

// Example returns the example configuration file: every key, commented
// out, with what it does, its unit, its default, and the environment
// variable and flag that set it too. Uncommenting a line gives the
// default; Load accepts the file as it is and with any line uncommented.
func Example() ([]byte, error) {
	def := Default(exampleStateDir)
	def.Control.Socket = "control.sock" // relative: the state directory's
	flat := def.Flat()
	var b strings.Builder
	b.WriteString(`# gl-signerd configuration: every key, with its unit and default.
#
# Copy this file to <state-dir>/config.toml (or pass --config FILE) and
# uncomment the keys you change; a commented key keeps its default. Settings
# are read in this order, each overriding the one before: built-in defaults,
# this file, GL_SIGNERD_* environment variables, command-line flags.
# An unknown key is an error. "gl-signerd config show" prints what is in
# effect; "gl-signerd config show --example" prints this file.
`)
	section := ""
	for _, f := range fields {
		unit, ok := units[f.key]
		if !ok {
			return nil, fmt.Errorf("config: key %s has no unit for the example configuration (config/example.go)", f.key)
		}
		sec, name := "", f.key
		if i := strings.LastIndexByte(f.key, '.'); i >= 0 {
			sec, name = f.key[:i], f.key[i+1:]
		}
		if sec != section {
			fmt.Fprintf(&b, "\n[%s]\n", sec)
			section = sec
		}
		b.WriteString("\n")
		for _, line := range wrap(f.help, 76) {
			fmt.Fprintf(&b, "# %s\n", line)
		}
		fmt.Fprintf(&b, "# unit: %s; default: %s\n", unit, exampleDefault(f, flat[f.key]))
		also := "# environment: " + f.env
		for _, g := range greenlightEnv {
			if g.key == f.key {
				also += " (or Greenlight's " + g.env + ")"
			}
		}
		if f.flag != "" {
			also += "; flag: --" + f.flag
		}
		b.WriteString(also + "\n")
		fmt.Fprintf(&b, "#%s = %s\n", name, tomlValue(flat[f.key]))
	}
	return []byte(b.String()), nil
}

// exampleDefault says what a key's default is, in words where the value
// alone would not.
func exampleDefault(f field, v any) string {
	switch {
	case f.key == "control.socket":
		return "control.sock in the state directory"
	case f.key == "network":
		return "empty (the network stored with the seed)"
	case reflect.DeepEqual(v, ""):
		return "empty"
	}
	return tomlValue(v)
}

// wrap splits s into lines of at most width bytes at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
