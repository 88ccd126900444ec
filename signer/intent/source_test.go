package intent

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/state"
)

func openStore(t *testing.T, path string) *state.Store {
	t.Helper()
	st, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newSource(t *testing.T, st *state.Store, decisions *[]Decision) *Source {
	t.Helper()
	s, err := NewSource(testSeed, "regtest", 10*time.Minute, st, WithClock(func() time.Time { return t0 }),
		WithReporter(func(d Decision) {
			if decisions != nil {
				*decisions = append(*decisions, d)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// address returns a regtest P2WPKH address and its script.
func address(t *testing.T, b byte) (string, []byte) {
	t.Helper()
	h := make([]byte, 20)
	h[0] = b
	a, err := btcutil.NewAddressWitnessPubKeyHash(h, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress(), s
}

// withdrawal spends input n to outputs.
func withdrawal(t *testing.T, n uint32, outs ...*wire.TxOut) *hsmproto.SignWithdrawal {
	t.Helper()
	pkt, err := psbt.New([]*wire.OutPoint{{Index: n}}, outs, 2, 0, []uint32{0xfffffffd})
	if err != nil {
		t.Fatal(err)
	}
	return &hsmproto.SignWithdrawal{Psbt: &hsmproto.PSBT{Packet: pkt}}
}

// signInvoice is sign_invoice of a regtest invoice of amountMsat (hrp
// "lnbcrt<n>n"; 0: none) with a payment hash and description.
func signInvoice(t *testing.T, hrp string, description string) *hsmproto.SignInvoice {
	t.Helper()
	data := []byte{0, 0, 0, 0, 0, 0, 1} // timestamp
	field := func(typ byte, b []byte) {
		u5, err := bech32.ConvertBits(b, 8, 5, true)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, typ, byte(len(u5)>>5), byte(len(u5)&31))
		data = append(data, u5...)
	}
	hash := sha256.Sum256([]byte(description))
	field(1, hash[:])
	field(13, []byte(description))
	return &hsmproto.SignInvoice{Hrp: []byte(hrp), U5bytes: data}
}

// setup is setup_channel of a channel of valueSat (valid points, so that
// it encodes).
func setup(outbound bool, valueSat uint64) *hsmproto.SetupChannel {
	_, pub := btcec.PrivKeyFromBytes([]byte{1})
	p := hsmproto.PubkeyFrom(pub)
	return &hsmproto.SetupChannel{IsOutbound: outbound, ChannelValue: hsmproto.AmountSat(valueSat),
		RemoteBasepoints: hsmproto.Basepoints{Revocation: p, Payment: p, Htlc: p, DelayedPayment: p}, RemoteFundingPubkey: p}
}

// mutualClose is sign_mutual_close_tx of tx.
func mutualClose(t *testing.T, tx *wire.MsgTx) *hsmproto.SignMutualCloseTx {
	t.Helper()
	pkt, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	pkt.Inputs[0].WitnessUtxo = wire.NewTxOut(50_000, []byte{0, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})
	_, pub := btcec.PrivKeyFromBytes([]byte{2})
	return &hsmproto.SignMutualCloseTx{Tx: hsmproto.BitcoinTx{Tx: tx, PSBT: &hsmproto.PSBT{Packet: pkt}}, RemoteFundingKey: hsmproto.PubkeyFrom(pub)}
}

func ctxWith(p ...Pending) context.Context { return WithPending(context.Background(), p) }

// Each mapped call authorizes its request and no other: another invoice,
// amount, destination, peer or description finds no intent.
func TestSourceMatches(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), state.FileName))
	s := newSource(t, st, nil)
	dev := newDevice(t, testSeed)
	peer := signer.Client{PeerID: [33]byte{2, 7}, DBID: 4, Capabilities: 0xff}
	other := signer.Client{PeerID: [33]byte{3, 9}, DBID: 5}
	addr, script := address(t, 1)
	_, otherScript := address(t, 2)

	type row struct {
		name   string
		call   Pending
		client signer.Client
		m      hsmproto.Message
		want   bool
	}
	var rows []row
	add := func(name string, call Pending, c signer.Client, m hsmproto.Message, want bool) {
		rows = append(rows, row{name, call, c, m, want})
	}
	pay := dev.call(t, MethodPay, pbString(1, "lnbcrt1pay"), t0)
	add("pay: same invoice", pay, signer.MasterClient, &hsmproto.PreapproveInvoice{Invstring: "LNBCRT1PAY"}, true)
	add("pay: _check", dev.call(t, MethodPay, pbString(1, "lnbcrt1pay2"), t0), signer.MasterClient, &hsmproto.PreapproveInvoiceCheck{Invstring: "lnbcrt1pay2"}, true)
	add("pay: another invoice", dev.call(t, MethodPay, pbString(1, "lnbcrt1pay3"), t0), signer.MasterClient, &hsmproto.PreapproveInvoice{Invstring: "lnbcrt1other"}, false)
	add("preapproveinvoice", dev.call(t, MethodPreApproveInvoice, pbString(1, "lnbcrt1pre"), t0), signer.MasterClient, &hsmproto.PreapproveInvoice{Invstring: "lnbcrt1pre"}, true)
	add("trampoline", dev.call(t, MethodTrampolinePay, pbString(1, "lnbcrt1tr"), t0), signer.MasterClient, &hsmproto.PreapproveInvoice{Invstring: "lnbcrt1tr"}, true)
	add("invoice call is no payment", dev.call(t, MethodInvoice, pbString(1, "lnbcrt1inv"), t0), signer.MasterClient, &hsmproto.PreapproveInvoice{Invstring: "lnbcrt1inv"}, false)

	dest := hsmproto.NodeID{2, 1}
	ks := cat(pbBytes(1, dest[:]), pbAmount(10, 5000))
	add("keysend: same payee and amount", dev.call(t, MethodKeySend, ks, t0), signer.MasterClient, &hsmproto.PreapproveKeysend{Destination: dest, AmountMsat: 5000}, true)
	add("keysend: _check", dev.call(t, MethodKeySend, cat(ks, pbString(3, "x")), t0), signer.MasterClient, &hsmproto.PreapproveKeysendCheck{Destination: dest, AmountMsat: 5000}, true)
	add("keysend: another amount", dev.call(t, MethodKeySend, cat(ks, pbString(3, "y")), t0), signer.MasterClient, &hsmproto.PreapproveKeysend{Destination: dest, AmountMsat: 5001}, false)
	add("keysend: another payee", dev.call(t, MethodKeySend, cat(ks, pbString(3, "z")), t0), signer.MasterClient, &hsmproto.PreapproveKeysend{Destination: hsmproto.NodeID{2, 2}, AmountMsat: 5000}, false)
	pk := cat(pbBytes(1, dest[:]), pbBytes(2, make([]byte, 32)), pbAmount(3, 9000))
	add("preapprovekeysend", dev.call(t, MethodPreApproveKeysend, pk, t0), signer.MasterClient, &hsmproto.PreapproveKeysend{Destination: dest, AmountMsat: 9000}, true)
	add("preapprovekeysend: another hash", dev.call(t, MethodPreApproveKeysend, cat(pk, pbString(9, "a")), t0), signer.MasterClient, &hsmproto.PreapproveKeysend{Destination: dest, AmountMsat: 9000, PaymentHash: hsmproto.SHA256{1}}, false)

	wd := cat(pbString(1, addr), pbAmountOr(2, 70_000_000))
	add("withdraw: destination and amount", dev.call(t, MethodWithdraw, wd, t0), signer.MasterClient,
		withdrawal(t, 1, wire.NewTxOut(70_000, script), wire.NewTxOut(5_000, otherScript)), true)
	add("withdraw: another amount", dev.call(t, MethodWithdraw, cat(wd, pbVarint(3, 1)), t0), signer.MasterClient,
		withdrawal(t, 2, wire.NewTxOut(70_001, script)), false)
	add("withdraw: another destination", dev.call(t, MethodWithdraw, cat(wd, pbVarint(3, 2)), t0), signer.MasterClient,
		withdrawal(t, 3, wire.NewTxOut(70_000, otherScript)), false)
	add("withdraw all", dev.call(t, MethodWithdraw, cat(pbString(1, addr), pbAll(2)), t0), signer.MasterClient,
		withdrawal(t, 4, wire.NewTxOut(123_456, script)), true)

	fund := cat(pbAmountOr(1, 1_000_000_000), pbBytes(9, peer.PeerID[:]))
	add("fundchannel: setup_channel", dev.call(t, MethodFundChannel, fund, t0), peer, setup(true, 1_000_000), true)
	add("fundchannel: another peer", dev.call(t, MethodFundChannel, cat(fund, pbVarint(3, 1)), t0), other, setup(true, 1_000_000), false)
	add("fundchannel: another value", dev.call(t, MethodFundChannel, cat(fund, pbVarint(3, 0)), t0), peer, setup(true, 999_999), false)
	add("fundchannel: inbound", dev.call(t, MethodFundChannel, cat(fund, pbVarint(10, 1)), t0), peer, setup(false, 1_000_000), false)

	closeTx := wire.NewMsgTx(2)
	closeTx.AddTxIn(wire.NewTxIn(&wire.OutPoint{}, nil, nil))
	closeTx.AddTxOut(wire.NewTxOut(40_000, script))
	cl := cat(pbString(1, hexOf(peer.PeerID[:])), pbString(3, addr))
	add("close: destination", dev.call(t, MethodClose, cl, t0), peer, mutualClose(t, closeTx), true)
	otherClose := closeTx.Copy()
	otherClose.TxOut[0].PkScript = otherScript
	add("close: another destination", dev.call(t, MethodClose, cat(cl, pbVarint(2, 1)), t0), peer, mutualClose(t, otherClose), false)
	add("close: another peer's channel", dev.call(t, MethodClose, cat(pbString(1, hexOf(other.PeerID[:])), pbString(3, addr)), t0), peer, mutualClose(t, closeTx), false)

	inv := cat(pbString(2, "coffee"), pbAmountOr(10, 1_000_000))
	add("invoice: amount and description", dev.call(t, MethodInvoice, inv, t0), signer.MasterClient, signInvoice(t, "lnbcrt10u", "coffee"), true)
	add("invoice: another amount", dev.call(t, MethodInvoice, cat(inv, pbVarint(6, 1)), t0), signer.MasterClient, signInvoice(t, "lnbcrt20u", "coffee"), false)
	add("invoice: another description", dev.call(t, MethodInvoice, cat(inv, pbVarint(6, 2)), t0), signer.MasterClient, signInvoice(t, "lnbcrt10u", "tea"), false)
	add("invoice: any amount", dev.call(t, MethodInvoice, cat(pbString(2, "tip"), pbBytes(10, pbVarint(2, 1))), t0), signer.MasterClient, signInvoice(t, "lnbcrt", "tip"), true)

	for _, r := range rows {
		got, err := s.Authorize(ctxWith(r.call), r.client, r.m)
		if err != nil {
			t.Errorf("%s: %v", r.name, err)
			continue
		}
		if (got != nil) != r.want {
			t.Errorf("%s: authorized %v (%+v); want %v", r.name, got != nil, got, r.want)
		}
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// A call authorizes the request it matches and that request resent,
// never a second one, also after a restart; a stale call nothing.
func TestSourceConsumesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), state.FileName)
	st, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var decisions []Decision
	s := newSource(t, st, &decisions)
	dev := newDevice(t, testSeed)
	addr, script := address(t, 1)
	call := dev.call(t, MethodWithdraw, cat(pbString(1, addr), pbAmountOr(2, 50_000_000)), t0)
	first := withdrawal(t, 1, wire.NewTxOut(50_000, script))
	second := withdrawal(t, 2, wire.NewTxOut(50_000, script)) // the same payment from other coins

	for i, want := range []struct {
		m  hsmproto.Message
		ok bool
	}{{first, true}, {first, true}, {second, false}} {
		got, err := s.Authorize(ctxWith(call), signer.MasterClient, want.m)
		if err != nil || (got != nil) != want.ok {
			t.Fatalf("request %d: %+v, %v; want authorized %v", i, got, err, want.ok)
		}
	}
	if last := decisions[len(decisions)-1]; last.Accepted || last.Reason == "" {
		t.Fatalf("the replay's decision: %+v", last)
	}
	st.Close()

	st = openStore(t, path)
	s = newSource(t, st, nil)
	if got, _ := s.Authorize(ctxWith(call), signer.MasterClient, second); got != nil {
		t.Fatal("after a restart the consumed call authorized a second request")
	}
	if got, _ := s.Authorize(ctxWith(call), signer.MasterClient, first); got == nil {
		t.Fatal("after a restart the first request resent was refused")
	}

	stale := newSource(t, st, nil)
	stale.now = func() time.Time { return t0.Add(11 * time.Minute) }
	fresh := dev.call(t, MethodWithdraw, cat(pbString(1, addr), pbAmountOr(2, 60_000_000)), t0)
	if got, _ := stale.Authorize(ctxWith(fresh), signer.MasterClient, withdrawal(t, 3, wire.NewTxOut(60_000, script))); got != nil {
		t.Fatal("a call 11 minutes old authorized a request")
	}
}

// Consumed calls are pruned once too old to be accepted again: the
// store stays bounded.
func TestSourcePrunes(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), state.FileName))
	s := newSource(t, st, nil)
	dev := newDevice(t, testSeed)
	addr, script := address(t, 1)
	for i := 0; i < 3; i++ {
		call := dev.call(t, MethodWithdraw, cat(pbString(1, addr), pbAmountOr(2, uint64(i+1)*1000_000)), t0.Add(-9*time.Minute))
		if got, _ := s.Authorize(ctxWith(call), signer.MasterClient, withdrawal(t, uint32(i), wire.NewTxOut(int64(i+1)*1000, script))); got == nil {
			t.Fatalf("call %d refused", i)
		}
	}
	s.now = func() time.Time { return t0.Add(12 * time.Minute) }
	call := dev.call(t, MethodWithdraw, cat(pbString(1, addr), pbAmountOr(2, 9_000_000)), t0.Add(12*time.Minute))
	if got, _ := s.Authorize(ctxWith(call), signer.MasterClient, withdrawal(t, 9, wire.NewTxOut(9000, script))); got == nil {
		t.Fatal("a fresh call refused")
	}
	if n, _ := st.ConsumedIntents(); n != 1 {
		t.Fatalf("%d consumed intents kept; want 1 (the old ones pruned)", n)
	}
}

