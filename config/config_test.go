package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

const testKeyPEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIC2eJ7DLvvTzB7mOtSIB9QZJ5n6Xx3FXEI5cGDbwn2Jy\n-----END PRIVATE KEY-----\n"

func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, FileName)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("state-dir", "", "")
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(Options{StateDir: dir, Environ: []string{"HOME=/x", "PATH=/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	want := Default(dir)
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load with nothing set = %+v, want the defaults %+v", c, want)
	}
	if c.Scheduler.URI != "https://scheduler.gl.blckstrm.com" || c.Control.Socket != filepath.Join(dir, "control.sock") ||
		c.Streamer.BackoffMax != 30*time.Second || c.Log.Level != "info" || c.Log.Format != "auto" || c.Metrics.Listen != "" ||
		c.Audit.SyncInterval != 10*time.Millisecond || c.Audit.MaxSizeMB != 64 || c.Audit.Keep != 8 || c.Policy.Mode != "enforce" {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

// Each layer overrides the one before: default < file < env < flag.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "[log]\nlevel = \"warn\"\nformat = \"json\"\n[policy]\nmax_feerate_sat_per_kw = 30000\nmin_to_self_delay_blocks = 6\n[streamer]\nbackoff_max = \"1m\"\n")
	env := []string{
		"GL_SIGNERD_LOG_LEVEL=error",
		"GL_SIGNERD_POLICY_MAX_FEERATE_SAT_PER_KW=40000",
		"GL_SCHEDULER_GRPC_URI=https://greenlight.example:2601",
	}
	for _, tc := range []struct {
		name  string
		env   []string
		flags []string
		check func(*Config) string
	}{
		{"file over default", nil, nil, func(c *Config) string {
			if c.Log.Level != "warn" || c.Log.Format != "json" || c.Streamer.BackoffMax != time.Minute || c.Policy.MinToSelfDelayBlocks != 6 {
				return "file values not applied"
			}
			if c.Policy.MaxToSelfDelayBlocks != 2016 {
				return "default lost for a key the file does not set"
			}
			return ""
		}},
		{"policy lists from env", []string{"GL_SIGNERD_POLICY_WARN=policy-mutual-fee-range, policy-sweep-*"}, nil, func(c *Config) string {
			if !reflect.DeepEqual(c.Policy.Warn, []string{"policy-mutual-fee-range", "policy-sweep-*"}) {
				return fmt.Sprintf("GL_SIGNERD_POLICY_WARN read as %q", c.Policy.Warn)
			}
			return ""
		}},
		{"policy mode from env", []string{"GL_SIGNERD_POLICY_MODE=warn"}, nil, func(c *Config) string {
			if c.Policy.Mode != "warn" {
				return "GL_SIGNERD_POLICY_MODE not applied"
			}
			return ""
		}},
		{"env over file", env, nil, func(c *Config) string {
			if c.Log.Level != "error" || c.Policy.MaxFeerateSatPerKw != 40000 || c.Log.Format != "json" {
				return "env values not applied over the file"
			}
			if c.Scheduler.URI != "https://greenlight.example:2601" {
				return "GL_SCHEDULER_GRPC_URI not honoured"
			}
			return ""
		}},
		{"flag over env", env, []string{"--log-level", "debug", "--scheduler-uri", "https://flag.example"}, func(c *Config) string {
			if c.Log.Level != "debug" || c.Scheduler.URI != "https://flag.example" {
				return "flags not applied over the env"
			}
			if c.Policy.MaxFeerateSatPerKw != 40000 {
				return "env lost for a key no flag sets"
			}
			return ""
		}},
		{"unset flags do not override", env, []string{"--state-dir", dir}, func(c *Config) string {
			if c.Log.Level != "error" {
				return "an unset --log-level overrode the env"
			}
			return ""
		}},
		{"GL_SIGNERD_ over Greenlight's name", []string{"GL_SCHEDULER_GRPC_URI=https://a.example", "GL_SIGNERD_SCHEDULER_URI=https://b.example"}, nil, func(c *Config) string {
			if c.Scheduler.URI != "https://b.example" {
				return "GL_SIGNERD_SCHEDULER_URI did not win"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(Options{StateDir: dir, Environ: append([]string{"HOME=/x"}, tc.env...), Flags: flags(t, tc.flags...)})
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c); msg != "" {
				t.Errorf("%s: %+v", msg, c)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string
		env   []string
		flags []string
		want  string
	}{
		{"bad level from env", "", []string{"GL_SIGNERD_LOG_LEVEL=loud"}, nil,
			`config: log.level: "loud" is not one of debug, info, warn, error (from GL_SIGNERD_LOG_LEVEL)`},
		{"bad level from flag", "", nil, []string{"--log-level=loud"},
			`config: log.level: "loud" is not one of debug, info, warn, error (from --log-level)`},
		{"bad level from file", "[log]\nlevel = \"loud\"\n", nil, nil,
			`config: log.level: "loud" is not one of debug, info, warn, error (from FILE)`},
		{"unknown key", "[log]\nlevl = \"debug\"\n", nil, nil,
			`config: log.levl: unknown key; did you mean log.level? (from FILE)`},
		{"unknown section", "[logging]\nlevel = \"debug\"\n", nil, nil,
			`config: logging.level: unknown key; did you mean log.level? (from FILE)`},
		{"unknown empty table", "[logging]\n", nil, nil,
			`config: logging: unknown key; see gl-signerd config show for the known keys (from FILE)`},
		{"unknown top-level", "netwrok = \"regtest\"\n", nil, nil,
			`config: netwrok: unknown key; did you mean network? (from FILE)`},
		{"table as value", "policy = 5\n", nil, nil,
			`config: policy: unknown key; policy is a table: write [policy] and its keys below it (from FILE)`},
		{"unknown env", "", []string{"GL_SIGNERD_LOG_LEVL=debug"}, nil,
			`config: environment variable GL_SIGNERD_LOG_LEVL is not a known setting; did you mean GL_SIGNERD_LOG_LEVEL?`},
		{"bad toml", "[log\nlevel = 1\n", nil, nil, `config: FILE:1:5: this is not valid TOML`},
		{"string expected", "[log]\nlevel = 3\n", nil, nil, `config: log.level: 3 is not a string; put it in double quotes (from FILE)`},
		{"duration without unit", "[streamer]\nbackoff_max = 30\n", nil, nil,
			`config: streamer.backoff_max: 30 is not a duration; write it as a string with a unit, like "30s" (from FILE)`},
		{"bad duration", "", []string{"GL_SIGNERD_STREAMER_KEEPALIVE=soon"}, nil,
			`config: streamer.keepalive: "soon" is not a duration; write it with a unit, like "30s" or "1m30s" (from GL_SIGNERD_STREAMER_KEEPALIVE)`},
		{"zero duration", "[streamer]\nkeepalive = \"0s\"\n", nil, nil, `config: streamer.keepalive: "0s" must be longer than zero (from FILE)`},
		{"audit sync negative", "[audit]\nsync_interval = \"-1s\"\n", nil, nil,
			`config: audit.sync_interval: "-1s" is out of range: use 0s (fsync before every answer) up to 1m0s (from FILE)`},
		{"audit sync too long", "", []string{"GL_SIGNERD_AUDIT_SYNC_INTERVAL=2h"}, nil,
			`config: audit.sync_interval: "2h0m0s" is out of range: use 0s (fsync before every answer) up to 1m0s (from GL_SIGNERD_AUDIT_SYNC_INTERVAL)`},
		{"audit keep zero", "[audit]\nkeep = 0\n", nil, nil,
			`config: audit.keep: 0 would delete the log at every rotation; keep at least 1, or set audit.max_size_mb = 0 to never rotate (from FILE)`},
		{"backoff order", "[streamer]\nbackoff_initial = \"1m\"\nbackoff_max = \"10s\"\n", nil, nil,
			`config: streamer.backoff_max: 10s is shorter than streamer.backoff_initial (1m0s) (from FILE)`},
		{"negative amount", "[policy]\nmax_fee_percent = -1\n", nil, nil, `config: policy.max_fee_percent: -1 is negative (from FILE)`},
		{"fractional amount", "[policy]\nmax_feerate_sat_per_kw = 1.5\n", nil, nil, `config: policy.max_feerate_sat_per_kw: 1.5 is not a whole number (from FILE)`},
		{"warn not a list", "[policy]\nwarn = 5\n", nil, nil, `config: policy.warn: 5 is not a list of strings, like ["a", "b"] (from FILE)`},
		{"unknown profile", "[policy]\nprofile = \"lax\"\n", nil, nil, `config: policy.profile: "lax" is not one of strict (from FILE)`},
		{"uint32 overflow", "", []string{"GL_SIGNERD_POLICY_MAX_TO_SELF_DELAY_BLOCKS=5000000000"}, nil,
			`config: policy.max_to_self_delay_blocks: 5000000000 is larger than 4294967295 (from GL_SIGNERD_POLICY_MAX_TO_SELF_DELAY_BLOCKS)`},
		{"feerate floor", "[policy]\nmin_feerate_sat_per_kw = 100\n", nil, nil,
			`config: policy.min_feerate_sat_per_kw: 100 is below 253, the lowest feerate Bitcoin Core relays (from FILE)`},
		{"feerate order", "", []string{"GL_SIGNERD_POLICY_MAX_FEERATE_SAT_PER_KW=300", "GL_SIGNERD_POLICY_MIN_FEERATE_SAT_PER_KW=400"}, nil,
			`config: policy.max_feerate_sat_per_kw: 300 is below policy.min_feerate_sat_per_kw (400) (from GL_SIGNERD_POLICY_MAX_FEERATE_SAT_PER_KW)`},
		{"delay order", "[policy]\nmin_to_self_delay_blocks = 300\nmax_to_self_delay_blocks = 200\n", nil, nil,
			`config: policy.max_to_self_delay_blocks: 200 is below policy.min_to_self_delay_blocks (300) (from FILE)`},
		{"bad policy mode from file", "[policy]\nmode = \"strict\"\n", nil, nil,
			`config: policy.mode: "strict" is not one of enforce, warn, off (from FILE)`},
		{"bad policy mode from env", "", []string{"GL_SIGNERD_POLICY_MODE=Enforce"}, nil,
			`config: policy.mode: "Enforce" is not one of enforce, warn, off (from GL_SIGNERD_POLICY_MODE)`},
		{"bad network", "network = \"mainnet\"\n", nil, nil,
			`config: network: "mainnet" is not one of bitcoin, testnet, signet, regtest (from FILE)`},
		{"bad scheduler", "", nil, []string{"--scheduler-uri", "scheduler.example:443"},
			`config: scheduler.uri: "scheduler.example:443" is not an https:// URL with a host (from --scheduler-uri)`},
		{"metrics public", "[metrics]\nlisten = \"0.0.0.0:9090\"\n", nil, nil,
			`config: metrics.listen: "0.0.0.0:9090" is not a loopback address; metrics reveal signer activity, so they listen on 127.0.0.1 or [::1] unless metrics.allow_non_loopback is true (from FILE)`},
		{"metrics all interfaces", "", nil, []string{"--metrics-listen", ":9090"}, `config: metrics.listen: ":9090" is not a loopback address`},
		{"metrics no port", "[metrics]\nlisten = \"127.0.0.1\"\n", nil, nil, `config: metrics.listen: "127.0.0.1" is not a host:port address (from FILE)`},
		{"bad bool", "", []string{"GL_SIGNERD_METRICS_ALLOW_NON_LOOPBACK=yes please"}, nil,
			`config: metrics.allow_non_loopback: "yes please" is not true or false (from GL_SIGNERD_METRICS_ALLOW_NON_LOOPBACK)`},
		{"broken pem", "", []string{"GL_NOBODY_KEY=-----BEGIN PRIVATE KEY-----\nnot base64"}, nil,
			`config: tls.nobody_key: the value looks like PEM text but does not decode as PEM (from GL_NOBODY_KEY)`},
		{"socket too long", "[control]\nsocket = \"/" + strings.Repeat("x", 120) + "\"\n", nil, nil,
			`config: control.socket: the path is 121 bytes long, and a unix socket path may have at most 107; choose a shorter one (from FILE)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if tc.file != "" {
				writeConfig(t, dir, tc.file)
			}
			_, err := Load(Options{StateDir: dir, Environ: append([]string{"HOME=/x"}, tc.env...), Flags: flags(t, tc.flags...)})
			want := strings.ReplaceAll(tc.want, "FILE", path)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error = %v\nwant    %s", err, want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error is not a *config.Error: %T", err)
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "[log]\nlevel = \"loud\"\nformat = \"xml\"\n")
	_, err := Load(Options{StateDir: dir, Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "log.level") || !strings.Contains(err.Error(), "log.format") {
		t.Errorf("want both bad keys reported, got %v", err)
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(Options{StateDir: dir, File: filepath.Join(dir, "missing.toml"), Environ: []string{}}); err == nil ||
		err.Error() != "config: config file "+filepath.Join(dir, "missing.toml")+" does not exist" {
		t.Errorf("missing --config file: %v", err)
	}
	other := filepath.Join(dir, "other.toml")
	os.WriteFile(other, []byte("network = \"regtest\"\n[control]\nsocket = \"ctl.sock\"\n[metrics]\nlisten = \"[::1]:9090\"\n"), 0o600)
	c, err := Load(Options{StateDir: dir, File: other, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Network != "regtest" || c.Control.Socket != filepath.Join(dir, "ctl.sock") || c.Metrics.Listen != "[::1]:9090" {
		t.Errorf("explicit file not applied: %+v", c)
	}
	// 0s is a valid audit.sync_interval: fsync before every answer; and
	// keep = 0 is fine when nothing rotates.
	writeConfig(t, dir, "[audit]\nsync_interval = \"0s\"\nmax_size_mb = 0\nkeep = 0\n")
	if c, err := Load(Options{StateDir: dir, Environ: []string{}}); err != nil || c.Audit.SyncInterval != 0 {
		t.Errorf("audit.sync_interval = 0s: %v, %+v", err, c)
	}
	// Empty tables are fine.
	writeConfig(t, dir, "[metrics]\n[policy]\n")
	if _, err := Load(Options{StateDir: dir, Environ: []string{}}); err != nil {
		t.Errorf("empty tables: %v", err)
	}
}

func TestMetricsAllowNonLoopback(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "[metrics]\nlisten = \"0.0.0.0:9090\"\nallow_non_loopback = true\n")
	if _, err := Load(Options{StateDir: dir, Environ: []string{}}); err != nil {
		t.Errorf("allowed non-loopback address refused: %v", err)
	}
	for _, ok := range []string{"127.0.0.1:1", "localhost:9090", "[::1]:9090", "127.8.9.10:80"} {
		if r := checkListen(ok, false); r != "" {
			t.Errorf("%s refused: %s", ok, r)
		}
	}
}

func TestRedacted(t *testing.T) {
	dir := t.TempDir()
	env := []string{
		"GL_NOBODY_KEY=" + testKeyPEM,
		"GL_NOBODY_CRT=/etc/gl/nobody.crt",
		"GL_SIGNERD_SCHEDULER_URI=https://user:hunter2@scheduler.example",
	}
	c, err := Load(Options{StateDir: dir, Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.NobodyKey != testKeyPEM {
		t.Fatal("Load must keep the real value")
	}
	r := c.Redacted()
	if r.TLS.NobodyKey != "<redacted: PEM text, 119 bytes>" || r.TLS.NobodyCert != "/etc/gl/nobody.crt" || r.Scheduler.URI != "https://user:xxxxx@scheduler.example" {
		t.Errorf("Redacted = %+v", r.TLS)
	}
	if c.TLS.NobodyKey != testKeyPEM {
		t.Error("Redacted changed the original")
	}
	js, err := c.ShowJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{string(js), string(c.ShowTOML())} {
		if strings.Contains(out, "MC4CAQAw") || strings.Contains(out, "hunter2") {
			t.Errorf("shown config leaks a secret:\n%s", out)
		}
	}
	var parsed map[string]any
	if err := json.Unmarshal(js, &parsed); err != nil || parsed["tls"].(map[string]any)["nobody_key"] != "<redacted: PEM text, 119 bytes>" {
		t.Errorf("JSON: %v %v", err, parsed["tls"])
	}
}

// config show's TOML loads back to the same configuration.
func TestShowTOMLRoundTrip(t *testing.T) {
	dir := t.TempDir()
	env := []string{"GL_SIGNERD_NETWORK=signet", "GL_SIGNERD_STREAMER_BACKOFF_MAX=45s", "GL_CA_CRT=" + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}
	c, err := Load(Options{StateDir: dir, Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, string(c.ShowTOML()))
	back, err := Load(Options{StateDir: dir, Environ: []string{}})
	if err != nil {
		t.Fatalf("loading config show's output: %v\n%s", err, c.ShowTOML())
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, c)
	}
}

func TestKeysAndEnvNames(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f.env] {
			t.Errorf("two keys map to %s", f.env)
		}
		seen[f.env] = true
		if strings.Contains(f.key, "policy.") && (strings.Contains(f.key, "value") || strings.Contains(f.key, "feerate") || strings.Contains(f.key, "invoice")) &&
			!strings.HasSuffix(f.key, "_sat") && !strings.HasSuffix(f.key, "_msat") && !strings.HasSuffix(f.key, "_sat_per_kw") {
			t.Errorf("amount key %s has no unit suffix", f.key)
		}
		if f.help == "" {
			t.Errorf("key %s has no help", f.key)
		}
	}
	if f, _ := fieldByKey("policy.max_feerate_sat_per_kw"); f.env != "GL_SIGNERD_POLICY_MAX_FEERATE_SAT_PER_KW" {
		t.Errorf("env name = %s", f.env)
	}
}

func TestReadPEM(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key.pem")
	os.WriteFile(p, []byte(testKeyPEM), 0o600)
	for _, v := range []string{testKeyPEM, p} {
		b, err := ReadPEM("tls.nobody_key", v)
		if err != nil || string(b) != testKeyPEM {
			t.Errorf("ReadPEM(%.20q) = %q, %v", v, b, err)
		}
	}
	os.WriteFile(p, []byte("nope"), 0o600)
	if _, err := ReadPEM("tls.ca_cert", p); err == nil || err.Error() != "config: tls.ca_cert: "+p+" holds no PEM block" {
		t.Errorf("non-PEM file: %v", err)
	}
	if _, err := ReadPEM("tls.ca_cert", ""); err == nil || err.Error() != "config: tls.ca_cert is not set" {
		t.Errorf("empty: %v", err)
	}
}
