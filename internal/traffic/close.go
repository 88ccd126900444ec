package traffic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/input"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
)

// errPendingHTLCs: closes here happen with no HTLC in flight.
var errPendingHTLCs = errors.New("traffic: the channel still has HTLCs in flight")

// CloseMutual closes the channel cooperatively, as closingd does: two fee
// rounds of sign_mutual_close_tx (version 2, locktime 0, BIP 69 outputs,
// the funder paying the fee, our output to a new address of our wallet),
// then forget_channel. Our output becomes a wallet UTXO.
func (ch *Channel) CloseMutual(ctx context.Context) error {
	if ch.closed {
		return ErrChannelClosed
	}
	if len(ch.htlcs) > 0 {
		return errPendingHTLCs
	}
	g := ch.g
	addr, err := g.newAddress(ctx, ch.rng.IntN(2) == 0)
	if err != nil {
		return err
	}
	peerScript := p2wpkh(randKey(ch.rng).PubKey())
	var last *wire.MsgTx
	var ourIdx int
	for _, fee := range []int64{1300, 1100} {
		ours, theirs := int64(ch.ourMsat/1000), int64(ch.theirMsat/1000)
		if ch.opts.WeFund {
			ours -= fee
		} else {
			theirs -= fee
		}
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&ch.fundingOut, nil, nil)) // nSequence 0xFFFFFFFF
		type out struct {
			o    *wire.TxOut
			ours bool
		}
		var outs []out
		if ours >= dustLimit {
			outs = append(outs, out{wire.NewTxOut(ours, addr.pkScript), true})
		}
		if theirs >= dustLimit {
			outs = append(outs, out{wire.NewTxOut(theirs, peerScript), false})
		}
		sort.SliceStable(outs, func(i, j int) bool {
			if outs[i].o.Value != outs[j].o.Value {
				return outs[i].o.Value < outs[j].o.Value
			}
			return bytes.Compare(outs[i].o.PkScript, outs[j].o.PkScript) < 0
		})
		ourIdx = -1
		for i, o := range outs {
			tx.AddTxOut(o.o)
			if o.ours {
				ourIdx = i
			}
		}
		p := newPSBT(tx)
		p.Inputs[0].WitnessUtxo = wire.NewTxOut(ch.opts.CapacitySat, ch.fundingPk)
		p.Inputs[0].WitnessScript = ch.fundingWs
		if ourIdx >= 0 {
			addr.describeOutput(&p.Outputs[ourIdx])
		}
		peerSig, err := signWitness(ch.peer.funding, tx, 0, ch.fundingWs, ch.fundingPk, ch.opts.CapacitySat, txscript.SigHashAll)
		if err != nil {
			return err
		}
		_, err = ask(ctx, g, ch.name("sign_mutual_close_tx fee %d", fee), ch.client(capsClosingd),
			&hsmproto.SignMutualCloseTx{Tx: hsmproto.BitcoinTx{Tx: tx, PSBT: p}, RemoteFundingKey: hsmproto.PubkeyFrom(ch.theirs.funding)},
			func(r *hsmproto.SignTxReply) error {
				if err := checkWitnessSig(r.Sig, ch.ours.funding, tx, 0, ch.fundingWs, ch.fundingPk, ch.opts.CapacitySat, txscript.SigHashAll); err != nil {
					return err
				}
				return ch.runFundingSpend(tx, r.Sig, peerSig)
			})
		if err != nil {
			return err
		}
		last = tx
	}
	ch.closed = true
	if ourIdx >= 0 {
		g.addUTXO(addr, wire.OutPoint{Hash: last.TxHash(), Index: uint32(ourIdx)}, last)
	}
	return ch.forget(ctx)
}

// runFundingSpend completes the funding input with both signatures and
// runs the script.
func (ch *Channel) runFundingSpend(tx *wire.MsgTx, ours, theirs hsmproto.BitcoinSignature) error {
	a, err := derSig(ours)
	if err != nil {
		return err
	}
	b, err := derSig(theirs)
	if err != nil {
		return err
	}
	w := multisigWitness(ch.fundingWs, ch.ours.funding, a, ch.theirs.funding, b)
	return runScript(tx, 0, w, txscript.NewCannedPrevOutputFetcher(ch.fundingPk, ch.opts.CapacitySat))
}

func (ch *Channel) forget(ctx context.Context) error {
	_, err := ask(ctx, ch.g, ch.name("forget_channel"), signer.MasterClient,
		&hsmproto.ForgetChannel{ID: ch.peer.id, DBID: ch.dbid}, func(*hsmproto.ForgetChannelReply) error { return nil })
	return err
}

