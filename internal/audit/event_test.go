package audit

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Events are lines of their own among the records, in both durability
// modes.
func TestAppendEvent(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Millisecond} {
		path := filepath.Join(t.TempDir(), FileName)
		l, err := Open(path, Options{SyncInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := l.Append(ctx, Record{TypeName: "hsmd_sign_withdrawal", Outcome: OutcomeAnswered}); err != nil {
			t.Fatal(err)
		}
		e := Event{Time: time.Unix(1, 0).UTC(), Event: EventRuneCreated, ID: "3", Detail: "pubkey=04ab&method=pay"}
		if err := l.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 {
			t.Fatalf("interval %s: %d lines: %s", interval, len(lines), b)
		}
		var back Event
		if err := json.Unmarshal([]byte(lines[1]), &back); err != nil || back != e {
			t.Fatalf("interval %s: event read back as %+v, %v", interval, back, err)
		}
	}
}
