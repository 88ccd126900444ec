package main

import (
	"strings"
	"testing"
	"time"

	"gl-signerd/internal/daemon"
)

// printStatus shows a paused daemon's state as a person reads it.
func TestPrintStatus(t *testing.T) {
	now := time.Now()
	since := now.Add(-2 * time.Second)
	st := daemon.Status{
		NodeID:  "02ab",
		Network: "regtest",
		Signing: daemon.SigningState{Paused: true, PauseReason: "looking at channel 7", PausedSince: &since},
		Requests: daemon.RequestCounts{Answered: 1, Refused: 1, ByType: map[string]*daemon.TypeCounts{
			"hsmd_derive_secret": {Answered: 1, Refused: 1},
			"hsmd_ecdh":          {Answered: 3},
		}},
		LastRefusal: &daemon.RefusalInfo{Time: since, Type: "hsmd_derive_secret", Tag: "paused", Reason: "looking at channel 7"},
	}
	var sb strings.Builder
	printStatus(&sb, &st, now)
	for _, want := range []string{
		"signing:      PAUSED for 2s: looking at channel 7",
		"  hsmd_derive_secret  1 answered, 1 refused\n  hsmd_ecdh           3 answered\n",
		"last refusal: 2s ago, hsmd_derive_secret from lightningd [paused]: looking at channel 7",
	} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("human status lacks %q:\n%s", want, sb.String())
		}
	}
}

// printRunes lists issued runes as a table, or says there are none.
func TestPrintRunes(t *testing.T) {
	var sb strings.Builder
	printRunes(&sb, nil)
	if sb.String() != "no runes issued\n" {
		t.Errorf("no runes: %q", sb.String())
	}
	sb.Reset()
	printRunes(&sb, []daemon.RuneInfo{{ID: 3, Created: time.Date(2026, 12, 6, 16, 0, 0, 0, time.UTC), Restrictions: "pubkey=04ab&method=pay", Rune: "AAAA"}})
	want := "ID  CREATED               RESTRICTIONS            RUNE\n3   2026-12-06 16:00:00Z  pubkey=04ab&method=pay  AAAA\n"
	if sb.String() != want {
		t.Errorf("runes:\n%s\nwant\n%s", sb.String(), want)
	}
}
