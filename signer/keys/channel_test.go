package keys

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
)

// clientChannel is the (peer, dbid) a per-channel request on a client
// connection derives its keys from.
func clientChannel(t *testing.T, v hsmdVector) ([33]byte, uint64) {
	t.Helper()
	if v.Context == nil {
		t.Fatalf("%s: no client context", v.Name)
	}
	return unhex33(t, v.Context.PeerID), v.Context.DBID
}

func TestGetChannelBasepointsVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_get_channel_basepoints") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			peer := [33]byte(req.take(33))
			dbid := req.u64()

			rep := &wireReader{t: t, b: v.resp(t)}
			if typ := rep.u16(); typ != 110 {
				t.Fatalf("reply type %d", typ)
			}
			ck, err := ringFor(t, v.Secret).Channel(peer, dbid)
			if err != nil {
				t.Fatal(err)
			}
			bp := ck.Basepoints()
			for _, f := range []struct {
				name string
				key  *btcec.PublicKey
			}{
				{"revocation", bp.Revocation},
				{"payment", bp.Payment},
				{"htlc", bp.HTLC},
				{"delayed_payment", bp.DelayedPayment},
				{"funding", ck.FundingPubKey()},
			} {
				want := rep.take(33)
				if got := f.key.SerializeCompressed(); !bytes.Equal(got, want) {
					t.Errorf("%s basepoint %x, want %x", f.name, got, want)
				}
				if f.name == "funding" {
					if got := ck.FundingPubKeyCompressed(); !bytes.Equal(got[:], want) {
						t.Errorf("compressed funding key %x, want %x", got, want)
					}
				}
			}
		})
	}
}

func TestGetPerCommitmentPointVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_get_per_commitment_point") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			n := req.u64()
			rep := &wireReader{t: t, b: v.resp(t)}
			if typ := rep.u16(); typ != 118 {
				t.Fatalf("reply type %d", typ)
			}
			wantPoint := rep.take(33)
			hasOld := rep.take(1)[0]

			peer, dbid := clientChannel(t, v)
			ck, err := ringFor(t, v.Secret).Channel(peer, dbid)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ck.PerCommitmentPoint(n)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.SerializeCompressed(), wantPoint) {
				t.Errorf("point %d = %x, want %x", n, p.SerializeCompressed(), wantPoint)
			}
			if hasOld == 1 {
				// Wire version 5: the secret n−2 rides along.
				wantOld := rep.take(32)
				old, err := ck.PerCommitmentSecret(n - 2)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(old[:], wantOld) {
					t.Errorf("old secret %d = %x, want %x", n-2, old[:], wantOld)
				}
			}
		})
	}
}

// revoke_commitment_tx(n) replies with secret n and point n+2.
func TestRevokeCommitmentVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_revoke_commitment_tx") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			n := req.u64()
			rep := &wireReader{t: t, b: v.resp(t)}
			if typ := rep.u16(); typ != 140 {
				t.Fatalf("reply type %d", typ)
			}
			wantSecret, wantPoint := rep.take(32), rep.take(33)

			peer, dbid := clientChannel(t, v)
			ck, err := ringFor(t, v.Secret).Channel(peer, dbid)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ck.PerCommitmentSecret(n)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ck.PerCommitmentPoint(n + 2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s[:], wantSecret) || !bytes.Equal(p.SerializeCompressed(), wantPoint) {
				t.Errorf("revoke %d: secret %x point %x, want %x %x", n, s[:], p.SerializeCompressed(), wantSecret, wantPoint)
			}
		})
	}
}

func TestCheckFutureSecretVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_check_future_secret") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			n := req.u64()
			suggested := req.take(32)
			rep := &wireReader{t: t, b: v.resp(t)}
			if typ := rep.u16(); typ != 122 {
				t.Fatalf("reply type %d", typ)
			}
			want := rep.take(1)[0] == 1

			peer, dbid := clientChannel(t, v)
			ck, err := ringFor(t, v.Secret).Channel(peer, dbid)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ck.PerCommitmentSecret(n)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Equal(s[:], suggested); got != want {
				t.Errorf("check_future_secret %d: %v, want %v", n, got, want)
			}
		})
	}
}

// get_output_scriptpubkey: P2WPKH of hsm_unilateral_close_privkey's key.
func TestGetOutputScriptPubkeyVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_get_output_scriptpubkey") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			dbid := req.u64()
			peer := [33]byte(req.take(33))
			var point *btcec.PublicKey
			if req.take(1)[0] == 1 {
				var err error
				if point, err = btcec.ParsePubKey(req.take(33)); err != nil {
					t.Fatal(err)
				}
			}
			rep := &wireReader{t: t, b: v.resp(t)}
			if typ := rep.u16(); typ != 124 {
				t.Fatalf("reply type %d", typ)
			}
			want := rep.take(int(rep.u16()))

			ck, err := ringFor(t, v.Secret).Channel(peer, dbid)
			if err != nil {
				t.Fatal(err)
			}
			k, err := ck.UnilateralCloseKey(point)
			if err != nil {
				t.Fatal(err)
			}
			got := append([]byte{0x00, 0x14}, btcutil.Hash160(k.PubKey().SerializeCompressed())...)
			if !bytes.Equal(got, want) {
				t.Errorf("script %x, want %x", got, want)
			}
		})
	}
}

