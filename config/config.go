// Package config loads gl-signerd's settings with koanf, from four layers,
// each overriding the one before:
//
//  1. built-in defaults (Default);
//  2. the TOML file (--config, default <state-dir>/config.toml; a missing
//     default file is fine, a missing --config file is an error);
//  3. the environment: GL_SIGNERD_ followed by the key in upper case with
//     dots as underscores (log.level is GL_SIGNERD_LOG_LEVEL,
//     policy.max_feerate_sat_per_kw is GL_SIGNERD_POLICY_MAX_FEERATE_SAT_PER_KW;
//     the names come from a table of the known keys, so underscores inside
//     key names are not ambiguous). Greenlight's own variables are honoured
//     too, below the GL_SIGNERD_ ones: GL_SCHEDULER_GRPC_URI (scheduler.uri),
//     GL_CA_CRT (tls.ca_cert), GL_NOBODY_CRT (tls.nobody_cert) and
//     GL_NOBODY_KEY (tls.nobody_key). An empty variable counts as unset;
//  4. command-line flags registered with RegisterFlags (only flags the user
//     set count).
//
// Typos are errors, never ignored: an unknown key in the file, or an unknown
// GL_SIGNERD_ variable, fails Load with a message naming it. Every value is
// checked, and an error names the key, says what is wrong and where the value
// came from:
//
//	config: log.level: "loud" is not one of debug, info, warn, error (from GL_SIGNERD_LOG_LEVEL)
//
// Amount keys carry their unit in the name (_sat, _msat, _sat_per_kw);
// durations are strings with a unit ("30s", "1m30s").
//
// The TLS settings take either a file path or the PEM text itself (a value
// containing "-----BEGIN" is PEM text); ReadPEM gets the bytes either way.
// PEM text for the private key is a secret: Redacted hides it, and so does
// everything that prints a Config (config show, the start-up log).
//
// Load's result is the whole configuration; nothing else in gl-signerd
// reads the environment or the file for settings.
package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"time"
)

// DefaultSchedulerURI is Greenlight's public scheduler, as gl-client's
// utils::scheduler_uri() has it (Greenlight moved from port 2601 to the
// default HTTPS port in 2023).
const DefaultSchedulerURI = "https://scheduler.gl.blckstrm.com"

// FileName is the config file's name in the state directory.
const FileName = "config.toml"

// EnvPrefix starts every gl-signerd environment variable.
const EnvPrefix = "GL_SIGNERD_"

// Networks are the valid values of network.
var Networks = []string{"bitcoin", "testnet", "signet", "regtest"}

// LogLevels are the valid values of log.level.
var LogLevels = []string{"debug", "info", "warn", "error"}

// LogFormats are the valid values of log.format: auto is console on a
// terminal and json otherwise.
var LogFormats = []string{"auto", "console", "json"}

// Config is gl-signerd's configuration. The koanf tags are the keys; help
// tags document them (config show --help and docs); flag tags name the
// command-line flag, where there is one; secret tags mark values that may
// hold secrets.
type Config struct {
	Network   string          `koanf:"network" flag:"network" help:"bitcoin, testnet, signet or regtest; empty takes the network stored with the seed, and a different one is refused"`
	Scheduler SchedulerConfig `koanf:"scheduler"`
	TLS       TLSConfig       `koanf:"tls"`
	Log       LogConfig       `koanf:"log"`
	Metrics   MetricsConfig   `koanf:"metrics"`
	Control   ControlConfig   `koanf:"control"`
	Streamer  StreamerConfig  `koanf:"streamer"`
	Audit     AuditConfig     `koanf:"audit"`
	Policy    PolicyConfig    `koanf:"policy"`
	Intent    IntentConfig    `koanf:"intent"`
}

// SchedulerConfig locates the Greenlight scheduler.
type SchedulerConfig struct {
	URI string `koanf:"uri" flag:"scheduler-uri" help:"the Greenlight scheduler's gRPC URL"`
}

