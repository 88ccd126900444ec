package hsmproto

import (
	"bytes"
	"math/rand"
	"reflect"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
)

// btcutilPSBT is the reference: what ParsePSBT returns from btcutil.
func btcutilPSBT(b []byte) (p *psbt.Packet, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, errParserPanic
		}
	}()
	p, err = psbt.NewFromRawBytes(bytes.NewReader(b), false)
	if err == nil {
		p.Unknowns = slices.DeleteFunc(p.Unknowns, func(u *psbt.Unknown) bool {
			return bytes.Equal(u.Key, []byte{psbtGlobalVersion})
		})
	}
	return p, err
}

// checkFastPSBT: where fastPSBT reads a PSBT scanPSBT accepts, btcutil
// reads the same packet. It reports whether the fast path was taken.
func checkFastPSBT(t testing.TB, b []byte) bool {
	if scanPSBT(b) != nil {
		return false
	}
	got, ok := fastPSBT(b)
	if !ok {
		return false
	}
	want, err := btcutilPSBT(b)
	if err != nil {
		t.Fatalf("fastPSBT reads %x, btcutil does not: %v", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fastPSBT(%x) differs from btcutil:\n got %+v\nwant %+v", b, got, want)
	}
	return true
}

// psbtsIn returns the PSBTs a decoded message carries.
func psbtsIn(v reflect.Value) []*PSBT {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		if p, ok := v.Interface().(*PSBT); ok {
			return []*PSBT{p}
		}
		return psbtsIn(v.Elem())
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return psbtsIn(v.Elem())
	case reflect.Struct:
		if v.Type() == typeBitcoinTx && v.CanAddr() {
			p, err := v.Addr().Interface().(*BitcoinTx).ParsedPSBT()
			if err != nil || p == nil {
				return nil
			}
			return []*PSBT{p}
		}
		var out []*PSBT
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out = append(out, psbtsIn(v.Field(i))...)
			}
		}
		return out
	case reflect.Slice:
		var out []*PSBT
		for i := range v.Len() {
			out = append(out, psbtsIn(v.Index(i))...)
		}
		return out
	}
	return nil
}

// fastPSBTSeeds: every PSBT of the vectors, and PSBTs with each field the
// fast path reads (and some it leaves to btcutil).
func fastPSBTSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	add := func(p *PSBT) {
		b, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, raw := range vectorMessages(t) {
		if m, err := Decode(raw); err == nil {
			for _, p := range psbtsIn(reflect.ValueOf(m)) {
				add(p)
			}
		}
	}
	g := gen{rand.New(rand.NewSource(10))}
	for range 20 {
		add(g.psbt(t))
	}
	for shape := range 8 {
		tx := g.tx(2, 3, false)
		pkt, err := psbt.NewFromUnsignedTx(tx)
		if err != nil {
			t.Fatal(err)
		}
		key := g.privKey().PubKey().SerializeCompressed()
		in := &pkt.Inputs[0]
		in.WitnessUtxo = wire.NewTxOut(g.r.Int63n(21e14), g.bytes(1+g.r.Intn(80)))
		in.NonWitnessUtxo = g.tx(1, 2, shape%2 == 0)
		in.SighashType = 0x83
		in.RedeemScript, in.WitnessScript = g.bytes(23), g.bytes(71)
		in.Bip32Derivation = []*psbt.Bip32Derivation{{PubKey: key, MasterKeyFingerprint: g.r.Uint32()}}
		if shape&2 != 0 {
			in.Bip32Derivation = append(in.Bip32Derivation, &psbt.Bip32Derivation{PubKey: g.privKey().PubKey().SerializeCompressed(), Bip32Path: []uint32{1 << 31, 0, 5}})
		}
		fin := &pkt.Inputs[1]
		fin.WitnessUtxo = wire.NewTxOut(1000, g.bytes(34))
		fin.FinalScriptSig = g.bytes(10)
		fin.FinalScriptWitness = []byte{2, 1, 0xaa, 2, 0xbb, 0xcc}
		pkt.Outputs[0].RedeemScript, pkt.Outputs[0].WitnessScript = g.bytes(22), g.bytes(40)
		pkt.Outputs[1].Bip32Derivation = []*psbt.Bip32Derivation{{PubKey: key, MasterKeyFingerprint: 9, Bip32Path: []uint32{7}}}
		xonly := func() []byte { return g.privKey().PubKey().SerializeCompressed()[1:] }
		tapDerivation := func(leaves int, path ...uint32) *psbt.TaprootBip32Derivation {
			d := &psbt.TaprootBip32Derivation{XOnlyPubKey: xonly(), LeafHashes: make([][]byte, leaves), MasterKeyFingerprint: g.r.Uint32(), Bip32Path: path}
			for i := range d.LeafHashes {
				d.LeafHashes[i] = g.bytes(32)
			}
			return d
		}
		fin.TaprootBip32Derivation = []*psbt.TaprootBip32Derivation{tapDerivation(shape%3, 1<<31, uint32(shape))}
		fin.TaprootInternalKey = xonly()
		pkt.Outputs[2].TaprootInternalKey = xonly()
		pkt.Outputs[2].TaprootBip32Derivation = []*psbt.TaprootBip32Derivation{tapDerivation(0, 7), tapDerivation(1)}
		if shape&4 != 0 { // a field btcutil reads: the fast path steps aside
			pkt.Outputs[1].TaprootTapTree = g.bytes(40)
		}
		add(&PSBT{pkt})
	}
	return seeds
}

