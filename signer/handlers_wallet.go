package signer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
)

// The wallet's PSBTs: lightningd's withdrawals and channel fundings
// (sign_withdrawal), the CPFP of an anchor (sign_anchorspend) and the fee
// inputs added to our HTLC transactions (sign_htlc_tx_mingle).
//
// hsmd signs them in sign_our_inputs(): for each wallet UTXO lightningd
// lists, and each PSBT input spending it, it derives the UTXO's key
// (hsm_key_for_utxo), adds the key's derivation to the input
// (psbt_input_add_pubkey: fingerprint = hash160(pubkey)[:4], path [0];
// BIP32 or, for a P2TR script, taproot), sets the witness script and
// witness UTXO of an anchors to_remote output (close_info with
// option_anchors), and calls libwally's wally_psbt_sign with the key.
// psbtSigner reproduces that, libwally's rules included:
//
//   - wally_psbt_sign signs every input whose derivations name the key and
//     that the key has not signed yet, not only the one just matched;
//   - ECDSA signatures (P2WPKH, P2WSH, and pre-segwit for an input with only
//     a non-witness UTXO) grind for low R as libwally does
//     (keys.PrivateKey.SignLowRWally), and are stored DER-encoded with
//     their sighash byte; P2TR inputs get a BIP340 signature with the
//     BIP86-tweaked key (and the PSBT's merkle root, if any), 64 bytes
//     with SIGHASH_DEFAULT;
//   - the sighash type is the input's PSBT_IN_SIGHASH_TYPE, or ALL
//     (DEFAULT for taproot);
//   - CLN converts every PSBT to version 2 and back, which turns an
//     unsigned transaction version 0 or 1 into 2, before signing;
//   - libwally's signing cache keeps BIP341's hash of the spent amounts and
//     scripts from the first taproot signature of the request.
//
// Where libwally refuses to sign, or CLN asserts, hsmd exits
// (hsmd_status_failed): those requests are refused with Fatal set.

// handleSignWithdrawal is sign_withdrawal: sign our wallet inputs of a
// PSBT. A zero-length PSBT parses as none (CLN's fromwire_wally_psbt
// returns NULL without failing): with no inputs hsmd answers an empty PSBT,
// with inputs it crashes.
func (e *Engine) handleSignWithdrawal(c Client, req *hsmproto.SignWithdrawal) (hsmproto.Message, error) {
	p, err := e.signOurInputs(c, req.MsgType(), req.Inputs, req.Psbt)
	if err != nil {
		return nil, err
	}
	return &hsmproto.SignWithdrawalReply{Psbt: p}, nil
}

// handleSignHtlcTxMingle is sign_htlc_tx_mingle: lightningd added wallet
// inputs (and a change output) to our anchors HTLC transaction, whose own
// input already carries our SIGHASH_SINGLE|ANYONECANPAY signature; sign
// the wallet inputs. The channel named in the message is not used.
func (e *Engine) handleSignHtlcTxMingle(c Client, req *hsmproto.SignHtlcTxMingle) (hsmproto.Message, error) {
	p, err := e.signOurInputs(c, req.MsgType(), req.Inputs, req.Psbt)
	if err != nil {
		return nil, err
	}
	return &hsmproto.SignHtlcTxMingleReply{Psbt: p}, nil
}

// handleSignAnchorspend is sign_anchorspend: a CPFP spending our anchor
// output of the named channel and wallet inputs. The wallet inputs are
// signed first, then every input whose derivations name the channel's
// funding key (lightningd marks the anchor input so).
func (e *Engine) handleSignAnchorspend(c Client, req *hsmproto.SignAnchorspend) (hsmproto.Message, error) {
	t := req.MsgType()
	if req.Psbt == nil {
		// sign_our_inputs dereferences the NULL PSBT if there is a
		// UTXO, and wally_psbt_sign refuses it otherwise.
		return nil, statusFailed(t, "sign_anchorspend without a PSBT: CLN's hsmd crashes or exits on this request")
	}
	s, err := e.newPSBTSigner(t, req.Psbt)
	if err != nil {
		return nil, err
	}
	if err := s.signOurInputs(req.Inputs); err != nil {
		return nil, err
	}
	ck, err := e.channelKeys(t, req.Peerid, req.ChannelDBID)
	if err != nil {
		return nil, err
	}
	key, err := ck.FundingKey()
	if err != nil {
		return nil, keyFailure(t, err)
	}
	defer key.Wipe()
	if err := s.sign(key, ck.FundingPubKey()); err != nil {
		return nil, err
	}
	return &hsmproto.SignAnchorspendReply{Psbt: req.Psbt}, nil
}