// ForceClose closes the channel unilaterally: lightningd has the signer
// sign our current commitment (sign_commitment_tx; completed with the
// peer's signature and checked by the script engine), onchaind asks for
// the commitment's point, and after the delay lightningd sweeps our
// to_local output to the wallet (sign_any_delayed_payment_to_us); then
// forget_channel.
func (ch *Channel) ForceClose(ctx context.Context) error {
	if ch.closed {
		return ErrChannelClosed
	}
	if len(ch.htlcs) > 0 {
		return errPendingHTLCs
	}
	g, c, m := ch.g, ch.local, ch.localNum
	if c == nil {
		return errors.New("traffic: no commitment to close with")
	}
	_, err := ask(ctx, g, ch.name("sign_commitment_tx %d", m), signer.MasterClient, &hsmproto.SignCommitmentTx{
		PeerID: ch.peer.id, ChannelDBID: ch.dbid, Tx: c.bitcoinTx(), RemoteFundingKey: hsmproto.PubkeyFrom(ch.theirs.funding), CommitNum: m,
	}, func(r *hsmproto.SignCommitmentTxReply) error {
		if err := checkWitnessSig(r.Sig, ch.ours.funding, c.tx, 0, ch.fundingWs, ch.fundingPk, ch.opts.CapacitySat, txscript.SigHashAll); err != nil {
			return err
		}
		return ch.runFundingSpend(c.tx, r.Sig, ch.localPeerSig)
	})
	if err != nil {
		return err
	}
	ch.closed = true
	if err := ch.askPoint(ctx, capsOnchaind, m, "onchaind"); err != nil {
		return err
	}
	if i := c.output("to_local"); i >= 0 {
		if err := ch.sweepToLocal(ctx, c, i, m); err != nil {
			return err
		}
	}
	return ch.forget(ctx)
}

// sweepToLocal spends our to_local output after the delay.
func (ch *Channel) sweepToLocal(ctx context.Context, c *commitment, i int, m uint64) error {
	g := ch.g
	addr, err := g.newAddress(ctx, ch.rng.IntN(2) == 0)
	if err != nil {
		return err
	}
	prev := c.outs[i]
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&wire.OutPoint{Hash: c.tx.TxHash(), Index: uint32(i)}, nil, nil)
	in.Sequence = uint32(ch.delayOnUs)
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(prev.out.Value-700, addr.pkScript))
	p := newPSBT(tx)
	p.Inputs[0].WitnessUtxo = prev.out
	p.Inputs[0].WitnessScript = prev.wscript
	addr.describeOutput(&p.Outputs[0])
	point := ch.ourPoints[m]
	if point == nil {
		return fmt.Errorf("traffic: our point %d is not known", m)
	}
	delayedKey := input.TweakPubKey(ch.ours.delayed, point)
	_, err = ask(ctx, g, ch.name("sign_any_delayed_payment_to_us %d", m), signer.MasterClient, &hsmproto.SignAnyDelayedPaymentToUs{
		CommitNum: m, Tx: hsmproto.BitcoinTx{Tx: tx, PSBT: p}, Wscript: prev.wscript, Input: 0, Peerid: ch.peer.id, ChannelDBID: ch.dbid,
	}, func(r *hsmproto.SignTxReply) error {
		if err := checkWitnessSig(r.Sig, delayedKey, tx, 0, prev.wscript, prev.out.PkScript, prev.out.Value, txscript.SigHashAll); err != nil {
			return err
		}
		sig, err := derSig(r.Sig)
		if err != nil {
			return err
		}
		return runScript(tx, 0, wire.TxWitness{sig, nil, prev.wscript}, txscript.NewCannedPrevOutputFetcher(prev.out.PkScript, prev.out.Value))
	})
	if err != nil {
		return err
	}
	g.addUTXO(addr, wire.OutPoint{Hash: tx.TxHash(), Index: 0}, tx)
	return nil
}

