package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"gl-signerd/internal/daemon"
)

func TestPrintChannels(t *testing.T) {
	ours, theirs := uint64(600000), uint64(399000)
	var out bytes.Buffer
	printChannels(&out, []daemon.ChannelInfo{
		{Peer: "02ab", DBID: 7, Status: "open", CapacitySat: 1_000_000, HolderSat: &ours, CounterpartySat: &theirs, HTLCs: 1, HolderCommitment: 4, CounterpartyCommitment: 5},
		{Peer: "03", DBID: 2, Status: "forgotten"},
	})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "open") || !strings.Contains(lines[1], "600000") || !strings.Contains(lines[1], "4/5") ||
		!strings.Contains(lines[2], "forgotten") || !strings.Contains(lines[2], " - ") {
		t.Fatalf("table:\n%s", out.String())
	}
	out.Reset()
	printChannels(&out, nil)
	if out.String() != "no channels\n" {
		t.Fatalf("empty list: %q", out.String())
	}
	out.Reset()
	printStateStatus(&out, &daemon.StateInfo{Path: "state.db", SizeBytes: 4096, Channels: 2, Commits: 2, Changes: 3}, time.Now())
	if !strings.Contains(out.String(), "2 channels") || !strings.Contains(out.String(), "3 changes in 2 commits") {
		t.Fatalf("status line %q", out.String())
	}
}

func TestStateStatusFrozen(t *testing.T) {
	var out bytes.Buffer
	printStateStatus(&out, &daemon.StateInfo{Path: "state.db", Restored: 3, Frozen: map[string]string{"gl-signerd/channel/02/1": "conflict"}}, time.Now())
	for _, want := range []string{"3 records rebuilt from the node's signed copy", "FROZEN:       gl-signerd/channel/02/1: conflict"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}