// BOLT 3 Appendix D, generation tests.
func TestShachainBOLT3(t *testing.T) {
	tests := []struct {
		name, seed string
		index      uint64
		output     string
	}{
		{"generate_from_seed 0 final node", "0000000000000000000000000000000000000000000000000000000000000000", 281474976710655, "02a40c85b6f28da08dfdbe0926c53fab2de6d28c10301f8f7c4073d5e42e3148"},
		{"generate_from_seed FF final node", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", 281474976710655, "7cc854b54e3e0dcdb010d7a3fee464a9687be6e8db3be6854c475621e007a5dc"},
		{"generate_from_seed FF alternate bits 1", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", 0xaaaaaaaaaaa, "56f4008fb007ca9acf0e15b054d5c9fd12ee06cea347914ddbaed70d1c13a528"},
		{"generate_from_seed FF alternate bits 2", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", 0x555555555555, "9015daaeb06dba4ccc05b91b2f73bd54405f2be9f217fbacd3c5ac2e62327d31"},
		{"generate_from_seed 01 last nontrivial node", "0101010101010101010101010101010101010101010101010101010101010101", 1, "915c75942a26bb3a433a8ce2cb0427c29ec6c1775cfc78328b57f6ba7bfeaa9c"},
	}
	// The vectors also live in shared/; when it is there, check this table
	// against it so that a typo in either is caught.
	doc, _ := os.ReadFile(filepath.Join("..", "..", "..", "shared", "reference", "bolts", "bolt03-test-vectors.md"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if doc != nil && !bytes.Contains(bytes.ToLower(doc), []byte(tc.output)) {
				t.Fatalf("output %s is not in bolt03-test-vectors.md", tc.output)
			}
			got := ShachainFromSeed(Secret(unhex32(t, tc.seed)), tc.index)
			if want := unhex32(t, tc.output); got != Secret(want) {
				t.Errorf("got %x, want %s", got[:], tc.output)
			}
		})
	}
}

func TestPerCommitmentIndexLimit(t *testing.T) {
	ck, err := ringFor(t, "0101010101010101010101010101010101010101010101010101010101010101").Channel([33]byte{3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ck.PerCommitmentSecret(MaxCommitmentIndex); err != nil {
		t.Errorf("n = 2^48-1: %v", err)
	}
	for _, n := range []uint64{MaxCommitmentIndex + 1, 1 << 63, ^uint64(0)} {
		if _, err := ck.PerCommitmentPoint(n); !errors.Is(err, ErrCommitmentIndex) {
			t.Errorf("n = %d: %v, want ErrCommitmentIndex", n, err)
		}
	}
	// n = 2^48-1 is shachain index 0: the seed itself.
	s, _ := ck.PerCommitmentSecret(MaxCommitmentIndex)
	ck.mu.RLock()
	seed := ck.shaseed
	ck.mu.RUnlock()
	if s != seed {
		t.Errorf("secret 2^48-1 is not the shachain seed")
	}
}

// TestRememberedPoints: per-commitment points asked for again, out of
// order and past the memo's reach, are each secret n times G; a wiped
// channel's keys give none.
func TestRememberedPoints(t *testing.T) {
	ck, err := ringFor(t, "0101010101010101010101010101010101010101010101010101010101010101").Channel([33]byte{3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint64{5, 6, 5, 7, 8, 9, 5, 6, 100, 6, 104, 100, 0, 0} {
		got, err := ck.PerCommitmentPoint(n)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := ck.PerCommitmentSecret(n)
		_, want := btcec.PrivKeyFromBytes(s[:])
		if !got.IsEqual(want) {
			t.Fatalf("point %d is not its secret's", n)
		}
		secret, p, err := ck.PerCommitmentSecretAndPoint(n, n+2)
		_, want2 := btcec.PrivKeyFromBytes(mustSecret(t, ck, n+2))
		if err != nil || secret != s || !p.IsEqual(want2) {
			t.Fatalf("PerCommitmentSecretAndPoint(%d, %d) differs from the secrets' points", n, n+2)
		}
	}
	ck.Wipe()
	if _, err := ck.PerCommitmentPoint(5); !errors.Is(err, ErrWiped) {
		t.Fatalf("a remembered point of wiped keys: %v, want ErrWiped", err)
	}
}

func mustSecret(t *testing.T, ck *ChannelKeys, n uint64) []byte {
	t.Helper()
	s, err := ck.PerCommitmentSecret(n)
	if err != nil {
		t.Fatal(err)
	}
	return s[:]
}

func TestChannelCache(t *testing.T) {
	r, err := New(bytes.Repeat([]byte{9}, 32), WithChannelCacheSize(2))
	if err != nil {
		t.Fatal(err)
	}
	peer := r.NodeID()
	a1, _ := r.Channel(peer, 1)
	a2, _ := r.Channel(peer, 1)
	if a1 != a2 {
		t.Errorf("second lookup did not hit the cache")
	}
	b, _ := r.Channel(peer, 2)
	if b.FundingPubKey().IsEqual(a1.FundingPubKey()) {
		t.Errorf("dbid 1 and 2 share a funding key")
	}
	r.Channel(peer, 3) // evicts dbid 1 (least recently used)
	a3, _ := r.Channel(peer, 1)
	if a3 == a1 {
		t.Errorf("dbid 1 was not evicted")
	}
	if !a3.FundingPubKey().IsEqual(a1.FundingPubKey()) {
		t.Errorf("re-derived keys differ")
	}
	r.Forget(peer, 1)
	if a4, _ := r.Channel(peer, 1); a4 == a3 {
		t.Errorf("Forget did not drop the entry")
	}
	// An uncached ring derives the same keys.
	r0, _ := New(bytes.Repeat([]byte{9}, 32), WithChannelCacheSize(0))
	c0, _ := r0.Channel(peer, 1)
	if !c0.FundingPubKey().IsEqual(a1.FundingPubKey()) {
		t.Errorf("uncached ring derives different keys")
	}
}

func TestChannelConcurrent(t *testing.T) {
	r, err := New(bytes.Repeat([]byte{3}, 32), WithChannelCacheSize(8))
	if err != nil {
		t.Fatal(err)
	}
	peer := r.NodeID()
	want := make([]*btcec.PublicKey, 16)
	for i := range want {
		ck, err := r.channelUncached(peer, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		want[i] = ck.FundingPubKey()
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				dbid := uint64((i*7 + g) % 16)
				ck, err := r.Channel(peer, dbid)
				if err != nil {
					t.Error(err)
					return
				}
				if !ck.FundingPubKey().IsEqual(want[dbid]) {
					t.Errorf("dbid %d: wrong keys", dbid)
				}
				if _, err := ck.PerCommitmentPoint(uint64(i)); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
}

// BOLT 3 Appendix D, storage tests: ShachainStore accepts the correct
// sequence and refuses a corrupted secret as soon as a later one exposes it.
func TestShachainStoreBOLT3(t *testing.T) {
	doc := readBOLT3(t)
	start := bytes.Index(doc, []byte("## Storage Tests"))
	end := bytes.Index(doc, []byte("# Appendix E"))
	if start < 0 || end < start {
		t.Fatal("storage tests not found")
	}
	type step struct {
		index  uint64
		secret Secret
		ok     bool
	}
	type storageTest struct {
		name  string
		steps []step
	}
	var tests []storageTest
	var cur *step
	for _, line := range strings.Split(string(doc[start:end]), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "name:":
			tests = append(tests, storageTest{name: strings.Join(f[1:], " ")})
		case "I:":
			idx, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			last := &tests[len(tests)-1]
			last.steps = append(last.steps, step{index: idx})
			cur = &last.steps[len(last.steps)-1]
		case "secret:":
			cur.secret = Secret(unhex32(t, strings.TrimPrefix(f[1], "0x")))
		case "output:":
			cur.ok = f[1] == "OK"
		}
	}
	if len(tests) < 5 {
		t.Fatalf("parsed %d storage tests", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s ShachainStore
			for i, st := range tc.steps {
				err := s.Add(st.index, st.secret)
				if st.ok && err != nil {
					t.Fatalf("step %d (I=%d): %v", i, st.index, err)
				}
				if !st.ok {
					if !errors.Is(err, ErrShachainMismatch) {
						t.Fatalf("step %d (I=%d): %v, want ErrShachainMismatch", i, st.index, err)
					}
					return
				}
				for _, prev := range tc.steps[:i+1] {
					if got, ok := s.Get(prev.index); !ok || got != prev.secret {
						t.Fatalf("after step %d: secret %d not recoverable", i, prev.index)
					}
				}
			}
		})
	}
}

// A store fed from our own per-commitment secrets gives them all back.
func TestShachainStoreRoundTrip(t *testing.T) {
	ck, err := ringFor(t, strings.Repeat("42", 32)).Channel([33]byte{2}, 9)
	if err != nil {
		t.Fatal(err)
	}
	var s ShachainStore
	for n := uint64(0); n < 300; n++ {
		sec, _ := ck.PerCommitmentSecret(n)
		if err := s.AddCommitmentSecret(n, sec); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
	}
	for n := uint64(0); n < 300; n++ {
		want, _ := ck.PerCommitmentSecret(n)
		if got, ok := s.CommitmentSecret(n); !ok || got != want {
			t.Fatalf("n=%d not recovered", n)
		}
	}
	if _, ok := s.CommitmentSecret(300); ok {
		t.Errorf("a future secret was derivable")
	}
	sec, _ := ck.PerCommitmentSecret(301)
	if err := s.AddCommitmentSecret(301, sec); !errors.Is(err, ErrShachainOrder) {
		t.Errorf("out-of-order add: %v", err)
	}
	if s.numValid > shachainBits+1 {
		t.Errorf("store grew to %d entries", s.numValid)
	}
}
