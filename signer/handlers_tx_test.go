package signer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"gl-signerd/signer/policy"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
)

// Tests of the transaction handlers on synthetic requests: every refusal
// path (hsmd's bad requests, and the requests on which hsmd crashes), and
// signatures checked against btcd's signature hashes where the vectors do
// not reach (other sighash types, taproot with a merkle root, libwally's
// version and non-witness rules).

var (
	txPeer     = [33]byte{0x02, 0xaa, 0x55, 7}
	txChanneld = Client{PeerID: txPeer, DBID: 11, Capabilities: CapSignGossip | CapECDH | CapCommitmentPoint |
		CapSignRemoteTx | CapSignOnchainTx | CapSignClosingTx | CapSignSpliceTx | CapLockOutpoint}
	txOnchaind = Client{PeerID: txPeer, DBID: 11, Capabilities: CapSignOnchainTx | CapCommitmentPoint}
)

// txEngine answers as CLN's hsmd does: these tests compare with hsmd, whose
// requests pay foreign scripts (the policy's own tests are policy_*_test.go).
func txEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := NewEngine(bytes.Repeat([]byte{0x42}, 32), WithPolicyMode(policy.ModeOff))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func txHandle(e *Engine, c Client, m hsmproto.Message) ([]byte, error) {
	return e.Handle(context.Background(), c, m.Encode())
}

func txOutPoint(n byte) wire.OutPoint {
	var h chainhash.Hash
	h[0], h[31] = n, 0xee
	return wire.OutPoint{Hash: h, Index: uint32(n)}
}

// chanTx is a bitcoin_tx with nIn inputs and nOut outputs, whose PSBT (over
// the same transaction) gives each input a witness UTXO of amount.
func chanTx(t testing.TB, nIn, nOut int, amount int64) hsmproto.BitcoinTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	for i := range nIn {
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: txOutPoint(byte(i + 1)), Sequence: 0x80000000 + uint32(i)})
	}
	for i := range nOut {
		tx.AddTxOut(wire.NewTxOut(1000+int64(i), append([]byte{0x00, 0x20}, bytes.Repeat([]byte{byte(i)}, 32)...)))
	}
	pkt, err := psbt.NewFromUnsignedTx(tx.Copy())
	if err != nil {
		t.Fatal(err)
	}
	for i := range pkt.Inputs {
		pkt.Inputs[i].WitnessUtxo = wire.NewTxOut(amount, append([]byte{0x00, 0x20}, bytes.Repeat([]byte{0xf0}, 32)...))
	}
	return hsmproto.BitcoinTx{Tx: tx, PSBT: &hsmproto.PSBT{Packet: pkt}}
}

func mustPubkey(t testing.TB, k *btcec.PublicKey) hsmproto.Pubkey { return hsmproto.PubkeyFrom(k) }

func remoteKey(t testing.TB, b byte) *btcec.PublicKey {
	t.Helper()
	k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{b}, 32))
	return k.PubKey()
}

func txRefusal(t *testing.T, err error) *RefusalError {
	t.Helper()
	var re *RefusalError
	if !errors.As(err, &re) {
		t.Fatalf("want a *RefusalError, got %v", err)
	}
	return re
}

