package signer

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// TestStateCheckRunsOnTheSnapshot swaps new_channel's and check_pubkey's
// routes for guarded ones and checks that a state check sees the snapshot
// the answer would change, that its refusal commits nothing, and that it
// obeys the policy mode.
func TestStateCheckRunsOnTheSnapshot(t *testing.T) {
	for _, typ := range []uint16{hsmproto.TypeNewChannel, hsmproto.TypeCheckOutpoint} {
		defer func(r route) { routes[typ] = r }(routes[typ])
	}
	var seen []uint64
	// new_channel is recorded (node-wide: the dbid high-water mark).
	routes[hsmproto.TypeNewChannel] = guarded(CapMaster, Public, nil,
		func(_ *Engine, _ context.Context, _ Client, req *hsmproto.NewChannel, s Snapshot) *policy.Violation {
			if s.Channel == nil || s.Node == nil {
				t.Errorf("new_channel's state check got channel %v, node %v", s.Channel, s.Node)
				return nil
			}
			seen = append(seen, s.Node.DBIDHighWater)
			if req.DBID < s.Node.DBIDHighWater {
				return &policy.Violation{Tag: "policy-test-dbid", Reason: "the dbid is below the high-water mark"}
			}
			return nil
		}, (*Engine).handleNewChannel)
	// check_outpoint is not recorded: the check reads copies.
	routes[hsmproto.TypeCheckOutpoint] = guarded(CapLockOutpoint, Public, nil,
		func(_ *Engine, _ context.Context, c Client, _ *hsmproto.CheckOutpoint, s Snapshot) *policy.Violation {
			if s.Channel != nil {
				t.Errorf("check_outpoint's state check got a channel to change")
			}
			ch, known := s.LookupChannel(state.ChannelID{Peer: c.PeerID, DBID: c.DBID})
			if !known || ch.Status != state.StatusDeclared {
				return &policy.Violation{Tag: "policy-test-unknown", Reason: "the channel was never declared"}
			}
			return nil
		}, (*Engine).handleCheckOutpoint)

	for _, mode := range []policy.Mode{policy.ModeEnforce, policy.ModeWarn, policy.ModeOff} {
		t.Run(string(mode), func(t *testing.T) {
			seen = nil
			st, err := state.Open(filepath.Join(t.TempDir(), state.FileName))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var warned []string
			e, err := NewEngine(bytes.Repeat([]byte{7}, 32), WithState(st), WithPolicyMode(mode),
				WithPolicyReporter(func(_ Client, _ uint16, v *policy.Violation) { warned = append(warned, v.Tag) }))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			peer := [33]byte{2, 1}
			newChannel := func(dbid uint64) error {
				raw, err := hsmproto.Marshal(&hsmproto.NewChannel{ID: peer, DBID: dbid})
				if err != nil {
					t.Fatal(err)
				}
				_, err = e.Handle(ctx, MasterClient, raw)
				return err
			}
			checkOutpoint := func(dbid uint64) error {
				raw, err := hsmproto.Marshal(&hsmproto.CheckOutpoint{})
				if err != nil {
					t.Fatal(err)
				}
				_, err = e.Handle(ctx, Client{PeerID: peer, DBID: dbid, Capabilities: CapLockOutpoint}, raw)
				return err
			}
			if err := newChannel(5); err != nil {
				t.Fatalf("new_channel 5: %v", err)
			}
			err = newChannel(3)
			var re *RefusalError
			switch mode {
			case policy.ModeEnforce:
				if !errors.As(err, &re) || re.Tag != "policy-test-dbid" {
					t.Fatalf("new_channel 3 under enforce: %v, want a policy-test-dbid refusal", err)
				}
				if _, known := st.Channel(state.ChannelID{Peer: peer, DBID: 3}); known {
					t.Errorf("a refused new_channel was recorded")
				}
			case policy.ModeWarn:
				if err != nil || len(warned) != 1 || warned[0] != "policy-test-dbid" {
					t.Fatalf("new_channel 3 under warn: %v, warned %v", err, warned)
				}
			case policy.ModeOff:
				if err != nil || len(warned) != 0 {
					t.Fatalf("new_channel 3 under off: %v, warned %v", err, warned)
				}
			}
			if mode != policy.ModeOff && (len(seen) != 2 || seen[0] != 0 || seen[1] != 5) {
				t.Errorf("the checks saw high-water marks %v, want [0 5]", seen)
			}
			if err := checkOutpoint(5); err != nil {
				t.Errorf("check_outpoint of a declared channel: %v", err)
			}
			err = checkOutpoint(9)
			if mode == policy.ModeEnforce && (!errors.As(err, &re) || re.Tag != "policy-test-unknown") {
				t.Errorf("check_outpoint of an unknown channel under enforce: %v", err)
			}
			if mode != policy.ModeEnforce && err != nil {
				t.Errorf("check_outpoint of an unknown channel under %s: %v", mode, err)
			}
		})
	}
}
