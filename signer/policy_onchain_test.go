package signer_test

import (
	"context"
	"errors"
	"testing"

	"gl-signerd/internal/sharedfiles"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/replay"
)

// onchainTags are the tags of the checks that need no channel state; the
// policy vectors hold an attack for each one the vectors name, and
// TestOnchainRulesTable covers them all on hand-made descriptors.
var onchainTags = map[string]bool{
	policy.TagOnchainNoUnknownOutputs: true, policy.TagOnchainFeeRange: true,
	policy.TagSweepDestinationAllowlisted: true, policy.TagSweepFeeRange: true,
	policy.TagMutualDestinationAllowlisted: true, policy.TagMutualFeeRange: true,
	policy.TagHTLCLocktime: true, policy.TagHTLCSequence: true, policy.TagHTLCVersion: true,
	policy.TagContestDelayRange: true, policy.TagCommitmentFeeRange: true, policy.TagInvoiceNotExpired: true,
}

// The policy vectors through the engine: every honest line is answered,
// and every attack on a stateless rule is refused with exactly its tag
// under enforce, and signed with that tag reported when the tag is on the
// warn list.
func TestOnchainTagsOnVectors(t *testing.T) {
	lines, err := replay.ReadFile("../../shared/vectors/policy/attacks.jsonl")
	if err != nil {
		sharedfiles.Missing(t, "policy vectors not available: %v", err)
	}
	refused := map[string]bool{}
	for _, warn := range []bool{false, true} {
		var reported []string
		_, err := replay.Run(context.Background(), lines, replay.Options{
			Policy: policy.ModeEnforce,
			NewHandler: func(secret []byte) (replay.Handler, error) {
				var opts []signer.Option
				if warn {
					opts = append(opts, signer.WithPolicyWarn([]string{"policy-onchain-*", "policy-sweep-*", "policy-mutual-*",
						"policy-htlc-*", policy.TagContestDelayRange, policy.TagCommitmentFeeRange, policy.TagInvoiceNotExpired}),
						signer.WithPolicyReporter(func(_ signer.Client, _ uint16, v *policy.Violation) { reported = append(reported, v.Tag) }))
				}
				return signer.NewEngine(secret, opts...)
			},
		}, func(r replay.Result) {
			l := r.Line
			if l.Expect != replay.ExpectReject {
				if r.Err != nil {
					t.Errorf("warn=%v: honest line %s refused: %v", warn, l.Name, r.Err)
				}
				return
			}
			if !onchainTags[l.Policy] {
				return
			}
			var re *signer.RefusalError
			switch {
			case !warn && !errors.As(r.Err, &re):
				t.Errorf("%s: answered, want refused with %s", l.Name, l.Policy)
			case !warn && re.Tag != l.Policy:
				t.Errorf("%s: refused with %q, want %s", l.Name, re.Tag, l.Policy)
			case !warn:
				refused[l.Policy] = true
			case r.Err != nil:
				t.Errorf("%s: refused under warn: %v", l.Name, r.Err)
			case len(reported) == 0 || reported[len(reported)-1] != l.Policy:
				t.Errorf("%s: signed under warn, reported %v, want %s last", l.Name, reported, l.Policy)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tag := range []string{policy.TagOnchainNoUnknownOutputs, policy.TagOnchainFeeRange, policy.TagSweepDestinationAllowlisted,
		policy.TagMutualDestinationAllowlisted, policy.TagMutualFeeRange, policy.TagHTLCLocktime, policy.TagHTLCSequence,
		policy.TagContestDelayRange, policy.TagCommitmentFeeRange, policy.TagInvoiceNotExpired} {
		if !refused[tag] {
			t.Errorf("no attack refused with %s", tag)
		}
	}
}
