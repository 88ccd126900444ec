package policy

import (
	"crypto/sha256"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/shachain"

	"gl-signerd/signer/state"
)

// peerSecrets are a peer's per-commitment secrets (BOLT 3's shachain) and
// points, and a second chain whose secrets do not chain with the first.
type peerSecrets struct{ good, other *shachain.RevocationProducer }

func newPeerSecrets() peerSecrets {
	return peerSecrets{shachain.NewRevocationProducer(chainhash.Hash{1}), shachain.NewRevocationProducer(chainhash.Hash{2})}
}

func secretAt(p *shachain.RevocationProducer, n uint64) [32]byte {
	h, err := p.AtIndex(n)
	if err != nil {
		panic(err)
	}
	return *h
}

func pointOf(secret [32]byte) [33]byte {
	_, pub := btcec.PrivKeyFromBytes(secret[:])
	return [33]byte(pub.SerializeCompressed())
}

// channelAt is a channel in the middle of its life: holder commitment 5
// countersigned and 0..4 revoked; counterparty commitments 4 and 5 signed
// and 0..3 revoked by the peer; no HTLC pending; balances 600,000 /
// 400,000 sat of a 1,000,000 sat channel we funded.
func channelAt(p peerSecrets) *state.Channel {
	ch := &state.Channel{ID: state.ChannelID{DBID: 7}, Status: state.StatusOpen,
		Setup: &state.Setup{IsOutbound: true, ChannelValueSat: 1_000_000, FundingTxid: [32]byte{0xf0}, FundingVout: 1,
			HolderToSelfDelay: 144, CounterpartyToSelfDelay: 144, ChannelType: []byte{0x10, 0x00}},
		HolderCommitNum: 5, HolderRevokedNext: 5, HolderPointNext: 6,
		LastHolder:            &state.Commitment{Num: 5, Txid: [32]byte{0x55}, HolderSat: 597_000, CounterpartySat: 400_000, BalancesKnown: true},
		CounterpartyCommitNum: 5,
		LastCounterparty:      &state.Commitment{Num: 5, Txid: [32]byte{0xc5}, PerCommitmentPoint: pointOf(secretAt(p.good, 5)), HolderSat: 600_000, CounterpartySat: 397_000, BalancesKnown: true},
		PrevCounterparty:      &state.Commitment{Num: 4, Txid: [32]byte{0xc4}, PerCommitmentPoint: pointOf(secretAt(p.good, 4)), HolderSat: 600_000, CounterpartySat: 397_000, BalancesKnown: true},
	}
	for n := uint64(0); n < 4; n++ {
		if _, err := ch.Secrets.Add(n, secretAt(p.good, n)); err != nil {
			panic(err)
		}
	}
	return ch
}

// signed is a Signature by a fresh key over a fixed hash.
func signed(t *testing.T, typ uint8) Signature {
	k, _ := btcec.NewPrivateKey()
	h := sha256.Sum256([]byte("commitment"))
	compact, err := ecdsa.SignCompact(k, h[:], true)
	if err != nil {
		t.Fatal(err)
	}
	return Signature{Key: k.PubKey(), Sighash: h, Sig: [64]byte(compact[1:]), SighashType: typ, WantType: typ}
}