// signOurInputs signs p's inputs spending utxos and returns p.
func (e *Engine) signOurInputs(c Client, t uint16, utxos []hsmproto.HsmUtxo, p *hsmproto.PSBT) (*hsmproto.PSBT, error) {
	if p == nil {
		if len(utxos) > 0 {
			return nil, statusFailed(t, "%d wallet inputs to sign in a zero-length PSBT: CLN's hsmd crashes on this request (NULL PSBT)", len(utxos))
		}
		return nil, nil
	}
	s, err := e.newPSBTSigner(t, p)
	if err != nil {
		return nil, err
	}
	if err := s.signOurInputs(utxos); err != nil {
		return nil, err
	}
	if s.outputsOverMax {
		// Nothing was signed (that would have failed), and CLN's
		// conversion back to v0 fails the same way: hsmd answers with
		// the PSBT still in version 2, which this engine does not write.
		return nil, badRequest(c, t, "the outputs sum to more than 21 million BTC: CLN's hsmd answers with a version 2 PSBT, which this signer does not write")
	}
	return p, nil
}

// psbtSigner signs one request's PSBT in place.
type psbtSigner struct {
	e      *Engine
	t      uint16
	pkt    *psbt.Packet
	hasher *sigHasher
	// outputsOverMax: the outputs sum to more than 21 million BTC, so
	// libwally cannot build the transaction from the v2 PSBT (for
	// wally_psbt_sign, and for the conversion back to v0).
	outputsOverMax bool
}

func (e *Engine) newPSBTSigner(t uint16, p *hsmproto.PSBT) (*psbtSigner, error) {
	pkt := p.Packet
	if pkt == nil || pkt.UnsignedTx == nil || len(pkt.Inputs) != len(pkt.UnsignedTx.TxIn) || len(pkt.Outputs) != len(pkt.UnsignedTx.TxOut) {
		return nil, statusFailed(t, "the PSBT has no unsigned transaction or not one map per input and output")
	}
	var total uint64
	over := false
	for _, o := range pkt.UnsignedTx.TxOut {
		if total += uint64(o.Value); total > maxSatoshi { // each ≤ 21e14 (Decode refuses more): no overflow before this
			over = true
			break
		}
	}
	// CLN turns the PSBT into a v2 PSBT (fromwire_wally_psbt) and back
	// (towire_wally_psbt); v2 requires a transaction version of at
	// least 2, so libwally raises it, for the signatures and the reply.
	if uint32(pkt.UnsignedTx.Version) < 2 {
		pkt.UnsignedTx.Version = 2
	}
	return &psbtSigner{e: e, t: t, pkt: pkt, hasher: newSigHasher(pkt.UnsignedTx), outputsOverMax: over}, nil
}

// fail refuses the request where libwally (or an assert in CLN) fails and
// hsmd exits.
func (s *psbtSigner) fail(format string, args ...any) error {
	return statusFailed(s.t, "%s: CLN's hsmd exits on this request", fmt.Sprintf(format, args...))
}

