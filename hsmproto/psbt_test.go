package hsmproto

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
)

// kv is a PSBT key-value pair as BIP 174 lays it out (all lengths < 0xfd).
func kv(key, val []byte) []byte {
	return cat([]byte{byte(len(key))}, key, []byte{byte(len(val))}, val)
}

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// TestPSBTLibwallyLayout checks the points where libwally's layout (what
// hsmd writes) differs from btcutil's Packet.Serialize, on a packet the
// signer has changed.
func TestPSBTLibwallyLayout(t *testing.T) {
	g := gen{rand.New(rand.NewSource(5))}
	unsigned := g.tx(2, 1, false)
	parent := g.tx(1, 1, true) // has witnesses
	pkt, err := psbt.NewFromUnsignedTx(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	pkt.Unknowns = []*psbt.Unknown{
		{Key: cat([]byte{0xfc}, []byte("x")), Value: []byte{1}},
		{Key: cat([]byte{0x01}, rep(0xaa, 78)), Value: rep(0xbb, 8)}, // xpub
	}
	keyA, keyB := g.privKey().PubKey().SerializeCompressed(), g.privKey().PubKey().SerializeCompressed()
	if bytes.Compare(keyA, keyB) > 0 {
		keyA, keyB = keyB, keyA // A < B
	}
	sigA := append(ecdsa.Sign(g.privKey(), rep(1, 32)).Serialize(), 1)
	sigB := append(ecdsa.Sign(g.privKey(), rep(2, 32)).Serialize(), 1)
	in0 := &pkt.Inputs[0]
	in0.NonWitnessUtxo = parent
	in0.WitnessUtxo = wire.NewTxOut(1000, rep(0x51, 1))
	// Appended B then A: libwally keeps this order, btcutil sorts.
	in0.PartialSigs = []*psbt.PartialSig{{PubKey: keyB, Signature: sigB}, {PubKey: keyA, Signature: sigA}}
	in0.Bip32Derivation = []*psbt.Bip32Derivation{{PubKey: keyB, MasterKeyFingerprint: 1}, {PubKey: keyA, MasterKeyFingerprint: 2}}
	in0.TaprootInternalKey = schnorr.SerializePubKey(g.privKey().PubKey())
	in0.Unknowns = []*psbt.Unknown{
		{Key: cat([]byte{0xfc}, []byte("y")), Value: []byte{2}},
		{Key: cat([]byte{0x0b}, rep(0x44, 32)), Value: []byte("preimage")},
	}
	// Input 1 is finalized: its signing fields are not written, its
	// taproot fields are, after the final witness.
	in1 := &pkt.Inputs[1]
	in1.WitnessUtxo = wire.NewTxOut(2000, rep(0x52, 1))
	in1.PartialSigs = []*psbt.PartialSig{{PubKey: keyA, Signature: sigA}}
	in1.WitnessScript = []byte{0x51}
	in1.FinalScriptWitness = []byte{1, 1, 0x99}
	tapSig, _ := schnorr.Sign(g.privKey(), rep(3, 32))
	in1.TaprootKeySpendSig = tapSig.Serialize()
	out := &pkt.Outputs[0]
	out.Bip32Derivation = []*psbt.Bip32Derivation{{PubKey: keyB, MasterKeyFingerprint: 3, Bip32Path: []uint32{7}}}
	out.TaprootInternalKey = schnorr.SerializePubKey(g.privKey().PubKey())
	out.WitnessScript = []byte{0x52}

	var txNoWit, parentNoWit bytes.Buffer
	unsigned.SerializeNoWitness(&txNoWit)
	parent.SerializeNoWitness(&parentNoWit)
	le32 := func(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	want := cat([]byte("psbt\xff"),
		kv([]byte{0}, txNoWit.Bytes()),
		kv(cat([]byte{0x01}, rep(0xaa, 78)), rep(0xbb, 8)), // xpub before other unknowns
		kv([]byte{0xfc, 'x'}, []byte{1}),
		[]byte{0},
		// input 0
		kv([]byte{0x00}, parentNoWit.Bytes()), // witness stripped
		kv([]byte{0x01}, cat([]byte{0xe8, 0x03, 0, 0, 0, 0, 0, 0}, []byte{1, 0x51})),
		kv(cat([]byte{0x02}, keyB), sigB), // append order
		kv(cat([]byte{0x02}, keyA), sigA),
		kv(cat([]byte{0x06}, keyB), le32(1)),
		kv(cat([]byte{0x06}, keyA), le32(2)),
		kv(cat([]byte{0x0b}, rep(0x44, 32)), []byte("preimage")), // preimage before taproot
		kv([]byte{0x17}, in0.TaprootInternalKey),
		kv([]byte{0xfc, 'y'}, []byte{2}),
		[]byte{0},
		// input 1
		kv([]byte{0x01}, cat([]byte{0xd0, 0x07, 0, 0, 0, 0, 0, 0}, []byte{1, 0x52})),
		kv([]byte{0x08}, []byte{1, 1, 0x99}),
		kv([]byte{0x13}, in1.TaprootKeySpendSig),
		[]byte{0},
		// output 0
		kv([]byte{0x01}, []byte{0x52}),
		kv(cat([]byte{0x02}, keyB), cat(le32(3), le32(7))),
		kv([]byte{0x05}, out.TaprootInternalKey),
		[]byte{0},
	)
	p := &PSBT{pkt}
	got, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("layout differs\n got %x\nwant %x", got, want)
	}
	// The expected bytes are what libwally reads back unchanged.
	back, err := ParsePSBT(got)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := back.Bytes(); !bytes.Equal(again, want) {
		t.Fatalf("not stable after parsing\n got %x", again)
	}
	// And this case tells the layouts apart.
	var btcutilBytes bytes.Buffer
	if err := pkt.Serialize(&btcutilBytes); err == nil && bytes.Equal(btcutilBytes.Bytes(), want) {
		t.Fatal("btcutil's Serialize gives the libwally layout here: the test proves nothing")
	}
}

// TestPSBTSignedLikeHsmd replays hsmd's own signing on the vectors: each
// sign_withdrawal / sign_anchorspend / sign_htlc_tx_mingle request PSBT,
// decoded, given the fields hsmd added (taken from its reply) by
// appending, must serialize to hsmd's reply byte for byte.
func TestPSBTSignedLikeHsmd(t *testing.T) {
	n := 0
	for _, v := range loadVectors(t) {
		if v.Response == nil || v.Error != nil {
			continue
		}
		req, err := Decode(mustHex(t, v.Request))
		if err != nil {
			continue
		}
		resp, err := Decode(mustHex(t, *v.Response))
		if err != nil {
			t.Fatal(err)
		}
		var in, out *PSBT
		switch r := req.(type) {
		case *SignWithdrawal:
			in, out = r.Psbt, resp.(*SignWithdrawalReply).Psbt
		case *SignAnchorspend:
			in, out = r.Psbt, resp.(*SignAnchorspendReply).Psbt
		case *SignHtlcTxMingle:
			in, out = r.Psbt, resp.(*SignHtlcTxMingleReply).Psbt
		default:
			continue
		}
		if in == nil {
			continue
		}
		for i := range in.Inputs {
			a, b := &in.Inputs[i], &out.Inputs[i]
			a.PartialSigs = append(a.PartialSigs, b.PartialSigs[len(a.PartialSigs):]...)
			a.Bip32Derivation = append(a.Bip32Derivation, b.Bip32Derivation[len(a.Bip32Derivation):]...)
			a.TaprootBip32Derivation = append(a.TaprootBip32Derivation, b.TaprootBip32Derivation[len(a.TaprootBip32Derivation):]...)
			if a.TaprootKeySpendSig == nil {
				a.TaprootKeySpendSig = b.TaprootKeySpendSig
			}
			if a.WitnessScript == nil {
				a.WitnessScript = b.WitnessScript
			}
		}
		got, err := in.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := out.Bytes()
		if !bytes.Equal(got, want) || !bytes.Equal(want, mustHex(t, *v.Response)[6:]) {
			t.Errorf("%s %s: signed request PSBT differs from hsmd's reply\n got %x\nwant %x", v.Scenario, v.Name, got, want)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d signed PSBTs in the vectors", n)
	}
	t.Logf("%d request PSBTs signed into hsmd's reply bytes", n)
}

func TestParsePSBTRejects(t *testing.T) {
	g := gen{rand.New(rand.NewSource(6))}
	tx := g.tx(1, 1, false)
	var txb bytes.Buffer
	tx.SerializeNoWitness(&txb)
	head := cat([]byte("psbt\xff"), kv([]byte{0}, txb.Bytes()), []byte{0})
	pub := g.privKey().PubKey().SerializeCompressed()
	ok := cat(head, []byte{0}, []byte{0})
	if _, err := ParsePSBT(ok); err != nil {
		t.Fatalf("minimal PSBT: %v", err)
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"no magic", cat([]byte("psbx\xff"), ok[5:])},
		{"truncated", ok[:len(ok)-1]},
		{"empty bip32 derivation (panics btcutil)", cat(head, kv(cat([]byte{0x06}, pub), nil), []byte{0}, []byte{0})},
		{"output bip32 derivation of 3 bytes", cat(head, []byte{0}, kv(cat([]byte{0x02}, pub), []byte{1, 2, 3}), []byte{0})},
		{"taproot derivation with 2^62 hashes", cat(head, kv(cat([]byte{0x16}, rep(1, 32)),
			cat([]byte{0xff}, []byte{0, 0, 0, 0, 0, 0, 0, 0x40}, rep(0, 4))), []byte{0}, []byte{0})},
		{"taproot derivation without fingerprint", cat(head, kv(cat([]byte{0x16}, rep(1, 32)), cat([]byte{1}, rep(7, 32))), []byte{0}, []byte{0})},
		{"witness utxo with 3-byte script length", cat(head, kv([]byte{0x01}, cat(rep(0, 8), []byte{0xfd, 1, 0}, rep(0x51, 1))), []byte{0}, []byte{0})},
		{"witness utxo with empty script", cat(head, kv([]byte{0x01}, cat(rep(0, 8), []byte{0})), []byte{0}, []byte{0})},
		{"v2 field in v0 input", cat(head, kv([]byte{0x0e}, rep(0, 32)), []byte{0}, []byte{0})},
		{"v2 global field", cat([]byte("psbt\xff"), kv([]byte{0}, txb.Bytes()), kv([]byte{0x02}, rep(2, 4)), []byte{0}, []byte{0}, []byte{0})},
		{"version 2", cat([]byte("psbt\xff"), kv([]byte{0}, txb.Bytes()), kv([]byte{0xfb}, []byte{2, 0, 0, 0}), []byte{0}, []byte{0}, []byte{0})},
		{"duplicate unknown key", cat(head, kv([]byte{0xfc, 1}, nil), kv([]byte{0xfc, 1}, []byte{1}), []byte{0}, []byte{0})},
		{"empty witness script", cat(head, kv([]byte{0x05}, nil), []byte{0}, []byte{0})},
		{"final witness with trailing bytes", cat(head, kv([]byte{0x08}, []byte{1, 1, 9, 9}), []byte{0}, []byte{0})},
		{"input count beyond data", cat([]byte("psbt\xff"), kv([]byte{0}, cat([]byte{2, 0, 0, 0}, []byte{0xfe, 0xff, 0xff, 0xff, 0x0f})), []byte{0})},
		{"value length beyond data", cat([]byte("psbt\xff"), []byte{1, 0, 0xfe, 0xff, 0xff, 0xff, 0x7f})},
	} {
		if _, err := ParsePSBT(c.b); !errors.Is(err, ErrBadPSBT) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrBadTx) {
			t.Errorf("%s: got %v", c.name, err)
		}
		// Caught by our own checks, before btcutil sees the bytes.
		if scanPSBT(c.b) == nil {
			t.Errorf("%s: scanPSBT accepts it", c.name)
		}
	}

	// PSBT_GLOBAL_VERSION 0 is read and, as libwally does, not written.
	v0 := cat([]byte("psbt\xff"), kv([]byte{0}, txb.Bytes()), kv([]byte{0xfb}, []byte{0, 0, 0, 0}), []byte{0}, []byte{0}, []byte{0})
	p, err := ParsePSBT(v0)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := p.Bytes(); !bytes.Equal(b, ok) {
		t.Errorf("version 0 field written back: %x", b)
	}
}
