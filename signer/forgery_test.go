package signer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/keys"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/replay"
)

// The takeover of issue 11: a hostile node asks the node key to sign
// bytes it chose through a message other than sign_message, such that the
// signature verifies as a Greenlight scheduler challenge signature
// (ECDSA over SHA256d("Lightning Signed Message:" ‖ challenge)).

const challengePrefix = "Lightning Signed Message:"

// forgery is one such request and how to take the 64-byte r ‖ s out of
// its reply.
type forgery struct {
	name   string
	client signer.Client
	req    hsmproto.Message
	tag    string // the policy's tag for it
	sig    func(hsmproto.Message) []byte
}

// invoiceChallenge returns a 32-byte challenge whose SHA256d preimage's
// SHA256 (the hrp of the invoice forgery) has no NUL byte (hsmd hashes
// the hrp up to its first NUL); the scheduler's challenges are random, so
// an attacker asks for challenges until one fits (7 in 8 do).
func invoiceChallenge(seed byte) (challenge []byte, hrp [32]byte) {
	for i := 0; ; i++ {
		c := sha256.Sum256([]byte{seed, byte(i)})
		hrp = sha256.Sum256(append([]byte(challengePrefix), c[:]...))
		if bytes.IndexByte(hrp[:], 0) < 0 {
			return c[:], hrp
		}
	}
}

// forgeries are the crafted requests for a challenge (32 bytes, as
// Greenlight's scheduler issues them; cupdate_sig_req needs 47 or more to
// pass CLN's length check).
func forgeries(challenge []byte, channeld signer.Client) []forgery {
	signed := append([]byte(challengePrefix), challenge...)
	gossip := func(typ uint16, sigs int) []byte {
		b := binary.BigEndian.AppendUint16(nil, typ)
		b = append(b, make([]byte, 64*sigs)...)
		return append(b, signed...)
	}
	hrp := sha256.Sum256(signed)
	return []forgery{
		{"node_announcement_sig_req", signer.MasterClient, &hsmproto.NodeAnnouncementSigReq{Announcement: gossip(257, 1)},
			policy.TagNodeAnnouncementFormat, func(m hsmproto.Message) []byte {
				return m.(*hsmproto.NodeAnnouncementSigReply).Signature[:]
			}},
		{"cannouncement_sig_req", channeld, &hsmproto.CannouncementSigReq{Ca: gossip(256, 4)},
			policy.TagChannelAnnouncementFormat, func(m hsmproto.Message) []byte {
				return m.(*hsmproto.CannouncementSigReply).NodeSignature[:]
			}},
		{"sign_any_cannouncement_req", signer.MasterClient, &hsmproto.SignAnyCannouncementReq{Ca: gossip(256, 4), Peerid: hsmproto.NodeID(channeld.PeerID), ChannelDBID: channeld.DBID},
			policy.TagChannelAnnouncementFormat, func(m hsmproto.Message) []byte {
				return m.(*hsmproto.SignAnyCannouncementReply).NodeSignature[:]
			}},
		{"cupdate_sig_req", channeld, &hsmproto.CupdateSigReq{Cu: gossip(258, 1)},
			policy.TagChannelUpdateChain, func(m hsmproto.Message) []byte {
				return m.(*hsmproto.CupdateSigReply).Cu[2:66]
			}},
		{"sign_invoice", signer.MasterClient, &hsmproto.SignInvoice{Hrp: hrp[:]},
			policy.TagInvoiceHRPNetwork, func(m hsmproto.Message) []byte {
				return m.(*hsmproto.SignInvoiceReply).Sig[:64]
			}},
	}
}

