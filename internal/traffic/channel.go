package traffic

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/input"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/glemu"
	"gl-signerd/signer"
	"gl-signerd/signer/intent"
)

// ChannelOptions describes a channel to open. Zero values pick defaults.
type ChannelOptions struct {
	// WeFund: we open and fund the channel (sign_withdrawal of the funding
	// transaction); otherwise the peer does.
	WeFund bool
	// Anchors: option_anchors_zero_fee_htlc_tx; otherwise
	// option_static_remotekey.
	Anchors bool
	// CapacitySat defaults to a random amount in [1, 5] million sat.
	CapacitySat int64
	// FeeRate in sat/kw, default 253..2500 at random.
	FeeRate uint32
	// Announce signs a channel_announcement and a channel_update once the
	// channel is locked.
	Announce bool
}

// ErrChannelClosed is returned for steps on a closed channel.
var ErrChannelClosed = errors.New("traffic: the channel is closed")

// Channel is one channel with a simulated peer. Its methods must not be
// called concurrently; different channels may run in parallel.
type Channel struct {
	g    *Generator
	rng  *rand.Rand
	peer *peer
	dbid uint64
	opts ChannelOptions

	ours, theirs  keyset
	fundingOut    wire.OutPoint
	fundingWs     []byte
	fundingPk     []byte
	obscure       uint64
	delayOnUs     uint16 // remote_to_self_delay: the peer's delay on our outputs
	delayOnPeer   uint16 // local_to_self_delay: ours on the peer's outputs
	ourPoints     map[uint64]*btcec.PublicKey
	localNum      uint64 // our current commitment
	remoteNum     uint64 // the peer's current commitment
	ourMsat       uint64
	theirMsat     uint64
	htlcs         []*htlc
	feerate       uint32
	local         *commitment            // our current commitment, signed by the peer
	remote        map[uint64]*commitment // the peer's latest commitments, by number
	localPeerSig  hsmproto.BitcoinSignature
	nextHTLCCltv  uint32
	closed        bool
	payments      int
	roundsStarted int
}

func (ch *Channel) client(caps uint64) signer.Client {
	return signer.Client{PeerID: ch.peer.id, DBID: ch.dbid, Capabilities: caps}
}

// DBID is the channel's database id; PeerID the peer's node id.
func (ch *Channel) DBID() uint64     { return ch.dbid }
func (ch *Channel) PeerID() [33]byte { return ch.peer.id }

// Balances are the two sides' balances in msat, HTLCs excluded.
func (ch *Channel) Balances() (ours, theirs uint64) { return ch.ourMsat, ch.theirMsat }

// Payments is the number of payments made (fulfilled or failed);
// Rounds the number of commitment rounds (payments take two, fee updates
// one).
func (ch *Channel) Payments() int { return ch.payments }
func (ch *Channel) Rounds() int   { return ch.roundsStarted }

// Commitments are the current commitment numbers: ours and the peer's.
func (ch *Channel) Commitments() (local, remote uint64) { return ch.localNum, ch.remoteNum }

func (ch *Channel) name(format string, args ...any) string {
	return fmt.Sprintf("chan %d: ", ch.dbid) + fmt.Sprintf(format, args...)
}