// CloseBreach plays a cheating peer: it broadcasts its last revoked
// commitment, and lightningd has the signer sweep the peer's to_local
// output with the revocation key (sign_any_penalty_to_us, with the secret
// the peer revealed); then forget_channel.
func (ch *Channel) CloseBreach(ctx context.Context) error {
	if ch.closed {
		return ErrChannelClosed
	}
	if ch.remoteNum == 0 {
		return errors.New("traffic: the peer has no revoked commitment yet")
	}
	k := ch.remoteNum - 1
	c := ch.remote[k]
	if c == nil {
		return fmt.Errorf("traffic: the peer's commitment %d is not kept", k)
	}
	ch.closed = true
	if i := c.output("to_local"); i >= 0 {
		g := ch.g
		addr, err := g.newAddress(ctx, ch.rng.IntN(2) == 0)
		if err != nil {
			return err
		}
		prev := c.outs[i]
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: c.tx.TxHash(), Index: uint32(i)}, nil, nil))
		tx.AddTxOut(wire.NewTxOut(prev.out.Value-1_000, addr.pkScript))
		p := newPSBT(tx)
		p.Inputs[0].WitnessUtxo = prev.out
		p.Inputs[0].WitnessScript = prev.wscript
		addr.describeOutput(&p.Outputs[0])
		_, err = ask(ctx, g, ch.name("sign_any_penalty_to_us %d", k), signer.MasterClient, &hsmproto.SignAnyPenaltyToUs{
			RevocationSecret: ch.peer.secret(k), Tx: hsmproto.BitcoinTx{Tx: tx, PSBT: p}, Wscript: prev.wscript,
			Input: 0, Peerid: ch.peer.id, ChannelDBID: ch.dbid,
		}, func(r *hsmproto.SignTxReply) error {
			// The revocation key of the peer's commitment k.
			if err := checkWitnessSig(r.Sig, c.revoc, tx, 0, prev.wscript, prev.out.PkScript, prev.out.Value, txscript.SigHashAll); err != nil {
				return err
			}
			sig, err := derSig(r.Sig)
			if err != nil {
				return err
			}
			return runScript(tx, 0, wire.TxWitness{sig, {1}, prev.wscript}, txscript.NewCannedPrevOutputFetcher(prev.out.PkScript, prev.out.Value))
		})
		if err != nil {
			return err
		}
		g.addUTXO(addr, wire.OutPoint{Hash: tx.TxHash(), Index: 0}, tx)
	}
	return ch.forget(ctx)
}

// CloseRemote plays a peer that force-closes with its current commitment:
// our to_remote output on it becomes a wallet UTXO with close_info, which
// lightningd spends with sign_withdrawal (the key is our payment basepoint;
// with anchors the output is the 1-block CSV P2WSH); then forget_channel.
func (ch *Channel) CloseRemote(ctx context.Context) error {
	if ch.closed {
		return ErrChannelClosed
	}
	if len(ch.htlcs) > 0 {
		return errPendingHTLCs
	}
	c := ch.remote[ch.remoteNum]
	if c == nil {
		return errors.New("traffic: the peer's current commitment is not kept")
	}
	ch.closed = true
	i := c.output("to_remote")
	if i < 0 {
		return ch.forget(ctx)
	}
	g := ch.g
	addr, err := g.newAddress(ctx, ch.rng.IntN(2) == 0)
	if err != nil {
		return err
	}
	prev := c.outs[i].out
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&wire.OutPoint{Hash: c.tx.TxHash(), Index: uint32(i)}, nil, nil)
	in.Sequence = 0xfffffffd
	var csv uint32
	if ch.opts.Anchors {
		csv, in.Sequence = 1, 1
	}
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(prev.Value-500, addr.pkScript))
	p := newPSBT(tx)
	p.Inputs[0].NonWitnessUtxo = c.tx
	p.Inputs[0].WitnessUtxo = prev
	addr.describeOutput(&p.Outputs[0])
	utxo := hsmproto.HsmUtxo{Txid: c.tx.TxHash(), Outnum: uint32(i), Amount: hsmproto.AmountSat(prev.Value), ScriptPubkey: prev.PkScript,
		CloseInfo: &hsmproto.UnilateralCloseInfo{ChannelID: ch.dbid, PeerID: ch.peer.id, OptionAnchors: ch.opts.Anchors, Csv: csv}}
	key := ch.ours.payment // option_static_remotekey: the basepoint itself
	_, err = ask(ctx, g, ch.name("sign_withdrawal of to_remote after the peer's close"), signer.MasterClient,
		&hsmproto.SignWithdrawal{Inputs: []hsmproto.HsmUtxo{utxo}, Psbt: p}, func(r *hsmproto.SignWithdrawalReply) error {
			if r.Psbt == nil || len(r.Psbt.Inputs) != 1 || len(r.Psbt.Inputs[0].PartialSigs) != 1 {
				return errors.New("the to_remote input is not signed")
			}
			rin := r.Psbt.Inputs[0]
			ps := rin.PartialSigs[0]
			if !bytes.Equal(ps.PubKey, key.SerializeCompressed()) {
				return fmt.Errorf("to_remote signed by %x, not our payment basepoint", ps.PubKey)
			}
			wit := wire.TxWitness{ps.Signature, ps.PubKey}
			if ch.opts.Anchors {
				ws, err := input.CommitScriptToRemoteConfirmed(key)
				if err != nil {
					return err
				}
				if !bytes.Equal(rin.WitnessScript, ws) {
					return errors.New("the reply's witness script is not our anchored to_remote script")
				}
				wit = wire.TxWitness{ps.Signature, ws}
			}
			return runScript(tx, 0, wit, txscript.NewCannedPrevOutputFetcher(prev.PkScript, prev.Value))
		})
	if err != nil {
		return err
	}
	g.addUTXO(addr, wire.OutPoint{Hash: tx.TxHash(), Index: 0}, tx)
	return ch.forget(ctx)
}
