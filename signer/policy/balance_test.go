package policy

import (
	"crypto/sha256"
	"testing"
)

// A channel of 1,000,000 sat we fund; commitments of the peer's side.
var balanceTerms = ChannelTerms{FundingSat: 1_000_000, WeFund: true, DustLimitSat: 546}

func bhtlc(ours bool, sat uint64) BalanceHTLC {
	return BalanceHTLC{OfferedByUs: ours, AmountMsat: sat * 1000, PaymentHash: sha256.Sum256([]byte{byte(sat), byte(sat >> 8)}), CltvExpiry: 800}
}

// commit is a consistent commitment: our balance oursPre (before the fee
// we pay), the HTLCs, and the peer holding what is left but trimmed.
func commit(num uint64, feerate uint32, oursPre uint64, trimmed uint64, htlcs ...BalanceHTLC) CommitmentBalance {
	s := CommitmentSpec{FeeratePerKw: feerate, DustLimitSat: 546}
	var sum uint64
	n := 0
	for _, h := range htlcs {
		if !s.Trimmed(CommitmentHTLC{OfferedByOwner: !h.OfferedByUs, AmountMsat: h.AmountMsat}) {
			n++
		}
		sum += h.AmountMsat / 1000
	}
	fee, _ := s.Fee(n)
	theirs := balanceTerms.FundingSat - oursPre - sum - trimmed
	var untrimmed []BalanceHTLC
	for _, h := range htlcs {
		if !s.Trimmed(CommitmentHTLC{OfferedByOwner: !h.OfferedByUs, AmountMsat: h.AmountMsat}) {
			untrimmed = append(untrimmed, h)
		}
	}
	return CommitmentBalance{Num: num, FeeratePerKw: feerate, OursSat: oursPre - fee, TheirsSat: theirs, HTLCs: untrimmed}
}

func TestBalanceDeltas(t *testing.T) {
	in, out := bhtlc(false, 50_000), bhtlc(true, 30_000)
	small := bhtlc(false, 600) // trimmed on the peer's commitment at 2,500 sat/kw (offered by it: 546 + 1,657)
	cases := []struct {
		name       string
		prev, next CommitmentBalance
		ok         bool
	}{
		{"nothing changes", commit(1, 1000, 600_000, 0), commit(2, 1000, 600_000, 0), true},
		{"update_fee up to the ceiling", commit(1, 1000, 600_000, 0), commit(2, 150_000, 600_000, 0), true},
		{"we offer an HTLC", commit(1, 1000, 600_000, 0), commit(2, 1000, 570_000, 0, out), true},
		{"our HTLC fails back to us", commit(1, 1000, 570_000, 0, out), commit(2, 1000, 600_000, 0), true},
		{"our HTLC is fulfilled", commit(1, 1000, 570_000, 0, out), commit(2, 1000, 570_000, 0), true},
		{"the peer offers an HTLC", commit(1, 1000, 600_000, 0), commit(2, 1000, 600_000, 0, in), true},
		{"its HTLC is fulfilled to us", commit(1, 1000, 600_000, 0, in), commit(2, 1000, 650_000, 0), true},
		{"a trimmed HTLC is fulfilled to us", commit(1, 2500, 600_000, 600, small), commit(2, 2500, 600_600, 0), true},
		{"balance moved to the peer", commit(1, 1000, 600_000, 0), commit(2, 1000, 300_000, 0), false},
		{"balance moved to the peer in an update_fee", commit(1, 1000, 600_000, 0), commit(2, 3000, 599_000, 0), false},
		{"more than the offered HTLC", commit(1, 1000, 600_000, 0), commit(2, 1000, 560_000, 0, out), false},
		{"more than the settled HTLC", commit(1, 1000, 600_000, 0, in), commit(2, 1000, 660_000, 0), false},
		{"a gift without an HTLC", commit(1, 1000, 600_000, 0), commit(2, 1000, 610_000, 0), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := CheckBalanceDeltas(balanceTerms, c.prev, c.next)
			switch {
			case c.ok && v != nil:
				t.Fatalf("refused: %v", v)
			case !c.ok && v == nil:
				t.Fatal("accepted")
			case !c.ok && v.Tag != TagRoutingDeltasOnlyHTLC:
				t.Fatalf("tag %s", v.Tag)
			}
		})
	}
}

func TestHTLCLimits(t *testing.T) {
	many := make([]CommitmentHTLC, 484)
	for i := range many {
		many[i] = CommitmentHTLC{OfferedByOwner: i%2 == 0, AmountMsat: 1000}
	}
	oneWay := make([]CommitmentHTLC, 484)
	for i := range oneWay {
		oneWay[i] = CommitmentHTLC{AmountMsat: 1000}
	}
	cases := []struct {
		name  string
		htlcs []CommitmentHTLC
		tag   string
	}{
		{"484 in two directions", many, ""},
		{"484 received", oneWay, TagCommitmentHTLCCountLimit},
		{"the in-flight limit", []CommitmentHTLC{{AmountMsat: 16_777_216_000}}, ""},
		{"above the in-flight limit", []CommitmentHTLC{{AmountMsat: 16_777_216_000}, {OfferedByOwner: true, AmountMsat: 1000}}, TagCommitmentHTLCInflightLimit},
	}
	for _, c := range cases {
		v := CheckHTLCLimits(c.htlcs, DefaultLimits)
		if (v == nil) != (c.tag == "") || (v != nil && v.Tag != c.tag) {
			t.Errorf("%s: %v, want %q", c.name, v, c.tag)
		}
	}
}

func TestRoutingBalance(t *testing.T) {
	a, b := [32]byte{1}, [32]byte{2}
	known := func(h [32]byte) bool { return h == a }
	if v := CheckRoutingBalance([][32]byte{a}, known); v != nil {
		t.Fatal(v)
	}
	if v := CheckRoutingBalance([][32]byte{a, b}, known); v == nil || v.Tag != TagCommitmentHTLCRoutingBalance {
		t.Fatalf("%v", v)
	}
}
