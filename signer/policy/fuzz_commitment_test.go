package policy

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/btcsuite/btcd/wire"
)

// FuzzCommitmentRebuild runs the commitment and HTLC transaction checks
// and the balance rules on any transaction, feerate, number, channel
// type and HTLC list (9 bytes each: direction, amount, expiry) on BOLT 3's
// Appendix C channel: none may panic, and a commitment the check accepts
// is the rebuilt one.
func FuzzCommitmentRebuild(f *testing.F) {
	s := bolt3Spec(f)
	s.OwnerMsat, s.OtherMsat, s.FeeratePerKw = 6_988_000_000, 3_000_000_000, 253
	for _, h := range bolt3HTLCs()[:5] {
		s.HTLCs = append(s.HTLCs, h)
	}
	c, err := s.Build()
	if err != nil {
		f.Fatal(err)
	}
	var hs []byte
	for _, h := range s.HTLCs {
		b := []byte{0}
		if h.OfferedByOwner {
			b[0] = 1
		}
		b = binary.BigEndian.AppendUint32(b, uint32(h.AmountMsat))
		hs = binary.BigEndian.AppendUint32(append(hs, b...), h.CltvExpiry)
	}
	f.Add(serializeNoWitness(c.Tx), uint32(253), uint64(42), uint8(0), hs)
	f.Add(serializeNoWitness(c.Tx), uint32(150_000), uint64(0), uint8(3), hs[:9])
	f.Fuzz(func(t *testing.T, raw []byte, feerate uint32, num uint64, flags uint8, htlcs []byte) {
		tx := wire.NewMsgTx(2)
		if tx.DeserializeNoWitness(bytes.NewReader(raw)) != nil {
			return
		}
		sp := bolt3Spec(t)
		sp.FeeratePerKw, sp.Num = feerate, num
		sp.Anchors, sp.ZeroFeeAnchors, sp.OwnerFunds = flags&1 != 0, flags&2 != 0, flags&4 == 0
		for len(htlcs) >= 9 && len(sp.HTLCs) < 20 {
			h := CommitmentHTLC{OfferedByOwner: htlcs[0]&1 != 0, AmountMsat: uint64(binary.BigEndian.Uint32(htlcs[1:5])) * 1000, CltvExpiry: binary.BigEndian.Uint32(htlcs[5:9])}
			h.PaymentHash[0] = byte(len(sp.HTLCs))
			sp.HTLCs = append(sp.HTLCs, h)
			htlcs = htlcs[9:]
		}
		_ = CheckHTLCLimits(sp.HTLCs, DefaultLimits)
		_ = CheckInitialCommitment(sp, serializeNoWitness(tx), uint64(feerate)*1000)
		built, v := CheckCommitment(sp, CommitmentClaim{Tx: tx, WitnessScript: func(i int) []byte {
			if i < len(raw) {
				return raw[i:]
			}
			return nil
		}})
		if v == nil && !bytes.Equal(serializeNoWitness(built.Tx), serializeNoWitness(tx)) {
			t.Fatal("accepted a commitment that is not the rebuilt one")
		}
		if built == nil {
			built, _ = sp.Build()
		}
		if built != nil {
			for i := range built.Outputs {
				_ = CheckHTLCTx(built, HTLCClaim{Tx: tx, InputScript: raw, OutputWitness: func() []byte { return raw }})
				_, _, _ = built.HTLCTx(i)
			}
		}
		var bh []BalanceHTLC
		for _, h := range sp.HTLCs {
			bh = append(bh, BalanceHTLC{OfferedByUs: h.OfferedByOwner, AmountMsat: h.AmountMsat, PaymentHash: h.PaymentHash, CltvExpiry: h.CltvExpiry})
		}
		terms := ChannelTerms{FundingSat: sp.FundingSat, WeFund: sp.OwnerFunds, Anchors: sp.Anchors, ZeroFeeAnchors: sp.ZeroFeeAnchors}
		_ = CheckBalanceDeltas(terms, CommitmentBalance{Num: num, FeeratePerKw: feerate, OursSat: num, TheirsSat: uint64(feerate), HTLCs: bh},
			CommitmentBalance{Num: num + 1, FeeratePerKw: feerate / 2, OursSat: uint64(len(raw)), HTLCs: bh[:len(bh)/2]})
	})
}
