package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"gl-signerd/internal/audit"
	"gl-signerd/signer/keys"
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

// auditLines collects the audit records an unfreeze appends.
type auditLines []audit.Record

func (a *auditLines) Append(_ context.Context, r audit.Record) error {
	*a = append(*a, r)
	return nil
}

// TestUnfreezeCommand: the "unfreeze" control command resolves a frozen
// channel as asked, refuses arguments it cannot act on without changing
// anything, and puts the decision in the audit log.
func TestUnfreezeCommand(t *testing.T) {
	ctx := context.Background()
	st, err := state.Open(filepath.Join(t.TempDir(), state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, err := keys.StateSigningKey(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	v := state.NewEntrySigner(k)
	id := state.ChannelID{Peer: [33]byte{2, 0xab}, DBID: 7}
	if err := st.UpdateChannel(ctx, id, func(ch *state.Channel) error { ch.Status = state.StatusOpen; return nil }); err != nil {
		t.Fatal(err)
	}
	st.Outgoing(v)
	ch, _ := st.Channel(id)
	ch.HolderPointNext = 42 // the node's copy: same version, another value
	rec, _ := state.EncodeChannel(ch)
	e := state.Entry{Key: state.ChannelEntryKey(id), Version: ch.Version, Value: state.EntryValue(rec)}
	v.Sign(&e)
	if res, err := st.Merge(ctx, []state.Entry{e}, v); err != nil || len(res.Conflicts) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	var log auditLines
	for _, c := range []struct{ args, wantErr string }{
		{`{"record": "` + id.String() + `", "adopt": "theirs"}`, "adopt ours"},
		{`{"record": "02ab/7", "adopt": "node"}`, "names no record"},
		{`{"record": "node", "adopt": "node"}`, "not frozen"},
		{`[1]`, "unfreeze takes"},
	} {
		if _, err := unfreeze(ctx, st, &log, zap.NewNop(), json.RawMessage(c.args)); err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: %v; want an error saying %q", c.args, err, c.wantErr)
		}
	}
	if len(log) != 0 || len(st.Frozen()) != 1 {
		t.Fatalf("refused commands changed something: %d audit lines, %d frozen", len(log), len(st.Frozen()))
	}
	res, err := unfreeze(ctx, st, &log, zap.NewNop(), json.RawMessage(`{"record": "`+id.String()+`", "adopt": "node"}`))
	if err != nil || res.Adopted != "node" || res.Version != ch.Version+1 {
		t.Fatalf("%+v, %v", res, err)
	}
	if got, _ := st.Channel(id); got.HolderPointNext != 42 || len(st.Frozen()) != 0 {
		t.Fatalf("after unfreeze: point %d, %d frozen", got.HolderPointNext, len(st.Frozen()))
	}
	if len(log) != 1 || log[0].Tag != "operator-unfreeze" || !strings.Contains(log[0].Reason, "adopted node") || !strings.Contains(log[0].Reason, state.ChannelEntryKey(id)) {
		t.Fatalf("audit log %+v", log)
	}
}