// TestTxHandlerRefusals: hsmd's bad requests keep their reason and are
// fatal only on lightningd's connection; requests that crash hsmd are
// refused with Fatal set, never answered.
func TestTxHandlerRefusals(t *testing.T) {
	e := txEngine(t)
	remote := mustPubkey(t, remoteKey(t, 3))
	point := mustPubkey(t, remoteKey(t, 4))
	tx := func(nIn, nOut int) hsmproto.BitcoinTx { return chanTx(t, nIn, nOut, 50_000) }
	noAmount := tx(1, 1)
	noAmount.PSBT.Inputs[0].WitnessUtxo = nil
	badIndex := tx(1, 1)
	badIndex.PSBT.Inputs[0].WitnessUtxo = nil
	badIndex.PSBT.Inputs[0].NonWitnessUtxo = wire.NewMsgTx(2) // the input spends its output 1
	badIndex.PSBT.Inputs[0].NonWitnessUtxo.AddTxIn(&wire.TxIn{PreviousOutPoint: txOutPoint(50)})
	badIndex.PSBT.Inputs[0].NonWitnessUtxo.AddTxOut(wire.NewTxOut(1, []byte{0x51}))
	tooMuch := chanTx(t, 1, 1, maxSatoshi+1)
	bigOutput := tx(1, 2)
	bigOutput.Tx.TxOut[1].Value = maxSatoshi + 1
	fewerPSBTInputs := tx(2, 1)
	short := tx(1, 1)
	fewerPSBTInputs.PSBT = short.PSBT
	var highSecret hsmproto.Secret
	for i := range highSecret {
		highSecret[i] = 0xff
	}
	validSecret := hsmproto.Secret{1}

	cases := []struct {
		name   string
		c      Client
		m      hsmproto.Message
		fatal  bool
		reason string
	}{
		{"remote commitment with 2 inputs", txChanneld, &hsmproto.SignRemoteCommitmentTx{Tx: tx(2, 1), RemoteFundingKey: remote, RemotePerCommit: point}, false, "tx must have 1 input"},
		{"remote commitment without outputs", txChanneld, &hsmproto.SignRemoteCommitmentTx{Tx: tx(1, 0), RemoteFundingKey: remote, RemotePerCommit: point}, false, "tx must have > 0 outputs"},
		{"remote commitment input without amount", txChanneld, &hsmproto.SignRemoteCommitmentTx{Tx: noAmount, RemoteFundingKey: remote, RemotePerCommit: point}, true, "no amount"},
		{"remote commitment non-witness UTXO without the output", txChanneld, &hsmproto.SignRemoteCommitmentTx{Tx: badIndex, RemoteFundingKey: remote, RemotePerCommit: point}, true, "outputs"},
		{"remote commitment spending more than 21M BTC (libwally does not parse it)", txChanneld, &hsmproto.SignRemoteCommitmentTx{Tx: tooMuch, RemoteFundingKey: remote, RemotePerCommit: point}, false, "could not parse request"},
		{"remote commitment with an output above 21M BTC", txChanneld, &hsmproto.SignRemoteCommitmentTx{Tx: bigOutput, RemoteFundingKey: remote, RemotePerCommit: point}, false, "could not parse request"},
		{"validate commitment with an output above 21M BTC", txChanneld, &hsmproto.ValidateCommitmentTx{Tx: bigOutput, CommitNum: 1, Sig: hsmproto.BitcoinSignature{SighashType: 1}}, false, "could not parse request"},
		{"any delayed payment spending more than 21M BTC (master)", MasterClient, &hsmproto.SignAnyDelayedPaymentToUs{CommitNum: 3, Tx: tooMuch, Wscript: []byte{0x51}, Peerid: txPeer, ChannelDBID: 11}, true, "could not parse request"},
		{"our commitment with 2 inputs (master)", MasterClient, &hsmproto.SignCommitmentTx{PeerID: txPeer, ChannelDBID: 11, Tx: tx(2, 1), RemoteFundingKey: remote}, true, "tx must have 1 input"},
		{"our commitment without outputs (master)", MasterClient, &hsmproto.SignCommitmentTx{PeerID: txPeer, ChannelDBID: 11, Tx: tx(1, 0), RemoteFundingKey: remote}, true, "tx must have > 0 outputs"},
		{"remote HTLC tx without outputs", txChanneld, &hsmproto.SignRemoteHtlcTx{Tx: tx(1, 0), Wscript: []byte{0x51}, RemotePerCommitPoint: point}, true, "no outputs"},
		{"mutual close without outputs", txChanneld, &hsmproto.SignMutualCloseTx{Tx: tx(1, 0), RemoteFundingKey: remote}, true, "no outputs"},
		{"mutual close input without amount", txChanneld, &hsmproto.SignMutualCloseTx{Tx: noAmount, RemoteFundingKey: remote}, true, "no amount"},
		{"splice input beyond the transaction", txChanneld, &hsmproto.SignSpliceTx{Tx: tx(2, 1), RemoteFundingKey: remote, InputIndex: 2}, true, ""},
		{"splice input beyond the PSBT", txChanneld, &hsmproto.SignSpliceTx{Tx: fewerPSBTInputs, RemoteFundingKey: remote, InputIndex: 1}, true, "PSBT has no input 1"},
		{"splice input 2^32-1", txChanneld, &hsmproto.SignSpliceTx{Tx: tx(1, 1), RemoteFundingKey: remote, InputIndex: ^uint32(0)}, true, ""},
		{"delayed payment with 2 inputs", txOnchaind, &hsmproto.SignDelayedPaymentToUs{CommitNum: 3, Tx: tx(2, 1), Wscript: []byte{0x51}}, false, "bad txinput count"},
		{"delayed payment beyond the shachain", txOnchaind, &hsmproto.SignDelayedPaymentToUs{CommitNum: 1 << 48, Tx: tx(1, 1), Wscript: []byte{0x51}}, false, "bad per_commitment_point"},
		{"any delayed payment input 1 of 1 (master)", MasterClient, &hsmproto.SignAnyDelayedPaymentToUs{CommitNum: 3, Tx: tx(1, 1), Wscript: []byte{0x51}, Input: 1, Peerid: txPeer, ChannelDBID: 11}, true, "bad input 1 of 1"},
		{"any delayed payment input 1 of 2 (master)", MasterClient, &hsmproto.SignAnyDelayedPaymentToUs{CommitNum: 3, Tx: tx(2, 1), Wscript: []byte{0x51}, Input: 1, Peerid: txPeer, ChannelDBID: 11}, true, "bad txinput count"},
		{"remote HTLC to us with 2 inputs", txOnchaind, &hsmproto.SignRemoteHtlcToUs{RemotePerCommitmentPoint: point, Tx: tx(2, 1), Wscript: []byte{0x51}}, false, "bad txinput count"},
		{"any remote HTLC to us input 5 of 1", MasterClient, &hsmproto.SignAnyRemoteHtlcToUs{RemotePerCommitmentPoint: point, Tx: tx(1, 1), Wscript: []byte{0x51}, Input: 5, Peerid: txPeer, ChannelDBID: 11}, true, "bad input 5 of 1"},
		{"penalty with a zero secret", txChanneld, &hsmproto.SignPenaltyToUs{Tx: tx(1, 1), Wscript: []byte{0x51}}, false, "Failed deriving pubkey"},
		{"penalty with a secret ≥ n", txChanneld, &hsmproto.SignPenaltyToUs{RevocationSecret: highSecret, Tx: tx(1, 1), Wscript: []byte{0x51}}, false, "Failed deriving pubkey"},
		{"penalty with 2 inputs", txChanneld, &hsmproto.SignPenaltyToUs{RevocationSecret: validSecret, Tx: tx(2, 1), Wscript: []byte{0x51}}, false, "bad txinput count"},
		{"any penalty with a zero secret (master)", MasterClient, &hsmproto.SignAnyPenaltyToUs{Tx: tx(1, 1), Wscript: []byte{0x51}, Peerid: txPeer, ChannelDBID: 11}, true, "Failed deriving pubkey"},
		{"any local HTLC tx input 1 of 1", MasterClient, &hsmproto.SignAnyLocalHtlcTx{CommitNum: 2, Tx: tx(1, 1), Wscript: []byte{0x51}, Input: 1, Peerid: txPeer, ChannelDBID: 11}, true, "bad input 1 of 1"},
		{"any local HTLC tx with 2 inputs", MasterClient, &hsmproto.SignAnyLocalHtlcTx{CommitNum: 2, Tx: tx(2, 1), Wscript: []byte{0x51}, Input: 1, Peerid: txPeer, ChannelDBID: 11}, true, "bad txinput count"},
		{"any local HTLC tx beyond the shachain", MasterClient, &hsmproto.SignAnyLocalHtlcTx{CommitNum: 1<<48 + 5, Tx: tx(1, 1), Wscript: []byte{0x51}, Peerid: txPeer, ChannelDBID: 11}, true, "bad per_commitment_point"},
		{"validate commitment 2^48-1 (point n+1 beyond the shachain)", txChanneld, &hsmproto.ValidateCommitmentTx{Tx: tx(1, 1), CommitNum: 1<<48 - 1, Sig: hsmproto.BitcoinSignature{SighashType: 1}}, false, "bad per_commit_point"},
		{"revoke 2^48-2 (point n+2 beyond the shachain)", txChanneld, &hsmproto.RevokeCommitmentTx{CommitNum: 1<<48 - 2}, false, "bad per_commit_point"},
		{"revoke 2^64-1 (point n+2 wraps to 1, secret n beyond)", txChanneld, &hsmproto.RevokeCommitmentTx{CommitNum: ^uint64(0)}, false, "Cannot derive secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := txHandle(e, tc.c, tc.m)
			if err == nil {
				t.Fatalf("answered %x", got)
			}
			re := txRefusal(t, err)
			if re.Fatal != tc.fatal {
				t.Errorf("Fatal = %v, want %v (%v)", re.Fatal, tc.fatal, re)
			}
			if re.MsgType != tc.m.MsgType() {
				t.Errorf("MsgType %d, want %d", re.MsgType, tc.m.MsgType())
			}
			if !strings.Contains(re.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", re.Reason, tc.reason)
			}
			// Amounts libwally does not parse: hsmproto refuses them.
			if strings.Contains(tc.name, "21M") && !strings.Contains(re.Error(), "above 21 million BTC") {
				t.Errorf("refusal %q does not say why", re)
			}
		})
	}
}

