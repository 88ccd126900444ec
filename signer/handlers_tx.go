package signer

import (
	"bytes"
	"fmt"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
)

// Handlers that sign transactions, by family:
//
//   - handlers_commitment.go: commitment transactions, the peer's HTLC
//     transactions, and the per-commitment secrets (validate, revoke);
//   - handlers_close.go: mutual close and splice (the funding output);
//   - handlers_onchain.go: sweeps after a close (onchaind, or lightningd
//     naming the channel in the message);
//   - handlers_wallet.go: the wallet's PSBTs (withdrawal, anchor spend,
//     HTLC transactions mingled with wallet inputs).
//
// This file holds what they share: CLN's sign_tx_input for the channel
// transactions, which travel as a bitcoin_tx (a transaction and a PSBT
// carrying the amounts of its inputs).
//
// Like CLN v26.06.6's hsmd, these handlers check almost nothing about the
// transactions they sign (a validating policy is a separate layer). Where
// hsmd rejects a request they refuse it with hsmd's reason; where hsmd
// would crash (an assert, an abort in libwally or a NULL dereference) they
// refuse it cleanly with Fatal set, since CLN's hsmd would have died.

// psbtInputAmount is psbt_input_get_amount(): the amount input in spends,
// from the PSBT that travels with a bitcoin_tx. CLN works on that PSBT as
// a v2 PSBT, so a non-witness UTXO's output is the one named by the PSBT's
// own input (which need not be the transaction's). hsmd aborts when the
// input has neither UTXO; it reads out of bounds when the non-witness UTXO
// has no such output. Both are refused here.
func psbtInputAmount(btx *hsmproto.BitcoinTx, in int) (uint64, error) {
	if amount, ok := btx.WitnessUTXOAmount(in); ok {
		return uint64(amount), nil
	}
	p, err := btx.ParsedPSBT()
	if err != nil {
		return 0, err
	}
	if p == nil || p.Packet == nil || p.UnsignedTx == nil || in >= len(p.Inputs) || in >= len(p.UnsignedTx.TxIn) {
		return 0, fmt.Errorf("the PSBT has no input %d", in)
	}
	pin := &p.Inputs[in]
	switch {
	case pin.WitnessUtxo != nil:
		return uint64(pin.WitnessUtxo.Value), nil
	case pin.NonWitnessUtxo != nil:
		idx := p.UnsignedTx.TxIn[in].PreviousOutPoint.Index
		if uint64(idx) >= uint64(len(pin.NonWitnessUtxo.TxOut)) {
			return 0, fmt.Errorf("PSBT input %d spends output %d of a previous transaction with %d outputs", in, idx, len(pin.NonWitnessUtxo.TxOut))
		}
		return uint64(pin.NonWitnessUtxo.TxOut[idx].Value), nil
	}
	return 0, fmt.Errorf("PSBT input %d has no amount (neither witness nor non-witness UTXO)", in)
}

// signTxInput is CLN's sign_tx_input for a segwit v0 channel transaction:
// the BIP143 hash of input in, spending the amount the PSBT gives it with
// the witness script (hashed as given, even when empty), signed with
// sign_hash (low-R grinding) and sighashType. Requests on which libwally
// or hsmd would abort are refused with Fatal set.
func signTxInput(t uint16, btx *hsmproto.BitcoinTx, in int, script []byte, key *keys.PrivateKey, sighashType uint8) (hsmproto.BitcoinSignature, error) {
	tx := btx.Tx
	if tx == nil {
		return hsmproto.BitcoinSignature{}, statusFailed(t, "no transaction to sign")
	}
	amount, err := psbtInputAmount(btx, in)
	if err != nil {
		return hsmproto.BitcoinSignature{}, statusFailed(t, "%v: CLN's hsmd aborts on this request", err)
	}
	switch {
	case in >= len(tx.TxIn):
		return hsmproto.BitcoinSignature{}, statusFailed(t, "input %d is not in the transaction (%d inputs): CLN's hsmd crashes on this request", in, len(tx.TxIn))
	case len(tx.TxOut) == 0:
		return hsmproto.BitcoinSignature{}, statusFailed(t, "the transaction has no outputs, which libwally cannot hash: CLN's hsmd aborts on this request")
	case amount > maxSatoshi: // defensive: hsmproto.Decode refuses such an amount, as libwally does
		return hsmproto.BitcoinSignature{}, statusFailed(t, "input %d spends %d sat, more than 21 million BTC, which libwally cannot hash: CLN's hsmd aborts on this request", in, amount)
	}
	hasher := newSigHasher(tx)
	hasher.outputs = btx.SerializedOutputs()
	h := hasher.witnessV0(in, script, amount, uint32(sighashType))
	return hsmproto.BitcoinSignature{Sig: keys.CompactSig(key.SignLowR(h)), SighashType: sighashType}, nil
}

// txInputs is the number of inputs of btx's transaction (0 without one).
func txInputs(btx *hsmproto.BitcoinTx) int {
	if btx.Tx == nil {
		return 0
	}
	return len(btx.Tx.TxIn)
}

// htlcSighash is the sighash type of an HTLC signature (BOLT 3): with
// option_anchors, SIGHASH_SINGLE|SIGHASH_ANYONECANPAY, so that fees can be
// added; otherwise SIGHASH_ALL. hsmd uses it for the peer's second-stage
// HTLC transactions, ours, and also the direct claims of HTLC outputs of
// the peer's commitment (sign_(any_)remote_htlc_to_us, as the vectors show).
func htlcSighash(optionAnchors bool) uint8 {
	if optionAnchors {
		return hsmproto.SighashSingleAnyoneCanPay
	}
	return hsmproto.SighashAll
}

// fundingScript is bitcoin_redeem_2of2: 2 <key1> <key2> 2 CHECKMULTISIG
// with the two compressed keys in lexical order.
func fundingScript(a, b []byte) []byte {
	if bytes.Compare(a, b) >= 0 {
		a, b = b, a
	}
	s := make([]byte, 0, 71)
	s = append(s, 0x52, 33)
	s = append(s, a...)
	s = append(s, 33)
	s = append(s, b...)
	return append(s, 0x52, 0xae)
}

// signFundingInput signs input in of btx, which spends the funding output
// of channel (peer, dbid) whose other key is remote, with SIGHASH_ALL:
// commitment transactions, mutual closes and splices.
func (e *Engine) signFundingInput(t uint16, peer [33]byte, dbid uint64, btx *hsmproto.BitcoinTx, in int, remote hsmproto.Pubkey) (hsmproto.BitcoinSignature, error) {
	ck, err := e.channelKeys(t, peer, dbid)
	if err != nil {
		return hsmproto.BitcoinSignature{}, err
	}
	key, err := ck.FundingKey()
	if err != nil {
		return hsmproto.BitcoinSignature{}, keyFailure(t, err)
	}
	defer key.Wipe()
	local := ck.FundingPubKeyCompressed()
	script := fundingScript(local[:], remote[:])
	return signTxInput(t, btx, in, script, key, hsmproto.SighashAll)
}
