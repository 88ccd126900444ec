package hsmproto

import (
	"bytes"
	"errors"
	"math/rand"
	"reflect"
	"testing"

	"github.com/btcsuite/btcd/wire"
)

// btcdTx is the reference: btcd's deserialization of exactly b.
func btcdTx(b []byte, witness bool) (*wire.MsgTx, bool) {
	tx := new(wire.MsgTx)
	r := bytes.NewReader(b)
	var err error
	if witness {
		err = tx.Deserialize(r)
	} else {
		err = tx.DeserializeNoWitness(r)
	}
	return tx, err == nil && r.Len() == 0
}

// checkDecodeTx: where decodeTx reads b, btcd reads the same transaction
// (deeply equal, nil and empty slices alike) and all of b.
func checkDecodeTx(t testing.TB, b []byte, witness bool) bool {
	got, ok := decodeTx(b, witness)
	if !ok {
		return false
	}
	want, wok := btcdTx(b, witness)
	if !wok {
		t.Fatalf("decodeTx reads %x (witness %v), btcd does not", b, witness)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeTx(%x, %v) differs from btcd:\n got %+v\nwant %+v", b, witness, got, want)
	}
	return true
}

func serializeTx(t testing.TB, tx *wire.MsgTx, witness bool) []byte {
	var buf bytes.Buffer
	var err error
	if witness {
		err = tx.Serialize(&buf)
	} else {
		err = tx.SerializeNoWitness(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeTxMatchesBtcd(t *testing.T) {
	g := gen{rand.New(rand.NewSource(7))}
	var txs []*wire.MsgTx
	for _, shape := range [][3]int{{1, 0, 0}, {1, 1, 0}, {1, 1, 1}, {2, 3, 1}, {3, 40, 0}, {5, 2, 1}} {
		txs = append(txs, g.tx(shape[0], shape[1], shape[2] == 1))
	}
	// A witness on one input only, empty scripts, long scripts (3-byte
	// lengths), an empty witness item.
	mixed := g.tx(3, 2, false)
	mixed.TxIn[1].Witness = wire.TxWitness{{}, g.bytes(300)}
	mixed.TxIn[2].SignatureScript = g.bytes(260)
	mixed.TxOut[0].PkScript = nil
	mixed.TxOut[1].PkScript = g.bytes(70_000)
	txs = append(txs, mixed)
	for _, tx := range txs {
		for _, witness := range []bool{true, false} {
			b := serializeTx(t, tx, witness)
			if !checkDecodeTx(t, b, witness) {
				t.Errorf("decodeTx does not read %d inputs, %d outputs (witness %v)", len(tx.TxIn), len(tx.TxOut), witness)
			}
			// Mangled: decodeTx reads it only as btcd does.
			for range 200 {
				m := bytes.Clone(b)
				switch g.r.Intn(3) {
				case 0:
					m = m[:g.r.Intn(len(m)+1)]
				case 1:
					m[g.r.Intn(len(m))] ^= byte(1 << g.r.Intn(8))
				case 2:
					m = append(m, byte(g.r.Intn(256)))
				}
				checkDecodeTx(t, m, witness)
			}
		}
	}
	// No inputs: with witness, the count 0 reads as BIP144's marker (in
	// btcd and libwally alike); compared only.
	for _, nOut := range []int{0, 1, 2} {
		tx := wire.NewMsgTx(2)
		for range nOut {
			tx.AddTxOut(wire.NewTxOut(1, []byte{0x51}))
		}
		for _, witness := range []bool{true, false} {
			checkDecodeTx(t, serializeTx(t, tx, witness), witness)
		}
	}
	// The BIP144 marker without any witness: btcd refuses it.
	noWit := g.tx(1, 1, false)
	b := serializeTx(t, noWit, false)
	marked := append(append(bytes.Clone(b[:4]), 0, 1), b[4:len(b)-4]...)
	marked = append(append(marked, 0), b[len(b)-4:]...)
	if _, ok := decodeTx(marked, true); ok {
		t.Error("decodeTx reads a marker without witnesses")
	}
}

func FuzzDecodeTx(f *testing.F) {
	g := gen{rand.New(rand.NewSource(8))}
	for _, w := range []bool{true, false} {
		f.Add(serializeTx(f, g.tx(1, 2, w), w), w)
		f.Add(serializeTx(f, g.tx(2, 1, w), w), w)
	}
	f.Fuzz(func(t *testing.T, b []byte, witness bool) {
		checkDecodeTx(t, b, witness)
	})
}

// decodeTx's scripts and witness items are its own: changing b afterwards
// changes none of them, and appending to one never writes over another.
func TestDecodeTxOwnsItsBytes(t *testing.T) {
	g := gen{rand.New(rand.NewSource(17))}
	tx := g.tx(2, 3, true)
	tx.TxIn[0].SignatureScript = g.bytes(5)
	b := serializeTx(t, tx, true)
	got, ok := decodeTx(b, true)
	if !ok {
		t.Fatal("not read")
	}
	want, _ := decodeTx(bytes.Clone(b), true)
	for i := range b {
		b[i] ^= 0xff
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("changing the bytes read changed the transaction")
	}
	var items [][]byte
	for _, in := range got.TxIn {
		items = append(items, in.SignatureScript)
		items = append(items, in.Witness...)
	}
	for _, out := range got.TxOut {
		items = append(items, out.PkScript)
	}
	for i, item := range items {
		if cap(item) != len(item) {
			t.Fatalf("item %d: capacity %d beyond its %d bytes", i, cap(item), len(item))
		}
		_ = append(item, 0xaa, 0xbb, 0xcc)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("appending to a script wrote over another")
	}
}

// BenchmarkParseTx: a commitment-sized transaction (1 input, 34 outputs),
// decodeTx against btcd's reader.
func BenchmarkParseTx(b *testing.B) {
	g := gen{rand.New(rand.NewSource(9))}
	raw := serializeTx(b, g.tx(1, 34, false), true)
	b.Run("decodeTx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodeTx(raw, true); !ok {
				b.Fatal("not read")
			}
		}
	})
	b.Run("btcd", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := btcdTx(raw, true); !ok {
				b.Fatal("not read")
			}
		}
	})
}