// TestCommitmentSecretsAndPoints: validate_commitment_tx returns point n+1 and
// no secret; revoke_commitment_tx returns secret n and point n+2. hsmd
// adds in u64, so n = 2^64-1 validates with point 0.
func TestCommitmentSecretsAndPoints(t *testing.T) {
	e := txEngine(t)
	ck, err := e.ring.Channel(txChanneld.PeerID, txChanneld.DBID)
	if err != nil {
		t.Fatal(err)
	}
	pointOf := func(n uint64) hsmproto.Pubkey {
		p, err := ck.PerCommitmentPoint(n)
		if err != nil {
			t.Fatal(err)
		}
		return hsmproto.PubkeyFrom(p)
	}
	for _, n := range []uint64{0, 5, 1<<48 - 2, ^uint64(0)} {
		raw, err := txHandle(e, txChanneld, &hsmproto.ValidateCommitmentTx{Tx: chanTx(t, 1, 1, 1000), CommitNum: n, Sig: hsmproto.BitcoinSignature{SighashType: 1}})
		if err != nil {
			t.Fatalf("validate %d: %v", n, err)
		}
		want := (&hsmproto.ValidateCommitmentTxReply{NextPerCommitmentPoint: pointOf(n + 1)}).Encode()
		if !bytes.Equal(raw, want) {
			t.Errorf("validate %d: got %x want %x", n, raw, want)
		}
	}
	for _, n := range []uint64{0, 7, 1<<48 - 3} {
		raw, err := txHandle(e, txChanneld, &hsmproto.RevokeCommitmentTx{CommitNum: n})
		if err != nil {
			t.Fatalf("revoke %d: %v", n, err)
		}
		s, _ := ck.PerCommitmentSecret(n)
		want := (&hsmproto.RevokeCommitmentTxReply{OldCommitmentSecret: hsmproto.Secret(s), NextPerCommitmentPoint: pointOf(n + 2)}).Encode()
		if !bytes.Equal(raw, want) {
			t.Errorf("revoke %d: got %x want %x", n, raw, want)
		}
	}
}

// verifyChannelSig checks a sign_tx_reply against btcd's BIP143 hash.
func verifyChannelSig(t *testing.T, raw []byte, btx hsmproto.BitcoinTx, in int, script []byte, pub *btcec.PublicKey, wantType uint8) {
	t.Helper()
	m, err := hsmproto.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	var bs hsmproto.BitcoinSignature
	switch r := m.(type) {
	case *hsmproto.SignTxReply:
		bs = r.Sig
	case *hsmproto.SignCommitmentTxReply:
		bs = r.Sig
	default:
		t.Fatalf("reply %T", m)
	}
	if bs.SighashType != wantType {
		t.Errorf("sighash type %#x, want %#x", bs.SighashType, wantType)
	}
	amount := btx.PSBT.Inputs[in].WitnessUtxo.Value
	fetcher := txscript.NewCannedPrevOutputFetcher(btx.PSBT.Inputs[in].WitnessUtxo.PkScript, amount)
	h, err := txscript.CalcWitnessSigHash(script, txscript.NewTxSigHashes(btx.Tx, fetcher), txscript.SigHashType(bs.SighashType), btx.Tx, in, amount)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := keys.ParseCompactSig(bs.Sig[:])
	if err != nil {
		t.Fatal(err)
	}
	if !sig.Verify(h, pub) {
		t.Error("signature does not verify")
	}
	if bs.Sig[0] >= 0x80 {
		t.Error("signature R is not low (CLN grinds)")
	}
}

