package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestFormatsAndLevels(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "info", "auto") // a buffer is not a terminal
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	log.Info("shown")
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &line); err != nil || line["msg"] != "shown" || line["level"] != "info" {
		t.Fatalf("auto on a non-terminal: %q (%v), want one JSON info line", buf.String(), err)
	}
	buf.Reset()
	log, _ = New(&buf, "warn", "console")
	log.Info("hidden")
	log.Warn("careful")
	if out := buf.String(); strings.HasPrefix(out, "{") || !strings.Contains(out, "WARN") || strings.Contains(out, "hidden") {
		t.Errorf("console at warn: %q", out)
	}
	if _, err := New(&buf, "loud", "json"); err == nil {
		t.Error("level loud accepted")
	}
	if _, err := New(&buf, "info", "xml"); err == nil {
		t.Error("format xml accepted")
	}
}
