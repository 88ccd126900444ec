package daemon

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"gl-signerd/signer/state"
)

func TestChannelInfos(t *testing.T) {
	st, err := state.Open(filepath.Join(t.TempDir(), state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	open := state.ChannelID{Peer: [33]byte{2, 0xab}, DBID: 7}
	err = st.UpdateChannel(ctx, open, func(ch *state.Channel) error {
		ch.Status = state.StatusOpen
		ch.Setup = &state.Setup{ChannelValueSat: 1_000_000, IsOutbound: true, FundingTxid: [32]byte{31: 0xee, 0: 0x01}, FundingVout: 1}
		ch.HolderCommitNum, ch.CounterpartyCommitNum = 4, 5
		ch.LastCounterparty = &state.Commitment{Num: 5, HolderSat: 600_000, CounterpartySat: 399_000, BalancesKnown: true, HTLCs: []state.HTLC{{AmountMsat: 1000}}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	gone := state.ChannelID{Peer: [33]byte{3}, DBID: 2}
	if err := st.UpdateChannel(ctx, gone, func(ch *state.Channel) error { ch.Status = state.StatusForgotten; return nil }); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(ChannelInfos(st))
	if err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(raw, &back); err != nil || len(back) != 2 {
		t.Fatalf("%s: %v", raw, err)
	}
	want := map[string]any{"dbid": 7.0, "status": "open", "capacity_sat": 1e6, "holder_sat": 600000.0, "counterparty_sat": 399000.0,
		"holder_commitment": 4.0, "counterparty_commitment": 5.0, "htlcs": 1.0, "funding_outpoint": "ee" + strings.Repeat("00", 30) + "01:1"}
	for k, v := range want {
		if back[0][k] != v {
			t.Errorf("%s = %v, want %v", k, back[0][k], v)
		}
	}
	if back[1]["status"] != "forgotten" || back[1]["holder_sat"] != nil {
		t.Errorf("tombstone listed as %v", back[1])
	}
	info := stateInfo(st)
	if info.Channels != 2 || info.Commits != 2 || info.SizeBytes == 0 || info.LastCommit == nil {
		t.Fatalf("status %+v", info)
	}
}

func TestStateMetrics(t *testing.T) {
	st, err := state.Open(filepath.Join(t.TempDir(), state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	registerStateMetrics(reg, st)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if got := strings.Join(names, " "); got != "gl_signerd_state_changes_total gl_signerd_state_channels gl_signerd_state_commits_total gl_signerd_state_frozen_records" {
		t.Fatalf("metrics: %s", got)
	}
}
