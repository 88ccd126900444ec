package keys

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// Each test below re-makes hsmd's reply from the request bytes, sliced by
// hand, and compares the signature bytes.

func TestSignMessageVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_sign_message") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			msg := req.take(int(req.u16()))
			want := replyBody(t, v, 123, 65)
			got, err := ringFor(t, v.Secret).SignLightningMessage(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:], want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
		})
	}
}

func TestBIP137SignMessageVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_bip137_sign_message") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			msg := req.take(int(req.u16()))
			idx := req.u32()
			want := replyBody(t, v, 145, 65)
			got, err := ringFor(t, v.Secret).SignBIP137Message(msg, idx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:], want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
		})
	}
}

func TestSignInvoiceVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_sign_invoice") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			u5 := req.take(int(req.u16()))
			hrp := req.take(int(req.u16()))
			want := replyBody(t, v, 108, 65)
			got, err := ringFor(t, v.Secret).SignInvoice(hrp, u5)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:], want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
		})
	}
}

// Node announcements and channel updates: sign_hash, i.e. low-R grinding
// with CLN's extra-entropy schedule.
func TestNodeAnnouncementVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_node_announcement_sig_req") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			ann := req.take(int(req.u16()))
			want := replyBody(t, v, 106, 64)
			sig, err := ringFor(t, v.Secret).SignNodeAnnouncement(ann)
			if err != nil {
				t.Fatal(err)
			}
			if got := CompactSig(sig); !bytes.Equal(got[:], want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
		})
	}
}

func TestChannelUpdateVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_cupdate_sig_req") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			cu := req.take(int(req.u16()))
			rep := &wireReader{t: t, b: v.resp(t)}
			if typ := rep.u16(); typ != 103 {
				t.Fatalf("reply type %d", typ)
			}
			// The reply is the re-serialised update; its signature sits
			// after the 2-byte type.
			want := rep.take(int(rep.u16()))[2:66]
			sig, err := ringFor(t, v.Secret).SignChannelUpdate(cu)
			if err != nil {
				t.Fatal(err)
			}
			if got := CompactSig(sig); !bytes.Equal(got[:], want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
		})
	}
}

func TestChannelAnnouncementVectors(t *testing.T) {
	type vec struct {
		v        hsmdVector
		ca       []byte
		peer     [33]byte
		dbid     uint64
		respType uint16
	}
	var all []vec
	for _, v := range hsmdVectors(t, "hsmd_cannouncement_sig_req") {
		req := &wireReader{t: t, b: v.req(t)}
		req.u16()
		ca := req.take(int(req.u16()))
		peer, dbid := clientChannel(t, v)
		all = append(all, vec{v, ca, peer, dbid, 102})
	}
	for _, v := range hsmdVectors(t, "hsmd_sign_any_cannouncement_req") {
		req := &wireReader{t: t, b: v.req(t)}
		req.u16()
		ca := req.take(int(req.u16()))
		peer := [33]byte(req.take(33))
		all = append(all, vec{v, ca, peer, req.u64(), 104})
	}
	for _, c := range all {
		t.Run(c.v.Scenario+"/"+c.v.Name, func(t *testing.T) {
			want := replyBody(t, c.v, c.respType, 128)
			node, btc, err := ringFor(t, c.v.Secret).SignChannelAnnouncement(c.peer, c.dbid, c.ca)
			if err != nil {
				t.Fatal(err)
			}
			n, b := CompactSig(node), CompactSig(btc)
			if !bytes.Equal(n[:], want[:64]) || !bytes.Equal(b[:], want[64:]) {
				t.Errorf("got  %x %x\nwant %x", n, b, want)
			}
		})
	}
}

func TestWillFundOfferVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_sign_option_will_fund_offer") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			fp, err := btcec.ParsePubKey(req.take(33))
			if err != nil {
				t.Fatal(err)
			}
			expiry, base := req.u32(), req.u32()
			ppt := req.u16()
			want := replyBody(t, v, 126, 64)
			sig, err := ringFor(t, v.Secret).SignWillFundOffer(fp, expiry, base, ppt)
			if err != nil {
				t.Fatal(err)
			}
			if got := CompactSig(sig); !bytes.Equal(got[:], want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
		})
	}
}

// wirestring: a NUL-terminated string.
func (r *wireReader) wirestring() string {
	r.t.Helper()
	i := bytes.IndexByte(r.b[r.off:], 0)
	if i < 0 {
		r.t.Fatalf("unterminated wirestring at %d", r.off)
	}
	s := string(r.b[r.off : r.off+i])
	r.off += i + 1
	return s
}

func TestSignBolt12Vectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_sign_bolt12") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			msgName, field := req.wirestring(), req.wirestring()
			merkle := [32]byte(req.take(32))
			tweak := req.take(int(req.u16()))
			want := replyBody(t, v, 125, 64)
			got, err := ringFor(t, v.Secret).SignBolt12(msgName, field, merkle, tweak)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:], want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
		})
	}
}

func TestSignBolt12V2Vectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_sign_bolt12_2") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			msgName, field := req.wirestring(), req.wirestring()
			merkle := [32]byte(req.take(32))
			info := req.take(int(req.u16()))
			tweak := req.take(int(req.u16()))
			want := replyBody(t, v, 141, 64)
			got, err := ringFor(t, v.Secret).SignBolt12V2(msgName, field, merkle, info, tweak)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:], want) {
				t.Errorf("got  %x\nwant %x", got, want)
			}
		})
	}
}

// check_pubkey answers true only when m/0/0/index matches.
func TestCheckPubkeyVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_check_pubkey") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			idx := req.u32()
			want := req.take(33)
			if ok := replyBody(t, v, 128, 1); ok[0] != 1 {
				t.Fatalf("vector answers %x", ok)
			}
			p, err := ringFor(t, v.Secret).WalletPubKey(idx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.SerializeCompressed(), want) {
				t.Errorf("m/0/0/%d = %x, want %x", idx, p.SerializeCompressed(), want)
			}
		})
	}
}

// replyBody checks the reply type and returns the n bytes after it.
func replyBody(t *testing.T, v hsmdVector, typ uint16, n int) []byte {
	t.Helper()
	rep := &wireReader{t: t, b: v.resp(t)}
	if got := rep.u16(); got != typ {
		t.Fatalf("reply type %d, want %d", got, typ)
	}
	return rep.take(n)
}

// The recoverable signatures recover the node id.
func TestSignMessageRecovers(t *testing.T) {
	r := ringFor(t, "4242424242424242424242424242424242424242424242424242424242424242")
	for _, msg := range []string{"", "hello", "a longer message with some bytes \x00\xff"} {
		sig, err := r.SignLightningMessage([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		compact := append([]byte{27 + 4 + sig[64]}, sig[:64]...)
		h := SignedMessageHash([]byte(msg))
		pub, _, err := ecdsa.RecoverCompact(compact, h[:])
		if err != nil {
			t.Fatal(err)
		}
		if !pub.IsEqual(r.NodePubKey()) {
			t.Errorf("%q: recovered another key", msg)
		}
	}
}