// TestChannelTxSignatures: which key, script and sighash each channel
// handler signs with, checked against btcd.
func TestChannelTxSignatures(t *testing.T) {
	e := txEngine(t)
	ck, err := e.ring.Channel(txPeer, 11)
	if err != nil {
		t.Fatal(err)
	}
	remote := remoteKey(t, 3)
	remotePoint := remoteKey(t, 4)
	funding := fundingScript(ck.FundingPubKey().SerializeCompressed(), remote.SerializeCompressed())
	htlcKey := func(p *btcec.PublicKey) *btcec.PublicKey {
		k, err := ck.HTLCKey(p)
		if err != nil {
			t.Fatal(err)
		}
		return k.PubKey()
	}
	ourPoint := func(n uint64) *btcec.PublicKey {
		p, err := ck.PerCommitmentPoint(n)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	delayed, err := ck.DelayedPaymentKey(ourPoint(9))
	if err != nil {
		t.Fatal(err)
	}
	revSecret := keys.Secret{9, 9, 9}
	revKey, err := ck.RevocationKey(revSecret)
	if err != nil {
		t.Fatal(err)
	}
	ws := []byte{0x63, 0x51, 0x67, 0x52, 0x68} // any witness script: hsmd signs what it is given

	t.Run("remote commitment", func(t *testing.T) {
		btx := chanTx(t, 1, 3, 1_000_000)
		raw, err := txHandle(e, txChanneld, &hsmproto.SignRemoteCommitmentTx{Tx: btx, RemoteFundingKey: hsmproto.PubkeyFrom(remote), RemotePerCommit: hsmproto.PubkeyFrom(remotePoint), CommitNum: 4, Feerate: 253})
		if err != nil {
			t.Fatal(err)
		}
		verifyChannelSig(t, raw, btx, 0, funding, ck.FundingPubKey(), 1)
	})
	t.Run("our commitment (master names the channel)", func(t *testing.T) {
		btx := chanTx(t, 1, 2, 1_000_000)
		raw, err := txHandle(e, MasterClient, &hsmproto.SignCommitmentTx{PeerID: txPeer, ChannelDBID: 11, Tx: btx, RemoteFundingKey: hsmproto.PubkeyFrom(remote), CommitNum: 4})
		if err != nil {
			t.Fatal(err)
		}
		verifyChannelSig(t, raw, btx, 0, funding, ck.FundingPubKey(), 1)
	})
	t.Run("mutual close signs input 0 of several", func(t *testing.T) {
		btx := chanTx(t, 2, 2, 1_000_000)
		raw, err := txHandle(e, txChanneld, &hsmproto.SignMutualCloseTx{Tx: btx, RemoteFundingKey: hsmproto.PubkeyFrom(remote)})
		if err != nil {
			t.Fatal(err)
		}
		verifyChannelSig(t, raw, btx, 0, funding, ck.FundingPubKey(), 1)
	})
	t.Run("splice input 2", func(t *testing.T) {
		btx := chanTx(t, 3, 2, 1_000_000)
		btx.PSBT.Inputs[2].WitnessUtxo.Value = 777_777
		raw, err := txHandle(e, txChanneld, &hsmproto.SignSpliceTx{Tx: btx, RemoteFundingKey: hsmproto.PubkeyFrom(remote), InputIndex: 2})
		if err != nil {
			t.Fatal(err)
		}
		verifyChannelSig(t, raw, btx, 2, funding, ck.FundingPubKey(), 1)
	})
	for _, anchors := range []bool{false, true} {
		want := uint8(1)
		if anchors {
			want = 0x83
		}
		t.Run("remote HTLC tx", func(t *testing.T) {
			btx := chanTx(t, 1, 1, 5000)
			raw, err := txHandle(e, txChanneld, &hsmproto.SignRemoteHtlcTx{Tx: btx, Wscript: ws, RemotePerCommitPoint: hsmproto.PubkeyFrom(remotePoint), OptionAnchorOutputs: anchors})
			if err != nil {
				t.Fatal(err)
			}
			verifyChannelSig(t, raw, btx, 0, ws, htlcKey(remotePoint), want)
		})
		t.Run("remote HTLC to us", func(t *testing.T) {
			btx := chanTx(t, 1, 1, 5000)
			raw, err := txHandle(e, txOnchaind, &hsmproto.SignRemoteHtlcToUs{RemotePerCommitmentPoint: hsmproto.PubkeyFrom(remotePoint), Tx: btx, Wscript: ws, OptionAnchorOutputs: anchors})
			if err != nil {
				t.Fatal(err)
			}
			verifyChannelSig(t, raw, btx, 0, ws, htlcKey(remotePoint), want)
		})
		t.Run("any remote HTLC to us", func(t *testing.T) {
			btx := chanTx(t, 1, 1, 5000)
			raw, err := txHandle(e, MasterClient, &hsmproto.SignAnyRemoteHtlcToUs{RemotePerCommitmentPoint: hsmproto.PubkeyFrom(remotePoint), Tx: btx, Wscript: ws, OptionAnchorOutputs: anchors, Peerid: txPeer, ChannelDBID: 11})
			if err != nil {
				t.Fatal(err)
			}
			verifyChannelSig(t, raw, btx, 0, ws, htlcKey(remotePoint), want)
		})
		t.Run("any local HTLC tx", func(t *testing.T) {
			btx := chanTx(t, 1, 1, 5000)
			raw, err := txHandle(e, MasterClient, &hsmproto.SignAnyLocalHtlcTx{CommitNum: 6, Tx: btx, Wscript: ws, OptionAnchorOutputs: anchors, Peerid: txPeer, ChannelDBID: 11})
			if err != nil {
				t.Fatal(err)
			}
			verifyChannelSig(t, raw, btx, 0, ws, htlcKey(ourPoint(6)), want)
		})
	}
	t.Run("delayed payment to us", func(t *testing.T) {
		btx := chanTx(t, 1, 1, 5000)
		raw, err := txHandle(e, txOnchaind, &hsmproto.SignDelayedPaymentToUs{CommitNum: 9, Tx: btx, Wscript: ws})
		if err != nil {
			t.Fatal(err)
		}
		verifyChannelSig(t, raw, btx, 0, ws, delayed.PubKey(), 1)
	})
	t.Run("any delayed payment to us", func(t *testing.T) {
		btx := chanTx(t, 1, 1, 5000)
		raw, err := txHandle(e, MasterClient, &hsmproto.SignAnyDelayedPaymentToUs{CommitNum: 9, Tx: btx, Wscript: ws, Peerid: txPeer, ChannelDBID: 11})
		if err != nil {
			t.Fatal(err)
		}
		verifyChannelSig(t, raw, btx, 0, ws, delayed.PubKey(), 1)
	})
	t.Run("penalty to us", func(t *testing.T) {
		btx := chanTx(t, 1, 1, 5000)
		raw, err := txHandle(e, txChanneld, &hsmproto.SignPenaltyToUs{RevocationSecret: hsmproto.Secret(revSecret), Tx: btx, Wscript: ws})
		if err != nil {
			t.Fatal(err)
		}
		verifyChannelSig(t, raw, btx, 0, ws, revKey.PubKey(), 1)
	})
	t.Run("any penalty to us", func(t *testing.T) {
		btx := chanTx(t, 1, 1, 5000)
		raw, err := txHandle(e, MasterClient, &hsmproto.SignAnyPenaltyToUs{RevocationSecret: hsmproto.Secret(revSecret), Tx: btx, Wscript: ws, Peerid: txPeer, ChannelDBID: 11})
		if err != nil {
			t.Fatal(err)
		}
		verifyChannelSig(t, raw, btx, 0, ws, revKey.PubKey(), 1)
	})
	t.Run("the amount comes from the PSBT's non-witness UTXO", func(t *testing.T) {
		btx := chanTx(t, 1, 1, 5000)
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: txOutPoint(51)})
		prev.AddTxOut(wire.NewTxOut(1, nil))
		prev.AddTxOut(wire.NewTxOut(1, nil))
		prev.AddTxOut(wire.NewTxOut(123_456, []byte{0x51}))
		btx.PSBT.Inputs[0].WitnessUtxo = nil
		btx.PSBT.Inputs[0].NonWitnessUtxo = prev
		btx.PSBT.UnsignedTx.TxIn[0].PreviousOutPoint.Index = 2
		raw, err := txHandle(e, txOnchaind, &hsmproto.SignDelayedPaymentToUs{CommitNum: 9, Tx: btx, Wscript: ws})
		if err != nil {
			t.Fatal(err)
		}
		btx.PSBT.Inputs[0].WitnessUtxo = prev.TxOut[2] // for verifyChannelSig
		verifyChannelSig(t, raw, btx, 0, ws, delayed.PubKey(), 1)
	})
}

