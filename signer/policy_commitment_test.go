package signer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/input"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/replay"
	"gl-signerd/signer/state"
)

// chanFixture is one channel of a stateful engine, set up with a peer whose
// keys the test holds, so that it can build the peer's commitments as an
// honest channeld would (policy.CommitmentSpec) and change them minimally.
type chanFixture struct {
	e                 *signer.Engine
	channeld          signer.Client
	ours, theirs      policy.Basepoints
	funding           wire.OutPoint
	fundingSat        uint64
	anchors           bool
	fundingWS, fundPK []byte
}

// The fixture's channel: 1,000,000 sat, we fund and push 100,000 sat.
const (
	capSat   = 1_000_000
	pushMsat = 100_000_000
)

func statefulEngineWith(t testing.TB, seed byte, opts ...signer.Option) (*signer.Engine, *state.Store) {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// Payments and channels approved (the authorization is not what these
	// tests check).
	auto := signer.WithAuthorization(signer.AuthorizationSettings{AutoApproveBelowMsat: 1 << 62, AutoApproveChannelsBelowSat: 1 << 62})
	e, err := signer.NewEngine(bytes.Repeat([]byte{seed}, 32), append([]signer.Option{auto}, append(opts, signer.WithState(st), signer.WithNetwork("bitcoin"))...)...)
	if err != nil {
		t.Fatal(err)
	}
	return e, st
}

func fixtureKey(label string, i int) *btcec.PrivateKey {
	h := sha256.Sum256(append([]byte(label), byte(i)))
	k, _ := btcec.PrivKeyFromBytes(h[:])
	return k
}

// peerPoint is the peer's per-commitment point of commitment n.
func peerPoint(n uint64) *btcec.PublicKey {
	return fixtureKey("point", int(n)).PubKey()
}

