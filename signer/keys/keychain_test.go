package keys

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/keychain"
)

// The keychain view gives the same keys and signatures as the hsmd
// handlers.
func TestKeychainNodeKey(t *testing.T) {
	v := hsmdVectors(t, "hsmd_node_announcement_sig_req")[0]
	r := ringFor(t, v.Secret)

	d, err := r.DeriveKey(NodeKeyLocator)
	if err != nil {
		t.Fatal(err)
	}
	id := r.NodeID()
	if !bytes.Equal(d.PubKey.SerializeCompressed(), id[:]) {
		t.Errorf("DeriveKey(node) is not the node id")
	}

	// SignMessage over the announcement's signed part, double-hashed, is
	// sign_hash: the vector's signature.
	req := &wireReader{t: t, b: v.req(t)}
	req.u16()
	ann := req.take(int(req.u16()))
	sig, err := r.SignMessage(NodeKeyLocator, ann[NodeAnnouncementSigned:], true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := CompactSig(sig), replyBody(t, v, 106, 64); !bytes.Equal(got[:], want) {
		t.Errorf("SignMessage: %x, want %x", got, want)
	}

	// SignMessageCompact over the prefixed message is sign_message, in
	// lnd's layout.
	for _, sm := range hsmdVectors(t, "hsmd_sign_message") {
		if sm.Secret != v.Secret {
			continue
		}
		req := &wireReader{t: t, b: sm.req(t)}
		req.u16()
		msg := req.take(int(req.u16()))
		want := replyBody(t, sm, 123, 65)
		got, err := r.SignMessageCompact(NodeKeyLocator, append([]byte("Lightning Signed Message:"), msg...), true)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != 27+4+want[64] || !bytes.Equal(got[1:], want[:64]) {
			t.Errorf("SignMessageCompact: %x, want %x", got, want)
		}
	}

	if _, err := r.DeriveNextKey(FamilyWalletBIP32); !errors.Is(err, ErrNotSupported) {
		t.Errorf("DeriveNextKey: %v", err)
	}
	if _, err := r.DeriveKey(keychain.KeyLocator{Family: FamilyNode, Index: 1}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("node key index 1: %v", err)
	}
	if _, err := r.DeriveKey(keychain.KeyLocator{Family: keychain.KeyFamilyTowerID}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown family: %v", err)
	}
}

func TestKeychainECDH(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_ecdh_req")[:4] {
		req := &wireReader{t: t, b: v.req(t)}
		req.u16()
		point, err := btcec.ParsePubKey(req.take(33))
		if err != nil {
			t.Fatal(err)
		}
		want := replyBody(t, v, 100, 32)
		r := ringFor(t, v.Secret)
		got, err := r.NodeKeyECDH().ECDH(point)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:], want) {
			t.Errorf("%s: %x, want %x", v.Name, got, want)
		}
		// lnd's own implementation over the same private key agrees.
		pk, err := r.DerivePrivKey(keychain.KeyDescriptor{PubKey: r.NodePubKey()})
		if err != nil {
			t.Fatal(err)
		}
		lnd, _ := (&keychain.PrivKeyECDH{PrivKey: pk}).ECDH(point)
		if lnd != got {
			t.Errorf("lnd's PrivKeyECDH disagrees")
		}
	}
}

func TestKeychainWalletAndBolt12(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_check_pubkey")[:3] {
		req := &wireReader{t: t, b: v.req(t)}
		req.u16()
		idx := req.u32()
		want := req.take(33)
		d, err := ringFor(t, v.Secret).DeriveKey(keychain.KeyLocator{Family: FamilyWalletBIP32, Index: idx})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.PubKey.SerializeCompressed(), want) {
			t.Errorf("wallet %d: %x, want %x", idx, d.PubKey.SerializeCompressed(), want)
		}
	}
	r := ringFor(t, strings.Repeat("01", 32))
	d, err := r.DeriveKey(keychain.KeyLocator{Family: FamilyBolt12Base})
	if err != nil || !d.PubKey.IsEqual(r.Bolt12PubKey()) {
		t.Errorf("bolt12 base: %v", err)
	}
	// A public key alone finds the bolt12 base key; a wrong one is refused.
	if _, err := r.DerivePrivKey(keychain.KeyDescriptor{PubKey: r.Bolt12PubKey()}); err != nil {
		t.Errorf("bolt12 by public key: %v", err)
	}
	if _, err := r.DerivePrivKey(keychain.KeyDescriptor{KeyLocator: NodeKeyLocator, PubKey: r.Bolt12PubKey()}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("mismatched descriptor: %v", err)
	}
	if _, err := r.DeriveKey(keychain.KeyLocator{Family: FamilyWalletBIP86}); !errors.Is(err, ErrNoBIP86) {
		t.Errorf("BIP86 family on a 32-byte secret: %v", err)
	}
	if _, err := r.DeriveKey(keychain.KeyLocator{Family: FamilyWalletBIP32, Index: 1 << 31}); !errors.Is(err, ErrIndexTooGreat) {
		t.Errorf("hardened wallet index: %v", err)
	}
}

func TestKeychainSchnorr(t *testing.T) {
	r := ringFor(t, strings.Repeat("42", 32))
	msg := []byte("some message")
	tag := []byte("my/tag")
	sig, err := r.SignMessageSchnorr(NodeKeyLocator, msg, false, nil, tag)
	if err != nil {
		t.Fatal(err)
	}
	h := chainhash.TaggedHash(tag, msg)
	if !sig.Verify(h[:], r.NodePubKey()) {
		t.Errorf("tagged signature does not verify")
	}
	// It is PrivateKey.SignSchnorr over the same digest.
	nk, _ := r.NodeKey()
	want, _ := nk.SignSchnorr(*h)
	if !bytes.Equal(sig.Serialize(), want[:]) {
		t.Errorf("SignMessageSchnorr differs from SignSchnorr")
	}
	root := chainhash.HashB([]byte("root"))
	tsig, err := r.SignMessageSchnorr(NodeKeyLocator, msg, true, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := nk.TaprootTweak(root)
	d := digest(msg, true)
	if !tsig.Verify(d[:], tk.PubKey()) {
		t.Errorf("tweaked signature does not verify")
	}
}

func TestKeychainChannel(t *testing.T) {
	r := ringFor(t, strings.Repeat("01", 32))
	ck, err := r.Channel(r.NodeID(), 42)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []keychain.KeyFamily{FamilyFunding, FamilyRevocationBase, FamilyHTLCBase, FamilyPaymentBase, FamilyDelayBase} {
		d, err := ck.DeriveKey(keychain.KeyLocator{Family: f})
		if err != nil {
			t.Fatal(err)
		}
		pk, err := ck.DerivePrivKey(d)
		if err != nil {
			t.Fatal(err)
		}
		if !pk.PubKey().IsEqual(d.PubKey) {
			t.Errorf("family %d: private and public keys disagree", f)
		}
	}
	bp := ck.Basepoints()
	d, _ := ck.DeriveKey(keychain.KeyLocator{Family: FamilyHTLCBase})
	if !d.PubKey.IsEqual(bp.HTLC) {
		t.Errorf("HTLC family is not the htlc basepoint")
	}
	if _, err := ck.DeriveKey(keychain.KeyLocator{Family: FamilyFunding, Index: 1}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("index 1: %v", err)
	}
	if _, err := ck.DerivePrivKey(keychain.KeyDescriptor{KeyLocator: keychain.KeyLocator{Family: FamilyFunding}, PubKey: bp.HTLC}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("mismatched public key: %v", err)
	}
}