// withdrawal builds a sign_withdrawal for wallet keys at the given indexes,
// each spent by one input (P2WPKH, or P2TR when taproot[i]).
type walletInput struct {
	index   uint32
	taproot bool
	amount  int64
}

func withdrawal(t testing.TB, e *Engine, ins []walletInput) *hsmproto.SignWithdrawal {
	t.Helper()
	tx := wire.NewMsgTx(2)
	req := &hsmproto.SignWithdrawal{}
	for i, w := range ins {
		pub, err := e.ring.WalletPubKey(w.index)
		if err != nil {
			t.Fatal(err)
		}
		script := append([]byte{0x00, 20}, btcutil.Hash160(pub.SerializeCompressed())...)
		if w.taproot {
			script = append([]byte{0x51, 32}, schnorr.SerializePubKey(txscript.ComputeTaprootKeyNoScript(pub))...)
		}
		op := txOutPoint(byte(i + 10))
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: op, Sequence: 0xfffffffd})
		req.Inputs = append(req.Inputs, hsmproto.HsmUtxo{Txid: op.Hash, Outnum: op.Index, Amount: hsmproto.AmountSat(w.amount), Keyindex: w.index, ScriptPubkey: script})
	}
	tx.AddTxOut(wire.NewTxOut(10_000, append([]byte{0x00, 20}, bytes.Repeat([]byte{1}, 20)...)))
	tx.LockTime = 800_000
	pkt, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range req.Inputs {
		pkt.Inputs[i].WitnessUtxo = wire.NewTxOut(int64(u.Amount), u.ScriptPubkey)
	}
	req.Psbt = &hsmproto.PSBT{Packet: pkt}
	return req
}

// signPSBTReply sends req from lightningd and returns the reply's PSBT.
func signPSBTReply(t *testing.T, e *Engine, req hsmproto.Message) *psbt.Packet {
	t.Helper()
	raw, err := txHandle(e, MasterClient, req)
	if err != nil {
		t.Fatal(err)
	}
	m, err := hsmproto.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	switch r := m.(type) {
	case *hsmproto.SignWithdrawalReply:
		return r.Psbt.Packet
	case *hsmproto.SignAnchorspendReply:
		return r.Psbt.Packet
	case *hsmproto.SignHtlcTxMingleReply:
		return r.Psbt.Packet
	}
	t.Fatalf("reply %T", m)
	return nil
}

func prevFetcher(p *psbt.Packet) *txscript.MultiPrevOutFetcher {
	f := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range p.Inputs {
		if in.WitnessUtxo != nil {
			f.AddPrevOut(p.UnsignedTx.TxIn[i].PreviousOutPoint, in.WitnessUtxo)
		}
	}
	return f
}

// checkECDSAInput checks input i's one partial signature by pub over the
// BIP143 hash of script (and the derivation hsmd adds).
func checkECDSAInput(t *testing.T, p *psbt.Packet, i int, pub *btcec.PublicKey, script []byte) {
	t.Helper()
	in := p.Inputs[i]
	comp := pub.SerializeCompressed()
	if len(in.PartialSigs) != 1 || !bytes.Equal(in.PartialSigs[0].PubKey, comp) {
		t.Fatalf("input %d: want one partial signature by %x, got %d", i, comp, len(in.PartialSigs))
	}
	checkDerivation(t, in.Bip32Derivation, comp)
	s := in.PartialSigs[0].Signature
	ht := txscript.SigHashType(s[len(s)-1])
	f := prevFetcher(p)
	h, err := txscript.CalcWitnessSigHash(script, txscript.NewTxSigHashes(p.UnsignedTx, f), ht, p.UnsignedTx, i, in.WitnessUtxo.Value)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ecdsa.ParseDERSignature(s[:len(s)-1])
	if err != nil {
		t.Fatal(err)
	}
	if !sig.Verify(h, pub) {
		t.Errorf("input %d: signature does not verify", i)
	}
}

func checkDerivation(t *testing.T, ds []*psbt.Bip32Derivation, comp []byte) {
	t.Helper()
	fp := binary.LittleEndian.Uint32(btcutil.Hash160(comp)[:4])
	for _, d := range ds {
		if bytes.Equal(d.PubKey, comp) {
			if d.MasterKeyFingerprint != fp || len(d.Bip32Path) != 1 || d.Bip32Path[0] != 0 {
				t.Errorf("derivation of %x: fingerprint %08x path %v, want %08x [0]", comp, d.MasterKeyFingerprint, d.Bip32Path, fp)
			}
			return
		}
	}
	t.Errorf("no derivation of %x", comp)
}

// checkTaprootInput checks input i's key-path signature against the
// output key of pub (with the PSBT's merkle root).
func checkTaprootInput(t *testing.T, p *psbt.Packet, i int, pub *btcec.PublicKey) {
	t.Helper()
	in := p.Inputs[i]
	if len(in.TaprootKeySpendSig) != 64 && len(in.TaprootKeySpendSig) != 65 {
		t.Fatalf("input %d: taproot signature of %d bytes", i, len(in.TaprootKeySpendSig))
	}
	x := schnorr.SerializePubKey(pub)
	if len(in.TaprootBip32Derivation) != 1 || !bytes.Equal(in.TaprootBip32Derivation[0].XOnlyPubKey, x) ||
		in.TaprootBip32Derivation[0].MasterKeyFingerprint != binary.LittleEndian.Uint32(btcutil.Hash160(pub.SerializeCompressed())[:4]) {
		t.Errorf("input %d: taproot derivation %+v", i, in.TaprootBip32Derivation)
	}
	ht := txscript.SigHashDefault
	if len(in.TaprootKeySpendSig) == 65 {
		ht = txscript.SigHashType(in.TaprootKeySpendSig[64])
	}
	f := prevFetcher(p)
	h, err := txscript.CalcTaprootSignatureHash(txscript.NewTxSigHashes(p.UnsignedTx, f), ht, p.UnsignedTx, i, f)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := schnorr.ParseSignature(in.TaprootKeySpendSig[:64])
	if err != nil {
		t.Fatal(err)
	}
	if !sig.Verify(h, txscript.ComputeTaprootOutputKey(pub, in.TaprootMerkleRoot)) {
		t.Errorf("input %d: taproot signature does not verify", i)
	}
}

