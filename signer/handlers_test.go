package signer

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
	"gl-signerd/signer/policy"
)

// Behaviour of the non-transaction handlers beyond what the vectors show:
// hsmd_init's negotiation and state, the init reply accessor, BIP86 seeds,
// and the refusals of the gossip, key-check and commitment-point handlers.

// hsmd's init replies for secret 01×32 (shared/vectors S1/boot and
// S1-regtest-v6/boot-regtest, seq 0).
const (
	s1InitReplyBitcoin = "007200000006000d0000001c000000380000008e00000093000000950000001d000000200000002200000028000000290000002d0000003300000034026f61d7ee82f937f9697f4f3e44bfaaa25849cc4f526b3a57326130eba63460020488b21e02b7c1af190000000012efaf332fe286265e337116048425e4b36450eca083325421f3e88f23dda21a0364e5b8630f2d545edcba31fe699eb4be168695b55641a190547348c61f55c4da020174484267a2a41ed28c7e923bab4ababafa883e1ac5f256caed2c8fa9abaf22010100"
	s1InitReplyRegtest = "007200000006000d0000001c000000380000008e00000093000000950000001d000000200000002200000028000000290000002d0000003300000034026f61d7ee82f937f9697f4f3e44bfaaa25849cc4f526b3a57326130eba6346002043587cf02b7c1af190000000012efaf332fe286265e337116048425e4b36450eca083325421f3e88f23dda21a0364e5b8630f2d545edcba31fe699eb4be168695b55641a190547348c61f55c4da020174484267a2a41ed28c7e923bab4ababafa883e1ac5f256caed2c8fa9abaf22010100"
)

var channeld = Client{PeerID: testPeer, DBID: 40, Capabilities: 447}

func initMsg(network string, min, max uint32) *hsmproto.Init {
	m, err := hsmproto.InitFor(network, min, max)
	if err != nil {
		panic(err)
	}
	return m
}

// ask sends m from c and returns the decoded reply or the refusal.
func ask(t *testing.T, e *Engine, c Client, m hsmproto.Message) (hsmproto.Message, *RefusalError) {
	t.Helper()
	raw, err := e.Handle(context.Background(), c, m.Encode())
	if err != nil {
		return nil, refusal(t, err)
	}
	reply, derr := hsmproto.Decode(raw)
	if derr != nil {
		t.Fatalf("reply %x does not decode: %v", raw, derr)
	}
	return reply, nil
}

func mustRefuse(t *testing.T, re *RefusalError, reason string, fatal bool) {
	t.Helper()
	if re == nil {
		t.Fatalf("answered; want a refusal %q", reason)
	}
	if !strings.Contains(re.Reason, reason) || re.Fatal != fatal {
		t.Fatalf("refusal %q (fatal %v); want %q (fatal %v)", re.Reason, re.Fatal, reason, fatal)
	}
}

func TestInitNegotiation(t *testing.T) {
	for _, tc := range []struct {
		min, max uint32
		want     uint32 // 0: refused
	}{
		{5, 6, 6}, {5, 5, 5}, {4, 4, 4}, {4, 9, 6}, {6, 6, 6}, {6, 100, 6},
		{1, 3, 0}, {7, 9, 0}, {0, 0, 0},
	} {
		e := testEngine(t)
		reply, re := ask(t, e, MasterClient, initMsg("regtest", tc.min, tc.max))
		if tc.want == 0 {
			mustRefuse(t, re, "not valid: we need 4-6", true)
			if e.Version() != 6 || e.Network() != "" {
				t.Errorf("[%d, %d]: a refused init changed the state (version %d, network %q)", tc.min, tc.max, e.Version(), e.Network())
			}
			continue
		}
		if re != nil {
			t.Fatalf("[%d, %d]: %v", tc.min, tc.max, re)
		}
		if got := reply.(*hsmproto.InitReplyV4).HsmVersion; got != tc.want || e.Version() != tc.want {
			t.Errorf("[%d, %d]: reply version %d, engine %d; want %d", tc.min, tc.max, got, e.Version(), tc.want)
		}
		if e.Network() != "regtest" {
			t.Errorf("network %q", e.Network())
		}
	}
}