// TLSConfig holds the mTLS material for talking to the scheduler before the
// node has its own device certificate. Each value is a file path or PEM text.
type TLSConfig struct {
	CACert     string `koanf:"ca_cert" flag:"ca-cert" help:"Greenlight CA certificate (the ca.pem Greenlight gives you): a PEM file path or PEM text; register and recover need it, and store it in the state directory, where run finds it when this is empty"`
	NobodyCert string `koanf:"nobody_cert" flag:"nobody-cert" help:"the \"nobody\" (developer) certificate: a PEM file path or PEM text"`
	NobodyKey  string `koanf:"nobody_key" flag:"nobody-key" secret:"pem" help:"the \"nobody\" (developer) private key: a PEM file path or PEM text (redacted when shown)"`
}

// LogConfig sets up logging.
type LogConfig struct {
	Level  string `koanf:"level" flag:"log-level" help:"debug, info, warn or error"`
	Format string `koanf:"format" flag:"log-format" help:"auto (console on a terminal, json otherwise), console or json"`
}

// MetricsConfig sets up the Prometheus endpoint.
type MetricsConfig struct {
	Listen           string `koanf:"listen" flag:"metrics-listen" help:"host:port for Prometheus metrics; empty turns them off; loopback only unless metrics.allow_non_loopback"`
	AllowNonLoopback bool   `koanf:"allow_non_loopback" help:"let metrics.listen be a non-loopback address"`
}

// ControlConfig places the control socket (gl-signerd ctl).
type ControlConfig struct {
	Socket string `koanf:"socket" flag:"control-socket" help:"unix socket for gl-signerd ctl; default <state-dir>/control.sock; a relative path is relative to the state directory"`
}

// StreamerConfig tunes the connection to Greenlight.
type StreamerConfig struct {
	BackoffInitial   time.Duration `koanf:"backoff_initial" help:"first delay before reconnecting"`
	BackoffMax       time.Duration `koanf:"backoff_max" help:"longest delay between reconnection attempts"`
	Keepalive        time.Duration `koanf:"keepalive" help:"gRPC keepalive ping interval"`
	KeepaliveTimeout time.Duration `koanf:"keepalive_timeout" help:"how long to wait for a keepalive answer before reconnecting"`
}

// AuditConfig tunes the audit log (<state-dir>/audit.log).
type AuditConfig struct {
	SyncInterval time.Duration `koanf:"sync_interval" help:"how long a decision's audit line, written before the answer, may wait for its fsync (a power loss can lose that much of the log); 0s fsyncs every line before answering"`
	MaxSizeMB    uint32        `koanf:"max_size_mb" help:"rotate audit.log once it is larger than this many MiB (to audit.log.1, older files shifting up); 0 never rotates"`
	Keep         uint32        `koanf:"keep" help:"how many rotated audit logs to keep (audit.log.1 … audit.log.N); the oldest is removed"`
}

// MaxAuditSyncInterval bounds audit.sync_interval.
const MaxAuditSyncInterval = time.Minute

// PolicyModes are the valid values of policy.mode (signer/policy's
// modes; config imports none of our packages).
var PolicyModes = []string{"enforce", "warn", "off"}

// PolicyProfiles are the valid values of policy.profile.
var PolicyProfiles = []string{"strict"}