// mustAsk sends m and returns the decoded reply, failing t on a refusal.
func mustAsk(t testing.TB, e *signer.Engine, c signer.Client, m hsmproto.Message) hsmproto.Message {
	t.Helper()
	raw, err := e.Handle(context.Background(), c, m.Encode())
	if err != nil {
		t.Fatalf("%s: %v", m.MsgName(), err)
	}
	reply, err := hsmproto.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

func newChanFixture(t testing.TB, anchors bool, opts ...signer.Option) *chanFixture {
	t.Helper()
	e, _ := statefulEngineWith(t, 0x31, opts...)
	return newChanFixtureOn(t, e, anchors)
}

// newChanFixtureOn declares and sets up the fixture's channel on e.
func newChanFixtureOn(t testing.TB, e *signer.Engine, anchors bool) *chanFixture {
	t.Helper()
	features := []byte{0x10, 0x00} // option_static_remotekey
	if anchors {
		features = []byte{0x40, 0x10, 0x00} // option_anchors_zero_fee_htlc_tx
	}
	return newTypedChanFixtureOn(t, e, anchors, features)
}

// newTypedChanFixtureOn is newChanFixtureOn with the channel type's
// feature bits given.
func newTypedChanFixtureOn(t testing.TB, e *signer.Engine, anchors bool, features []byte) *chanFixture {
	t.Helper()
	peer := [33]byte(fixtureKey("peer id", 0).PubKey().SerializeCompressed())
	f := &chanFixture{e: e, channeld: signer.Client{PeerID: peer, DBID: 9, Capabilities: 447}, fundingSat: capSat, anchors: anchors}
	mustAsk(t, e, signer.MasterClient, &hsmproto.NewChannel{ID: hsmproto.NodeID(peer), DBID: 9})
	r := mustAsk(t, e, signer.MasterClient, &hsmproto.GetChannelBasepoints{Peerid: hsmproto.NodeID(peer), DBID: 9}).(*hsmproto.GetChannelBasepointsReply)
	key := func(p hsmproto.Pubkey) *btcec.PublicKey {
		k, err := btcec.ParsePubKey(p[:])
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	f.ours = policy.Basepoints{Funding: key(r.FundingPubkey), Revocation: key(r.Basepoints.Revocation), Payment: key(r.Basepoints.Payment), HTLC: key(r.Basepoints.Htlc), DelayedPayment: key(r.Basepoints.DelayedPayment)}
	f.theirs = policy.Basepoints{Funding: fixtureKey("peer", 0).PubKey(), Revocation: fixtureKey("peer", 1).PubKey(), Payment: fixtureKey("peer", 2).PubKey(),
		HTLC: fixtureKey("peer", 3).PubKey(), DelayedPayment: fixtureKey("peer", 4).PubKey()}
	f.funding = wire.OutPoint{Hash: chainhash.Hash{1, 2, 3}, Index: 1}
	ws, out, err := input.GenFundingPkScript(f.ours.Funding.SerializeCompressed(), f.theirs.Funding.SerializeCompressed(), int64(f.fundingSat))
	if err != nil {
		t.Fatal(err)
	}
	f.fundingWS, f.fundPK = ws, out.PkScript
	setup := &hsmproto.SetupChannel{IsOutbound: true, ChannelValue: hsmproto.AmountSat(f.fundingSat), FundingTxid: f.funding.Hash, FundingTxout: uint16(f.funding.Index),
		PushValue: pushMsat, LocalToSelfDelay: 144, RemoteToSelfDelay: 144, RemoteFundingPubkey: hsmproto.PubkeyFrom(f.theirs.Funding),
		RemoteBasepoints: hsmproto.Basepoints{Revocation: hsmproto.PubkeyFrom(f.theirs.Revocation), Payment: hsmproto.PubkeyFrom(f.theirs.Payment),
			Htlc: hsmproto.PubkeyFrom(f.theirs.HTLC), DelayedPayment: hsmproto.PubkeyFrom(f.theirs.DelayedPayment)},
		ChannelType: hsmproto.ChannelType{Features: features}}
	mustAsk(t, e, f.channeld, setup)
	return f
}

// remoteSpec is the peer's commitment n as an honest channeld builds it:
// we fund, the peer's to_local waits the 144 blocks we impose.
func (f *chanFixture) remoteSpec(n uint64, oursMsat, theirsMsat uint64, feerate uint32, htlcs ...policy.CommitmentHTLC) policy.CommitmentSpec {
	return policy.CommitmentSpec{
		FundingOutpoint: f.funding, FundingSat: f.fundingSat,
		Owner: f.theirs, Other: f.ours, OwnerFunds: false,
		Point: peerPoint(n), Num: n, ToSelfDelay: 144,
		StaticRemoteKey: true, Anchors: f.anchors, ZeroFeeAnchors: f.anchors, DustLimitSat: 546,
		FeeratePerKw: feerate, OwnerMsat: theirsMsat, OtherMsat: oursMsat, HTLCs: htlcs,
	}
}

// bitcoinTx wraps tx with a PSBT holding the funding amount and the
// outputs' witness scripts (ws[i], nil for none), as channeld sends it.
func (f *chanFixture) bitcoinTx(t testing.TB, tx *wire.MsgTx, ws [][]byte, amount int64, pk []byte) hsmproto.BitcoinTx {
	t.Helper()
	p, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	p.Inputs[0].WitnessUtxo = wire.NewTxOut(amount, pk)
	for i := range p.Outputs {
		if i < len(ws) {
			p.Outputs[i].WitnessScript = ws[i]
		}
	}
	return hsmproto.BitcoinTx{Tx: tx, PSBT: &hsmproto.PSBT{Packet: p}}
}

// signRemote is sign_remote_commitment_tx of the commitment c (spec s) as
// changed by mutate (nil: as built).
func (f *chanFixture) signRemote(t *testing.T, s policy.CommitmentSpec, mutate func(tx *wire.MsgTx, ws [][]byte)) (*policy.Commitment, *signer.RefusalError) {
	t.Helper()
	c, err := s.Build()
	if err != nil {
		t.Fatal(err)
	}
	tx := c.Tx.Copy()
	ws := make([][]byte, len(c.Outputs))
	for i, o := range c.Outputs {
		ws[i] = o.WitnessScript
	}
	if mutate != nil {
		mutate(tx, ws)
	}
	var hs []hsmproto.HsmHtlc
	for _, o := range c.Outputs {
		if o.Kind != policy.OutputHTLC {
			continue
		}
		h := s.HTLCs[o.HTLC]
		side := hsmproto.Remote
		if !h.OfferedByOwner {
			side = hsmproto.Local
		}
		hs = append(hs, hsmproto.HsmHtlc{Side: side, Amount: hsmproto.AmountMsat(h.AmountMsat), PaymentHash: h.PaymentHash, CltvExpiry: h.CltvExpiry})
	}
	req := &hsmproto.SignRemoteCommitmentTx{Tx: f.bitcoinTx(t, tx, ws, int64(f.fundingSat), f.fundPK), RemoteFundingKey: hsmproto.PubkeyFrom(f.theirs.Funding),
		RemotePerCommit: hsmproto.PubkeyFrom(s.Point), OptionStaticRemotekey: true, CommitNum: s.Num, Htlcs: hs, Feerate: s.FeeratePerKw}
	_, re := ask(t, f.e, f.channeld, req)
	return c, re
}

// signRemoteHTLC is sign_remote_htlc_tx of HTLC output i of c, as changed
// by mutate.
func (f *chanFixture) signRemoteHTLC(t *testing.T, c *policy.Commitment, i int, mutate func(tx *wire.MsgTx, ws *[]byte)) *signer.RefusalError {
	t.Helper()
	tx, ws, err := c.HTLCTx(i)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(tx, &ws)
	}
	out := c.Tx.TxOut[i]
	req := &hsmproto.SignRemoteHtlcTx{Tx: f.bitcoinTx(t, tx, [][]byte{ws}, out.Value, out.PkScript), Wscript: c.Outputs[i].WitnessScript,
		RemotePerCommitPoint: hsmproto.PubkeyFrom(c.Spec.Point), OptionAnchorOutputs: f.anchors}
	_, re := ask(t, f.e, f.channeld, req)
	return re
}

func outputOf(c *policy.Commitment, kind policy.OutputKind) int {
	for i, o := range c.Outputs {
		if o.Kind == kind {
			return i
		}
	}
	return -1
}

func p2wsh(t testing.TB, ws []byte) []byte {
	pk, err := input.WitnessScriptHash(ws)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

func htlc(offeredByPeer bool, sat uint64, cltv uint32) policy.CommitmentHTLC {
	return policy.CommitmentHTLC{OfferedByOwner: offeredByPeer, AmountMsat: sat * 1000, PaymentHash: sha256.Sum256(binary.BigEndian.AppendUint64(nil, sat)), CltvExpiry: cltv}
}

// Every commitment tag through the engine with state: the honest
// commitment is signed, a minimally changed one is refused with exactly the
// tag, and signed with the tag reported when the tag is on the warn list.
func TestCommitmentTagsThroughEngine(t *testing.T) {
	type step struct {
		num          uint64
		ours, theirs uint64 // msat
		feerate      uint32
		htlcs        []policy.CommitmentHTLC
	}
	first := step{0, capSat*1000 - pushMsat, pushMsat, 1000, nil}
	cases := []struct {
		name    string
		anchors bool
		lim     *policy.Limits
		// prefix is signed first (honest), then last, changed by mutate.
		prefix []step
		last   step
		mutate func(t *testing.T, f *chanFixture, c *policy.Commitment, tx *wire.MsgTx, ws [][]byte)
		// htlcMutate, when set, makes the last request sign_remote_htlc_tx
		// of the first HTLC output of last (the commitment signed honestly).
		htlcMutate func(tx *wire.MsgTx, ws *[]byte)
		// keysend: preapprove_keysend the last step's HTLCs first.
		keysend bool
		tag     string
	}{
		{name: "valid first commitment", last: first},
		{name: "valid first commitment with anchors", anchors: true, last: first},
		{name: "valid update_fee round", prefix: []step{first}, last: step{1, 900_000_000, 100_000_000, 150_000, nil}},
		{name: "valid HTLC offered by the peer", anchors: true, prefix: []step{first},
			last: step{1, 900_000_000, 90_000_000, 1000, []policy.CommitmentHTLC{htlc(true, 10_000, 700)}}},
		{name: "valid HTLC transaction", prefix: []step{first},
			last: step{1, 900_000_000, 90_000_000, 1000, []policy.CommitmentHTLC{htlc(true, 10_000, 700)}}, htlcMutate: func(*wire.MsgTx, *[]byte) {}},
		{name: "valid HTLC we offer for a preapproved keysend", prefix: []step{first}, keysend: true,
			last: step{1, 890_000_000, 100_000_000, 1000, []policy.CommitmentHTLC{htlc(false, 10_000, 700)}}},
		{name: "HTLC we offer for nothing", prefix: []step{first},
			last: step{1, 890_000_000, 100_000_000, 1000, []policy.CommitmentHTLC{htlc(false, 10_000, 700)}}, tag: policy.TagCommitmentHTLCRoutingBalance},
		{name: "gift in the first commitment", last: step{0, 800_000_000, 200_000_000, 1000, nil}, tag: policy.TagCommitmentInitialFundingValue},
		{name: "balance moved without an HTLC", prefix: []step{first}, last: step{1, 890_000_000, 110_000_000, 2000, nil}, tag: policy.TagRoutingDeltasOnlyHTLC},
		{name: "another funding outpoint", last: first, tag: policy.TagCommitmentInputMatchFunding,
			mutate: func(_ *testing.T, _ *chanFixture, _ *policy.Commitment, tx *wire.MsgTx, _ [][]byte) {
				tx.TxIn[0].PreviousOutPoint.Index++
			}},
		{name: "version 1", last: first, tag: policy.TagCommitmentVersion,
			mutate: func(_ *testing.T, _ *chanFixture, _ *policy.Commitment, tx *wire.MsgTx, _ [][]byte) { tx.Version = 1 }},
		{name: "another locktime", last: first, tag: policy.TagCommitmentLocktime,
			mutate: func(_ *testing.T, _ *chanFixture, _ *policy.Commitment, tx *wire.MsgTx, _ [][]byte) { tx.LockTime ^= 1 }},
		{name: "another sequence", last: first, tag: policy.TagCommitmentSequence,
			mutate: func(_ *testing.T, _ *chanFixture, _ *policy.Commitment, tx *wire.MsgTx, _ [][]byte) {
				tx.TxIn[0].Sequence ^= 1
			}},
		{name: "to_remote to a foreign key", prefix: []step{first}, last: step{1, 900_000_000, 100_000_000, 1000, nil}, tag: policy.TagCommitmentNoUnrecognizedOutputs,
			mutate: func(t *testing.T, _ *chanFixture, c *policy.Commitment, tx *wire.MsgTx, _ [][]byte) {
				pk, _ := input.CommitScriptUnencumbered(fixtureKey("thief", 0).PubKey())
				tx.TxOut[outputOf(c, policy.OutputToRemote)].PkScript = pk
			}},
		{name: "revocation key not ours", prefix: []step{first}, last: step{1, 900_000_000, 100_000_000, 1000, nil}, tag: policy.TagCommitmentRevocationPubkey,
			mutate: func(t *testing.T, _ *chanFixture, c *policy.Commitment, tx *wire.MsgTx, ws [][]byte) {
				i := outputOf(c, policy.OutputToLocal)
				w, _ := input.CommitScriptToSelf(144, c.Keys.OwnerDelayed, fixtureKey("thief", 1).PubKey())
				tx.TxOut[i].PkScript, ws[i] = p2wsh(t, w), w
			}},
		{name: "peer's to_local delay shortened", prefix: []step{first}, last: step{1, 900_000_000, 100_000_000, 1000, nil}, tag: policy.TagCommitmentToSelfDelayRange,
			mutate: func(t *testing.T, _ *chanFixture, c *policy.Commitment, tx *wire.MsgTx, ws [][]byte) {
				i := outputOf(c, policy.OutputToLocal)
				w, _ := input.CommitScriptToSelf(6, c.Keys.OwnerDelayed, c.Keys.Revocation)
				tx.TxOut[i].PkScript, ws[i] = p2wsh(t, w), nil // no hint: the delay is found by trying
			}},
		{name: "outputs out of order", prefix: []step{first}, last: step{1, 900_000_000, 100_000_000, 1000, nil}, tag: policy.TagCommitment,
			mutate: func(_ *testing.T, _ *chanFixture, _ *policy.Commitment, tx *wire.MsgTx, _ [][]byte) {
				tx.TxOut[0], tx.TxOut[1] = tx.TxOut[1], tx.TxOut[0]
			}},
		{name: "too many HTLCs", lim: &policy.Limits{MaxHTLCsPerDirection: 1}, prefix: []step{first},
			last: step{1, 900_000_000, 80_000_000, 1000, []policy.CommitmentHTLC{htlc(true, 10_000, 700), htlc(true, 10_001, 700)}}, tag: policy.TagCommitmentHTLCCountLimit},
		{name: "too much in flight", lim: &policy.Limits{MaxInFlightSat: 9_999}, prefix: []step{first},
			last: step{1, 900_000_000, 90_000_000, 1000, []policy.CommitmentHTLC{htlc(true, 10_000, 700)}}, tag: policy.TagCommitmentHTLCInflightLimit},
		{name: "HTLC output delay shortened", prefix: []step{first},
			last: step{1, 900_000_000, 90_000_000, 1000, []policy.CommitmentHTLC{htlc(true, 10_000, 700)}}, tag: policy.TagHTLCToSelfDelay,
			htlcMutate: func(tx *wire.MsgTx, ws *[]byte) {
				// The same keys, delay 6: rebuild the second-stage script.
				w := append([]byte(nil), (*ws)...)
				for i := 0; i+3 < len(w); i++ {
					if w[i] == 0x02 && w[i+1] == 0x90 && w[i+2] == 0x00 && w[i+3] == 0xb2 { // push 144, OP_CSV
						w = append(append(append([]byte(nil), w[:i]...), 0x56), w[i+3:]...) // OP_6
						break
					}
				}
				pk, _ := input.WitnessScriptHash(w)
				tx.TxOut[0].PkScript, *ws = pk, w
			}},
		{name: "HTLC output's revocation key not ours", prefix: []step{first},
			last: step{1, 900_000_000, 90_000_000, 1000, []policy.CommitmentHTLC{htlc(true, 10_000, 700)}}, tag: policy.TagHTLCRevocationPubkey,
			htlcMutate: func(tx *wire.MsgTx, ws *[]byte) { secondStage(tx, ws, fixtureKey("thief", 2).PubKey(), nil) }},
		{name: "HTLC output's delayed key not the peer's", prefix: []step{first},
			last: step{1, 900_000_000, 90_000_000, 1000, []policy.CommitmentHTLC{htlc(true, 10_000, 700)}}, tag: policy.TagHTLCDelayedPubkey,
			htlcMutate: func(tx *wire.MsgTx, ws *[]byte) { secondStage(tx, ws, nil, fixtureKey("thief", 3).PubKey()) }},
		{name: "HTLC transaction fee", prefix: []step{first},
			last: step{1, 900_000_000, 90_000_000, 1000, []policy.CommitmentHTLC{htlc(true, 10_000, 700)}}, tag: policy.TagHTLCFeeRange,
			htlcMutate: func(tx *wire.MsgTx, _ *[]byte) { tx.TxOut[0].Value -= 1000 }},
		{name: "HTLC transaction of an unknown commitment", prefix: []step{first},
			last: step{1, 900_000_000, 90_000_000, 1000, []policy.CommitmentHTLC{htlc(true, 10_000, 700)}}, tag: policy.TagHTLCOther,
			htlcMutate: func(tx *wire.MsgTx, _ *[]byte) { tx.TxIn[0].PreviousOutPoint.Hash[0] ^= 1 }},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.tag] = true
	}
	for _, tag := range commitmentTags {
		if !covered[tag] {
			t.Errorf("no case for %s", tag)
		}
	}
	for _, tc := range cases {
		for _, warn := range []bool{false, true} {
			if warn && tc.tag == "" {
				continue
			}
			name := tc.name
			if warn {
				name += " (warn)"
			}
			t.Run(name, func(t *testing.T) {
				var opts []signer.Option
				var reported []string
				if tc.lim != nil {
					lim := policy.DefaultLimits
					if tc.lim.MaxHTLCsPerDirection != 0 {
						lim.MaxHTLCsPerDirection = tc.lim.MaxHTLCsPerDirection
					}
					if tc.lim.MaxInFlightSat != 0 {
						lim.MaxInFlightSat = tc.lim.MaxInFlightSat
					}
					opts = append(opts, signer.WithPolicyLimits(lim))
				}
				if warn {
					opts = append(opts, signer.WithPolicyWarn([]string{tc.tag}), signer.WithPolicyReporter(func(_ signer.Client, _ uint16, v *policy.Violation) {
						reported = append(reported, v.Tag)
					}))
				}
				f := newChanFixture(t, tc.anchors, opts...)
				for _, s := range tc.prefix {
					if _, re := f.signRemote(t, f.remoteSpec(s.num, s.ours, s.theirs, s.feerate, s.htlcs...), nil); re != nil {
						t.Fatalf("honest commitment %d refused: %v", s.num, re)
					}
				}
				for _, h := range tc.last.htlcs {
					if !tc.keysend {
						break
					}
					r, re := ask(t, f.e, signer.MasterClient, &hsmproto.PreapproveKeysend{Destination: hsmproto.NodeID(f.channeld.PeerID), PaymentHash: h.PaymentHash, AmountMsat: hsmproto.AmountMsat(h.AmountMsat)})
					if re != nil || !r.(*hsmproto.PreapproveKeysendReply).Approved {
						t.Fatalf("preapprove_keysend: %v", re)
					}
				}
				spec := f.remoteSpec(tc.last.num, tc.last.ours, tc.last.theirs, tc.last.feerate, tc.last.htlcs...)
				var re *signer.RefusalError
				if tc.htlcMutate != nil {
					c, re0 := f.signRemote(t, spec, nil)
					if re0 != nil {
						t.Fatalf("honest commitment %d refused: %v", spec.Num, re0)
					}
					re = f.signRemoteHTLC(t, c, outputOf(c, policy.OutputHTLC), tc.htlcMutate)
				} else {
					_, re = f.signRemote(t, spec, func(tx *wire.MsgTx, ws [][]byte) {
						if tc.mutate != nil {
							c, err := spec.Build()
							if err != nil {
								t.Fatal(err)
							}
							tc.mutate(t, f, c, tx, ws)
						}
					})
				}
				switch {
				case tc.tag == "" || warn:
					if re != nil {
						t.Fatalf("refused: %v", re)
					}
					if warn && (len(reported) != 1 || reported[0] != tc.tag) {
						t.Fatalf("reported %v, want [%s]", reported, tc.tag)
					}
				case re == nil:
					t.Fatalf("signed; want a refusal with %s", tc.tag)
				case re.Tag != tc.tag:
					t.Fatalf("refused with %s (%s), want %s", re.Tag, re.Reason, tc.tag)
				}
			})
		}
	}
}

// commitmentTags are the tags of the commitment and HTLC transaction
// rebuild (TestCommitmentTagsThroughEngine covers each).
var commitmentTags = []string{
	policy.TagCommitment, policy.TagCommitmentInputMatchFunding, policy.TagCommitmentVersion, policy.TagCommitmentLocktime,
	policy.TagCommitmentSequence, policy.TagCommitmentNoUnrecognizedOutputs, policy.TagCommitmentRevocationPubkey,
	policy.TagCommitmentToSelfDelayRange, policy.TagCommitmentInitialFundingValue, policy.TagRoutingDeltasOnlyHTLC,
	policy.TagCommitmentHTLCCountLimit, policy.TagCommitmentHTLCInflightLimit,
	policy.TagHTLCToSelfDelay, policy.TagHTLCRevocationPubkey, policy.TagHTLCDelayedPubkey, policy.TagHTLCFeeRange, policy.TagHTLCOther,
	policy.TagCommitmentHTLCRoutingBalance,
}

// secondStage replaces the HTLC transaction's output script (and its PSBT
// witness script ws) with the second-stage script of another revocation
// key or delayed key (nil: the one in ws), delay 144.
func secondStage(tx *wire.MsgTx, ws *[]byte, rev, delayed *btcec.PublicKey) {
	w := *ws // OP_IF <rev> OP_ELSE <delay> OP_CSV OP_DROP <delayed> OP_ENDIF OP_CHECKSIG
	if rev == nil {
		rev, _ = btcec.ParsePubKey(w[2:35])
	}
	if delayed == nil {
		delayed, _ = btcec.ParsePubKey(w[len(w)-35 : len(w)-2])
	}
	nw, _ := input.SecondLevelHtlcScript(rev, delayed, 144)
	pk, _ := input.WitnessScriptHash(nw)
	tx.TxOut[0].PkScript, *ws = pk, nw
}

// The policy vectors through an engine with state: every honest line of
// both files is answered, and every attack on the rebuild and balance rules
// (e, f, g, m3, u, x, y) is refused with exactly its tag.
func TestCommitmentAttacksOnVectors(t *testing.T) {
	mine := map[string]bool{}
	for _, tag := range commitmentTags {
		mine[tag] = true
	}
	refused := map[string]bool{}
	for _, file := range []string{"benign.jsonl", "attacks.jsonl"} {
		lines, err := replay.ReadFile("../../shared/vectors/policy/" + file)
		if err != nil {
			t.Skipf("policy vectors not available: %v", err)
		}
		_, err = replay.Run(context.Background(), lines, replay.Options{
			Policy: policy.ModeEnforce,
			EngineOptions: func() ([]signer.Option, error) {
				st, err := state.Open(filepath.Join(t.TempDir(), state.FileName))
				if err != nil {
					return nil, err
				}
				t.Cleanup(func() { st.Close() })
				return []signer.Option{signer.WithState(st),
					signer.WithAuthorization(signer.AuthorizationSettings{AutoApproveBelowMsat: 1 << 62, AutoApproveChannelsBelowSat: 1 << 62})}, nil
			},
		}, func(r replay.Result) {
			l := r.Line
			if l.Expect != replay.ExpectReject {
				if r.Err != nil {
					t.Errorf("honest line %s refused: %v", l.Name, r.Err)
				}
				return
			}
			if !mine[l.Policy] {
				return
			}
			var re *signer.RefusalError
			switch {
			case !errors.As(r.Err, &re):
				t.Errorf("%s: answered, want refused with %s", l.Name, l.Policy)
			case re.Tag != l.Policy:
				t.Errorf("%s: refused with %q, want %s", l.Name, re.Tag, l.Policy)
			default:
				refused[l.Policy] = true
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tag := range []string{policy.TagCommitmentInputMatchFunding, policy.TagCommitmentNoUnrecognizedOutputs, policy.TagRoutingDeltasOnlyHTLC,
		policy.TagHTLCToSelfDelay, policy.TagCommitmentInitialFundingValue, policy.TagCommitmentRevocationPubkey, policy.TagCommitmentToSelfDelayRange} {
		if !refused[tag] {
			t.Errorf("no attack refused with %s", tag)
		}
	}
}

// Honest channeld traffic passes the commitment checks: channels of every
// kind (either side funding, anchors or static_remotekey, small and large),
// payments both ways with small (trimmed) HTLCs and failures, a fee spike to
// the 150,000 sat/kw ceiling and back, and every kind of close, all through
// an engine with state and the policy enforced.
func TestHonestTrafficPassesCommitmentChecks(t *testing.T) {
	ctx := context.Background()
	e, _ := statefulEngineWith(t, 0x45)
	init, _ := e.InitReply("bitcoin")
	g, err := traffic.New(init, traffic.EngineSender(e), traffic.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	for i, opts := range []traffic.ChannelOptions{
		{WeFund: true, Anchors: true, CapacitySat: 5_000_000},
		{WeFund: false, Anchors: true, CapacitySat: 5_000_000},
		{WeFund: true, CapacitySat: 5_000_000, FeeRate: 253},
		{WeFund: false, CapacitySat: 5_000_000, FeeRate: 5000},
	} {
		ch, err := g.OpenChannel(ctx, opts)
		if err != nil {
			t.Fatalf("channel %d: open: %v", i, err)
		}
		steps := []func() error{
			func() error { _, err := ch.Pay(ctx, 150_000_000); return err },
			func() error { _, err := ch.Receive(ctx, 40_000_000); return err },
			func() error { _, err := ch.Pay(ctx, 700_000); return err },     // trimmed on some commitments
			func() error { _, err := ch.Receive(ctx, 400_000); return err }, // trimmed on both
			func() error { _, err := ch.PayFailing(ctx, 20_000_000); return err },
			func() error { return ch.UpdateFee(ctx, 150_000) },
			func() error { _, err := ch.Pay(ctx, 3_000_000); return err },
			func() error { _, err := ch.Receive(ctx, 3_000_000); return err },
			func() error { return ch.UpdateFee(ctx, 1000) },
		}
		for j, step := range steps {
			if err := step(); err != nil {
				t.Fatalf("channel %d (%+v), step %d: %v", i, opts, j, err)
			}
		}
		closes := []func(context.Context) error{ch.CloseMutual, ch.ForceClose, ch.CloseRemote, ch.CloseMutual}
		if err := closes[i](ctx); err != nil {
			t.Fatalf("channel %d: close: %v", i, err)
		}
	}
}

// TestForgetDropsRebuiltCommitment: the policy's cache of rebuilt
// commitments holds a channel while it is open and lets go of it at
// forget_channel, so that a daemon running for months does not keep every
// channel it ever checked.
func TestForgetDropsRebuiltCommitment(t *testing.T) {
	ctx := context.Background()
	e, _ := statefulEngine(t, 0x31)
	init, _ := e.InitReply("bitcoin")
	g, err := traffic.New(init, traffic.EngineSender(e), traffic.Options{Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.RunLifecycle(ctx, traffic.Lifecycle{Channel: traffic.ChannelOptions{Anchors: true}, Payments: 2, Close: traffic.CloseNone}); err != nil {
		t.Fatal(err)
	}
	if n := signer.CachedCommitmentChannels(e); n != 1 {
		t.Fatalf("after one channel's payments the cache holds %d channels, want 1", n)
	}
	for _, close := range []traffic.CloseKind{traffic.CloseMutual, traffic.CloseForce} {
		if _, err := g.RunLifecycle(ctx, traffic.Lifecycle{Channel: traffic.ChannelOptions{Anchors: true}, Payments: 2, Close: close}); err != nil {
			t.Fatal(err)
		}
	}
	if n := signer.CachedCommitmentChannels(e); n != 1 {
		t.Fatalf("after two more channels, closed and forgotten, the cache holds %d channels, want the open one", n)
	}
}

// A request may not add option_static_remotekey to a channel whose type
// lacks it: the commitment would be built one way while cached and another
// way once it is not (the check of its HTLC transactions rebuilds it from
// the channel type).
func TestStaticRemotekeyFollowsChannelType(t *testing.T) {
	e, _ := statefulEngineWith(t, 0x33)
	f := newTypedChanFixtureOn(t, e, false, nil) // a channel type without option_static_remotekey
	_, re := f.signRemote(t, f.remoteSpec(0, capSat*1000-pushMsat, pushMsat, 253), nil)
	if re == nil || re.Tag != policy.TagCommitment || !strings.Contains(re.Reason, "option_static_remotekey") {
		t.Fatalf("a static_remotekey commitment of a legacy channel: %v, want refused for its option_static_remotekey", re)
	}
	f = newChanFixture(t, false) // the channel type has it: signed
	if _, re := f.signRemote(t, f.remoteSpec(0, capSat*1000-pushMsat, pushMsat, 253), nil); re != nil {
		t.Fatalf("the same commitment of a static_remotekey channel: %v", re)
	}
}

// engineCachingCommitments is a stateful engine whose rebuild cache holds
// at most channels channels, and a traffic generator driving it.
func engineCachingCommitments(t *testing.T, key byte, channels int, seed uint64) (*signer.Engine, *traffic.Generator) {
	t.Helper()
	e, _ := statefulEngine(t, key)
	signer.LimitCachedCommitmentChannels(e, channels)
	init, _ := e.InitReply("bitcoin")
	g, err := traffic.New(init, traffic.EngineSender(e), traffic.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return e, g
}

// TestRebuiltCommitmentsBounded: the cache holds only the most recently
// updated channels, so a node with many channels does not keep a rebuilt
// commitment for each. (Each HTLC check here follows its own commitment's,
// so it hits; TestRebuiltCommitmentsUncached covers misses.)
func TestRebuiltCommitmentsBounded(t *testing.T) {
	ctx := context.Background()
	e, g := engineCachingCommitments(t, 0x32, 2, 7)
	var chans []*traffic.Channel
	for range 4 {
		ch, err := g.OpenChannel(ctx, traffic.ChannelOptions{Anchors: true})
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	for round := range 2 {
		for i, ch := range chans {
			if _, err := ch.Pay(ctx, 2_000_000); err != nil {
				t.Fatalf("round %d, channel %d: pay: %v", round, i, err)
			}
			if _, err := ch.Receive(ctx, 1_000_000); err != nil {
				t.Fatalf("round %d, channel %d: receive: %v", round, i, err)
			}
		}
	}
	if n := signer.CachedCommitmentChannels(e); n != 2 {
		t.Fatalf("with room for 2 channels, after updating 4 the cache holds %d", n)
	}
}

// With no cache at all, every HTLC transaction's check rebuilds its
// commitment from what the state remembers, and answers as with the cache:
// lifecycles of every channel type and close pass the enforced policy.
func TestRebuiltCommitmentsUncached(t *testing.T) {
	ctx := context.Background()
	e, g := engineCachingCommitments(t, 0x34, 0, 8)
	for i, l := range []traffic.Lifecycle{
		{Channel: traffic.ChannelOptions{WeFund: true, Anchors: true}, Payments: 4, Close: traffic.CloseForce},
		{Channel: traffic.ChannelOptions{}, Payments: 4, Close: traffic.CloseMutual},
		{Channel: traffic.ChannelOptions{Anchors: true}, Payments: 4, Close: traffic.CloseNone},
	} {
		if _, err := g.RunLifecycle(ctx, l); err != nil {
			t.Fatalf("lifecycle %d (%+v): %v", i, l.Channel, err)
		}
	}
	if n := signer.CachedCommitmentChannels(e); n != 0 {
		t.Fatalf("a cache of size 0 holds %d channels", n)
	}
}
