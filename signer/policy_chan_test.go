package signer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/traffic"
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

// approveAll auto-approves every payment and channel (the operator's
// authorization, authorize.go), as the vectors assume an approver that
// says yes: these tests are about the channel checks.
var approveAll = signer.WithAuthorization(signer.AuthorizationSettings{AutoApproveBelowMsat: 1 << 62, AutoApproveChannelsBelowSat: 1 << 62})

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
		return signer.NewEngine(secret, append([]signer.Option{signer.WithState(st), approveAll}, opts...)...)
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
		files := [][]*replay.Line{benign, attacks}
		if warn {
			// Only the scenarios of channel attacks (and the boot lines):
			// the enforce pass already held every honest line to no false
			// alarm.
			files = [][]*replay.Line{channelScenarios(attacks)}
		}
		for _, lines := range files {
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

// channelScenarios keeps the lines of the scenarios whose attack breaks a
// channel rule, and the lines before the first scenario (hsmd_init).
func channelScenarios(lines []*replay.Line) []*replay.Line {
	keep := map[string]bool{}
	for _, l := range lines {
		if l.Expect == replay.ExpectReject && channelTags[l.Policy] {
			keep[l.Scenario] = true
		}
	}
	var out []*replay.Line
	for i, l := range lines {
		if keep[l.Scenario] || i == 0 || l.Scenario == lines[0].Scenario {
			out = append(out, l)
		}
	}
	return out
}

// FuzzChannelChecksWithState: arbitrary requests, on the clients of
// channels with real state (the attack vectors' honest prefixes replayed
// first: channels set up, commitments signed and countersigned, secrets
// revealed), reach the channel life-cycle checks (descriptors built from
// the decoded message and the state: sighashes, rebuilt HTLC
// transactions, balances) under warn, so that the answer and its state
// change follow too. No panic; every answer a reply or a *RefusalError.
func FuzzChannelChecksWithState(f *testing.F) {
	st, err := state.Open(filepath.Join(f.TempDir(), state.FileName))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	var clients []signer.Client
	seen := map[signer.Client]bool{}
	lines, _ := replay.ReadFile("../../shared/vectors/policy/attacks.jsonl")
	var secret []byte
	if len(lines) > 0 {
		secret = lines[0].Secret
	} else {
		secret = make([]byte, 32)
	}
	e, err := signer.NewEngine(secret, signer.WithState(st), signer.WithPolicyMode(policy.ModeWarn), approveAll)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{0, 35}, uint8(0), uint64(24))
	for _, l := range lines {
		c := l.SignerClient()
		if l.Expect == replay.ExpectReject {
			f.Add([]byte(l.Request), uint8(len(clients)), c.Capabilities)
			continue
		}
		_, _ = e.Handle(context.Background(), c, l.Request)
		if !c.IsMaster() && !seen[c] {
			seen[c] = true
			clients = append(clients, c)
		}
		f.Add([]byte(l.Request), uint8(len(clients)), c.Capabilities)
	}
	if len(clients) == 0 {
		clients = []signer.Client{{PeerID: [33]byte{2}, DBID: 1, Capabilities: 24}}
	}
	f.Fuzz(func(t *testing.T, raw []byte, which uint8, caps uint64) {
		c := signer.MasterClient
		if which != 0 {
			c = clients[int(which-1)%len(clients)]
			c.Capabilities = caps & 0x7ff &^ signer.CapMaster
		}
		reply, err := e.Handle(context.Background(), c, raw)
		checkAnswer(t, c, raw, reply, err)
	})
}

