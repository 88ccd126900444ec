package hsmproto

import (
	"bytes"
	"math/rand"
	"reflect"
	"testing"

	"github.com/btcsuite/btcd/wire"

	"gl-signerd/internal/sharedfiles"
)

// decodeBothWays decodes raw with the PSBTs of bitcoin_txs kept as bytes
// and with every PSBT parsed at once, and fails t unless both accept or
// refuse it alike, with the same error or the same message once the kept
// PSBTs are parsed. It returns the message and whether a PSBT was kept.
func decodeBothWays(t testing.TB, raw []byte) (m Message, kept bool) {
	t.Helper()
	m, n, err := DecodePrefix(raw)
	eager, eagerN, eagerErr := decodePrefix(raw, decodeOptions{parsePSBTs: true})
	if (err == nil) != (eagerErr == nil) || (err != nil && err.Error() != eagerErr.Error()) {
		t.Fatalf("keeping PSBTs changes the result:\nkept:   %v\nparsed: %v\n%x", err, eagerErr, raw)
	}
	if err != nil {
		return nil, false
	}
	if n != eagerN {
		t.Fatalf("keeping PSBTs changes the length read: %d, %d", n, eagerN)
	}
	kept = hasKeptPSBT(reflect.ValueOf(m))
	if b1, b2 := m.Encode(), eager.Encode(); string(b1) != string(b2) {
		t.Fatalf("%s: keeping PSBTs changes the encoding\nkept   %x\nparsed %x", m.MsgName(), b1, b2)
	}
	// Amounts read without parsing are those of the parsed packet.
	if btx := bitcoinTxOf(m); btx != nil && btx.Tx != nil {
		for in := -1; in <= len(btx.Tx.TxIn); in++ {
			a1, ok1 := btx.WitnessUTXOAmount(in)
			e := bitcoinTxOf(eager)
			a2, ok2 := e.WitnessUTXOAmount(in)
			if a1 != a2 || ok1 != ok2 {
				t.Fatalf("%s: input %d amount %d %v kept, %d %v parsed", m.MsgName(), in, a1, ok1, a2, ok2)
			}
		}
	}
	// The outputs kept serialized are the transaction's.
	if btx := bitcoinTxOf(m); btx != nil {
		if got := btx.SerializedOutputs(); got != nil || btx.kept != nil {
			var want bytes.Buffer
			for _, out := range btx.Tx.TxOut {
				if err := wire.WriteTxOut(&want, 0, 0, out); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("%s: serialized outputs %x, want %x", m.MsgName(), got, want)
			}
		}
	}
	parsePSBTs(t, m)
	if btx := bitcoinTxOf(m); btx != nil && btx.SerializedOutputs() != nil {
		t.Fatalf("%s: serialized outputs kept once the PSBT is parsed", m.MsgName())
	}
	if !reflect.DeepEqual(m, eager) {
		t.Fatalf("%s: keeping PSBTs changes the message\nkept   %#v\nparsed %#v", m.MsgName(), m, eager)
	}
	return m, kept
}

func hasKeptPSBT(v reflect.Value) bool {
	return holds(v, func(s reflect.Value) (found, stop bool) {
		if s.Type() != typeBitcoinTx {
			return false, false
		}
		return s.Addr().Interface().(*BitcoinTx).kept != nil, true
	})
}

// holds walks v (a message or part of one) through pointers, interfaces,
// exported struct fields and slices, and reports whether match finds a
// struct it is looking for; a struct on which match says stop is not
// walked further.
func holds(v reflect.Value, match func(reflect.Value) (found, stop bool)) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && holds(v.Elem(), match)
	case reflect.Struct:
		if found, stop := match(v); found || stop {
			return found
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && holds(v.Field(i), match) {
				return true
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if holds(v.Index(i), match) {
				return true
			}
		}
	}
	return false
}

// bitcoinTxOf is the first bitcoin_tx field of m, if any.
func bitcoinTxOf(m Message) *BitcoinTx {
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if v.Field(i).Type() == typeBitcoinTx {
			return v.Field(i).Addr().Interface().(*BitcoinTx)
		}
	}
	return nil
}

// TestKeptPSBTs: on every vector, Decode's result is the same whether it
// keeps the PSBTs of bitcoin_txs as bytes or parses them, and lightningd's
// channel transactions are kept.
func TestKeptPSBTs(t *testing.T) {
	t.Parallel()
	msgs := vectorMessages(t)
	if len(msgs) == 0 {
		sharedfiles.Missing(t, "no vectors in ../shared/vectors")
	}
	withTx, kept := 0, 0
	for _, raw := range msgs {
		m, k := decodeBothWays(t, raw)
		if m != nil && bitcoinTxOf(m) != nil {
			withTx++
			if k {
				kept++
			}
		}
	}
	t.Logf("%d of %d messages with a bitcoin_tx had their PSBT kept", kept, withTx)
	if withTx == 0 || kept*10 < withTx*9 {
		t.Errorf("only %d of %d bitcoin_tx PSBTs kept", kept, withTx)
	}
}

// TestKeptPSBTCases: PSBTs that are kept and PSBTs that must be parsed
// at once (and refused alike).
func TestKeptPSBTCases(t *testing.T) {
	g := gen{rand.New(rand.NewSource(3))}
	kept, mutatedKept, mutated := 0, 0, 0
	for i := range 200 {
		m := &SignRemoteCommitmentTx{}
		g.fill(t, reflect.ValueOf(m).Elem())
		raw := m.Encode()
		if _, k := decodeBothWays(t, raw); k {
			kept++
		}
		// Every single-byte change as well.
		if i < 10 {
			for j := range raw {
				bad := append([]byte(nil), raw...)
				bad[j] ^= 0x41
				if m, k := decodeBothWays(t, bad); m != nil {
					mutated++
					if k {
						mutatedKept++
					}
				}
			}
		}
	}
	t.Logf("kept %d of 200 generated PSBTs, %d of %d decodable mutations", kept, mutatedKept, mutated)
	if kept == 0 || kept == 200 || mutatedKept == 0 {
		t.Errorf("the cases do not cover both ways: kept %d of 200, %d of %d mutations", kept, mutatedKept, mutated)
	}
}

// FuzzKeptPSBT: Decode's result does not depend on keeping PSBTs.
func FuzzKeptPSBT(f *testing.F) {
	for _, raw := range vectorMessages(f) {
		if m, err := Decode(raw); err == nil && bitcoinTxOf(m) != nil {
			f.Add(raw)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		decodeBothWays(t, raw)
	})
}