// signOurInputs is sign_our_inputs(): for each UTXO, each input spending
// it gets the UTXO key's derivation (and, for an anchors to_remote output,
// its witness script and P2WSH witness UTXO), then wally_psbt_sign runs
// with the key.
func (s *psbtSigner) signOurInputs(utxos []hsmproto.HsmUtxo) error {
	for i := range utxos {
		if err := s.signUTXO(&utxos[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *psbtSigner) signUTXO(u *hsmproto.HsmUtxo) error {
	outpoint := wire.OutPoint{Hash: chainhash.Hash(u.Txid), Index: u.Outnum}
	var key *keys.PrivateKey
	var pub *btcec.PublicKey
	defer func() {
		if key != nil {
			key.Wipe()
		}
	}()
	for j, txIn := range s.pkt.UnsignedTx.TxIn {
		if txIn.PreviousOutPoint != outpoint {
			continue
		}
		if key == nil {
			var err error
			if key, err = s.e.utxoKey(s.t, u); err != nil {
				return err
			}
			pub = key.PubKey()
		}
		if err := s.addPubkey(j, pub, isP2TR(u.ScriptPubkey)); err != nil {
			return err
		}
		if u.CloseInfo != nil && u.CloseInfo.OptionAnchors {
			// "It's actually a P2WSH in this case."
			ws, err := toRemoteAnchoredScript(pub, u.CloseInfo.Csv)
			if err != nil {
				return s.fail("%v", err)
			}
			if u.Amount > maxSatoshi {
				return s.fail("wallet input %d spends %d sat, more than 21 million BTC", j, u.Amount)
			}
			in := &s.pkt.Inputs[j]
			in.WitnessScript = ws
			in.WitnessUtxo = wire.NewTxOut(int64(u.Amount), p2wsh(ws))
		}
		if err := s.sign(key, pub); err != nil {
			return err
		}
	}
	return nil
}

// utxoKey is hsm_key_for_utxo(): for an output of a peer's unilateral close
// (close_info), the key of our to_remote output in that channel; otherwise
// the wallet key of the UTXO's index (BIP86 for 64-byte seeds, m/0/0/i
// otherwise). The caller wipes it.
func (e *Engine) utxoKey(t uint16, u *hsmproto.HsmUtxo) (*keys.PrivateKey, error) {
	ci := u.CloseInfo
	if ci == nil {
		k, err := e.ring.UTXOKey(u.Keyindex)
		if err != nil {
			return nil, keyFailure(t, err)
		}
		return k, nil
	}
	ck, err := e.channelKeys(t, [33]byte(ci.PeerID), ci.ChannelID)
	if err != nil {
		return nil, err
	}
	var point *btcec.PublicKey
	if ci.CommitmentPoint != nil {
		if point, err = e.point(*ci.CommitmentPoint); err != nil {
			return nil, statusFailed(t, "Deriving unilateral_close_privkey: invalid commitment point")
		}
	}
	k, err := ck.UnilateralCloseKey(point)
	if err != nil {
		return nil, keyFailure(t, err)
	}
	return k, nil
}

// addPubkey is psbt_input_add_pubkey(): the key's derivation, fingerprint
// hash160(pubkey)[:4] and path [0], BIP32 or taproot. libwally ignores a
// BIP32 derivation the input already has; a taproot one makes it fail,
// and CLN asserts.
func (s *psbtSigner) addPubkey(j int, pub *btcec.PublicKey, taproot bool) error {
	in := &s.pkt.Inputs[j]
	comp := pub.SerializeCompressed()
	fp := binary.LittleEndian.Uint32(btcutil.Hash160(comp)[:4])
	if taproot {
		x := comp[1:]
		for _, d := range in.TaprootBip32Derivation {
			if bytes.Equal(d.XOnlyPubKey, x) {
				return s.fail("input %d already has a taproot derivation of key %x, which libwally refuses to add again", j, x)
			}
		}
		in.TaprootBip32Derivation = append(in.TaprootBip32Derivation, &psbt.TaprootBip32Derivation{
			XOnlyPubKey: x, MasterKeyFingerprint: fp, Bip32Path: []uint32{0},
		})
		return nil
	}
	for _, d := range in.Bip32Derivation {
		if bytes.Equal(d.PubKey, comp) {
			return nil
		}
	}
	in.Bip32Derivation = append(in.Bip32Derivation, &psbt.Bip32Derivation{
		PubKey: comp, MasterKeyFingerprint: fp, Bip32Path: []uint32{0},
	})
	return nil
}

// sign is wally_psbt_sign(psbt, key, EC_FLAG_GRIND_R): every input whose
// BIP32 derivations name pub and that has no signature by it yet, or whose
// taproot derivations name it and that has no key-path signature yet.
func (s *psbtSigner) sign(key *keys.PrivateKey, pub *btcec.PublicKey) error {
	if s.outputsOverMax {
		return s.fail("the outputs sum to more than 21 million BTC, so libwally cannot build the transaction to sign")
	}
	comp := pub.SerializeCompressed()
	var uncomp []byte // only looked up where a map has uncompressed keys
	find := func(n int, keyAt func(int) []byte) int {
		for i := range n {
			if bytes.Equal(keyAt(i), comp) {
				return i
			}
		}
		for i := range n {
			if len(keyAt(i)) == 65 {
				if uncomp == nil {
					uncomp = pub.SerializeUncompressed()
				}
				if bytes.Equal(keyAt(i), uncomp) {
					return i
				}
			}
		}
		return -1
	}
	for i := range s.pkt.Inputs {
		in := &s.pkt.Inputs[i]
		kp := find(len(in.Bip32Derivation), func(k int) []byte { return in.Bip32Derivation[k].PubKey })
		if kp >= 0 {
			if find(len(in.PartialSigs), func(k int) []byte { return in.PartialSigs[k].PubKey }) >= 0 {
				continue // signed already
			}
		} else {
			if in.TaprootKeySpendSig != nil || !hasTapDerivation(in, comp[1:]) {
				continue
			}
		}
		if err := s.signInput(i, key, kp); err != nil {
			return err
		}
	}
	return nil
}

func hasTapDerivation(in *psbt.PInput, xonly []byte) bool {
	for _, d := range in.TaprootBip32Derivation {
		if bytes.Equal(d.XOnlyPubKey, xonly) {
			return true
		}
	}
	return false
}

// spentOutput is libwally's utxo_from_input() for a v2 PSBT: the witness
// UTXO, else the output of the non-witness UTXO the input spends (none if
// that index is out of range or the input's txid is all zeros).
func (s *psbtSigner) spentOutput(i int) *wire.TxOut {
	in := &s.pkt.Inputs[i]
	if in.WitnessUtxo != nil {
		return in.WitnessUtxo
	}
	if prev := in.NonWitnessUtxo; prev != nil {
		op := s.pkt.UnsignedTx.TxIn[i].PreviousOutPoint
		if uint64(op.Index) < uint64(len(prev.TxOut)) && op.Hash != (chainhash.Hash{}) {
			return prev.TxOut[op.Index]
		}
	}
	return nil
}

// signInput is libwally's signing of input i (wally_psbt_sign_bip32's loop
// body): the signing script and script code, the signature hash, then the
// signature. kp is the index of the key's BIP32 derivation, or -1 if it
// was found among the taproot derivations.
func (s *psbtSigner) signInput(i int, key *keys.PrivateKey, kp int) error {
	in := &s.pkt.Inputs[i]
	utxo := s.spentOutput(i)
	if utxo == nil {
		return s.fail("input %d to sign has no previous output (witness or non-witness UTXO)", i)
	}
	// get_signing_script: the redeem script, if any, must be the one the
	// P2SH output commits to.
	script := utxo.PkScript
	if in.RedeemScript != nil {
		if !bytes.Equal(p2sh(in.RedeemScript), utxo.PkScript) {
			return s.fail("input %d: the redeem script does not match the previous output", i)
		}
		script = in.RedeemScript
	}
	if len(script) == 0 {
		return s.fail("input %d: empty previous output script", i)
	}
	// get_scriptcode.
	var scriptCode []byte
	switch {
	case in.WitnessUtxo == nil:
		if in.NonWitnessUtxo.TxHash() != s.pkt.UnsignedTx.TxIn[i].PreviousOutPoint.Hash {
			return s.fail("input %d: the non-witness UTXO is not the transaction the input spends", i)
		}
		scriptCode = script
	case isP2WPKH(script):
		scriptCode = p2pkh(script[2:])
	case isP2WSH(script):
		if in.WitnessScript == nil || !bytes.Equal(p2wsh(in.WitnessScript), script) {
			return s.fail("input %d: P2WSH output without its witness script", i)
		}
		scriptCode = in.WitnessScript
	case isP2TR(script):
		scriptCode = script
	default:
		return s.fail("input %d: libwally cannot sign a %x output", i, script)
	}

	// wally_psbt_get_input_signature_hash.
	taproot := isP2TR(utxo.PkScript)
	hashType := uint32(in.SighashType)
	switch {
	case hashType == 0 && !taproot:
		hashType = sighashAll
	case hashType > 0xff || !validSighash(hashType):
		return s.fail("input %d: sighash type %#x", i, uint32(in.SighashType))
	}
	tx := s.pkt.UnsignedTx
	if len(tx.TxOut) == 0 {
		return s.fail("the transaction has no outputs, which libwally cannot hash")
	}
	var h [32]byte
	switch {
	case taproot:
		if hashType&sighashAnyoneCanPay != 0 {
			if uint64(utxo.Value) > maxSatoshi {
				return s.fail("input %d spends %d sat, more than 21 million BTC", i, utxo.Value)
			}
		} else {
			for k := range tx.TxIn {
				if o := s.spentOutput(k); o == nil || len(o.PkScript) == 0 {
					return s.fail("input %d has no previous output, which a taproot signature hash needs", k)
				}
			}
		}
		if hashType&3 == sighashSingle && i >= len(tx.TxOut) {
			return s.fail("input %d: SIGHASH_SINGLE without a matching output", i)
		}
		h = s.hasher.taprootKeySpend(i, hashType, s.spentOutput)
	case in.WitnessUtxo != nil:
		if uint64(utxo.Value) > maxSatoshi {
			return s.fail("input %d spends %d sat, more than 21 million BTC", i, utxo.Value)
		}
		h = s.hasher.witnessV0(i, scriptCode, uint64(utxo.Value), hashType)
	default:
		h = s.hasher.legacy(i, scriptCode, hashType)
	}

	// wally_psbt_sign_input_bip32.
	if kp >= 0 && taproot {
		return s.fail("input %d: a BIP32 (non-taproot) derivation on a taproot input", i)
	}
	if kp < 0 && !taproot {
		return s.fail("input %d: a taproot derivation on a non-taproot input", i)
	}
	if !taproot {
		der := key.SignLowRWally(h).Serialize()
		in.PartialSigs = append(in.PartialSigs, &psbt.PartialSig{
			PubKey:    in.Bip32Derivation[kp].PubKey,
			Signature: append(der, byte(hashType)),
		})
		return nil
	}
	tweaked, err := key.TaprootTweak(in.TaprootMerkleRoot)
	if err != nil {
		return s.fail("input %d: taproot tweak: %v", i, err)
	}
	defer tweaked.Wipe()
	sig, err := tweaked.SignSchnorr(h)
	if err != nil {
		return s.fail("input %d: schnorr signature: %v", i, err)
	}
	out := sig[:]
	if hashType != sighashDefault {
		out = append(out, byte(hashType))
	}
	in.TaprootKeySpendSig = out
	return nil
}

// toRemoteAnchoredScript is bitcoin_wscript_to_remote_anchored(): <key>
// OP_CHECKSIGVERIFY <csv> OP_CHECKSEQUENCEVERIFY. CLN asserts the script is
// at most 39 bytes (is_to_remote_anchored_witness_script), which a csv of
// 2^15 or more breaks.
func toRemoteAnchoredScript(pub *btcec.PublicKey, csv uint32) ([]byte, error) {
	s := make([]byte, 0, 39)
	s = append(s, 33)
	s = append(s, pub.SerializeCompressed()...)
	s = append(s, 0xad) // OP_CHECKSIGVERIFY
	s = appendScriptNumber(s, csv)
	s = append(s, 0xb2) // OP_CHECKSEQUENCEVERIFY
	if len(s) > 39 {
		return nil, fmt.Errorf("close_info csv %d does not fit the anchored to_remote script CLN expects", csv)
	}
	return s, nil
}

// appendScriptNumber is CLN's add_number(): OP_0, OP_1..OP_16, or the
// minimal little-endian push of a positive number.
func appendScriptNumber(s []byte, n uint32) []byte {
	switch {
	case n == 0:
		return append(s, 0x00)
	case n <= 16:
		return append(s, 0x50+byte(n))
	}
	size := 5
	switch {
	case n <= 0x7f:
		size = 1
	case n <= 0x7fff:
		size = 2
	case n <= 0x7fffff:
		size = 3
	case n <= 0x7fffffff:
		size = 4
	}
	s = append(s, byte(size))
	return append(s, le64(nil, uint64(n))[:size]...)
}

func isP2WPKH(s []byte) bool { return len(s) == 22 && s[0] == 0x00 && s[1] == 20 }
func isP2WSH(s []byte) bool  { return len(s) == 34 && s[0] == 0x00 && s[1] == 32 }
func isP2TR(s []byte) bool   { return len(s) == 34 && s[0] == 0x51 && s[1] == 32 }

func p2wsh(ws []byte) []byte {
	h := sha256.Sum256(ws)
	return append([]byte{0x00, 32}, h[:]...)
}

func p2pkh(hash160 []byte) []byte {
	s := append([]byte{0x76, 0xa9, 20}, hash160...)
	return append(s, 0x88, 0xac)
}

func p2sh(redeem []byte) []byte {
	s := append([]byte{0xa9, 20}, btcutil.Hash160(redeem)...)
	return append(s, 0x87)
}