func TestInitRefusals(t *testing.T) {
	e := testEngine(t)
	m := initMsg("bitcoin", 5, 6)
	m.Bip32KeyVersion.Bip32PrivkeyVersion = 0x11111111
	_, re := ask(t, e, MasterClient, m)
	mustRefuse(t, re, "BIP32 key versions", true)

	m = initMsg("bitcoin", 5, 6)
	m.DevForcePrivkey = &hsmproto.Privkey{1}
	_, re = ask(t, e, MasterClient, m)
	mustRefuse(t, re, "dev_force", true)

	// A genesis hash CLN does not know is accepted (its chainparams stay
	// NULL); the network is then unnamed.
	m = initMsg("bitcoin", 5, 6)
	m.Chainparams = hsmproto.Chainparams(chainhash.DoubleHashH([]byte("moonnet")))
	if _, re = ask(t, e, MasterClient, m); re != nil {
		t.Fatal(re)
	}
	if e.Network() != "" {
		t.Errorf("network %q for an unknown genesis hash", e.Network())
	}
	// The passphrase TLV and the encryption key are accepted and unused.
	pass := "correct horse"
	m = initMsg("bitcoin", 5, 6)
	m.Tlvs.HsmPassphrase = &pass
	m.HsmEncryptionKey = &hsmproto.Secret{9}
	reply, re := ask(t, e, MasterClient, m)
	if re != nil {
		t.Fatal(re)
	}
	if got := hex.EncodeToString(reply.Encode()); got != s1InitReplyBitcoin {
		t.Errorf("init reply with a passphrase TLV:\n got %s\nwant %s", got, s1InitReplyBitcoin)
	}
}

func TestInitReply(t *testing.T) {
	e := testEngine(t)
	for network, want := range map[string]string{"bitcoin": s1InitReplyBitcoin, "regtest": s1InitReplyRegtest, "signet": s1InitReplyRegtest} {
		got, err := e.InitReply(network)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != want {
			t.Errorf("%s:\n got %x\nwant %s", network, got, want)
		}
	}
	if _, err := e.InitReply("moonnet"); err == nil {
		t.Error("InitReply(moonnet): no error")
	}
	if e.Network() != "" || e.Version() != 6 {
		t.Errorf("InitReply changed the state: %q %d", e.Network(), e.Version())
	}
	// After hsmd_init [5, 5] the accessor reports what the engine does.
	if _, re := ask(t, e, MasterClient, initMsg("bitcoin", 5, 5)); re != nil {
		t.Fatal(re)
	}
	got, _ := e.InitReply("bitcoin")
	if m, _ := hsmproto.Decode(got); m.(*hsmproto.InitReplyV4).HsmVersion != 5 {
		t.Errorf("InitReply after init [5, 5]: %x", got)
	}
	// The handler's reply and the accessor agree.
	raw, err := e.Handle(context.Background(), MasterClient, initMsg("regtest", 5, 6).Encode())
	if err != nil || hex.EncodeToString(raw) != s1InitReplyRegtest {
		t.Errorf("hsmd_init regtest: %x %v", raw, err)
	}
}

// A 64-byte (mnemonic) seed: the init reply carries the BIP86 account
// xpub, and check_bip86_pubkey works; with a 32-byte secret it is refused.
func TestBIP86(t *testing.T) {
	seed := bytes.Repeat([]byte{0x5a}, 64)
	e, err := NewEngine(seed)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	reply, re := ask(t, e, MasterClient, initMsg("bitcoin", 5, 6))
	if re != nil {
		t.Fatal(re)
	}
	ir := reply.(*hsmproto.InitReplyV4)
	wantBase, _ := ring.BIP86BaseExtKey(keys.BIP32Mainnet)
	if ir.Tlvs.Bip86Base == nil || *ir.Tlvs.Bip86Base != hsmproto.ExtKey(wantBase) {
		t.Errorf("bip86_base TLV %v", ir.Tlvs.Bip86Base)
	}
	if ir.Tlvs.HsmSecretType == nil || *ir.Tlvs.HsmSecretType != uint8(keys.SecretMnemonicNoPass) {
		t.Errorf("hsm_secret_type %v", ir.Tlvs.HsmSecretType)
	}
	k, _ := ring.BIP86Key(7)
	good := hsmproto.PubkeyFrom(k.PubKey())
	if reply, re := ask(t, e, MasterClient, &hsmproto.CheckBip86Pubkey{Index: 7, Pubkey: good}); re != nil || !reply.(*hsmproto.CheckBip86PubkeyReply).Ok {
		t.Errorf("check_bip86_pubkey 7: %v %v", reply, re)
	}
	_, re = ask(t, e, MasterClient, &hsmproto.CheckBip86Pubkey{Index: 8, Pubkey: good})
	mustRefuse(t, re, "BIP86 derivation index 8 differed", true)
	_, re = ask(t, e, MasterClient, &hsmproto.CheckBip86Pubkey{Index: 1 << 31, Pubkey: good})
	mustRefuse(t, re, "too great", true)

	_, re = ask(t, testEngine(t), MasterClient, &hsmproto.CheckBip86Pubkey{Index: 7, Pubkey: good})
	mustRefuse(t, re, "requires mnemonic-based HSM secret", true)
}