// FundChannel authorizes the sign_withdrawal of the funding transaction
// setup_channel declared for an outbound channel with that peer and value.
func TestSourceFundingWithdrawal(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), state.FileName))
	s := newSource(t, st, nil)
	dev := newDevice(t, testSeed)
	peer := [33]byte{2, 7}
	_, change := address(t, 3)
	funding := []byte{0, 0x20, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}
	tx := withdrawal(t, 1, wire.NewTxOut(10_000, change), wire.NewTxOut(1_000_000, funding))
	txid := tx.Psbt.UnsignedTx.TxHash()
	for _, c := range []struct {
		peer     [33]byte
		outbound bool
	}{{peer, true}, {[33]byte{3, 1}, true}} {
		err := st.UpdateChannel(context.Background(), state.ChannelID{Peer: c.peer, DBID: 1}, func(ch *state.Channel) error {
			ch.Status = state.StatusOpen
			ch.Setup = &state.Setup{IsOutbound: c.outbound, ChannelValueSat: 1_000_000, FundingTxid: txid, FundingVout: 1}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fund := func(p [33]byte, msat uint64, salt uint64) Pending {
		return dev.call(t, MethodFundChannel, cat(pbAmountOr(1, msat), pbBytes(9, p[:]), pbVarint(12, salt)), t0)
	}
	for _, tc := range []struct {
		name string
		call Pending
		m    hsmproto.Message
		want bool
	}{
		{"its funding", fund(peer, 1_000_000_000, 1), tx, true},
		{"another value", fund(peer, 2_000_000_000, 2), tx, false},
		{"a peer without that channel", fund([33]byte{2, 8}, 1_000_000_000, 3), tx, false},
		{"another transaction", fund(peer, 1_000_000_000, 4), withdrawal(t, 2, wire.NewTxOut(1_000_000, funding)), false},
	} {
		got, err := s.Authorize(ctxWith(tc.call), signer.MasterClient, tc.m)
		if err != nil || (got != nil) != tc.want {
			t.Errorf("%s: %+v, %v; want authorized %v", tc.name, got, err, tc.want)
		}
	}
}

// Calls that authorize nothing (a WaitAnyInvoice in flight for an hour,
// a Getinfo) are neither judged nor reported, and do not hide the call
// that matches; a mapped call whose body does not decode is reported,
// naming the field.
func TestSourceJudgesOnlyRelevantCalls(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), state.FileName))
	var decisions []Decision
	s := newSource(t, st, &decisions)
	dev := newDevice(t, testSeed)
	old := dev.call(t, "/cln.Node/WaitAnyInvoice", nil, t0.Add(-time.Hour))
	info := dev.call(t, "/cln.Node/Getinfo", nil, t0)
	broken := dev.call(t, MethodPay, []byte{0x0a, 0x09}, t0)
	pay := dev.call(t, MethodPay, pbString(1, "lnbcrt1x"), t0)
	got, err := s.Authorize(ctxWith(old, info, broken, pay), signer.MasterClient, &hsmproto.PreapproveInvoice{Invstring: "lnbcrt1x"})
	if err != nil || got == nil || got.Method != MethodPay {
		t.Fatalf("%+v, %v", got, err)
	}
	if len(decisions) != 2 || decisions[0].Accepted || decisions[0].Reason != "request: the /cln.Node/Pay body: field 1: unexpected EOF" ||
		!decisions[1].Accepted {
		t.Fatalf("decisions %+v", decisions)
	}
}