// PolicyConfig holds the signing policy (docs/policy.md): its mode,
// profile, the tags only warned about, the on-chain allowlist and the
// numeric limits, each with its unit in its name.
type PolicyConfig struct {
	Mode                 string   `koanf:"mode" help:"enforce (refuse what the policy checks refuse), warn (sign anyway and log each violation) or off (sign what CLN's hsmd signs; for tests only)"`
	Profile              string   `koanf:"profile" help:"strict: every policy tag is enforced unless listed in policy.warn"`
	Warn                 []string `koanf:"warn" help:"policy tags, or prefixes ending in *, whose violations are logged and signed instead of refused (docs/policy.md lists the tags)"`
	Allowlist            []string `koanf:"allowlist" help:"destinations accepted without an intent or approval: payee:<node id> (payments), address:<addr> or xpub:<xpub> (on-chain, besides our wallet); gl-signerd ctl allowlist adds more at run time"`
	MinFeerateSatPerKw   uint32   `koanf:"min_feerate_sat_per_kw" help:"lowest acceptable feerate, in satoshis per 1000 weight units"`
	MaxFeerateSatPerKw   uint32   `koanf:"max_feerate_sat_per_kw" help:"highest acceptable feerate of closes, sweeps, withdrawals and commitments, in satoshis per 1000 weight units; far above any fee spike"`
	MaxFeePercent        uint32   `koanf:"max_fee_percent" help:"largest fee as a share of the value a transaction spends, in percent"`
	MinToSelfDelayBlocks uint32   `koanf:"min_to_self_delay_blocks" help:"shortest to_self_delay accepted in either direction, in blocks"`
	MaxToSelfDelayBlocks uint32   `koanf:"max_to_self_delay_blocks" help:"longest to_self_delay accepted in either direction, in blocks"`

	AutoApproveBelowMsat        uint64        `koanf:"auto_approve_below_msat" help:"payments of a known amount below this many millisatoshi need no intent, allowlist entry or approval; 0 turns auto-approval off"`
	AutoApproveChannelsBelowSat uint64        `koanf:"auto_approve_channels_below_sat" help:"channels we fund with a capacity below this many satoshis need no intent, allowlisted peer (payee:<node id>) or approval; 0 turns it off"`
	ApprovalTimeout             time.Duration `koanf:"approval_timeout" help:"how long a pending approval waits for gl-signerd ctl approve or deny before it times out (final)"`
	ApprovalValidFor            time.Duration `koanf:"approval_valid_for" help:"how long an approved request may be retried by the node after the approval"`
	MaxPaymentsPerHourMsat      uint64        `koanf:"max_payments_per_hour_msat" help:"most millisatoshi paid within any hour (payments approved by the operator aside); 0 is no limit"`
	MaxPaymentsPerDayMsat       uint64        `koanf:"max_payments_per_day_msat" help:"most millisatoshi paid within any 24 hours; 0 is no limit"`
	MaxWithdrawalsPerHourSat    uint64        `koanf:"max_withdrawals_per_hour_sat" help:"most satoshis withdrawn to outputs not our wallet's within any hour; 0 is no limit"`
	MaxWithdrawalsPerDaySat     uint64        `koanf:"max_withdrawals_per_day_sat" help:"most satoshis withdrawn to outputs not our wallet's within any 24 hours; 0 is no limit"`
}

// IntentConfig sets how the user's intents (the signed gRPC calls a
// Greenlight node attaches to a request; docs/policy.md) are judged.
type IntentConfig struct {
	MaxAgeSeconds uint32 `koanf:"max_age_seconds" help:"how old (or how far ahead of our clock) a user's signed call may be and still authorize a request, in seconds"`
}

// MaxIntentAgeSeconds bounds intent.max_age_seconds (a day).
const MaxIntentAgeSeconds = 86400

// Default returns the built-in configuration for a state directory.
func Default(stateDir string) *Config {
	return &Config{
		Scheduler: SchedulerConfig{URI: DefaultSchedulerURI},
		Log:       LogConfig{Level: "info", Format: "auto"},
		Control:   ControlConfig{Socket: filepath.Join(stateDir, "control.sock")},
		Streamer: StreamerConfig{
			BackoffInitial:   500 * time.Millisecond,
			BackoffMax:       30 * time.Second,
			Keepalive:        10 * time.Second,
			KeepaliveTimeout: 5 * time.Second,
		},
		Audit: AuditConfig{SyncInterval: 10 * time.Millisecond, MaxSizeMB: 64, Keep: 8},
		Policy: PolicyConfig{
			Mode:                 "enforce",
			Profile:              "strict",
			Warn:                 []string{},
			Allowlist:            []string{},
			MinFeerateSatPerKw:   253,
			MaxFeerateSatPerKw:   150_000,
			MaxFeePercent:        25,
			MinToSelfDelayBlocks: 144,
			MaxToSelfDelayBlocks: 2016,
			ApprovalTimeout:      time.Hour,
			ApprovalValidFor:     time.Hour,
		},
		Intent: IntentConfig{MaxAgeSeconds: 600},
	}
}

// field is one leaf setting of Config.
type field struct {
	key    string // "log.level"
	env    string // "GL_SIGNERD_LOG_LEVEL"
	flag   string // "log-level", or ""
	help   string
	secret bool
	index  []int // reflect field index path from Config
	typ    reflect.Type
}