func TestSignWithdrawal(t *testing.T) {
	e := txEngine(t)
	pub := func(i uint32) *btcec.PublicKey {
		p, err := e.ring.WalletPubKey(i)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p2pkhOf := func(k *btcec.PublicKey) []byte { return p2pkh(btcutil.Hash160(k.SerializeCompressed())) }

	t.Run("p2wpkh and p2tr", func(t *testing.T) {
		req := withdrawal(t, e, []walletInput{{3, false, 40_000}, {4, true, 50_000}, {5, false, 60_000}})
		p := signPSBTReply(t, e, req)
		checkECDSAInput(t, p, 0, pub(3), p2pkhOf(pub(3)))
		checkTaprootInput(t, p, 1, pub(4))
		if len(p.Inputs[1].TaprootKeySpendSig) != 64 {
			t.Error("SIGHASH_DEFAULT taproot signature is not 64 bytes")
		}
		checkECDSAInput(t, p, 2, pub(5), p2pkhOf(pub(5)))
	})
	t.Run("the PSBT's sighash types", func(t *testing.T) {
		req := withdrawal(t, e, []walletInput{{4, true, 50_000}, {3, false, 40_000}})
		req.Psbt.Inputs[0].SighashType = txscript.SigHashSingle | txscript.SigHashAnyOneCanPay
		req.Psbt.Inputs[1].SighashType = txscript.SigHashNone
		p := signPSBTReply(t, e, req)
		if s := p.Inputs[1].PartialSigs[0].Signature; s[len(s)-1] != 0x02 {
			t.Errorf("sighash byte %#x, want 0x02", s[len(s)-1])
		}
		checkECDSAInput(t, p, 1, pub(3), p2pkhOf(pub(3)))
		if s := p.Inputs[0].TaprootKeySpendSig; len(s) != 65 || s[64] != 0x83 {
			t.Errorf("taproot signature %x, want 65 bytes ending 0x83", s)
		}
		checkTaprootInput(t, p, 0, pub(4))
	})
	t.Run("taproot merkle root", func(t *testing.T) {
		req := withdrawal(t, e, []walletInput{{8, true, 50_000}})
		root := bytes.Repeat([]byte{0x5a}, 32)
		out := txscript.ComputeTaprootOutputKey(pub(8), root)
		script := append([]byte{0x51, 32}, schnorr.SerializePubKey(out)...)
		req.Inputs[0].ScriptPubkey = script
		req.Psbt.Inputs[0].WitnessUtxo.PkScript = script
		req.Psbt.Inputs[0].TaprootMerkleRoot = root
		p := signPSBTReply(t, e, req)
		checkTaprootInput(t, p, 0, pub(8))
	})
	t.Run("version 1 becomes 2 (CLN's v2 round trip)", func(t *testing.T) {
		req := withdrawal(t, e, []walletInput{{3, false, 40_000}})
		req.Psbt.UnsignedTx.Version = 1
		p := signPSBTReply(t, e, req)
		if p.UnsignedTx.Version != 2 {
			t.Fatalf("reply version %d", p.UnsignedTx.Version)
		}
		checkECDSAInput(t, p, 0, pub(3), p2pkhOf(pub(3)))
	})
	t.Run("an input not listed but naming our key is signed too", func(t *testing.T) {
		req := withdrawal(t, e, []walletInput{{3, false, 40_000}, {3, false, 41_000}})
		comp := pub(3).SerializeCompressed()
		req.Inputs = req.Inputs[:1]
		req.Psbt.Inputs[1].Bip32Derivation = []*psbt.Bip32Derivation{{PubKey: comp, MasterKeyFingerprint: 0x01020304, Bip32Path: []uint32{0, 3}}}
		p := signPSBTReply(t, e, req)
		checkECDSAInput(t, p, 0, pub(3), p2pkhOf(pub(3)))
		if len(p.Inputs[1].PartialSigs) != 1 {
			t.Fatal("wally_psbt_sign signs every input naming the key")
		}
		if d := p.Inputs[1].Bip32Derivation; len(d) != 1 || d[0].MasterKeyFingerprint != 0x01020304 {
			t.Error("lightningd's own derivation must be kept, not replaced")
		}
	})
	t.Run("a listed UTXO twice signs once", func(t *testing.T) {
		req := withdrawal(t, e, []walletInput{{3, false, 40_000}})
		req.Inputs = append(req.Inputs, req.Inputs[0])
		p := signPSBTReply(t, e, req)
		checkECDSAInput(t, p, 0, pub(3), p2pkhOf(pub(3)))
		if len(p.Inputs[0].Bip32Derivation) != 1 {
			t.Error("duplicate derivation")
		}
	})
	t.Run("non-witness UTXO only: libwally's pre-segwit hash", func(t *testing.T) {
		req := withdrawal(t, e, []walletInput{{3, false, 40_000}})
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: txOutPoint(99)})
		for range 11 {
			prev.AddTxOut(req.Psbt.Inputs[0].WitnessUtxo)
		}
		req.Psbt.Inputs[0].WitnessUtxo = nil
		req.Psbt.Inputs[0].NonWitnessUtxo = prev
		req.Psbt.UnsignedTx.TxIn[0].PreviousOutPoint = wire.OutPoint{Hash: prev.TxHash(), Index: 10}
		req.Inputs[0].Txid, req.Inputs[0].Outnum = prev.TxHash(), 10
		p := signPSBTReply(t, e, req)
		s := p.Inputs[0].PartialSigs[0].Signature
		h, err := txscript.CalcSignatureHash(req.Inputs[0].ScriptPubkey, txscript.SigHashAll, p.UnsignedTx, 0)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ecdsa.ParseDERSignature(s[:len(s)-1])
		if err != nil {
			t.Fatal(err)
		}
		if !sig.Verify(h, pub(3)) {
			t.Error("not the pre-segwit hash of the scriptPubKey")
		}
	})
	t.Run("no inputs, no PSBT: an empty PSBT", func(t *testing.T) {
		raw, err := txHandle(e, MasterClient, &hsmproto.SignWithdrawal{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, []byte{0x00, 0x6b, 0, 0, 0, 0}) {
			t.Errorf("got %x", raw)
		}
	})
	t.Run("anchors close_info: witness script and P2WSH UTXO", func(t *testing.T) {
		peer := [33]byte{0x03, 9}
		ck, err := e.ring.Channel(peer, 77)
		if err != nil {
			t.Fatal(err)
		}
		k, err := ck.UnilateralCloseKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, csv := range []uint32{1, 16, 17, 0x7f, 0x80, 0x7fff} {
			ws, err := toRemoteAnchoredScript(k.PubKey(), csv)
			if err != nil {
				t.Fatal(err)
			}
			// Bitcoin's own minimal encoding of the CSV.
			want, _ := txscript.NewScriptBuilder().AddData(k.PubKey().SerializeCompressed()).AddOp(txscript.OP_CHECKSIGVERIFY).
				AddInt64(int64(csv)).AddOp(txscript.OP_CHECKSEQUENCEVERIFY).Script()
			if !bytes.Equal(ws, want) {
				t.Fatalf("csv %d: script %x, want %x", csv, ws, want)
			}
			req := withdrawal(t, e, []walletInput{{3, false, 40_000}})
			req.Inputs[0].CloseInfo = &hsmproto.UnilateralCloseInfo{ChannelID: 77, PeerID: hsmproto.NodeID(peer), OptionAnchors: true, Csv: csv}
			req.Inputs[0].ScriptPubkey = p2wsh(ws)
			req.Psbt.Inputs[0].WitnessUtxo = wire.NewTxOut(1, []byte{0x51}) // hsmd replaces it
			p := signPSBTReply(t, e, req)
			in := p.Inputs[0]
			if !bytes.Equal(in.WitnessScript, ws) || in.WitnessUtxo.Value != 40_000 || !bytes.Equal(in.WitnessUtxo.PkScript, p2wsh(ws)) {
				t.Fatalf("csv %d: witness script %x, UTXO %v", csv, in.WitnessScript, in.WitnessUtxo)
			}
			checkECDSAInput(t, p, 0, k.PubKey(), ws)
		}
	})
	t.Run("legacy close_info: the key at the commitment point", func(t *testing.T) {
		peer := [33]byte{0x03, 9}
		ck, err := e.ring.Channel(peer, 78)
		if err != nil {
			t.Fatal(err)
		}
		point := remoteKey(t, 5)
		k, err := ck.UnilateralCloseKey(point)
		if err != nil {
			t.Fatal(err)
		}
		req := withdrawal(t, e, []walletInput{{3, false, 40_000}})
		pk := hsmproto.PubkeyFrom(point)
		req.Inputs[0].CloseInfo = &hsmproto.UnilateralCloseInfo{ChannelID: 78, PeerID: hsmproto.NodeID(peer), CommitmentPoint: &pk}
		script := append([]byte{0x00, 20}, btcutil.Hash160(k.PubKey().SerializeCompressed())...)
		req.Inputs[0].ScriptPubkey = script
		req.Psbt.Inputs[0].WitnessUtxo.PkScript = script
		p := signPSBTReply(t, e, req)
		checkECDSAInput(t, p, 0, k.PubKey(), p2pkhOf(k.PubKey()))
	})
	t.Run("anchorspend signs the anchor with the funding key", func(t *testing.T) {
		peer := [33]byte{0x02, 0x33}
		ck, err := e.ring.Channel(peer, 5)
		if err != nil {
			t.Fatal(err)
		}
		w := withdrawal(t, e, []walletInput{{3, false, 40_000}, {0, false, 330}})
		fund := ck.FundingPubKey()
		anchorWS := []byte{0x21}
		anchorWS = append(anchorWS, fund.SerializeCompressed()...)
		anchorWS = append(anchorWS, 0xac, 0x73, 0x64, 0x60, 0xb2, 0x68)
		a := &w.Psbt.Inputs[1]
		a.WitnessUtxo = wire.NewTxOut(330, p2wsh(anchorWS))
		a.WitnessScript = anchorWS
		a.Bip32Derivation = []*psbt.Bip32Derivation{{PubKey: fund.SerializeCompressed(), MasterKeyFingerprint: 1, Bip32Path: []uint32{0}}}
		req := &hsmproto.SignAnchorspend{Peerid: peer, ChannelDBID: 5, Inputs: w.Inputs[:1], Psbt: w.Psbt}
		p := signPSBTReply(t, e, req)
		checkECDSAInput(t, p, 0, pub(3), p2pkhOf(pub(3)))
		if len(p.Inputs[1].PartialSigs) != 1 {
			t.Fatal("anchor input not signed")
		}
		p.Inputs[1].Bip32Derivation[0].MasterKeyFingerprint = binary.LittleEndian.Uint32(btcutil.Hash160(fund.SerializeCompressed())[:4])
		checkECDSAInput(t, p, 1, fund, anchorWS)
	})
}

