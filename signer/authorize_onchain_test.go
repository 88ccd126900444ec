package signer

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// authorizingEngine is an engine with a state store and a clock.
func authorizingEngine(t *testing.T, path string, now *time.Time, set AuthorizationSettings, opts ...Option) (*Engine, *state.Store) {
	t.Helper()
	st, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := NewEngine(bytes.Repeat([]byte{0x42}, 32), append([]Option{WithState(st), WithNetwork("bitcoin"),
		WithAuthorization(set), WithClock(func() time.Time { return *now })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return e, st
}

// refusalOf returns the tag and reason of err ("" for none).
func refusalOf(t *testing.T, err error) (string, string) {
	t.Helper()
	var re *RefusalError
	switch {
	case err == nil:
		return "", ""
	case errors.As(err, &re):
		return re.Tag, re.Reason
	}
	t.Fatalf("not a refusal: %v", err)
	return "", ""
}

// foreignWithdrawal is a withdrawal of 10,600 sat from our wallet paying
// value sat to a foreign P2WPKH (the rest is the fee).
func foreignWithdrawal(t *testing.T, e *Engine, value int64) *hsmproto.SignWithdrawal {
	t.Helper()
	req := withdrawal(t, e, []walletInput{{index: 3, amount: 10_600}})
	req.Psbt.UnsignedTx.TxOut[0].Value = value
	return req
}

// foreignAddress is the address foreignWithdrawal pays.
func foreignAddress(t *testing.T) string {
	a, err := btcutil.NewAddressWitnessPubKeyHash(bytes.Repeat([]byte{1}, 20), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// TestWithdrawalAuthorization: a withdrawal to an output that is neither
// our wallet's nor a channel's needs an allowlisted address or the
// operator's approval, and counts against the withdrawal limits.
func TestWithdrawalAuthorization(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	t.Run("approval", func(t *testing.T) {
		e, _ := authorizingEngine(t, filepath.Join(t.TempDir(), "s.db"), &now, AuthorizationSettings{})
		req := foreignWithdrawal(t, e, 10_000)
		tag, reason := refusalOf(t, func() error { _, err := txHandle(e, MasterClient, req); return err }())
		if tag != policy.TagOnchainNoUnknownOutputs || !strings.Contains(reason, "10000 sat to script 0014") || !strings.Contains(reason, "ctl approve 1") {
			t.Fatalf("got %q %q", tag, reason)
		}
		if _, err := e.Decide(ctx, 1, true); err != nil {
			t.Fatal(err)
		}
		if _, err := txHandle(e, MasterClient, req); err != nil {
			t.Fatalf("the retry after approval: %v", err)
		}
	})
	t.Run("allowlisted address, then the limits", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.db")
		set := AuthorizationSettings{Withdrawals: policy.VelocityLimit{PerHour: 15_000}}
		e, st := authorizingEngine(t, path, &now, set, WithPolicyAllowlist([]string{"address:" + foreignAddress(t)}))
		if _, err := txHandle(e, MasterClient, foreignWithdrawal(t, e, 10_000)); err != nil {
			t.Fatalf("a withdrawal to an allowlisted address: %v", err)
		}
		st.Close()
		e, _ = authorizingEngine(t, path, &now, set, WithPolicyAllowlist([]string{"address:" + foreignAddress(t)}))
		if u, _ := e.Velocity(); u.WithdrawalsHourSat != 10_000 {
			t.Fatalf("after a restart the use is %+v", u)
		}
		_, err := txHandle(e, MasterClient, foreignWithdrawal(t, e, 9_999))
		if tag, reason := refusalOf(t, err); tag != policy.TagOnchainVelocity || !strings.Contains(reason, "19999 sat in the last hour") {
			t.Fatalf("past the hourly limit: %q %q", tag, reason)
		}
		now = now.Add(time.Hour)
		if _, err := txHandle(e, MasterClient, foreignWithdrawal(t, e, 9_998)); err != nil {
			t.Fatalf("an hour later: %v", err)
		}
	})
	t.Run("to our wallet: nothing to ask", func(t *testing.T) {
		e, _ := authorizingEngine(t, filepath.Join(t.TempDir(), "s.db"), &now, AuthorizationSettings{Withdrawals: policy.VelocityLimit{PerHour: 1}})
		req := withdrawal(t, e, []walletInput{{index: 3, amount: 10_600}})
		pub, _ := e.ring.WalletPubKey(4)
		req.Psbt.UnsignedTx.TxOut[0].PkScript = append([]byte{0x00, 20}, btcutil.Hash160(pub.SerializeCompressed())...)
		req.Psbt.Outputs[0].Bip32Derivation = []*psbt.Bip32Derivation{{PubKey: pub.SerializeCompressed(), Bip32Path: []uint32{0, 0, 4}}}
		if _, err := txHandle(e, MasterClient, req); err != nil {
			t.Fatalf("a withdrawal to our wallet: %v", err)
		}
		if u, _ := e.Velocity(); u.WithdrawalsHourSat != 0 {
			t.Fatalf("our own output was counted: %+v", u)
		}
	})
}

// TestMutualCloseAuthorization: a close none of whose outputs is ours
// needs the user's intent or the operator's approval.
func TestMutualCloseAuthorization(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	e, _ := authorizingEngine(t, filepath.Join(t.TempDir(), "s.db"), &now, AuthorizationSettings{})
	req := &hsmproto.SignMutualCloseTx{Tx: chanTx(t, 1, 2, 2400), RemoteFundingKey: mustPubkey(t, remoteKey(t, 7))}
	_, err := txHandle(e, txChanneld, req)
	if tag, reason := refusalOf(t, err); tag != policy.TagMutualDestinationAllowlisted || !strings.Contains(reason, "ctl approve 1") {
		t.Fatalf("a close to foreign addresses: %q %q", tag, reason)
	}
	if _, err := e.Decide(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
	if _, err := txHandle(e, txChanneld, req); err != nil {
		t.Fatalf("the retry after approval: %v", err)
	}
}

// TestAuthorizationTagsEveryMode: for each authorization tag, a request
// that breaks exactly that rule is refused with the tag under enforce,
// signed and reported under warn (no approval asked for), signed silently
// under off; the request minimally changed to pass is signed in every
// mode.
func TestAuthorizationTagsEveryMode(t *testing.T) {
	payee := remoteKey(t, 9)
	var payeeID [33]byte
	copy(payeeID[:], payee.SerializeCompressed())
	keysend := func(msat uint64) func(*testing.T, *Engine) (Client, hsmproto.Message) {
		return func(*testing.T, *Engine) (Client, hsmproto.Message) {
			return MasterClient, &hsmproto.PreapproveKeysend{Destination: hsmproto.NodeID(payeeID), PaymentHash: [32]byte{1}, AmountMsat: hsmproto.AmountMsat(msat)}
		}
	}
	withdraw := func(value int64) func(*testing.T, *Engine) (Client, hsmproto.Message) {
		return func(t *testing.T, e *Engine) (Client, hsmproto.Message) {
			return MasterClient, foreignWithdrawal(t, e, value)
		}
	}
	closeTo := func(*testing.T, *Engine) (Client, hsmproto.Message) {
		return txChanneld, &hsmproto.SignMutualCloseTx{Tx: chanTx(t, 1, 2, 2400), RemoteFundingKey: mustPubkey(t, remoteKey(t, 7))}
	}
	fund := func(value int64) func(*testing.T, *Engine) (Client, hsmproto.Message) {
		return func(t *testing.T, e *Engine) (Client, hsmproto.Message) {
			return MasterClient, fundingWithdrawal(t, e, [33]byte(remoteKey(t, 12).SerializeCompressed()), value, true)
		}
	}
	allowAddress := WithPolicyAllowlist([]string{"address:" + foreignAddress(t)})
	for _, tc := range []struct {
		tag        string
		set        AuthorizationSettings
		opts       []Option
		valid, bad func(*testing.T, *Engine) (Client, hsmproto.Message)
		validOpts  []Option
	}{
		{tag: policy.TagPaymentApproved, set: AuthorizationSettings{AutoApproveBelowMsat: 5_000}, valid: keysend(4_999), bad: keysend(5_000)},
		{tag: policy.TagPaymentVelocity, set: AuthorizationSettings{AutoApproveBelowMsat: 1 << 40, Payments: policy.VelocityLimit{PerHour: 5_000}},
			valid: keysend(5_000), bad: keysend(5_001)},
		{tag: policy.TagOnchainNoUnknownOutputs, validOpts: []Option{allowAddress}, valid: withdraw(10_000), bad: withdraw(10_000)},
		{tag: policy.TagOnchainVelocity, opts: []Option{allowAddress}, validOpts: []Option{allowAddress},
			set: AuthorizationSettings{Withdrawals: policy.VelocityLimit{PerDay: 10_000}}, valid: withdraw(10_000), bad: withdraw(10_001)},
		{tag: policy.TagMutualDestinationAllowlisted, set: AuthorizationSettings{}, valid: nil, bad: closeTo},
		{tag: policy.TagChannelApproved, set: AuthorizationSettings{AutoApproveChannelsBelowSat: 10_001}, valid: fund(10_000), bad: fund(10_001)},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			for _, mode := range policy.Modes {
				now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
				var reported []string
				var last AuthorizationEvent
				report := WithPolicyReporter(func(_ Client, _ uint16, v *policy.Violation) { reported = append(reported, v.Tag) })
				hear := WithAuthorizationReporter(func(ev AuthorizationEvent) { last = ev })
				if tc.valid != nil {
					e, _ := authorizingEngine(t, filepath.Join(t.TempDir(), "s.db"), &now, tc.set, append(append([]Option{WithPolicyMode(mode), report}, tc.opts...), tc.validOpts...)...)
					c, m := tc.valid(t, e)
					if _, err := txHandle(e, c, m); err != nil {
						t.Fatalf("%s: the valid request was refused: %v", mode, err)
					}
				}
				e, _ := authorizingEngine(t, filepath.Join(t.TempDir(), "s.db"), &now, tc.set, append([]Option{WithPolicyMode(mode), report, hear}, tc.opts...)...)
				c, m := tc.bad(t, e)
				raw, err := txHandle(e, c, m)
				tag, _ := refusalOf(t, err)
				if err == nil && isDeclined(t, raw) {
					tag = last.Tag // a payment is declined with approved=false
				}
				switch mode {
				case policy.ModeEnforce:
					if tag != tc.tag {
						t.Fatalf("enforce: got %q, want %s", tag, tc.tag)
					}
				default:
					if tag != "" {
						t.Fatalf("%s: refused: %v", mode, err)
					}
				}
				want := []string(nil)
				if mode == policy.ModeWarn {
					want = []string{tc.tag}
				}
				if strings.Join(reported, ",") != strings.Join(want, ",") {
					t.Fatalf("%s: reported %v, want %v", mode, reported, want)
				}
				if as, _ := e.Approvals(); (mode == policy.ModeEnforce) != (len(as) == 1) {
					t.Fatalf("%s: approvals %+v", mode, as)
				}
			}
		})
	}
}

// fundingWithdrawal is a withdrawal whose only output, of value sat, is
// the funding output of a channel with peer that we fund (outbound) or
// not, as the state store records it.
func fundingWithdrawal(t *testing.T, e *Engine, peer [33]byte, value int64, outbound bool) *hsmproto.SignWithdrawal {
	t.Helper()
	req := foreignWithdrawal(t, e, value)
	req.Psbt.UnsignedTx.TxOut[0].PkScript = p2wsh([]byte{0x52})
	txid := req.Psbt.UnsignedTx.TxHash()
	err := e.state.UpdateChannel(context.Background(), state.ChannelID{Peer: peer, DBID: 5}, func(ch *state.Channel) error {
		ch.Status = state.StatusOpen
		ch.Setup = &state.Setup{IsOutbound: outbound, ChannelValueSat: uint64(value), FundingTxid: txid}
		// Our first commitment countersigned (validate_commitment_tx 0),
		// as before any honest funding signature.
		ch.LastHolder = &state.Commitment{}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestChannelAuthorization: the funding transaction of a channel we fund
// is signed only for an allowlisted peer, below the channel auto-approve
// threshold, or once the operator approved it; a channel the peer funds
// needs nothing.
func TestChannelAuthorization(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	peer := [33]byte(remoteKey(t, 11).SerializeCompressed())
	payee := "payee:" + hex.EncodeToString(peer[:])
	for _, tc := range []struct {
		name     string
		set      AuthorizationSettings
		opts     []Option
		outbound bool
		wantTag  string
	}{
		{name: "we fund, nothing authorizes it", outbound: true, wantTag: policy.TagChannelApproved},
		{name: "we fund, the peer allowlisted", outbound: true, opts: []Option{WithPolicyAllowlist([]string{payee})}},
		{name: "we fund, below the threshold", outbound: true, set: AuthorizationSettings{AutoApproveChannelsBelowSat: 10_001}},
		{name: "we fund, at the threshold", outbound: true, set: AuthorizationSettings{AutoApproveChannelsBelowSat: 10_000}, wantTag: policy.TagChannelApproved},
		{name: "the peer funds", outbound: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := authorizingEngine(t, filepath.Join(t.TempDir(), "s.db"), &now, tc.set, tc.opts...)
			req := fundingWithdrawal(t, e, peer, 10_000, tc.outbound)
			_, err := txHandle(e, MasterClient, req)
			tag, reason := refusalOf(t, err)
			if tag != tc.wantTag {
				t.Fatalf("got %q (%s), want %q", tag, reason, tc.wantTag)
			}
			if tag == "" {
				return
			}
			if !strings.Contains(reason, "a channel of 10000 sat we fund with "+hex.EncodeToString(peer[:])) || !strings.Contains(reason, "ctl approve 1") {
				t.Fatalf("reason %q", reason)
			}
			if _, err := e.Decide(ctx, 1, true); err != nil {
				t.Fatal(err)
			}
			if _, err := txHandle(e, MasterClient, req); err != nil {
				t.Fatalf("the retry after approval: %v", err)
			}
		})
	}
}

// isDeclined reports whether raw is a preapprove reply with
// approved=false.
func isDeclined(t *testing.T, raw []byte) bool {
	t.Helper()
	m, err := hsmproto.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	switch r := m.(type) {
	case *hsmproto.PreapproveInvoiceReply:
		return !r.Approved
	case *hsmproto.PreapproveKeysendReply:
		return !r.Approved
	}
	return false
}

// TestPaymentsDeclinedNotRefused: a payment the authorization refuses is
// answered approved=false, as CLN's hsmd declines one (an error on
// lightningd's connection would end it); other requests are refused.
func TestPaymentsDeclinedNotRefused(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	e, _ := authorizingEngine(t, filepath.Join(t.TempDir(), "s.db"), &now, AuthorizationSettings{})
	for _, m := range []hsmproto.Message{
		&hsmproto.PreapproveKeysend{Destination: hsmproto.NodeID(remoteKey(t, 9).SerializeCompressed()), PaymentHash: [32]byte{1}, AmountMsat: 5},
		&hsmproto.PreapproveKeysendCheck{Destination: hsmproto.NodeID(remoteKey(t, 9).SerializeCompressed()), PaymentHash: [32]byte{2}, AmountMsat: 5},
	} {
		raw, err := txHandle(e, MasterClient, m)
		if err != nil || !isDeclined(t, raw) {
			t.Fatalf("%s: %x, %v; want approved=false", m.MsgName(), raw, err)
		}
	}
	if _, err := txHandle(e, MasterClient, foreignWithdrawal(t, e, 10_000)); err == nil {
		t.Fatal("a withdrawal to a foreign output was signed")
	}
}