// Below wire version 6, get_per_commitment_point n reveals secret n−2: it
// obeys revoke_commitment_tx's rule (policy-revoke-new-commitment-signed).
// An honest channel runs on a version 6 engine; engines of the same seed on
// the same store then answer as version 5 in each mode.
func TestOldSecretsOfVersion5FollowRevocation(t *testing.T) {
	ctx := context.Background()
	e, st := statefulEngine(t, 0x23)
	rec := &recording{send: traffic.EngineSender(e)}
	init, _ := e.InitReply("bitcoin")
	g, err := traffic.New(init, rec.sender, traffic.Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := g.RunLifecycle(ctx, traffic.Lifecycle{Channel: traffic.ChannelOptions{WeFund: true}, Payments: 2, Close: traffic.CloseNone})
	if err != nil {
		t.Fatal(err)
	}
	local, _ := ch.Commitments()
	var channeld signer.Client
	for _, r := range rec.reqs {
		if r.Type() == hsmproto.TypeRevokeCommitmentTx {
			channeld = r.Client
		}
	}
	for _, mode := range policy.Modes {
		var reported []string
		v5, err := signer.NewEngine(bytes.Repeat([]byte{0x23}, 32), signer.WithState(st), signer.WithPolicyMode(mode), approveAll,
			signer.WithPolicyReporter(func(_ signer.Client, _ uint16, v *policy.Violation) { reported = append(reported, v.Tag) }))
		if err != nil {
			t.Fatal(err)
		}
		init, _ := hsmproto.InitFor("bitcoin", 4, 5)
		if _, err := v5.Handle(ctx, signer.MasterClient, init.Encode()); err != nil {
			t.Fatal(err)
		}
		// local+1 reveals secret local−1: commitment local is countersigned.
		if _, err := v5.Handle(ctx, channeld, (&hsmproto.GetPerCommitmentPoint{N: local + 1}).Encode()); err != nil {
			t.Errorf("%s: point %d (secret %d, revoked already) refused: %v", mode, local+1, local-1, err)
		}
		// local+2 would reveal secret local before local+1 is countersigned.
		_, err = v5.Handle(ctx, channeld, (&hsmproto.GetPerCommitmentPoint{N: local + 2}).Encode())
		var re *signer.RefusalError
		switch {
		case mode == policy.ModeEnforce && (!errors.As(err, &re) || re.Tag != policy.TagRevokeNewCommitmentSigned):
			t.Errorf("enforce: point %d revealing secret %d: %v, want refused with %s", local+2, local, err, policy.TagRevokeNewCommitmentSigned)
		case mode != policy.ModeEnforce && err != nil:
			t.Errorf("%s: refused: %v", mode, err)
		}
		want := 0
		if mode == policy.ModeWarn {
			want = 1
		}
		if len(reported) != want {
			t.Errorf("%s: reported %v", mode, reported)
		}
	}
}

// Every channel tag through the engine on honest traffic (no vectors
// needed): a recorded honest history (a channel closed and forgotten, then
// one left open after payments) is replayed on a fresh engine with state,
// then a valid request is answered, and a minimally changed one is refused
// with exactly its tag under enforce, signed and reported under warn.
func TestChannelTagsThroughEngine(t *testing.T) {
	ctx := context.Background()
	const seed = 0x24
	e, _ := statefulEngine(t, seed)
	rec := &recording{send: traffic.EngineSender(e)}
	init, _ := e.InitReply("bitcoin")
	g, err := traffic.New(init, rec.sender, traffic.Options{Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := g.RunLifecycle(ctx, traffic.Lifecycle{Channel: traffic.ChannelOptions{Anchors: true}, Payments: 1, Close: traffic.CloseMutual})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := g.RunLifecycle(ctx, traffic.Lifecycle{Channel: traffic.ChannelOptions{WeFund: true, Anchors: true}, Payments: 3, Close: traffic.CloseNone})
	if err != nil {
		t.Fatal(err)
	}
	// The open channel's last requests of each kind, and the one before.
	last := map[uint16][]hsmproto.Message{}
	var channeld signer.Client
	for _, r := range rec.reqs {
		if r.Client.DBID != ch.DBID() && r.Type() != hsmproto.TypeNewChannel {
			continue
		}
		m, err := hsmproto.Decode(r.Raw)
		if err != nil {
			t.Fatal(err)
		}
		last[r.Type()] = append(last[r.Type()], m)
		if r.Type() == hsmproto.TypeRevokeCommitmentTx {
			channeld = r.Client
		}
	}
	at := func(typ uint16, back int) hsmproto.Message {
		ms := last[typ]
		return ms[len(ms)-1-back]
	}
	validated := at(hsmproto.TypeValidateCommitmentTx, 0).(*hsmproto.ValidateCommitmentTx)
	before := at(hsmproto.TypeValidateCommitmentTx, 1).(*hsmproto.ValidateCommitmentTx)
	remote := at(hsmproto.TypeSignRemoteCommitmentTx, 0).(*hsmproto.SignRemoteCommitmentTx)
	remoteBefore := at(hsmproto.TypeSignRemoteCommitmentTx, 1).(*hsmproto.SignRemoteCommitmentTx)
	revoked := at(hsmproto.TypeRevokeCommitmentTx, 0).(*hsmproto.RevokeCommitmentTx)
	revocation := at(hsmproto.TypeValidateRevocation, 0).(*hsmproto.ValidateRevocation)
	setup := at(hsmproto.TypeSetupChannel, 0).(*hsmproto.SetupChannel)
	broadcast := func(v *hsmproto.ValidateCommitmentTx) hsmproto.Message {
		return &hsmproto.SignCommitmentTx{PeerID: ch.PeerID(), ChannelDBID: ch.DBID(), Tx: v.Tx, RemoteFundingKey: remote.RemoteFundingKey, CommitNum: v.CommitNum}
	}
	badSig := *validated
	badSig.Sig.Sig[10] ^= 1
	badSecret := *revocation
	badSecret.RevokeNum++
	badSecret.PerCommitmentSecret[0] ^= 1
	otherSetup := *setup
	otherSetup.ChannelValue++
	otherTx := *remote
	otherTx.Tx = remoteBefore.Tx
	ahead := *remote
	ahead.CommitNum += 2

	cases := []struct {
		tag        string
		client     signer.Client
		valid, bad hsmproto.Message
	}{
		{policy.TagCommitmentHolderNotRevoked, signer.MasterClient, broadcast(validated), broadcast(before)},
		{policy.TagRevokeNewCommitmentSigned, channeld, revoked, &hsmproto.RevokeCommitmentTx{CommitNum: revoked.CommitNum + 1}},
		{policy.TagCommitmentSignature, channeld, validated, &badSig},
		{policy.TagCommitmentPreviousRevoked, channeld, revocation, &badSecret},
		{policy.TagCommitmentPreviousRevoked, channeld, remote, &ahead},
		{policy.TagCommitmentRetrySame, channeld, remote, &otherTx},
		{policy.TagOriginalChannelIDReuse, signer.MasterClient, &hsmproto.NewChannel{ID: ch.PeerID(), DBID: ch.DBID() + 1},
			&hsmproto.NewChannel{ID: gone.PeerID(), DBID: gone.DBID()}},
		{policy.TagOriginalChannelIDReuse, channeld, setup, &otherSetup},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d-%s", i, tc.tag), func(t *testing.T) {
			for _, mode := range []policy.Mode{policy.ModeEnforce, policy.ModeWarn} {
				var reported []string
				_, st := statefulEngine(t, seed)
				e, err := signer.NewEngine(bytes.Repeat([]byte{seed}, 32), signer.WithState(st), approveAll,
					signer.WithPolicyMode(mode), signer.WithPolicyReporter(func(_ signer.Client, _ uint16, v *policy.Violation) { reported = append(reported, v.Tag) }))
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rec.reqs {
					if _, err := e.Handle(ctx, r.Client, r.Raw); err != nil {
						t.Fatalf("%s: honest %s refused: %v", mode, r.Name, err)
					}
				}
				// The valid request (a repeat or the next step) first, then
				// the changed one on the same state.
				for _, bad := range []bool{false, true} {
					reported = nil
					m := tc.valid
					if bad {
						m = tc.bad
					}
					_, err = e.Handle(ctx, tc.client, m.Encode())
					var re *signer.RefusalError
					refuse := bad && mode == policy.ModeEnforce
					switch {
					case refuse && (!errors.As(err, &re) || re.Tag != tc.tag):
						t.Errorf("%s, bad %s: %v; want refused with %s", mode, m.MsgName(), err, tc.tag)
					case !refuse && err != nil:
						t.Errorf("%s, bad=%v %s: refused: %v", mode, bad, m.MsgName(), err)
					}
					want := 0
					if bad && mode == policy.ModeWarn {
						want = 1
					}
					if len(reported) != want || want == 1 && reported[0] != tc.tag {
						t.Errorf("%s, bad=%v: reported %v", mode, bad, reported)
					}
				}
			}
		})
	}
}