// OpenChannel opens a channel the way lightningd, openingd and channeld
// do: new_channel, get_channel_basepoints, get_per_commitment_point 0,
// setup_channel, the first commitments (and, if we fund, the funding
// transaction), check_outpoint, lock_outpoint, get_per_commitment_point 1.
func (g *Generator) OpenChannel(ctx context.Context, opts ChannelOptions) (*Channel, error) {
	rng := g.newRand()
	if opts.CapacitySat == 0 {
		opts.CapacitySat = 1_000_000 + rng.Int64N(4_000_000)
	}
	if opts.FeeRate == 0 {
		opts.FeeRate = 253 + uint32(rng.IntN(2248))
	}
	ch := &Channel{
		g: g, rng: rng, peer: newPeer(rng), dbid: g.allocDBID(), opts: opts,
		ourPoints: make(map[uint64]*btcec.PublicKey), remote: make(map[uint64]*commitment), feerate: opts.FeeRate,
		delayOnUs: uint16(144 + rng.IntN(577)), delayOnPeer: 144,
		nextHTLCCltv: 900_000 + uint32(rng.IntN(50_000)),
	}
	ch.theirs = ch.peer.keyset()
	master := signer.MasterClient
	if opts.WeFund {
		defer g.userCall(intent.MethodFundChannel, glemu.FundChannelBody(ch.peer.id, uint64(opts.CapacitySat)))()
	}

	if _, err := ask(ctx, g, ch.name("new_channel"), master,
		&hsmproto.NewChannel{ID: ch.peer.id, DBID: ch.dbid}, func(*hsmproto.NewChannelReply) error { return nil }); err != nil {
		return nil, err
	}
	bp, err := ask(ctx, g, ch.name("get_channel_basepoints"), master,
		&hsmproto.GetChannelBasepoints{Peerid: ch.peer.id, DBID: ch.dbid}, func(*hsmproto.GetChannelBasepointsReply) error { return nil })
	if err != nil {
		return nil, err
	}
	if ch.ours, err = keysetFrom(bp); err != nil {
		return nil, &CheckError{Request: ch.name("get_channel_basepoints"), Err: err}
	}
	if err := ch.askPoint(ctx, capsOpeningd, 0, "openingd"); err != nil {
		return nil, err
	}

	// The funding transaction (when we fund, built now so its txid is
	// known; signed after the first commitments).
	var funding *fundingTx
	ch.fundingWs, ch.fundingPk, err = fundingOutput(ch.ours.funding, ch.theirs.funding, opts.CapacitySat)
	if err != nil {
		return nil, err
	}
	if opts.WeFund {
		if funding, err = g.buildFunding(ctx, ch.fundingPk, opts.CapacitySat); err != nil {
			return nil, err
		}
		ch.fundingOut = funding.fundingOut
		ch.ourMsat = uint64(opts.CapacitySat) * 1000
		ch.obscure = obscuringFactor(ch.ours.payment, ch.theirs.payment)
	} else {
		ch.fundingOut = wire.OutPoint{Hash: chainhash.Hash(randBytes32(rng)), Index: uint32(rng.IntN(3))}
		ch.theirMsat = uint64(opts.CapacitySat) * 1000
		ch.obscure = obscuringFactor(ch.theirs.payment, ch.ours.payment)
	}

	chanType := []byte{0x10, 0x00} // option_static_remotekey
	if opts.Anchors {
		chanType = []byte{0x40, 0x10, 0x00} // + option_anchors_zero_fee_htlc_tx
	}
	setup := &hsmproto.SetupChannel{
		IsOutbound: opts.WeFund, ChannelValue: hsmproto.AmountSat(opts.CapacitySat),
		FundingTxid: ch.fundingOut.Hash, FundingTxout: uint16(ch.fundingOut.Index),
		LocalToSelfDelay: ch.delayOnPeer,
		RemoteBasepoints: hsmproto.Basepoints{
			Revocation: hsmproto.PubkeyFrom(ch.theirs.revocation), Payment: hsmproto.PubkeyFrom(ch.theirs.payment),
			Htlc: hsmproto.PubkeyFrom(ch.theirs.htlc), DelayedPayment: hsmproto.PubkeyFrom(ch.theirs.delayed),
		},
		RemoteFundingPubkey: hsmproto.PubkeyFrom(ch.theirs.funding),
		RemoteToSelfDelay:   ch.delayOnUs,
		ChannelType:         hsmproto.ChannelType{Features: chanType},
	}
	if _, err := ask(ctx, g, ch.name("setup_channel"), ch.client(capsOpeningd), setup,
		func(*hsmproto.SetupChannelReply) error { return nil }); err != nil {
		return nil, err
	}

	// The first commitments: the funder sends funding_created (our
	// signature of the peer's commitment 0) and gets funding_signed.
	if opts.WeFund {
		if err := ch.signRemote(ctx, 0, capsOpeningd); err != nil {
			return nil, err
		}
		if err := ch.validateLocal(ctx, 0, capsOpeningd); err != nil {
			return nil, err
		}
		if err := g.signFunding(ctx, funding); err != nil {
			return nil, err
		}
	} else {
		if err := ch.validateLocal(ctx, 0, capsOpeningd); err != nil {
			return nil, err
		}
		if err := ch.signRemote(ctx, 0, capsOpeningd); err != nil {
			return nil, err
		}
	}

	// Locked in: channeld checks the outpoint and sends channel_ready
	// with point 1.
	op := ch.fundingOut
	if _, err := ask(ctx, g, ch.name("check_outpoint"), ch.client(capsChanneld),
		&hsmproto.CheckOutpoint{FundingTxid: op.Hash, FundingTxout: uint16(op.Index)}, func(*hsmproto.CheckOutpointReply) error { return nil }); err != nil {
		return nil, err
	}
	if _, err := ask(ctx, g, ch.name("lock_outpoint"), ch.client(capsChanneld),
		&hsmproto.LockOutpoint{FundingTxid: op.Hash, FundingTxout: uint16(op.Index)}, func(*hsmproto.LockOutpointReply) error { return nil }); err != nil {
		return nil, err
	}
	if err := ch.askPoint(ctx, capsChanneld, 1, "channeld"); err != nil {
		return nil, err
	}
	if opts.Announce {
		if err := ch.announce(ctx); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

func keysetFrom(r *hsmproto.GetChannelBasepointsReply) (keyset, error) {
	var ks keyset
	for _, f := range []struct {
		dst **btcec.PublicKey
		src hsmproto.Pubkey
	}{
		{&ks.funding, r.FundingPubkey}, {&ks.revocation, r.Basepoints.Revocation}, {&ks.payment, r.Basepoints.Payment},
		{&ks.htlc, r.Basepoints.Htlc}, {&ks.delayed, r.Basepoints.DelayedPayment},
	} {
		k, err := f.src.Key()
		if err != nil {
			return ks, err
		}
		*f.dst = k
	}
	return ks, nil
}

// learnPoint records our per-commitment point n, or checks it against the
// one learnt before.
func (ch *Channel) learnPoint(n uint64, p hsmproto.Pubkey) error {
	k, err := p.Key()
	if err != nil {
		return err
	}
	if old := ch.ourPoints[n]; old != nil && !old.IsEqual(k) {
		return fmt.Errorf("per-commitment point %d is %x, earlier %x", n, p, old.SerializeCompressed())
	}
	ch.ourPoints[n] = k
	// Forget points of commitments long revoked.
	if n > 3 {
		delete(ch.ourPoints, n-4)
	}
	return nil
}

func (ch *Channel) askPoint(ctx context.Context, caps, n uint64, who string) error {
	_, err := ask(ctx, ch.g, ch.name("%s get_per_commitment_point %d", who, n), ch.client(caps),
		&hsmproto.GetPerCommitmentPoint{N: n}, func(r *hsmproto.GetPerCommitmentPointReply) error {
			if r.OldCommitmentSecret != nil {
				return errors.New("an old commitment secret with wire version 6")
			}
			return ch.learnPoint(n, r.PerCommitmentPoint)
		})
	return err
}

// spec is the commitment of one side at number n with the current state.
func (ch *Channel) spec(ours bool, n uint64, point *btcec.PublicKey) *commitSpec {
	s := &commitSpec{
		holderIsUs: ours, point: point, htlcs: ch.htlcs, feerate: ch.feerate, anchors: ch.opts.Anchors,
		obscured:   n ^ ch.obscure,
		fundingOut: ch.fundingOut, fundingSat: ch.opts.CapacitySat, fundingWscript: ch.fundingWs, fundingPk: ch.fundingPk,
	}
	if ours {
		s.holder, s.other = ch.ours, ch.theirs
		s.toSelfDelay = ch.delayOnUs
		s.holderMsat, s.otherMsat = ch.ourMsat, ch.theirMsat
		s.holderFunds = ch.opts.WeFund
	} else {
		s.holder, s.other = ch.theirs, ch.ours
		s.toSelfDelay = ch.delayOnPeer
		s.holderMsat, s.otherMsat = ch.theirMsat, ch.ourMsat
		s.holderFunds = !ch.opts.WeFund
	}
	return s
}

// signRemote has the signer sign the peer's commitment n (and its HTLC
// transactions), as channeld does before commitment_signed.
func (ch *Channel) signRemote(ctx context.Context, n uint64, caps uint64) error {
	g := ch.g
	point := ch.peer.point(n)
	c, err := ch.spec(false, n, point).build()
	if err != nil {
		return err
	}
	htlcs := c.htlcList()
	name := ch.name("sign_remote_commitment_tx %d (%d htlcs)", n, len(htlcs))
	btx := c.bitcoinTx()
	_, err = ask(ctx, g, name, ch.client(caps), &hsmproto.SignRemoteCommitmentTx{
		Tx: btx, RemoteFundingKey: hsmproto.PubkeyFrom(ch.theirs.funding), RemotePerCommit: hsmproto.PubkeyFrom(point),
		OptionStaticRemotekey: true, CommitNum: n, Htlcs: htlcs, Feerate: ch.feerate,
	}, func(r *hsmproto.SignTxReply) error {
		return checkWitnessSig(r.Sig, ch.ours.funding, c.tx, 0, ch.fundingWs, ch.fundingPk, ch.opts.CapacitySat, txscript.SigHashAll)
	})
	if err != nil {
		return err
	}
	ch.remote[n] = c
	if n >= 3 {
		delete(ch.remote, n-3)
	}
	ht := htlcSighashType(ch.opts.Anchors)
	idx := c.htlcOutputs()
	for k, i := range idx {
		htx, ws := c.htlcTx(i)
		prev := c.outs[i].out
		_, err := ask(ctx, g, ch.name("sign_remote_htlc_tx %d/%d commit %d", k+1, len(idx), n), ch.client(caps),
			&hsmproto.SignRemoteHtlcTx{Tx: htx, Wscript: ws, RemotePerCommitPoint: hsmproto.PubkeyFrom(point), OptionAnchorOutputs: ch.opts.Anchors},
			func(r *hsmproto.SignTxReply) error {
				// Our HTLC key at the peer's point is the "other" key of
				// the peer's commitment.
				return checkWitnessSig(r.Sig, c.otherHTLC, htx.Tx, 0, ws, prev.PkScript, prev.Value, ht)
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// revokeRemote gives the signer the peer's secret of commitment n
// (revoke_and_ack), which validate_revocation checks.
func (ch *Channel) revokeRemote(ctx context.Context, n uint64) error {
	s := ch.peer.secret(n)
	_, err := ask(ctx, ch.g, ch.name("validate_revocation %d", n), ch.client(capsChanneld),
		&hsmproto.ValidateRevocation{RevokeNum: n, PerCommitmentSecret: s}, func(*hsmproto.ValidateRevocationReply) error { return nil })
	return err
}

// validateLocal has the peer sign our commitment m (and its HTLC
// transactions) and the signer validate it: commitment_signed received.
func (ch *Channel) validateLocal(ctx context.Context, m uint64, caps uint64) error {
	g := ch.g
	point := ch.ourPoints[m]
	if point == nil {
		return fmt.Errorf("traffic: our per-commitment point %d is not known", m)
	}
	c, err := ch.spec(true, m, point).build()
	if err != nil {
		return err
	}
	sig, err := signWitness(ch.peer.funding, c.tx, 0, ch.fundingWs, ch.fundingPk, ch.opts.CapacitySat, txscript.SigHashAll)
	if err != nil {
		return err
	}
	ht := htlcSighashType(ch.opts.Anchors)
	htlcKey := ch.peer.tweakedHTLC(point)
	var htlcSigs []hsmproto.BitcoinSignature
	for _, i := range c.htlcOutputs() {
		htx, ws := c.htlcTx(i)
		s, err := signWitness(htlcKey, htx.Tx, 0, ws, c.outs[i].out.PkScript, c.outs[i].out.Value, ht)
		if err != nil {
			return err
		}
		htlcSigs = append(htlcSigs, s)
	}
	htlcs := c.htlcList()
	_, err = ask(ctx, g, ch.name("validate_commitment_tx %d (%d htlcs)", m, len(htlcs)), ch.client(caps),
		&hsmproto.ValidateCommitmentTx{Tx: c.bitcoinTx(), Htlcs: htlcs, CommitNum: m, Feerate: ch.feerate, Sig: sig, HtlcSigs: htlcSigs},
		func(r *hsmproto.ValidateCommitmentTxReply) error {
			if r.OldCommitmentSecret != nil {
				return errors.New("validate_commitment_tx returned an old secret")
			}
			return ch.learnPoint(m+1, r.NextPerCommitmentPoint)
		})
	if err != nil {
		return err
	}
	ch.local, ch.localPeerSig = c, sig
	return nil
}

// revokeLocal revokes our commitment m: the secret must be the one of the
// point the signer gave for m.
func (ch *Channel) revokeLocal(ctx context.Context, m uint64) error {
	_, err := ask(ctx, ch.g, ch.name("revoke_commitment_tx %d", m), ch.client(capsChanneld),
		&hsmproto.RevokeCommitmentTx{CommitNum: m}, func(r *hsmproto.RevokeCommitmentTxReply) error {
			p := input.ComputeCommitmentPoint(r.OldCommitmentSecret[:])
			if want := ch.ourPoints[m]; want == nil || !want.IsEqual(p) {
				return fmt.Errorf("the secret of commitment %d is not the secret of its point", m)
			}
			return ch.learnPoint(m+2, r.NextPerCommitmentPoint)
		})
	return err
}

// round commits the current state on both sides, in channeld's order:
// the side that starts sends commitment_signed first.
func (ch *Channel) round(ctx context.Context, weStart bool) error {
	if ch.closed {
		return ErrChannelClosed
	}
	ch.roundsStarted++
	n, m := ch.remoteNum, ch.localNum
	steps := []func() error{
		func() error { return ch.signRemote(ctx, n+1, capsChanneld) },
		func() error { return ch.revokeRemote(ctx, n) },
		func() error { return ch.validateLocal(ctx, m+1, capsChanneld) },
		func() error { return ch.revokeLocal(ctx, m) },
	}
	if !weStart {
		steps = append(steps[2:], steps[:2]...)
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	ch.remoteNum, ch.localNum = n+1, m+1
	return nil
}

// reserveMsat keeps the funder able to pay the commitment fee and anchors.
func (ch *Channel) reserveMsat() uint64 {
	return uint64(ch.opts.CapacitySat) * 1000 / 100 // 1%, as BOLT 2 suggests
}

func (ch *Channel) newHTLC(amountMsat uint64, offeredByUs bool) *htlc {
	h := &htlc{amountMsat: amountMsat, offeredByUs: offeredByUs, preimage: randBytes32(ch.rng)}
	h.hash = sha256.Sum256(h.preimage[:])
	ch.nextHTLCCltv += uint32(1 + ch.rng.IntN(40))
	h.cltv = ch.nextHTLCCltv
	return h
}

func (ch *Channel) removeHTLC(h *htlc) {
	for i, x := range ch.htlcs {
		if x == h {
			ch.htlcs = append(ch.htlcs[:i:i], ch.htlcs[i+1:]...)
			return
		}
	}
}

// spendable is what a side can still offer, keeping the reserve and the
// funder's fees.
func (ch *Channel) spendable(ours bool) uint64 {
	bal, funder := ch.theirMsat, !ch.opts.WeFund
	if ours {
		bal, funder = ch.ourMsat, ch.opts.WeFund
	}
	keep := ch.reserveMsat()
	if funder {
		keep += uint64(ch.feerate)*uint64(weightBaseAnchor+weightPerHTLC*(len(ch.htlcs)+2)) + 2*anchorSat*1000 + 1_000_000
	}
	if bal <= keep {
		return 0
	}
	return bal - keep
}

// Pay makes an outgoing payment of up to amountMsat (less if our balance
// is short): preapprove_invoice of the peer's invoice, the HTLC added in a
// round we start, then fulfilled by the peer in a round it starts. It
// returns the amount paid (0 when nothing can be paid).
func (ch *Channel) Pay(ctx context.Context, amountMsat uint64) (uint64, error) {
	return ch.pay(ctx, amountMsat, true)
}

// PayFailing is Pay where the peer fails the HTLC instead; it returns the
// HTLC's amount.
func (ch *Channel) PayFailing(ctx context.Context, amountMsat uint64) (uint64, error) {
	return ch.pay(ctx, amountMsat, false)
}

func (ch *Channel) pay(ctx context.Context, amountMsat uint64, fulfill bool) (uint64, error) {
	if ch.closed {
		return 0, ErrChannelClosed
	}
	if s := ch.spendable(true); amountMsat > s {
		amountMsat = s
	}
	if amountMsat < 1000 {
		return 0, nil
	}
	h := ch.newHTLC(amountMsat, true)
	inv := ch.g.peerInvoice(ch.peer, amountMsat, h.hash, ch.rng)
	defer ch.g.userCall(intent.MethodPay, glemu.PayBody(inv))()
	_, err := ask(ctx, ch.g, ch.name("preapprove_invoice %d msat", amountMsat), signer.MasterClient,
		&hsmproto.PreapproveInvoice{Invstring: inv}, func(r *hsmproto.PreapproveInvoiceReply) error {
			if !r.Approved {
				return errors.New("an honest invoice was not approved")
			}
			return nil
		})
	if err != nil {
		return 0, err
	}
	ch.htlcs = append(ch.htlcs, h)
	ch.ourMsat -= amountMsat
	if err := ch.round(ctx, true); err != nil {
		return 0, err
	}
	ch.removeHTLC(h)
	if fulfill {
		ch.theirMsat += amountMsat
	} else {
		ch.ourMsat += amountMsat
	}
	if err := ch.round(ctx, false); err != nil {
		return 0, err
	}
	ch.payments++
	return amountMsat, nil
}

// Receive is an incoming payment of up to amountMsat: sign_invoice of our
// invoice, the peer's HTLC added in a round it starts, fulfilled by us in
// a round we start. It returns the amount received.
func (ch *Channel) Receive(ctx context.Context, amountMsat uint64) (uint64, error) {
	if ch.closed {
		return 0, ErrChannelClosed
	}
	if s := ch.spendable(false); amountMsat > s {
		amountMsat = s
	}
	if amountMsat < 1000 {
		return 0, nil
	}
	h := ch.newHTLC(amountMsat, false)
	if err := ch.g.signOurInvoice(ctx, amountMsat, h.hash, ch.rng); err != nil {
		return 0, err
	}
	ch.htlcs = append(ch.htlcs, h)
	ch.theirMsat -= amountMsat
	if err := ch.round(ctx, false); err != nil {
		return 0, err
	}
	ch.removeHTLC(h)
	ch.ourMsat += amountMsat
	if err := ch.round(ctx, true); err != nil {
		return 0, err
	}
	ch.payments++
	return amountMsat, nil
}

// UpdateFee changes the commitment feerate in a round the funder starts.
func (ch *Channel) UpdateFee(ctx context.Context, feerate uint32) error {
	old := ch.feerate
	ch.feerate = feerate
	if _, err := ch.spec(ch.opts.WeFund, 0, ch.ours.funding).build(); err != nil {
		ch.feerate = old
		return nil // the funder cannot afford it: not proposed
	}
	return ch.round(ctx, ch.opts.WeFund)
}