func TestCheckPubkeyRefusals(t *testing.T) {
	e := testEngine(t)
	pk, _ := e.ring.WalletPubKey(3)
	_, re := ask(t, e, MasterClient, &hsmproto.CheckPubkey{Index: 4, Pubkey: hsmproto.PubkeyFrom(pk)})
	mustRefuse(t, re, "BIP32 derivation index 4 differed", true)
	_, re = ask(t, e, MasterClient, &hsmproto.CheckPubkey{Index: 1<<31 + 3, Pubkey: hsmproto.PubkeyFrom(pk)})
	mustRefuse(t, re, "Index 2147483651 too great", true)
	_, re = ask(t, e, MasterClient, &hsmproto.Bip137SignMessage{Msg: []byte("x"), Keyidx: 1 << 31})
	mustRefuse(t, re, "too great", true)
}

func TestGossipRefusals(t *testing.T) {
	e := testEngine(t)
	ann := make([]byte, 66)
	ann[0], ann[1] = 0x01, 0x01 // node_announcement
	_, re := ask(t, e, channeld, &hsmproto.NodeAnnouncementSigReq{Announcement: ann[:65]})
	mustRefuse(t, re, "Node announcement too short", false)
	ann[1] = 0x02
	_, re = ask(t, e, MasterClient, &hsmproto.NodeAnnouncementSigReq{Announcement: ann})
	mustRefuse(t, re, "Invalid announcement", true)

	ca := make([]byte, 258)
	ca[0] = 0x01 // channel_announcement: 0x0100
	_, re = ask(t, e, channeld, &hsmproto.CannouncementSigReq{Ca: ca[:257]})
	mustRefuse(t, re, "bad cannounce length 257", false)
	ca[1] = 0x01
	_, re = ask(t, e, MasterClient, &hsmproto.SignAnyCannouncementReq{Ca: ca, Peerid: hsmproto.NodeID(testPeer), ChannelDBID: 1})
	mustRefuse(t, re, "Invalid channel announcement", true)

	cu := make([]byte, channelUpdateLen)
	cu[0], cu[1] = 0x01, 0x02
	_, re = ask(t, e, channeld, &hsmproto.CupdateSigReq{Cu: cu[:channelUpdateLen-1]})
	mustRefuse(t, re, "Bad inner channel_update", false)
	bad := bytes.Clone(cu)
	bad[1] = 0x01
	_, re = ask(t, e, channeld, &hsmproto.CupdateSigReq{Cu: bad})
	mustRefuse(t, re, "Bad inner channel_update", false)
	bad = bytes.Clone(cu)
	copy(bad[2:34], bytes.Repeat([]byte{0xff}, 32)) // r ≥ n
	_, re = ask(t, e, channeld, &hsmproto.CupdateSigReq{Cu: bad})
	mustRefuse(t, re, "Bad inner channel_update", false)
}

// cupdate_sig_req signs every byte after the signature, extra bytes
// included, and replies with the update re-serialised without them, as
// hsmd does (so the signature does not verify over the reply). The policy
// refuses such an update; this is CLN's behaviour, with the policy off.
func TestCupdateTrailingBytes(t *testing.T) {
	e := testEngine(t, WithPolicyMode(policy.ModeOff))
	cu := make([]byte, channelUpdateLen, channelUpdateLen+4)
	cu[0], cu[1] = 0x01, 0x02
	for i := 66; i < len(cu); i++ {
		cu[i] = byte(i)
	}
	cu = append(cu, 0xca, 0xfe, 0xba, 0xbe)
	reply, re := ask(t, e, MasterClient, &hsmproto.CupdateSigReq{Cu: cu})
	if re != nil {
		t.Fatal(re)
	}
	out := reply.(*hsmproto.CupdateSigReply).Cu
	if len(out) != channelUpdateLen || !bytes.Equal(out[66:], cu[66:channelUpdateLen]) || !bytes.Equal(out[:2], cu[:2]) {
		t.Fatalf("reply %x", out)
	}
	sig, err := keys.ParseCompactSig(out[2:66])
	if err != nil {
		t.Fatal(err)
	}
	id := e.NodeID()
	pub, _ := btcec.ParsePubKey(id[:])
	verify := func(msg []byte) bool {
		return sig.Verify(chainhash.DoubleHashB(msg), pub)
	}
	if !verify(cu[66:]) {
		t.Error("the signature does not cover the request's bytes after it, extra bytes included")
	}
	if verify(out[66:]) {
		t.Error("the signature verifies over the reply: the extra bytes were not signed")
	}
}

