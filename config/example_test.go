package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite "+ExampleFile+" from Example()")

// The shipped example file is Example's output: a key added to Config
// fails this test until it has a unit and the file is regenerated with
// go test ./config -run TestExampleFile -update.
func TestExampleFileUpToDate(t *testing.T) {
	want, err := Example()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", ExampleFile)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not Example()'s output; regenerate it: go test ./config -run TestExampleFileUpToDate -update", ExampleFile)
	}
}

// Every key appears once, commented, with its unit, default, environment
// variable and flag; units has no key that Config lacks.
func TestExampleHasEveryKey(t *testing.T) {
	ex, err := Example()
	if err != nil {
		t.Fatal(err)
	}
	text := string(ex)
	for _, f := range fields {
		name := f.key[strings.LastIndexByte(f.key, '.')+1:]
		if n := len(regexp.MustCompile(`(?m)^#`+regexp.QuoteMeta(name)+` = `).FindAllString(text, -1)); n < 1 {
			t.Errorf("%s: no commented %q line", f.key, name)
		}
		if !strings.Contains(text, "# environment: "+f.env) {
			t.Errorf("%s: its environment variable %s is not named", f.key, f.env)
		}
		if f.flag != "" && !strings.Contains(text, "flag: --"+f.flag+"\n") {
			t.Errorf("%s: its flag --%s is not named", f.key, f.flag)
		}
	}
	if n := strings.Count(text, "\n# unit: "); n != len(fields) {
		t.Errorf("%d unit lines, want one per key (%d)", n, len(fields))
	}
	for key := range units {
		if _, ok := fieldByKey(key); !ok {
			t.Errorf("units names %s, which is not a key", key)
		}
	}

	// A key without a unit is refused.
	saved := units
	defer func() { units = saved }()
	units = map[string]string{}
	if _, err := Example(); err == nil || !strings.Contains(err.Error(), "key network has no unit") {
		t.Errorf("Example without units: %v", err)
	}
}

// Load takes the example as it is (all defaults) and with every key
// uncommented (the same defaults, written out).
func TestExampleLoads(t *testing.T) {
	ex, err := Example()
	if err != nil {
		t.Fatal(err)
	}
	uncommented := regexp.MustCompile(`(?m)^#([a-z_]+ = )`).ReplaceAll(ex, []byte("$1"))
	if bytes.Equal(uncommented, ex) {
		t.Fatal("no key line to uncomment")
	}
	for name, content := range map[string][]byte{"as shipped": ex, "uncommented": uncommented} {
		dir := t.TempDir()
		path := filepath.Join(dir, "example.toml")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(Options{StateDir: dir, File: path, Environ: []string{}})
		if err != nil {
			t.Fatalf("%s: Load: %v", name, err)
		}
		if want := Default(dir); !reflect.DeepEqual(c, want) {
			t.Errorf("%s: Load = %+v, want the defaults %+v", name, c, want)
		}
	}
}
