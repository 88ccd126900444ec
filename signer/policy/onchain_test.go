package policy

import (
	"os"
	"regexp"
	"testing"
)

// For every stateless on-chain tag: a valid descriptor that passes and a
// minimally changed one refused with exactly that tag.
func TestOnchainRulesTable(t *testing.T) {
	lim := DefaultLimits
	wallet := Output{Script: append([]byte{0x00, 20}, make([]byte, 20)...), Value: 99_000, Ours: true}
	foreign := Output{Script: append([]byte{0x00, 20}, make([]byte, 20)...), Value: 99_000}
	funding := Output{Script: append([]byte{0x00, 32}, make([]byte, 32)...), Value: 99_000}
	spend := func(fee uint64, outs ...Output) *Spend {
		var v uint64
		for _, o := range outs {
			v += o.Value
		}
		return &Spend{InputValue: v + fee, Known: true, Outputs: outs, WeightMin: 400, WeightMax: 1000}
	}
	withdraw := func(s *Spend) *Violation { return CheckWithdrawal(s, lim) }
	sweep := func(s *Spend) *Violation { return CheckSweep(s, lim) }
	closing := func(s *Spend) *Violation { return CheckMutualClose(s, lim) }
	htlc := RemoteHTLC{Version: 2, Locktime: 900_000, Sequence: 0, Inputs: 1, Offered: true}
	cases := []struct {
		tag       string
		good, bad func() *Violation
	}{
		{TagOnchainNoUnknownOutputs, func() *Violation { return withdraw(spend(1000, wallet, funding)) },
			func() *Violation { return withdraw(spend(1000, wallet, foreign)) }},
		{TagOnchainFeeRange, func() *Violation { return withdraw(spend(1000, wallet)) },
			func() *Violation { return withdraw(spend(99_000, wallet)) }},
		{TagSweepDestinationAllowlisted, func() *Violation { return sweep(spend(1000, wallet)) },
			func() *Violation { return sweep(spend(1000, foreign)) }},
		{TagSweepFeeRange, func() *Violation { return sweep(spend(1000, wallet)) },
			func() *Violation { return sweep(spend(50, wallet)) }},
		{TagMutualDestinationAllowlisted, func() *Violation { return closing(spend(1000, wallet, foreign)) },
			func() *Violation { return closing(spend(1000, foreign, foreign)) }},
		{TagMutualFeeRange, func() *Violation { return closing(spend(1000, wallet, foreign)) },
			func() *Violation { return closing(spend(160_000, wallet, foreign)) }},
		{TagHTLCLocktime, func() *Violation { return CheckRemoteHTLC(htlc) },
			func() *Violation { h := htlc; h.Locktime = 0; return CheckRemoteHTLC(h) }},
		{TagHTLCSequence, func() *Violation { h := htlc; h.Anchors, h.Sequence = true, 1; return CheckRemoteHTLC(h) },
			func() *Violation { h := htlc; h.Anchors = true; return CheckRemoteHTLC(h) }},
		{TagHTLCVersion, func() *Violation { return CheckRemoteHTLC(htlc) },
			func() *Violation { h := htlc; h.Version = 1; return CheckRemoteHTLC(h) }},
		{TagContestDelayRange, func() *Violation { return CheckContestDelays(144, 2016, lim) },
			func() *Violation { return CheckContestDelays(143, 2016, lim) }},
		{TagCommitmentFeeRange, func() *Violation { return CheckCommitmentFeerate(253, lim) },
			func() *Violation { return CheckCommitmentFeerate(252, lim) }},
		{TagInvoiceNotExpired, func() *Violation { return CheckInvoiceNotExpired(&Invoice{Timestamp: 100, ExpirySeconds: 3600}, 3699) },
			func() *Violation { return CheckInvoiceNotExpired(&Invoice{Timestamp: 100, ExpirySeconds: 3600}, 3700) }},
	}
	for _, tc := range cases {
		t.Run(tc.tag, func(t *testing.T) {
			if v := tc.good(); v != nil {
				t.Errorf("valid request refused: %v", v)
			}
			if v := tc.bad(); v == nil || v.Tag != tc.tag {
				t.Errorf("changed request: got %v, want tag %s", v, tc.tag)
			}
		})
	}
}

// A fee spike does not trip the bounds: 100,000 sat/kw on a 1 BTC close,
// and a 10,000 sat HTLC claimed at 10,000 sat/kw (70 % of it as fee).
func TestFeeSpikeIsNotAViolation(t *testing.T) {
	s := &Spend{InputValue: 100_000_000, Known: true, Outputs: []Output{{Value: 100_000_000 - 70_000, Ours: true}}, WeightMin: 500, WeightMax: 700}
	if v := CheckMutualClose(s, DefaultLimits); v != nil {
		t.Error(v)
	}
	s = &Spend{InputValue: 10_000, Known: true, Outputs: []Output{{Value: 3_000, Ours: true}}, WeightMin: 450, WeightMax: 700}
	if v := CheckSweep(s, DefaultLimits); v != nil {
		t.Error(v)
	}
}

// docs/policy.md lists exactly the tags of Tags.
func TestPolicyDocListsEveryTag(t *testing.T) {
	doc, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	inDoc := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^### `(policy-[a-z0-9-]+)`").FindAllStringSubmatch(string(doc), -1) {
		inDoc[m[1]] = true
	}
	for _, tag := range Tags {
		if !inDoc[tag] {
			t.Errorf("%s is not in docs/policy.md", tag)
		}
		delete(inDoc, tag)
	}
	for tag := range inDoc {
		t.Errorf("docs/policy.md lists %s, which the code does not report", tag)
	}
}