// testEngine is an engine on secret 01×32 (shared/vectors' S1).
func testEngine(t *testing.T, opts ...signer.Option) *signer.Engine {
	t.Helper()
	e, err := signer.NewEngine(bytes.Repeat([]byte{1}, 32), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// ask sends m from c and decodes the reply, or returns the refusal.
func ask(t *testing.T, e *signer.Engine, c signer.Client, m hsmproto.Message) (hsmproto.Message, *signer.RefusalError) {
	t.Helper()
	raw, err := e.Handle(context.Background(), c, m.Encode())
	if err != nil {
		var re *signer.RefusalError
		if !errors.As(err, &re) {
			t.Fatalf("not a refusal: %v", err)
		}
		return nil, re
	}
	reply, err := hsmproto.Decode(raw)
	if err != nil {
		t.Fatalf("reply %x does not decode: %v", raw, err)
	}
	return reply, nil
}

// verifiesAsChallenge is the scheduler's check of a challenge signature.
func verifiesAsChallenge(t *testing.T, nodeID [33]byte, challenge, sig []byte) bool {
	t.Helper()
	pub, err := btcec.ParsePubKey(nodeID[:])
	if err != nil {
		t.Fatal(err)
	}
	var r, s btcec.ModNScalar
	if len(sig) != 64 || r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) {
		return false
	}
	h := keys.SignedMessageHash(challenge)
	return ecdsa.NewSignature(&r, &s).Verify(h[:], pub)
}

// Under off (CLN's behaviour) every crafted request yields a valid
// challenge signature: the attack is real. Under enforce each is refused
// with its tag; under warn it is signed and reported with that tag.
func TestChallengeForgery(t *testing.T) {
	peer := [33]byte{0x03, 0x4f, 0x35}
	for i := 3; i < 33; i++ {
		peer[i] = byte(i)
	}
	channeld := signer.Client{PeerID: peer, DBID: 7, Capabilities: 447}
	c32, _ := invoiceChallenge(1)
	c47 := bytes.Repeat([]byte{0x5b}, 47) // odd: its must_be_one flag is set
	for _, mode := range policy.Modes {
		t.Run(string(mode), func(t *testing.T) {
			var reported []string
			e := testEngine(t, signer.WithPolicyMode(mode), signer.WithNetwork("regtest"),
				signer.WithPolicyReporter(func(c signer.Client, typ uint16, v *policy.Violation) {
					reported = append(reported, fmt.Sprintf("%d %s", typ, v.Tag))
				}))
			for _, challenge := range [][]byte{c32, c47} {
				for _, f := range forgeries(challenge, channeld) {
					if f.name == "sign_invoice" && len(challenge) != 32 {
						continue
					}
					t.Run(fmt.Sprintf("%s/%d-byte challenge", f.name, len(challenge)), func(t *testing.T) {
						reported = nil
						reply, re := ask(t, e, f.client, f.req)
						if f.name == "cupdate_sig_req" && len(challenge) < 47 {
							// 66 + 57 bytes: shorter than a channel_update,
							// refused by CLN's own length check.
							if re == nil || re.Reason != "Bad inner channel_update" || re.Tag != signer.TagEngine {
								t.Fatalf("got %v; want CLN's refusal", re)
							}
							return
						}
						switch mode {
						case policy.ModeEnforce:
							if re == nil || re.Tag != f.tag || re.Fatal {
								t.Fatalf("answered or refused otherwise (%v); want a refusal tagged %s", re, f.tag)
							}
							if len(reported) != 0 {
								t.Errorf("enforce reported %v", reported)
							}
						case policy.ModeWarn, policy.ModeOff:
							if re != nil {
								t.Fatalf("refused: %v", re)
							}
							if !verifiesAsChallenge(t, e.NodeID(), challenge, f.sig(reply)) {
								t.Fatal("the signature does not verify as a challenge signature")
							}
							want := []string(nil)
							if mode == policy.ModeWarn {
								want = []string{fmt.Sprintf("%d %s", f.req.MsgType(), f.tag)}
							}
							if fmt.Sprint(reported) != fmt.Sprint(want) {
								t.Errorf("reported %v; want %v", reported, want)
							}
						}
					})
				}
			}
		})
	}
}

// The engine holds gossip and invoices to the configured network, not to
// the one an hsmd_init names, and refuses under enforce when it knows of
// none.
func TestPolicyNetwork(t *testing.T) {
	data := []byte{0, 1, 20, 9, 30, 0, 0}
	inv := func() *hsmproto.SignInvoice {
		d := append(bytes.Clone(data), 1, 1, 20) // p, length 52
		d = append(d, make([]byte, 52)...)
		d = append(d, 13, 0, 2, 1, 2) // d, length 2
		return &hsmproto.SignInvoice{Hrp: []byte("lnbc25u"), U5bytes: d}
	}
	for _, tc := range []struct {
		name string
		opts []signer.Option
		tag  string
	}{
		{"default: mainnet BIP32 versions", nil, ""},
		{"configured bitcoin", []signer.Option{signer.WithNetwork("bitcoin")}, ""},
		{"configured regtest", []signer.Option{signer.WithNetwork("regtest")}, policy.TagInvoiceHRPNetwork},
		{"testnet BIP32 versions, no network", []signer.Option{signer.WithBIP32Version(keys.BIP32Testnet)}, policy.TagNetworkUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testEngine(t, tc.opts...)
			_, re := ask(t, e, signer.MasterClient, inv())
			switch {
			case tc.tag == "" && re != nil:
				t.Fatalf("refused: %v", re)
			case tc.tag != "" && (re == nil || re.Tag != tc.tag):
				t.Fatalf("got %v; want a refusal tagged %s", re, tc.tag)
			}
		})
	}
	if _, err := signer.NewEngine(make([]byte, 32), signer.WithNetwork("moonnet")); err == nil {
		t.Error("signer.NewEngine accepted network moonnet")
	}
	if _, err := signer.NewEngine(make([]byte, 32), signer.WithPolicyMode("strict")); err == nil {
		t.Error("signer.NewEngine accepted policy mode strict")
	}
}

