package signer_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"gl-signerd/signer"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/replay"
	"gl-signerd/signer/state"
)

// channelTags are the tags of the channel life-cycle checks on state
// (policy/channel.go): the policy vectors hold an attack for each, and
// TestChannelTagsOnVectors replays them through engines with state.
var channelTags = func() map[string]bool {
	m := map[string]bool{}
	for _, tag := range policy.ChannelTags {
		m[tag] = true
	}
	return m
}()

// statefulHandlers makes each replayed file's engine with a fresh store.
func statefulHandlers(t *testing.T, opts ...signer.Option) func(secret []byte) (replay.Handler, error) {
	n := 0
	return func(secret []byte) (replay.Handler, error) {
		n++
		st, err := state.Open(filepath.Join(t.TempDir(), fmt.Sprintf("%d-%s", n, state.FileName)))
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { st.Close() })
		return signer.NewEngine(secret, append([]signer.Option{signer.WithState(st)}, opts...)...)
	}
}

// The policy vectors through engines with state: every honest line is
// answered (benign lifecycles and the attacks' prefixes, the valid
// requests each attack changes), every attack on a channel life-cycle
// rule is refused with exactly its tag under enforce, and signed with that
// tag reported when the tag is on the warn list.
func TestChannelTagsOnVectors(t *testing.T) {
	benign, err := replay.ReadFile(sharedVectors(t, "policy/benign.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	attacks, err := replay.ReadFile(sharedVectors(t, "policy/attacks.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]bool{}
	for _, warn := range []bool{false, true} {
		var reported []string
		attacksSeen := 0
		var opts []signer.Option
		if warn {
			opts = append(opts, signer.WithPolicyWarn(policy.ChannelTags),
				signer.WithPolicyReporter(func(_ signer.Client, _ uint16, v *policy.Violation) { reported = append(reported, v.Tag) }))
		}
		for _, lines := range [][]*replay.Line{benign, attacks} {
			_, err := replay.Run(context.Background(), lines, replay.Options{Policy: replay.PolicyEnforce, NewHandler: statefulHandlers(t, opts...)}, func(r replay.Result) {
				l := r.Line
				if l.Expect != replay.ExpectReject {
					if r.Err != nil {
						t.Errorf("warn=%v: honest line %s refused: %v", warn, l.Name, r.Err)
					}
					return
				}
				if !channelTags[l.Policy] {
					return
				}
				attacksSeen++
				var re *signer.RefusalError
				switch {
				case !warn && !errors.As(r.Err, &re):
					t.Errorf("%s: answered, want refused with %s", l.Scenario, l.Policy)
				case !warn && re.Tag != l.Policy:
					t.Errorf("%s: refused with %q, want %s", l.Scenario, re.Tag, l.Policy)
				case !warn:
					refused[l.Policy] = true
				case r.Err != nil:
					t.Errorf("%s: refused under warn: %v", l.Scenario, r.Err)
				case len(reported) == 0 || reported[len(reported)-1] != l.Policy:
					t.Errorf("%s: signed under warn, reported %v, want %s last", l.Scenario, reported, l.Policy)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if warn && len(reported) != attacksSeen {
			// Honest lines report nothing: one report per attack.
			t.Errorf("%d violations reported under warn for %d attacks: %v", len(reported), attacksSeen, reported)
		}
	}
	for _, tag := range policy.ChannelTags {
		if !refused[tag] {
			t.Errorf("no attack refused with %s", tag)
		}
	}
}