// Every channel check: a valid request passes, a minimally changed one is
// refused with exactly its tag.
func TestChannelChecks(t *testing.T) {
	p := newPeerSecrets()
	ch := channelAt(p)
	with := func(f func(*state.Channel)) *state.Channel {
		c := ch.Clone()
		f(c)
		return c
	}
	good := signed(t, 1)
	htlcSig := signed(t, 0x83)
	badSig := good
	badSig.Sig[40] ^= 1
	wrongKey := good
	wrongKey.Key = htlcSig.Key
	sigs := func(funding Signature, htlcs ...Signature) CommitmentSignatures {
		return CommitmentSignatures{Num: 6, Funding: funding, HTLCs: htlcs, HTLCSigs: len(htlcs)}
	}
	theirs := func(c *state.Channel) { c.Setup.IsOutbound = false }

	cases := []struct {
		name string
		tag  string // "" for a valid request
		v    *Violation
	}{
		// a: sign_commitment_tx
		{"broadcast the current holder commitment", "", CheckSignHolderCommitment(ch, 5, [32]byte{0x55})},
		{"broadcast revoked holder commitment 4", TagCommitmentHolderNotRevoked, CheckSignHolderCommitment(ch, 4, [32]byte{0x55})},
		{"broadcast holder commitment 6, never countersigned", TagCommitmentHolderNotRevoked, CheckSignHolderCommitment(ch, 6, [32]byte{0x55})},
		{"broadcast another transaction as commitment 5", TagCommitmentHolderNotRevoked, CheckSignHolderCommitment(ch, 5, [32]byte{0x56})},
		{"broadcast with no commitment countersigned", TagCommitmentHolderNotRevoked, CheckSignHolderCommitment(with(func(c *state.Channel) { c.LastHolder = nil }), 0, [32]byte{})},
		// b: revoke_commitment_tx
		{"revoke 4 once 5 is countersigned", "", CheckRevealHolderSecret(ch, 4)},
		{"revoke 3 again", "", CheckRevealHolderSecret(ch, 3)},
		{"revoke 5 before 6 is countersigned", TagRevokeNewCommitmentSigned, CheckRevealHolderSecret(ch, 5)},
		{"revoke with nothing countersigned", TagRevokeNewCommitmentSigned, CheckRevealHolderSecret(with(func(c *state.Channel) { c.LastHolder = nil }), 0)},
		{"revoke at the end of the number space", TagRevokeNewCommitmentSigned, CheckRevealHolderSecret(ch, ^uint64(0))},
		// d, d2: validate_revocation
		{"the peer revokes 4 with its secret", "", CheckRevocationSecret(ch, 4, secretAt(p.good, 4))},
		{"the peer repeats secret 2", "", CheckRevocationSecret(ch, 2, secretAt(p.good, 2))},
		{"the peer revokes 4 with another secret", TagCommitmentPreviousRevoked, CheckRevocationSecret(ch, 4, secretAt(p.other, 4))},
		{"the peer repeats secret 2 differently", TagCommitmentPreviousRevoked, CheckRevocationSecret(ch, 2, secretAt(p.other, 2))},
		{"the peer revokes 5 before 4", TagCommitmentPreviousRevoked, CheckRevocationSecret(ch, 5, secretAt(p.good, 5))},
		// Secret 1 must derive secret 0 (secret 4 derives none before it).
		{"the secret matches the point but does not chain", TagCommitmentPreviousRevoked, CheckRevocationSecret(with(func(c *state.Channel) {
			c.Secrets = state.Secrets{}
			_, _ = c.Secrets.Add(0, secretAt(p.good, 0))
			c.PrevCounterparty = &state.Commitment{Num: 1, PerCommitmentPoint: pointOf(secretAt(p.other, 1))}
		}), 1, secretAt(p.other, 1))},
		{"secret 1 that chains", "", CheckRevocationSecret(with(func(c *state.Channel) {
			c.Secrets = state.Secrets{}
			_, _ = c.Secrets.Add(0, secretAt(p.good, 0))
			c.PrevCounterparty = &state.Commitment{Num: 1, PerCommitmentPoint: pointOf(secretAt(p.good, 1))}
		}), 1, secretAt(p.good, 1))},
		{"a zero secret", TagCommitmentPreviousRevoked, CheckRevocationSecret(ch, 4, [32]byte{})},
		{"a secret beyond the curve order", TagCommitmentPreviousRevoked, CheckRevocationSecret(ch, 4, [32]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})},
		{"the last commitment number", TagCommitmentPreviousRevoked, CheckRevocationSecret(ch, ^uint64(0), secretAt(p.good, 4))},
		{"no commitment 4 whose point to check", TagCommitmentPreviousRevoked, CheckRevocationSecret(with(func(c *state.Channel) { c.PrevCounterparty = nil }), 4, secretAt(p.good, 4))},
		// r, s: sign_remote_commitment_tx
		{"sign counterparty 6 after 4 was revoked", "", CheckSignCounterpartyCommitment(with(func(c *state.Channel) { _, _ = c.Secrets.Add(4, secretAt(p.good, 4)) }), 6, [32]byte{0xc6})},
		{"sign counterparty 5 again, same tx", "", CheckSignCounterpartyCommitment(ch, 5, [32]byte{0xc5})},
		{"sign counterparty 5 again as another tx", TagCommitmentRetrySame, CheckSignCounterpartyCommitment(ch, 5, [32]byte{0xc6})},
		{"sign counterparty 4 again as another tx", TagCommitmentRetrySame, CheckSignCounterpartyCommitment(ch, 4, [32]byte{0xc6})},
		{"sign counterparty 2 again", TagCommitmentRetrySame, CheckSignCounterpartyCommitment(ch, 2, [32]byte{0xc2})},
		{"sign counterparty 6 while 4 is not revoked", TagCommitmentPreviousRevoked, CheckSignCounterpartyCommitment(ch, 6, [32]byte{0xc6})},
		{"sign the first counterparty commitments", "", CheckSignCounterpartyCommitment(&state.Channel{}, 1, [32]byte{1})},
		// o1: new_channel
		{"declare dbid 8", "", CheckNewChannel(nil, 8, 7, true)},
		{"declare dbid 7 again before setup", "", CheckNewChannel(&state.Channel{Status: state.StatusDeclared}, 7, 0, false)},
		{"declare the first dbid", "", CheckNewChannel(nil, 1, 0, false)},
		{"declare open dbid 7 again", TagOriginalChannelIDReuse, CheckNewChannel(ch, 7, 0, false)},
		{"declare forgotten dbid 7 again", TagOriginalChannelIDReuse, CheckNewChannel(&state.Channel{Status: state.StatusForgotten}, 7, 0, false)},
		{"declare dbid 6, below a forgotten dbid", TagOriginalChannelIDReuse, CheckNewChannel(nil, 6, 7, true)},
		{"declare dbid 0 after forgetting dbid 0", TagOriginalChannelIDReuse, CheckNewChannel(nil, 0, 0, true)},
		// o2: setup_channel
		{"set up a declared channel", "", CheckSetupChannel(&state.Channel{Status: state.StatusDeclared}, ch.Setup)},
		{"the same setup again", "", CheckSetupChannel(ch, ch.Clone().Setup)},
		{"another funding outpoint", TagOriginalChannelIDReuse, CheckSetupChannel(ch, with(func(c *state.Channel) { c.Setup.FundingVout = 2 }).Setup)},
		{"another value", TagOriginalChannelIDReuse, CheckSetupChannel(ch, with(func(c *state.Channel) { c.Setup.ChannelValueSat++ }).Setup)},
		{"set up a forgotten channel", TagOriginalChannelIDReuse, CheckSetupChannel(with(func(c *state.Channel) { c.Status = state.StatusForgotten }), ch.Setup)},
		// t: sign_withdrawal
		{"fund a channel whose commitment 0 is countersigned", "", CheckFundingCountersigned([32]byte{0xf0}, 2, []*state.Channel{ch})},
		{"a withdrawal that funds no channel", "", CheckFundingCountersigned([32]byte{0xf1}, 2, []*state.Channel{with(func(c *state.Channel) { c.LastHolder = nil })})},
		{"fund a channel before commitment 0 is countersigned", TagOnchainInitialCommitmentCountersigned,
			CheckFundingCountersigned([32]byte{0xf0}, 2, []*state.Channel{with(func(c *state.Channel) { c.LastHolder = nil })})},
		// v, w and the upfront script: sign_mutual_close_tx
		{"we funded: the peer gets its balance", "", CheckMutualCloseState(ch, MutualClose{OursSat: 599_000, TheirsSat: 400_000})},
		{"we funded: the peer gets 1 sat more", TagMutualValueMatchesCommitment, CheckMutualCloseState(ch, MutualClose{OursSat: 598_999, TheirsSat: 400_001})},
		{"they funded: we get our balance", "", CheckMutualCloseState(with(theirs), MutualClose{OursSat: 597_000, TheirsSat: 399_000})},
		{"they funded: we get 1 sat less", TagMutualValueMatchesCommitment, CheckMutualCloseState(with(theirs), MutualClose{OursSat: 596_999, TheirsSat: 399_001})},
		{"an HTLC pending on our commitment", TagMutualNoPendingHTLCs, CheckMutualCloseState(with(func(c *state.Channel) {
			c.LastHolder.HTLCs = []state.HTLC{{AmountMsat: 5_000_000}}
		}), MutualClose{OursSat: 599_000, TheirsSat: 400_000})},
		{"an HTLC pending on theirs", TagMutualNoPendingHTLCs, CheckMutualCloseState(with(func(c *state.Channel) {
			c.LastCounterparty.HTLCs = []state.HTLC{{AmountMsat: 5_000_000}}
		}), MutualClose{OursSat: 599_000, TheirsSat: 400_000})},
		{"the upfront script is paid", "", CheckMutualCloseState(with(func(c *state.Channel) { c.Setup.HolderShutdownScript = []byte{0, 20} }),
			MutualClose{OursSat: 599_000, TheirsSat: 400_000, PaysUpfrontScript: true})},
		{"the upfront script is not paid", TagMutualDestinationAllowlisted, CheckMutualCloseState(with(func(c *state.Channel) { c.Setup.HolderShutdownScript = []byte{0, 20} }),
			MutualClose{OursSat: 599_000, TheirsSat: 400_000})},
		{"a close with no commitment", TagMutualValueMatchesCommitment, CheckMutualCloseState(&state.Channel{Setup: ch.Setup}, MutualClose{})},
		// c, c2: validate_commitment_tx
		{"valid commitment and HTLC signatures", "", CheckCommitmentSignatures(sigs(good, htlcSig))},
		{"a bad commitment signature", TagCommitmentSignature, CheckCommitmentSignatures(sigs(badSig, htlcSig))},
		{"the commitment signed by another key", TagCommitmentSignature, CheckCommitmentSignatures(sigs(wrongKey, htlcSig))},
		{"a bad HTLC signature", TagCommitmentSignature, CheckCommitmentSignatures(sigs(good, func() Signature { s := htlcSig; s.Sig[3] ^= 1; return s }()))},
		{"an HTLC signature of the wrong sighash type", TagCommitmentSignature, CheckCommitmentSignatures(sigs(good, func() Signature { s := htlcSig; s.SighashType = 1; return s }()))},
		{"an HTLC signature missing", TagCommitmentSignature, CheckCommitmentSignatures(CommitmentSignatures{Num: 6, Funding: good, HTLCs: []Signature{htlcSig}, HTLCSigs: 0})},
		{"an HTLC without its output", TagCommitmentSignature, CheckCommitmentSignatures(sigs(good, Signature{Missing: "no output"}))},
		{"a zero signature", TagCommitmentSignature, CheckCommitmentSignatures(sigs(Signature{Key: good.Key, Sighash: good.Sighash, SighashType: 1, WantType: 1}))},
	}
	for _, tc := range cases {
		got := ""
		if tc.v != nil {
			got = tc.v.Tag
		}
		if got != tc.tag {
			t.Errorf("%s: got %v, want tag %q", tc.name, tc.v, tc.tag)
		}
	}
	// Checking never changes the snapshot it reads.
	if before, after := channelAt(p), ch; before.Secrets.Count() != after.Secrets.Count() {
		t.Errorf("a check changed the channel's secrets: %d, was %d", after.Secrets.Count(), before.Secrets.Count())
	}
}