// derive_secret hands out only the labels a Greenlight node needs.
func TestDeriveSecretLabels(t *testing.T) {
	for _, mode := range policy.Modes {
		e := testEngine(t, signer.WithPolicyMode(mode))
		for _, label := range append(policy.DeriveSecretLabels, "NOSTRSECRET") {
			_, re := ask(t, e, signer.MasterClient, &hsmproto.DeriveSecret{Info: []byte(label)})
			refused := mode == policy.ModeEnforce && label == "NOSTRSECRET"
			if refused != (re != nil) || (re != nil && re.Tag != policy.TagDeriveSecretLabel) {
				t.Errorf("%s: derive_secret %q: %v", mode, label, re)
			}
		}
	}
}

var updateForgery = flag.Bool("update-forgery", false, "rewrite testdata/forgery.jsonl")

// s1Init is the hsmd_init of shared/vectors' S1 (secret 01×32, bitcoin).
const s1Init = "000b0488b21e0488ade46fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d619000000000000000000000000000500000006"

// forgeryVectors are the forgeries as vector lines (shared/vectors
// format): the response is what CLN's hsmd (our engine with the policy
// off) answers, and "expect": "reject" says a validating signer must
// refuse them.
func forgeryVectors(t *testing.T) []byte {
	t.Helper()
	secret := bytes.Repeat([]byte{1}, 32)
	e, err := signer.NewEngine(secret, signer.WithPolicyMode(policy.ModeOff))
	if err != nil {
		t.Fatal(err)
	}
	peer := [33]byte{0x03, 0x4f, 0x35}
	for i := 3; i < 33; i++ {
		peer[i] = byte(i)
	}
	channeld := signer.Client{PeerID: peer, DBID: 7, Capabilities: 447}
	var out bytes.Buffer
	seq := 0
	add := func(name string, c signer.Client, raw []byte, extra map[string]any) {
		resp, err := e.Handle(context.Background(), c, raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		l := map[string]any{
			"name": name, "scenario": "S1/forgery", "seq": seq, "secret": hex.EncodeToString(secret),
			"network": "bitcoin", "hsm_versions": []int{5, 6}, "client": "master", "context": nil,
			"request_type": int(binary.BigEndian.Uint16(raw)), "request_name": hsmproto.MessageName(binary.BigEndian.Uint16(raw)),
			"request": hex.EncodeToString(raw), "response": hex.EncodeToString(resp), "error": nil,
			"response_name": hsmproto.MessageName(binary.BigEndian.Uint16(resp)),
		}
		if c != signer.MasterClient {
			l["client"] = "channeld"
			l["context"] = map[string]any{"peer_id": hex.EncodeToString(c.PeerID[:]), "dbid": c.DBID, "capabilities": c.Capabilities}
		}
		for k, v := range extra {
			l[k] = v
		}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(append(b, '\n'))
		seq++
	}
	init, _ := hex.DecodeString(s1Init)
	add("init", signer.MasterClient, init, nil)
	c32, _ := invoiceChallenge(1)
	c47 := bytes.Repeat([]byte{0x5b}, 47)
	for _, challenge := range [][]byte{c32, c47} {
		for _, f := range forgeries(challenge, channeld) {
			if (f.name == "cupdate_sig_req") != (len(challenge) == 47) {
				continue // cupdate needs 47 bytes; the rest use Greenlight's 32
			}
			add(f.name+" forging a challenge signature", f.client, f.req.Encode(), map[string]any{
				"expect": "reject", "policy": f.tag,
				"note": fmt.Sprintf("the node key's signature in the reply verifies as a Greenlight scheduler signature of challenge %x", challenge),
			})
		}
	}
	return out.Bytes()
}

// testdata/forgery.jsonl (also in cmd/gl-signerd's replay_forgery.txt)
// is what forgeryVectors makes: replayed under enforce every forgery is
// refused; under off, the engine signs them as CLN's hsmd does.
func TestForgeryVectors(t *testing.T) {
	want := forgeryVectors(t)
	path := filepath.Join("testdata", "forgery.jsonl")
	if *updateForgery {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what forgeryVectors makes now; go test -run TestForgeryVectors -update-forgery ./signer", path)
	}
	script, err := os.ReadFile(filepath.Join("..", "cmd", "gl-signerd", "testdata", "script", "replay_forgery.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(script, append([]byte("-- forgery.jsonl --\n"), want...)) {
		t.Errorf("cmd/gl-signerd/testdata/script/replay_forgery.txt does not hold %s", path)
	}
	lines, err := replay.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []replay.Policy{replay.PolicyEnforce, replay.PolicyOff} {
		sum, err := replay.Run(context.Background(), lines, replay.Options{Policy: p}, func(r replay.Result) {
			if p == replay.PolicyEnforce && !r.Pass {
				t.Errorf("enforce: %s", r.Explain())
			}
			if p == replay.PolicyOff && r.Line.MustRefuse() && (r.Pass || !r.NeedsPolicy) {
				t.Errorf("off: %s was not signed: %v", r.Line.ID(), r.Err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d passed, %d failed", p, sum.Passed, sum.Failed)
	}
}