// fields lists the leaf settings in Config order.
var fields = func() []field {
	var out []field
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			key := prefix + sf.Tag.Get("koanf")
			idx := append(append([]int(nil), index...), i)
			if sf.Type.Kind() == reflect.Struct && sf.Type != reflect.TypeOf(time.Duration(0)) {
				walk(sf.Type, key+".", idx)
				continue
			}
			out = append(out, field{
				key:    key,
				env:    EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_")),
				flag:   sf.Tag.Get("flag"),
				help:   sf.Tag.Get("help"),
				secret: sf.Tag.Get("secret") != "",
				index:  idx,
				typ:    sf.Type,
			})
		}
	}
	walk(reflect.TypeOf(Config{}), "", nil)
	return out
}()

func fieldByKey(key string) (field, bool) {
	for _, f := range fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

// Keys returns every setting's key, in Config order.
func Keys() []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.key
	}
	return out
}

// greenlightEnv maps Greenlight's own environment variables to keys. They
// rank below the GL_SIGNERD_ names.
var greenlightEnv = []struct{ env, key string }{
	{"GL_SCHEDULER_GRPC_URI", "scheduler.uri"},
	{"GL_CA_CRT", "tls.ca_cert"},
	{"GL_NOBODY_CRT", "tls.nobody_cert"},
	{"GL_NOBODY_KEY", "tls.nobody_key"},
}

// IsPEM says whether a TLS value is PEM text rather than a path.
func IsPEM(v string) bool { return strings.Contains(v, "-----BEGIN") }

