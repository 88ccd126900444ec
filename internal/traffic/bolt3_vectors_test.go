package traffic

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/sharedfiles"
	"gl-signerd/signer/keys"
)

// The commitment and HTLC transactions the generator builds follow BOLT 3
// exactly: rebuilt from the parameters of the policy vectors (whose every
// transaction an independent checker rebuilt byte for byte), they must come
// out identical, scripts, output order, locktime and sequence included.
// Balances are the one input taken from the vector's own outputs.
func TestBOLT3MatchesPolicyVectors(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "vectors", "policy", "benign.jsonl")
	lines, err := LoadVectors(path)
	if errors.Is(err, fs.ErrNotExist) {
		sharedfiles.Missing(t, "%s is absent (the repo is not cloned next to shared/)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := hex.DecodeString(lines[0].Secret)
	ring, err := keys.New(secret)
	if err != nil {
		t.Fatal(err)
	}

	type chanState struct {
		ours, theirs    keyset
		setup           *hsmproto.SetupChannel
		lastRemote      *commitment
		peer            [33]byte
		dbid            uint64
		fundingWs, fund []byte
	}
	chans := map[string]*chanState{}
	checked := map[string]int{}
	for _, v := range lines {
		if v.Expect == "reject" {
			continue
		}
		raw, _ := hex.DecodeString(v.Request)
		m, err := hsmproto.Decode(raw)
		if err != nil {
			continue
		}
		cs := chans[v.Scenario]
		if cs == nil {
			cs = &chanState{}
			chans[v.Scenario] = cs
		}
		switch req := m.(type) {
		case *hsmproto.GetChannelBasepoints:
			resp, _ := hex.DecodeString(*v.Response)
			rm, err := hsmproto.Decode(resp)
			if err != nil {
				t.Fatal(err)
			}
			if cs.ours, err = keysetFrom(rm.(*hsmproto.GetChannelBasepointsReply)); err != nil {
				t.Fatal(err)
			}
			cs.peer, cs.dbid = req.Peerid, req.DBID
		case *hsmproto.SetupChannel:
			cs.setup = req
			k := func(p hsmproto.Pubkey) *btcec.PublicKey {
				key, err := p.Key()
				if err != nil {
					t.Fatal(err)
				}
				return key
			}
			b := req.RemoteBasepoints
			cs.theirs = keyset{funding: k(req.RemoteFundingPubkey), revocation: k(b.Revocation), payment: k(b.Payment), htlc: k(b.Htlc), delayed: k(b.DelayedPayment)}
			if cs.fundingWs, cs.fund, err = fundingOutput(cs.ours.funding, cs.theirs.funding, int64(req.ChannelValue)); err != nil {
				t.Fatal(err)
			}
		case *hsmproto.SignRemoteCommitmentTx:
			point, _ := req.RemotePerCommit.Key()
			c := rebuild(t, v.Label(), cs.setup, cs.ours, cs.theirs, cs.fundingWs, cs.fund, false, req.CommitNum, point, req.Htlcs, req.Feerate, req.Tx)
			cs.lastRemote = c
			checked["sign_remote_commitment_tx"]++
		case *hsmproto.ValidateCommitmentTx:
			ck, err := ring.Channel(cs.peer, cs.dbid)
			if err != nil {
				t.Fatal(err)
			}
			point, err := ck.PerCommitmentPoint(req.CommitNum)
			if err != nil {
				t.Fatal(err)
			}
			rebuild(t, v.Label(), cs.setup, cs.ours, cs.theirs, cs.fundingWs, cs.fund, true, req.CommitNum, point, req.Htlcs, req.Feerate, req.Tx)
			checked["validate_commitment_tx"]++
		case *hsmproto.SignRemoteHtlcTx:
			c := cs.lastRemote
			in := req.Tx.Tx.TxIn[0].PreviousOutPoint
			if c == nil || in.Hash != c.tx.TxHash() {
				t.Fatalf("%s: spends no commitment rebuilt here", v.Label())
			}
			htx, ws := c.htlcTx(int(in.Index))
			if !bytes.Equal(ws, req.Wscript) {
				t.Errorf("%s: HTLC script\n got %x\nwant %x", v.Label(), ws, req.Wscript)
			}
			if got, want := txBytes(t, htx.Tx), txBytes(t, req.Tx.Tx); !bytes.Equal(got, want) {
				t.Errorf("%s: HTLC transaction\n got %x\nwant %x", v.Label(), got, want)
			}
			checked["sign_remote_htlc_tx"]++
		}
	}
	t.Logf("rebuilt byte for byte: %v", checked)
	if checked["sign_remote_commitment_tx"] < 10 || checked["validate_commitment_tx"] < 10 || checked["sign_remote_htlc_tx"] < 5 {
		t.Errorf("too few transactions checked: %v", checked)
	}
}

// rebuild makes the commitment the vector describes and compares it with
// the vector's transaction and PSBT output scripts.
func rebuild(t *testing.T, label string, setup *hsmproto.SetupChannel, ours, theirs keyset, fundingWs, fundingPk []byte,
	holderIsUs bool, n uint64, point *btcec.PublicKey, list []hsmproto.HsmHtlc, feerate uint32, want hsmproto.BitcoinTx) *commitment {
	t.Helper()
	if setup == nil {
		t.Fatalf("%s: no setup_channel before it", label)
	}
	anchors := len(setup.ChannelType.Features) >= 3 && setup.ChannelType.Features[0]&0x40 != 0
	opener, accepter := ours.payment, theirs.payment
	if !setup.IsOutbound {
		opener, accepter = accepter, opener
	}
	s := &commitSpec{
		holderIsUs: holderIsUs, point: point, feerate: feerate, anchors: anchors,
		obscured:   n ^ obscuringFactor(opener, accepter),
		fundingOut: wire.OutPoint{Hash: setup.FundingTxid, Index: uint32(setup.FundingTxout)}, fundingSat: int64(setup.ChannelValue),
		fundingWscript: fundingWs, fundingPk: fundingPk,
	}
	if holderIsUs {
		s.holder, s.other, s.toSelfDelay, s.holderFunds = ours, theirs, setup.RemoteToSelfDelay, setup.IsOutbound
	} else {
		s.holder, s.other, s.toSelfDelay, s.holderFunds = theirs, ours, setup.LocalToSelfDelay, !setup.IsOutbound
	}
	for _, h := range list {
		s.htlcs = append(s.htlcs, &htlc{amountMsat: uint64(h.Amount), hash: h.PaymentHash, cltv: h.CltvExpiry, offeredByUs: h.Side == hsmproto.Local})
	}
	// Balances: from the vector's to_local and to_remote outputs, found by
	// the scripts built here, plus what the funder paid.
	probe := *s
	probe.holderMsat, probe.otherMsat = 1e15, 1e15
	probe.holderFunds = true
	pc, err := probe.build()
	if err != nil {
		t.Fatal(err)
	}
	find := func(kind string) int64 {
		i := pc.output(kind)
		for _, o := range want.Tx.TxOut {
			if bytes.Equal(o.PkScript, pc.outs[i].out.PkScript) {
				return o.Value
			}
		}
		return 0
	}
	local, remote := find("to_local"), find("to_remote")
	untrimmed := 0
	for _, h := range s.htlcs {
		if !s.trimmed(h) {
			untrimmed++
		}
	}
	cost := s.fee(untrimmed)
	if anchors {
		cost += 2 * anchorSat
	}
	if s.holderFunds {
		local += cost
	} else {
		remote += cost
	}
	s.holderMsat, s.otherMsat = uint64(local)*1000, uint64(remote)*1000
	c, err := s.build()
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	if got, w := txBytes(t, c.tx), txBytes(t, want.Tx); !bytes.Equal(got, w) {
		t.Errorf("%s: commitment\n got %x\nwant %x", label, got, w)
		return c
	}
	wantPSBT, err := want.ParsedPSBT()
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	for i, o := range c.outs {
		if ws := wantPSBT.Outputs[i].WitnessScript; !bytes.Equal(o.wscript, ws) {
			t.Errorf("%s: output %d witness script\n got %x\nwant %x", label, i, o.wscript, ws)
		}
	}
	if got := c.htlcList(); len(got) != len(list) {
		t.Errorf("%s: %d HTLCs listed, the vector %d", label, len(got), len(list))
	}
	return c
}

func txBytes(t *testing.T, tx *wire.MsgTx) []byte {
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
