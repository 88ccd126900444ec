package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Flat returns the redacted configuration as key -> value, with durations
// as strings ("30s"): what the start-up log records.
func (c *Config) Flat() map[string]any {
	r := reflect.ValueOf(c.Redacted()).Elem()
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		out[f.key] = displayValue(r.FieldByIndex(f.index).Interface())
	}
	return out
}

func displayValue(v any) any {
	if d, ok := v.(time.Duration); ok {
		return d.String()
	}
	return v
}

// ShowJSON renders the redacted configuration as indented JSON, nested by
// section.
func (c *Config) ShowJSON() ([]byte, error) {
	nested := map[string]any{}
	for k, v := range c.Flat() {
		setNested(nested, k, v)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(nested); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ShowTOML renders the redacted configuration as a TOML file that Load
// accepts, in Config order, with each key's help as a comment.
func (c *Config) ShowTOML() []byte {
	flat := c.Flat()
	var b strings.Builder
	section := ""
	for _, f := range fields {
		sec, name := "", f.key
		if i := strings.LastIndexByte(f.key, '.'); i >= 0 {
			sec, name = f.key[:i], f.key[i+1:]
		}
		if sec != section {
			fmt.Fprintf(&b, "\n[%s]\n", sec)
			section = sec
		}
		fmt.Fprintf(&b, "# %s\n%s = %s\n", f.help, name, tomlValue(flat[f.key]))
	}
	return []byte(strings.TrimLeft(b.String(), "\n"))
}

func tomlValue(v any) string {
	switch x := v.(type) {
	case string:
		return tomlString(x)
	case bool:
		return strconv.FormatBool(x)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case []string:
		quoted := make([]string, len(x))
		for i, e := range x {
			quoted[i] = tomlString(e)
		}
		return "[" + strings.Join(quoted, ", ") + "]"
	}
	return tomlString(fmt.Sprint(v))
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f || r == utf8.RuneError {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