// validate checks the values that types alone do not, and returns one error
// per bad key, in Config order.
func (c *Config) validate() map[string]string {
	bad := map[string]string{}
	oneOf := func(key, v string, allowed []string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad[key] = fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	if c.Network != "" {
		oneOf("network", c.Network, Networks)
	}
	if u, err := url.Parse(c.Scheduler.URI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad["scheduler.uri"] = fmt.Sprintf("%q is not an https:// URL with a host", redactURI(c.Scheduler.URI))
	}
	for _, t := range []struct{ key, v string }{
		{"tls.ca_cert", c.TLS.CACert}, {"tls.nobody_cert", c.TLS.NobodyCert}, {"tls.nobody_key", c.TLS.NobodyKey},
	} {
		if IsPEM(t.v) && !pemDecodes(t.v) {
			bad[t.key] = "the value looks like PEM text but does not decode as PEM"
		}
	}
	oneOf("log.level", c.Log.Level, LogLevels)
	oneOf("log.format", c.Log.Format, LogFormats)
	if c.Metrics.Listen != "" {
		if reason := checkListen(c.Metrics.Listen, c.Metrics.AllowNonLoopback); reason != "" {
			bad["metrics.listen"] = reason
		}
	}
	switch {
	case c.Control.Socket == "":
		bad["control.socket"] = "the control socket path is empty"
	case len(c.Control.Socket) > 107:
		bad["control.socket"] = fmt.Sprintf("the path is %d bytes long, and a unix socket path may have at most 107; choose a shorter one", len(c.Control.Socket))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"streamer.backoff_initial", c.Streamer.BackoffInitial}, {"streamer.backoff_max", c.Streamer.BackoffMax},
		{"streamer.keepalive", c.Streamer.Keepalive}, {"streamer.keepalive_timeout", c.Streamer.KeepaliveTimeout},
	} {
		if d.v <= 0 {
			bad[d.key] = fmt.Sprintf("%q must be longer than zero", d.v)
		}
	}
	if c.Audit.SyncInterval < 0 || c.Audit.SyncInterval > MaxAuditSyncInterval {
		bad["audit.sync_interval"] = fmt.Sprintf("%q is out of range: use 0s (fsync before every answer) up to %s", c.Audit.SyncInterval, MaxAuditSyncInterval)
	}
	if c.Audit.MaxSizeMB > 0 && c.Audit.Keep == 0 {
		bad["audit.keep"] = "0 would delete the log at every rotation; keep at least 1, or set audit.max_size_mb = 0 to never rotate"
	}
	if _, ok := bad["streamer.backoff_max"]; !ok && c.Streamer.BackoffMax < c.Streamer.BackoffInitial {
		bad["streamer.backoff_max"] = fmt.Sprintf("%s is shorter than streamer.backoff_initial (%s)", c.Streamer.BackoffMax, c.Streamer.BackoffInitial)
	}
	oneOf("policy.mode", c.Policy.Mode, PolicyModes)
	if c.Policy.MinFeerateSatPerKw < 253 {
		bad["policy.min_feerate_sat_per_kw"] = fmt.Sprintf("%d is below 253, the lowest feerate Bitcoin Core relays", c.Policy.MinFeerateSatPerKw)
	}
	if c.Policy.MaxFeerateSatPerKw < c.Policy.MinFeerateSatPerKw {
		bad["policy.max_feerate_sat_per_kw"] = fmt.Sprintf("%d is below policy.min_feerate_sat_per_kw (%d)", c.Policy.MaxFeerateSatPerKw, c.Policy.MinFeerateSatPerKw)
	}
	oneOf("policy.profile", c.Policy.Profile, PolicyProfiles)
	if c.Intent.MaxAgeSeconds == 0 || c.Intent.MaxAgeSeconds > MaxIntentAgeSeconds {
		bad["intent.max_age_seconds"] = fmt.Sprintf("%d is not between 1 and %d seconds (a day)", c.Intent.MaxAgeSeconds, MaxIntentAgeSeconds)
	}
	if c.Policy.MaxFeePercent == 0 || c.Policy.MaxFeePercent > 100 {
		bad["policy.max_fee_percent"] = fmt.Sprintf("%d is not a share between 1 and 100 percent", c.Policy.MaxFeePercent)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"policy.approval_timeout", c.Policy.ApprovalTimeout}, {"policy.approval_valid_for", c.Policy.ApprovalValidFor}} {
		if d.v < time.Second || d.v > 30*24*time.Hour {
			bad[d.key] = fmt.Sprintf("%q is out of range: use 1s up to 720h", d.v)
		}
	}
	if c.Policy.MaxPaymentsPerDayMsat > 0 && c.Policy.MaxPaymentsPerHourMsat > c.Policy.MaxPaymentsPerDayMsat {
		bad["policy.max_payments_per_hour_msat"] = fmt.Sprintf("%d is above policy.max_payments_per_day_msat (%d)", c.Policy.MaxPaymentsPerHourMsat, c.Policy.MaxPaymentsPerDayMsat)
	}
	if c.Policy.MaxWithdrawalsPerDaySat > 0 && c.Policy.MaxWithdrawalsPerHourSat > c.Policy.MaxWithdrawalsPerDaySat {
		bad["policy.max_withdrawals_per_hour_sat"] = fmt.Sprintf("%d is above policy.max_withdrawals_per_day_sat (%d)", c.Policy.MaxWithdrawalsPerHourSat, c.Policy.MaxWithdrawalsPerDaySat)
	}
	if c.Policy.MaxToSelfDelayBlocks < c.Policy.MinToSelfDelayBlocks {
		bad["policy.max_to_self_delay_blocks"] = fmt.Sprintf("%d is below policy.min_to_self_delay_blocks (%d)", c.Policy.MaxToSelfDelayBlocks, c.Policy.MinToSelfDelayBlocks)
	}
	return bad
}

func checkListen(addr string, allowNonLoopback bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Sprintf("%q is not a host:port address", addr)
	}
	if allowNonLoopback {
		return ""
	}
	if host == "localhost" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return ""
	}
	return fmt.Sprintf("%q is not a loopback address; metrics reveal signer activity, so they listen on 127.0.0.1 or [::1] unless metrics.allow_non_loopback is true", addr)
}

func redactURI(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// Redacted returns a copy of c that is safe to print: PEM text in a secret
// setting is replaced by a note of its size, and a password in the scheduler
// URI by "xxxxx". Paths are not secrets and stay.
func (c *Config) Redacted() *Config {
	r := *c
	rv := reflect.ValueOf(&r).Elem()
	for _, f := range fields {
		v := rv.FieldByIndex(f.index)
		if f.secret && IsPEM(v.String()) {
			v.SetString(fmt.Sprintf("<redacted: PEM text, %d bytes>", len(v.String())))
		}
	}
	r.Scheduler.URI = redactURI(r.Scheduler.URI)
	return &r
}
