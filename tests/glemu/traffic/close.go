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