// A node that attaches many forged calls for one request gets at most
// MaxJudged of them checked (and one line saying the rest were not).
func TestSourceBoundsCallsJudged(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), state.FileName))
	var decisions []Decision
	s := newSource(t, st, &decisions)
	dev := newDevice(t, testSeed)
	var calls []Pending
	for i := 0; i < 100; i++ {
		p := dev.call(t, MethodPay, cat(pbString(1, "lnbcrt1x"), pbVarint(6, uint64(i))), t0)
		p.Signature = flip(p.Signature, 5)
		calls = append(calls, p)
	}
	calls = append(calls, dev.call(t, MethodPay, pbString(1, "lnbcrt1x"), t0))
	got, err := s.Authorize(ctxWith(calls...), signer.MasterClient, &hsmproto.PreapproveInvoice{Invstring: "lnbcrt1x"})
	if err != nil || got != nil {
		t.Fatalf("%+v, %v; want the good call past the bound unjudged", got, err)
	}
	if len(decisions) != MaxJudged+1 || !strings.Contains(decisions[MaxJudged].Reason, "the rest are not judged") {
		t.Fatalf("%d decisions, last %+v", len(decisions), decisions[len(decisions)-1])
	}
}

// One call authorizes everything its payment, channel or close takes,
// and nothing of another: a payment's _check and preapproval, a
// channel's setup_channel and funding signature, every fee round of a
// close; not another invoice's, channel's or close's requests.
func TestSourceOneCallOnePurpose(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), state.FileName))
	s := newSource(t, st, nil)
	dev := newDevice(t, testSeed)
	peer := signer.Client{PeerID: [33]byte{2, 7}, DBID: 4}
	addr, script := address(t, 1)
	_, change := address(t, 3)
	funding := []byte{0, 0x20, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}
	fundTx := withdrawal(t, 1, wire.NewTxOut(10_000, change), wire.NewTxOut(1_000_000, funding))
	txid := fundTx.Psbt.UnsignedTx.TxHash()
	err := st.UpdateChannel(context.Background(), state.ChannelID{Peer: peer.PeerID, DBID: 4}, func(ch *state.Channel) error {
		ch.Status = state.StatusOpen
		ch.Setup = &state.Setup{IsOutbound: true, ChannelValueSat: 1_000_000, FundingTxid: txid, FundingVout: 1}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	setupFor := func(txid [32]byte) *hsmproto.SetupChannel {
		m := setup(true, 1_000_000)
		m.FundingTxid, m.FundingTxout = txid, 1
		return m
	}
	closeTx := func(fee int64) *wire.MsgTx {
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{}, nil, nil))
		tx.AddTxOut(wire.NewTxOut(50_000-fee, script))
		return tx
	}
	dest := hsmproto.NodeID{2, 1}
	pay := dev.call(t, MethodPay, pbString(1, "lnbcrt1one"), t0)
	ks := dev.call(t, MethodKeySend, cat(pbBytes(1, dest[:]), pbAmount(10, 5000)), t0)
	fund := dev.call(t, MethodFundChannel, cat(pbAmountOr(1, 1_000_000_000), pbBytes(9, peer.PeerID[:])), t0)
	cl := dev.call(t, MethodClose, cat(pbString(1, hexOf(peer.PeerID[:])), pbString(3, addr)), t0)
	otherChannel := peer
	otherChannel.DBID = 5
	for _, tc := range []struct {
		name string
		call Pending
		c    signer.Client
		m    hsmproto.Message
		want bool
	}{
		{"pay: _check", pay, signer.MasterClient, &hsmproto.PreapproveInvoiceCheck{Invstring: "lnbcrt1one", CheckOnly: true}, true},
		{"pay: preapprove", pay, signer.MasterClient, &hsmproto.PreapproveInvoice{Invstring: "lnbcrt1one"}, true},
		{"keysend: _check", ks, signer.MasterClient, &hsmproto.PreapproveKeysendCheck{Destination: dest, AmountMsat: 5000, CheckOnly: true}, true},
		{"keysend: preapprove", ks, signer.MasterClient, &hsmproto.PreapproveKeysend{Destination: dest, AmountMsat: 5000}, true},
		{"keysend: another payment hash", ks, signer.MasterClient, &hsmproto.PreapproveKeysend{Destination: dest, AmountMsat: 5000, PaymentHash: hsmproto.SHA256{7}}, false},
		{"fund: setup_channel", fund, peer, setupFor(txid), true},
		{"fund: its funding signature", fund, signer.MasterClient, fundTx, true},
		{"fund: a second channel", fund, peer, setupFor([32]byte{1}), false},
		{"close: first fee round", cl, peer, mutualClose(t, closeTx(300)), true},
		{"close: second fee round", cl, peer, mutualClose(t, closeTx(500)), true},
		{"close: another channel of the peer", cl, otherChannel, mutualClose(t, closeTx(300)), false},
	} {
		got, err := s.Authorize(ctxWith(tc.call), tc.c, tc.m)
		if err != nil || (got != nil) != tc.want {
			t.Errorf("%s: %+v, %v; want authorized %v", tc.name, got, err, tc.want)
		}
	}
}
