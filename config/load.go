package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Options says where Load looks.
type Options struct {
	// StateDir is gl-signerd's state directory: the default config file and
	// control socket live there.
	StateDir string
	// File is the config file. Empty means <StateDir>/config.toml, which
	// may be absent; a File given here must exist.
	File string
	// Environ is the environment as "KEY=value" strings; nil means
	// os.Environ().
	Environ []string
	// Flags holds the flags RegisterFlags added, after parsing; nil for
	// none. Flags the user did not set are ignored.
	Flags *pflag.FlagSet
}

// Error is one invalid setting.
type Error struct {
	Key    string // "log.level"; "" for a problem with the file as a whole
	Reason string // reads as a sentence
	Source string // where the value came from: a file, $VAR or --flag
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Reason)
	if e.Source != "" {
		b.WriteString(" (from " + e.Source + ")")
	}
	return b.String()
}

// Load reads the configuration: defaults < file < environment < flags. The
// error, if any, lists every invalid setting (errors.Join of *Error).
func Load(o Options) (*Config, error) {
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	k := koanf.New(".")
	src := map[string]string{} // key -> where its value came from

	if err := k.Load(confmap.Provider(toMap(Default(o.StateDir)), "."), nil); err != nil {
		return nil, fmt.Errorf("config: loading the defaults: %w", err)
	}

	// The file.
	path, explicit := o.File, o.File != ""
	if !explicit {
		path = filepath.Join(o.StateDir, FileName)
	}
	fileMap, err := readFile(path, explicit)
	if err != nil {
		return nil, err
	}
	if fileMap != nil {
		var errs []error
		for _, key := range unknownKeys(fileMap, "") {
			errs = append(errs, &Error{Key: key, Reason: "unknown key" + suggest(key), Source: path})
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		if err := k.Load(confmap.Provider(fileMap, "."), nil); err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		for _, f := range fields {
			if _, ok := lookup(fileMap, f.key); ok {
				src[f.key] = path
			}
		}
	}

	// The environment.
	envMap, envSrc, err := readEnv(o.Environ)
	if err != nil {
		return nil, err
	}
	if err := k.Load(confmap.Provider(envMap, "."), nil); err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}
	for key, s := range envSrc {
		src[key] = s
	}

	// The flags.
	if o.Flags != nil {
		p := posflag.ProviderWithFlag(o.Flags, ".", k, func(fl *pflag.Flag) (string, any) {
			f, ok := flagField(fl.Name)
			if !ok || !fl.Changed {
				return "", nil
			}
			src[f.key] = "--" + fl.Name
			return f.key, fl.Value.String()
		})
		if err := k.Load(p, nil); err != nil {
			return nil, fmt.Errorf("config: flags: %w", err)
		}
	}

	// Decode every key, then check the values together.
	c := &Config{}
	rv := reflect.ValueOf(c).Elem()
	var errs []error
	for _, f := range fields {
		if reason := setValue(rv.FieldByIndex(f.index), k.Get(f.key)); reason != "" {
			errs = append(errs, &Error{Key: f.key, Reason: reason, Source: src[f.key]})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if c.Control.Socket != "" && !filepath.IsAbs(c.Control.Socket) {
		c.Control.Socket = filepath.Join(o.StateDir, c.Control.Socket)
	}
	bad := c.validate()
	for _, f := range fields {
		if reason, ok := bad[f.key]; ok {
			errs = append(errs, &Error{Key: f.key, Reason: reason, Source: src[f.key]})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// readFile parses the TOML file; a missing file is fine unless explicit.
func readFile(path string, explicit bool) (map[string]any, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			return nil, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{Reason: fmt.Sprintf("config file %s does not exist", path)}
		}
		return nil, &Error{Reason: fmt.Sprintf("cannot read config file: %v", err)}
	}
	fk := koanf.New(".")
	if err := fk.Load(file.Provider(path), toml.Parser()); err != nil {
		var pos interface{ Position() (int, int) }
		if errors.As(err, &pos) {
			row, col := pos.Position()
			return nil, &Error{Reason: fmt.Sprintf("%s:%d:%d: this is not valid TOML: %v", path, row, col, err)}
		}
		return nil, &Error{Reason: fmt.Sprintf("%s: cannot read the file as TOML: %v", path, err)}
	}
	return fk.Raw(), nil
}

// unknownKeys lists the leaf keys of m that are not settings, sorted.
func unknownKeys(m map[string]any, prefix string) []string {
	var out []string
	for name, v := range m {
		key := prefix + name
		if _, ok := fieldByKey(key); ok {
			continue
		}
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			out = append(out, unknownKeys(sub, key+".")...)
			continue
		}
		if _, ok := v.(map[string]any); ok && isSection(key) {
			continue // an empty known table
		}
		out = append(out, key)
	}
	sort.Strings(out)
	return out
}

func isSection(key string) bool {
	for _, f := range fields {
		if strings.HasPrefix(f.key, key+".") {
			return true
		}
	}
	return false
}

// suggest proposes the closest known key, if one is close.
func suggest(key string) string {
	best, bestD := "", max(3, len(key)/3+1)
	for _, f := range fields {
		if d := editDistance(key, f.key); d < bestD {
			best, bestD = f.key, d
		}
	}
	if best == "" {
		if isSection(key) {
			return fmt.Sprintf("; %s is a table: write [%s] and its keys below it", key, key)
		}
		return "; see gl-signerd config show for the known keys"
	}
	return fmt.Sprintf("; did you mean %s?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// lookup finds a dotted key in a nested map.
func lookup(m map[string]any, key string) (any, bool) {
	parts := strings.Split(key, ".")
	var cur any = m
	for _, p := range parts {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// readEnv maps the environment to keys; it returns the values as a flat
// key map and, per key, the variable that set it.
func readEnv(environ []string) (map[string]any, map[string]string, error) {
	vals := map[string]string{}
	for _, kv := range environ {
		// An empty variable counts as unset.
		name, value, ok := strings.Cut(kv, "=")
		if ok && value != "" {
			vals[name] = value
		}
	}
	out := map[string]any{}
	src := map[string]string{}
	for _, g := range greenlightEnv {
		if v, ok := vals[g.env]; ok {
			out[g.key], src[g.key] = v, g.env
		}
	}
	known := map[string]string{}
	for _, f := range fields {
		known[f.env] = f.key
	}
	var errs []error
	var names []string
	for name := range vals {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key, ok := known[name]
		if !ok {
			errs = append(errs, &Error{Reason: fmt.Sprintf("environment variable %s is not a known setting%s", name, suggestEnv(name))})
			continue
		}
		out[key], src[key] = vals[name], name
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return out, src, nil
}

func suggestEnv(name string) string {
	best, bestD := "", max(3, len(name)/6+1)
	for _, f := range fields {
		if d := editDistance(name, f.env); d < bestD {
			best, bestD = f.env, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %s?", best)
}

// setValue decodes raw into v and returns why it cannot, or "".
func setValue(v reflect.Value, raw any) string {
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		switch r := raw.(type) {
		case time.Duration:
			v.SetInt(int64(r))
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(r))
			if err != nil {
				return fmt.Sprintf("%q is not a duration; write it with a unit, like \"30s\" or \"1m30s\"", r)
			}
			v.SetInt(int64(d))
		default:
			return fmt.Sprintf("%v is not a duration; write it as a string with a unit, like \"30s\"", raw)
		}
		return ""
	}
	switch v.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			return fmt.Sprintf("%v is not a string; put it in double quotes", raw)
		}
		v.SetString(s)
	case reflect.Bool:
		switch r := raw.(type) {
		case bool:
			v.SetBool(r)
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(r))
			if err != nil {
				return fmt.Sprintf("%q is not true or false", r)
			}
			v.SetBool(b)
		default:
			return fmt.Sprintf("%v is not true or false", raw)
		}
	case reflect.Uint32, reflect.Uint64:
		maxV := uint64(math.MaxUint64)
		if v.Kind() == reflect.Uint32 {
			maxV = math.MaxUint32
		}
		var n uint64
		switch r := raw.(type) {
		case int64:
			if r < 0 {
				return fmt.Sprintf("%d is negative", r)
			}
			n = uint64(r)
		case uint32:
			n = uint64(r)
		case uint64:
			n = r
		case string:
			u, err := strconv.ParseUint(strings.TrimSpace(r), 10, 64)
			if err != nil {
				return fmt.Sprintf("%q is not a whole number of at most %d", r, maxV)
			}
			n = u
		default:
			return fmt.Sprintf("%v is not a whole number", raw)
		}
		if n > maxV {
			return fmt.Sprintf("%d is larger than %d", n, maxV)
		}
		v.SetUint(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Sprintf("has unsupported type %s", v.Type())
		}
		var list []string
		switch r := raw.(type) {
		case []string:
			list = append(list, r...)
		case []any:
			for _, e := range r {
				s, ok := e.(string)
				if !ok {
					return fmt.Sprintf("%v is not a string; put each entry in double quotes", e)
				}
				list = append(list, s)
			}
		case string: // an environment variable: entries separated by commas
			for _, e := range strings.Split(r, ",") {
				if e = strings.TrimSpace(e); e != "" {
					list = append(list, e)
				}
			}
		default:
			return fmt.Sprintf("%v is not a list of strings, like [\"a\", \"b\"]", raw)
		}
		if list == nil {
			list = []string{}
		}
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Sprintf("has unsupported type %s", v.Type())
	}
	return ""
}

// toMap renders c as a nested map with typed values (durations stay
// time.Duration), for koanf.
func toMap(c *Config) map[string]any {
	out := map[string]any{}
	rv := reflect.ValueOf(c).Elem()
	for _, f := range fields {
		setNested(out, f.key, rv.FieldByIndex(f.index).Interface())
	}
	return out
}

func setNested(m map[string]any, key string, v any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = v
}

func flagField(name string) (field, bool) {
	for _, f := range fields {
		if f.flag != "" && f.flag == name {
			return f, true
		}
	}
	return field{}, false
}

// RegisterFlags adds a flag for every setting that has one (--network,
// --scheduler-uri, --ca-cert, --nobody-cert, --nobody-key, --log-level,
// --log-format, --metrics-listen, --control-socket). Their values are
// checked by Load, with the same messages as the file's.
func RegisterFlags(fs *pflag.FlagSet) {
	for _, f := range fields {
		if f.flag == "" {
			continue
		}
		fs.String(f.flag, "", f.help+" (config key "+f.key+")")
	}
}