func TestFastPSBTMatchesBtcutil(t *testing.T) {
	seeds := fastPSBTSeeds(t)
	fast := 0
	g := gen{rand.New(rand.NewSource(11))}
	for _, b := range seeds {
		if checkFastPSBT(t, b) {
			fast++
		}
		for range 100 {
			m := bytes.Clone(b)
			switch g.r.Intn(3) {
			case 0:
				m = m[:g.r.Intn(len(m)+1)]
			case 1:
				m[g.r.Intn(len(m))] ^= byte(1 << g.r.Intn(8))
			case 2:
				i := g.r.Intn(len(m) + 1)
				m = slices.Insert(m, i, byte(g.r.Intn(256)))
			}
			checkFastPSBT(t, m)
		}
	}
	t.Logf("fast path for %d of %d PSBTs", fast, len(seeds))
	if fast < len(seeds)/3 {
		t.Errorf("fast path taken for only %d of %d PSBTs", fast, len(seeds))
	}
}

func FuzzFastPSBT(f *testing.F) {
	for _, b := range fastPSBTSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastPSBT(t, b)
	})
}

// BenchmarkParsePSBT: the PSBT of a commitment with 30 HTLC outputs
// (witness UTXO on its one input), through ParsePSBT (scanPSBT and
// fastPSBT) and through btcutil alone.
//
// taproot-wallet: a wallet spend of two taproot inputs to a payee and a
// taproot change output, each with its taproot BIP32 derivation, as
// lightningd sends sign_withdrawal.
func BenchmarkParsePSBT(b *testing.B) {
	g := gen{rand.New(rand.NewSource(12))}
	pkt, err := psbt.NewFromUnsignedTx(g.tx(1, 34, false))
	if err != nil {
		b.Fatal(err)
	}
	pkt.Inputs[0].WitnessUtxo = wire.NewTxOut(5_000_000, g.bytes(34))
	commitment, err := (&PSBT{pkt}).Bytes()
	if err != nil {
		b.Fatal(err)
	}
	if pkt, err = psbt.NewFromUnsignedTx(g.tx(2, 2, false)); err != nil {
		b.Fatal(err)
	}
	tapDerivation := func(index uint32) []*psbt.TaprootBip32Derivation {
		key := g.privKey().PubKey().SerializeCompressed()[1:]
		return []*psbt.TaprootBip32Derivation{{XOnlyPubKey: key, LeafHashes: [][]byte{}, MasterKeyFingerprint: 0x0badf00d, Bip32Path: []uint32{index}}}
	}
	for i := range pkt.Inputs {
		pkt.Inputs[i].WitnessUtxo = wire.NewTxOut(100_000, g.bytes(34))
		pkt.Inputs[i].TaprootBip32Derivation = tapDerivation(uint32(i))
	}
	pkt.Outputs[1].TaprootBip32Derivation = tapDerivation(9)
	wallet, err := (&PSBT{pkt}).Bytes()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		raw  []byte
	}{{"commitment", commitment}, {"taproot-wallet", wallet}} {
		b.Run(c.name, func(b *testing.B) { benchmarkParsePSBT(b, c.raw) })
	}
}