// checkParseTx holds parseTx to what it relies on: where decodeTx reads
// b, txLayout walks all of b and refuses it only for an amount, with the
// error parseTx gives. (Where decodeTx does not read b, parseTx takes
// txLayout's walk itself, as it always did.)
func checkParseTx(t *testing.T, b []byte) {
	_, err := parseTx(b)
	if _, ok := decodeTx(b, true); !ok {
		return
	}
	n, _, _, layoutErr := txLayout(b, true)
	switch {
	case layoutErr != nil && !errors.Is(layoutErr, ErrBadTx):
		t.Fatalf("decodeTx reads %x, txLayout refuses it: %v", b, layoutErr)
	case layoutErr != nil && (err == nil || err.Error() != layoutErr.Error()):
		t.Fatalf("parseTx(%x): error %v, txLayout's %v", b, err, layoutErr)
	case layoutErr == nil && n != len(b):
		t.Fatalf("decodeTx reads all %d bytes of %x, txLayout walks %d", len(b), b, n)
	}
}

// FuzzParseTx: see checkParseTx.
func FuzzParseTx(f *testing.F) {
	g := gen{rand.New(rand.NewSource(11))}
	for _, w := range []bool{true, false} {
		f.Add(serializeTx(f, g.tx(1, 2, w), w))
		f.Add(serializeTx(f, g.tx(2, 30, w), w))
	}
	big := g.tx(1, 1, false)
	big.TxOut[0].Value = maxSatoshi + 1
	f.Add(serializeTx(f, big, false))
	f.Fuzz(checkParseTx)
}

// TestParseTxMutations: every single-byte change of some transactions.
func TestParseTxMutations(t *testing.T) {
	g := gen{rand.New(rand.NewSource(12))}
	for _, w := range []bool{true, false} {
		b := serializeTx(t, g.tx(2, 3, w), w)
		for i := range b {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				m := append([]byte(nil), b...)
				m[i] ^= x
				checkParseTx(t, m)
			}
		}
	}
}