// TestSignWithdrawalRefusals: where libwally fails or CLN asserts or
// dereferences NULL, hsmd dies; the engine refuses with Fatal set.
func TestSignWithdrawalRefusals(t *testing.T) {
	e := txEngine(t)
	cases := []struct {
		name   string
		mutate func(r *hsmproto.SignWithdrawal)
		reason string
	}{
		{"inputs and a zero-length PSBT", func(r *hsmproto.SignWithdrawal) { r.Psbt = nil }, "zero-length PSBT"},
		{"hardened key index", func(r *hsmproto.SignWithdrawal) { r.Inputs[0].Keyindex = 1 << 31 }, "BIP32 index"},
		{"input without UTXO", func(r *hsmproto.SignWithdrawal) { r.Psbt.Inputs[0].WitnessUtxo = nil }, "no previous output"},
		{"sighash ANYPREVOUT", func(r *hsmproto.SignWithdrawal) { r.Psbt.Inputs[0].SighashType = 0x41 }, "sighash type"},
		{"sighash above a byte", func(r *hsmproto.SignWithdrawal) { r.Psbt.Inputs[0].SighashType = 0x101 }, "sighash type"},
		{"no outputs", func(r *hsmproto.SignWithdrawal) {
			r.Psbt.UnsignedTx.TxOut = nil
			r.Psbt.Outputs = nil
		}, "no outputs"},
		{"P2WSH without witness script", func(r *hsmproto.SignWithdrawal) {
			r.Inputs[0].ScriptPubkey = p2wsh([]byte{0x51})
			r.Psbt.Inputs[0].WitnessUtxo.PkScript = p2wsh([]byte{0x51})
		}, "witness script"},
		{"unknown script type", func(r *hsmproto.SignWithdrawal) { r.Psbt.Inputs[0].WitnessUtxo.PkScript = []byte{0x6a, 0x01, 0x02} }, "cannot sign"},
		{"hsm_utxo says P2WPKH, the PSBT P2TR", func(r *hsmproto.SignWithdrawal) {
			r.Psbt.Inputs[0].WitnessUtxo.PkScript = append([]byte{0x51, 32}, bytes.Repeat([]byte{1}, 32)...)
		}, "non-taproot"},
		{"hsm_utxo says P2TR, the PSBT P2WPKH", func(r *hsmproto.SignWithdrawal) {
			r.Inputs[0].ScriptPubkey = append([]byte{0x51, 32}, bytes.Repeat([]byte{1}, 32)...)
		}, "taproot derivation on a non-taproot"},
		{"taproot UTXO listed twice", func(r *hsmproto.SignWithdrawal) {
			r.Inputs[0].ScriptPubkey = append([]byte{0x51, 32}, bytes.Repeat([]byte{1}, 32)...)
			r.Psbt.Inputs[0].WitnessUtxo.PkScript = r.Inputs[0].ScriptPubkey
			r.Inputs = append(r.Inputs, r.Inputs[0])
		}, "taproot derivation"},
		{"taproot with another input's UTXO missing", func(r *hsmproto.SignWithdrawal) {
			r.Inputs[0].ScriptPubkey = append([]byte{0x51, 32}, bytes.Repeat([]byte{1}, 32)...)
			r.Psbt.Inputs[0].WitnessUtxo.PkScript = r.Inputs[0].ScriptPubkey
			r.Psbt.Inputs[1].WitnessUtxo = nil
		}, "taproot signature hash needs"},
		{"anchors close_info csv 2^15", func(r *hsmproto.SignWithdrawal) {
			r.Inputs[0].CloseInfo = &hsmproto.UnilateralCloseInfo{ChannelID: 1, PeerID: hsmproto.NodeID(txPeer), OptionAnchors: true, Csv: 0x8000}
		}, "csv"},
		{"anchors close_info over 21M BTC", func(r *hsmproto.SignWithdrawal) {
			r.Inputs[0].CloseInfo = &hsmproto.UnilateralCloseInfo{ChannelID: 1, PeerID: hsmproto.NodeID(txPeer), OptionAnchors: true, Csv: 1}
			r.Inputs[0].Amount = maxSatoshi + 1
		}, "21 million"},
		{"outputs summing to more than 21M BTC", func(r *hsmproto.SignWithdrawal) {
			r.Psbt.UnsignedTx.AddTxOut(wire.NewTxOut(maxSatoshi, []byte{0x51}))
			r.Psbt.Outputs = append(r.Psbt.Outputs, psbt.POutput{})
		}, "21 million"},
		{"P2SH redeem script not matching", func(r *hsmproto.SignWithdrawal) { r.Psbt.Inputs[0].RedeemScript = []byte{0x51} }, "redeem script"},
		{"non-witness UTXO of another transaction", func(r *hsmproto.SignWithdrawal) {
			prev := wire.NewMsgTx(2)
			prev.AddTxIn(&wire.TxIn{PreviousOutPoint: txOutPoint(52)})
			for range 12 {
				prev.AddTxOut(r.Psbt.Inputs[0].WitnessUtxo)
			}
			r.Psbt.Inputs[0].WitnessUtxo = nil
			r.Psbt.Inputs[0].NonWitnessUtxo = prev
		}, "non-witness UTXO"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := withdrawal(t, e, []walletInput{{3, false, 40_000}, {4, false, 50_000}})
			tc.mutate(req)
			raw, err := txHandle(e, MasterClient, req)
			if err == nil {
				t.Fatalf("answered %x", raw)
			}
			re := txRefusal(t, err)
			if !re.Fatal || !strings.Contains(re.Error(), tc.reason) {
				t.Errorf("got %v (Fatal %v), want a fatal refusal saying %q", re, re.Fatal, tc.reason)
			}
		})
	}
	t.Run("outputs over 21M BTC, nothing to sign: hsmd answers a v2 PSBT", func(t *testing.T) {
		req := withdrawal(t, e, []walletInput{{3, false, 40_000}})
		req.Inputs = nil
		req.Psbt.UnsignedTx.AddTxOut(wire.NewTxOut(maxSatoshi, []byte{0x51}))
		req.Psbt.Outputs = append(req.Psbt.Outputs, psbt.POutput{})
		_, err := txHandle(e, MasterClient, req)
		if re := txRefusal(t, err); !strings.Contains(re.Reason, "version 2") {
			t.Errorf("got %v", re)
		}
	})
	t.Run("an output above 21M BTC: libwally does not parse it", func(t *testing.T) {
		req := withdrawal(t, e, []walletInput{{3, false, 40_000}})
		req.Psbt.UnsignedTx.TxOut[0].Value = maxSatoshi + 1
		_, err := txHandle(e, MasterClient, req)
		if re := txRefusal(t, err); !re.Fatal || !strings.Contains(re.Reason, "could not parse") {
			t.Errorf("got %v (Fatal %v)", re, re.Fatal)
		}
	})
	t.Run("anchorspend without PSBT", func(t *testing.T) {
		_, err := txHandle(e, MasterClient, &hsmproto.SignAnchorspend{Peerid: txPeer, ChannelDBID: 1})
		if re := txRefusal(t, err); !re.Fatal {
			t.Errorf("not fatal: %v", re)
		}
	})
	t.Run("mingle with inputs and no PSBT", func(t *testing.T) {
		w := withdrawal(t, e, []walletInput{{3, false, 40_000}})
		_, err := txHandle(e, MasterClient, &hsmproto.SignHtlcTxMingle{Peerid: txPeer, ChannelDBID: 1, Inputs: w.Inputs})
		if re := txRefusal(t, err); !re.Fatal {
			t.Errorf("not fatal: %v", re)
		}
	})
}