func benchmarkParsePSBT(b *testing.B, raw []byte) {
	if _, ok := fastPSBT(raw); !ok {
		b.Fatal("the fast path steps aside")
	}
	b.Run("ParsePSBT", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParsePSBT(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("btcutil.NewFromRawBytes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := btcutilPSBT(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// scanPSBT finds a duplicate key wherever it is, in small maps (linear
// search) and large ones (a set).
func TestScanPSBTDuplicates(t *testing.T) {
	g := gen{rand.New(rand.NewSource(13))}
	var txb bytes.Buffer
	if err := g.tx(1, 1, false).SerializeNoWitness(&txb); err != nil {
		t.Fatal(err)
	}
	build := func(keys [][]byte) []byte {
		b := cat([]byte("psbt\xff"), kv([]byte{0}, txb.Bytes()), []byte{0})
		for _, k := range keys {
			b = append(b, kv(k, []byte{1})...)
		}
		return cat(b, []byte{0}, []byte{0}) // input map ends, output map
	}
	key := func(i int) []byte { return []byte{0xfc, byte(i)} }
	for _, n := range []int{1, 7, 8, 9, 20} {
		var keys [][]byte
		for i := range n {
			keys = append(keys, key(i))
		}
		if err := scanPSBT(build(keys)); err != nil {
			t.Fatalf("%d distinct keys: %v", n, err)
		}
		for dup := range n {
			for at := 0; at <= n; at++ {
				with := slices.Insert(slices.Clone(keys), at, key(dup))
				if err := scanPSBT(build(with)); err == nil || !bytes.Contains([]byte(err.Error()), []byte("input 0: duplicate key")) {
					t.Fatalf("%d keys, key %d again at %d: %v", n, dup, at, err)
				}
			}
		}
	}
}

// TestFastPSBTTaproot: a wallet spend as lightningd sends it for taproot
// addresses (taproot derivations on the input and the change output, an
// internal key) is read by the fast path, as btcutil reads it.
func TestFastPSBTTaproot(t *testing.T) {
	g := gen{rand.New(rand.NewSource(13))}
	pkt, err := psbt.NewFromUnsignedTx(g.tx(1, 2, false))
	if err != nil {
		t.Fatal(err)
	}
	key := g.privKey().PubKey().SerializeCompressed()[1:]
	pkt.Inputs[0].WitnessUtxo = wire.NewTxOut(70_000, append([]byte{0x51, 0x20}, key...))
	pkt.Inputs[0].TaprootInternalKey = key
	pkt.Inputs[0].TaprootBip32Derivation = []*psbt.TaprootBip32Derivation{{XOnlyPubKey: key, LeafHashes: [][]byte{}, MasterKeyFingerprint: 0x01020304, Bip32Path: []uint32{3}}}
	change := g.privKey().PubKey().SerializeCompressed()[1:]
	pkt.Outputs[1].TaprootBip32Derivation = []*psbt.TaprootBip32Derivation{{XOnlyPubKey: change, LeafHashes: [][]byte{g.bytes(32)}, MasterKeyFingerprint: 7, Bip32Path: []uint32{4}}}
	raw, err := (&PSBT{pkt}).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !checkFastPSBT(t, raw) {
		t.Fatal("the fast path stepped aside for a taproot wallet spend")
	}
	// The same with a key that is no point: btcutil refuses it, and so does
	// the fast path.
	bad := bytes.Clone(raw)
	i := bytes.Index(bad, change)
	for x := byte(0); ; x++ {
		bad[i+31] = x
		if !validXOnly(bad[i : i+32]) {
			break
		}
	}
	if _, ok := fastPSBT(bad); ok {
		t.Fatal("the fast path read a taproot derivation whose key is not a point")
	}
	if _, err := btcutilPSBT(bad); err == nil {
		t.Fatal("btcutil read a taproot derivation whose key is not a point")
	}
}