func TestCommitmentPoints(t *testing.T) {
	e := testEngine(t)
	ck, _ := e.ring.Channel(channeld.PeerID, channeld.DBID)
	for _, v := range []uint32{6, 5} {
		if _, re := ask(t, e, MasterClient, initMsg("bitcoin", 5, v)); re != nil {
			t.Fatal(re)
		}
		for _, n := range []uint64{0, 1, 2, 3, keys.MaxCommitmentIndex} {
			reply, re := ask(t, e, channeld, &hsmproto.GetPerCommitmentPoint{N: n})
			if re != nil {
				t.Fatalf("version %d, n %d: %v", v, n, re)
			}
			r := reply.(*hsmproto.GetPerCommitmentPointReply)
			p, _ := ck.PerCommitmentPoint(n)
			if r.PerCommitmentPoint != hsmproto.PubkeyFrom(p) {
				t.Errorf("version %d, n %d: point of another channel", v, n)
			}
			if wantOld := v < 6 && n >= 2; (r.OldCommitmentSecret != nil) != wantOld {
				t.Errorf("version %d, n %d: old secret present %v, want %v", v, n, r.OldCommitmentSecret != nil, wantOld)
			} else if wantOld {
				s, _ := ck.PerCommitmentSecret(n - 2)
				if *r.OldCommitmentSecret != hsmproto.Secret(s) {
					t.Errorf("version %d, n %d: old secret is not secret n-2", v, n)
				}
			}
		}
		_, re := ask(t, e, channeld, &hsmproto.GetPerCommitmentPoint{N: keys.MaxCommitmentIndex + 1})
		mustRefuse(t, re, "bad per_commit_point 281474976710656", false)
	}

	s, _ := ck.PerCommitmentSecret(9)
	reply, re := ask(t, e, channeld, &hsmproto.CheckFutureSecret{N: 9, CommitmentSecret: hsmproto.Secret(s)})
	if re != nil || !reply.(*hsmproto.CheckFutureSecretReply).Correct {
		t.Errorf("check_future_secret 9 with the right secret: %v %v", reply, re)
	}
	reply, re = ask(t, e, channeld, &hsmproto.CheckFutureSecret{N: 10, CommitmentSecret: hsmproto.Secret(s)})
	if re != nil || reply.(*hsmproto.CheckFutureSecretReply).Correct {
		t.Errorf("check_future_secret 10 with secret 9: %v %v", reply, re)
	}
	_, re = ask(t, e, channeld, &hsmproto.CheckFutureSecret{N: 1 << 48})
	mustRefuse(t, re, "bad commit secret", false)
	if strings.Contains(re.Error(), hex.EncodeToString(s[:])) {
		t.Error("a secret in a refusal")
	}

	// Another client's channel has other points.
	other := channeld
	other.DBID++
	reply, _ = ask(t, e, other, &hsmproto.GetPerCommitmentPoint{N: 0})
	p0, _ := ck.PerCommitmentPoint(0)
	if reply.(*hsmproto.GetPerCommitmentPointReply).PerCommitmentPoint == hsmproto.PubkeyFrom(p0) {
		t.Error("two dbids, one commitment point")
	}
}

// The preapprove _check forms are answered with the plain forms' reply
// types, as CLN's hsmd does.
func TestPreapproveReplyTypes(t *testing.T) {
	e := testEngine(t, WithPolicyMode(policy.ModeOff)) // "lnbc1" is no invoice

	for req, want := range map[hsmproto.Message]uint16{
		&hsmproto.PreapproveInvoice{Invstring: "lnbc1"}:                       hsmproto.TypePreapproveInvoiceReply,
		&hsmproto.PreapproveInvoiceCheck{Invstring: "lnbc1", CheckOnly: true}: hsmproto.TypePreapproveInvoiceReply,
		&hsmproto.PreapproveKeysend{AmountMsat: 1}:                            hsmproto.TypePreapproveKeysendReply,
		&hsmproto.PreapproveKeysendCheck{AmountMsat: 1}:                       hsmproto.TypePreapproveKeysendReply,
	} {
		reply, re := ask(t, e, MasterClient, req)
		if re != nil || reply.MsgType() != want {
			t.Errorf("%s: %v %v", req.MsgName(), reply, re)
		}
	}
}

func TestWiped(t *testing.T) {
	e := testEngine(t)
	e.Wipe()
	_, re := ask(t, e, MasterClient, &hsmproto.SignMessage{Msg: []byte("hi")})
	mustRefuse(t, re, "wiped", true)
	_, re = ask(t, e, channeld, &hsmproto.GetPerCommitmentPoint{N: 1})
	mustRefuse(t, re, "wiped", true)
}
