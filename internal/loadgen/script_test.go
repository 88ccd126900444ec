package loadgen

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
)

// Recorded scripts replay through an engine with the same seed byte for
// byte, and a replay that gets a different answer fails.
func TestReplayScripts(t *testing.T) {
	e, err := signer.NewEngine(bytes.Repeat([]byte{9}, 32), signer.WithNetwork("regtest"))
	if err != nil {
		t.Fatal(err)
	}
	initMsg, err := e.InitReply("regtest")
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := recordScripts(context.Background(), e, initMsg, 300)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sc := range scripts {
		n += len(sc)
	}
	if n < 300 {
		t.Fatalf("recorded %d requests in %d scripts, want at least 300", n, len(scripts))
	}

	same := traffic.EngineSender(e)
	run := replayScripts(scripts, same)
	for j := range scripts {
		if err := run(context.Background(), 0, j); err != nil {
			t.Fatalf("replaying script %d through the same engine: %v", j, err)
		}
	}

	other, err := signer.NewEngine(bytes.Repeat([]byte{8}, 32), signer.WithNetwork("regtest"))
	if err != nil {
		t.Fatal(err)
	}
	err = replayScripts(scripts, traffic.EngineSender(other))(context.Background(), 0, 0)
	if err == nil || !strings.Contains(err.Error(), "the daemon answered") {
		t.Fatalf("replay through another seed's engine: %v, want a mismatch", err)
	}
}
