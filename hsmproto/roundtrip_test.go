package hsmproto

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// gen makes random valid values for any field of any message.
type gen struct{ r *rand.Rand }

func (g gen) bytes(n int) []byte {
	b := make([]byte, n)
	g.r.Read(b)
	return b
}

func (g gen) privKey() *btcec.PrivateKey {
	k, _ := btcec.PrivKeyFromBytes(append([]byte{0x01}, g.bytes(31)...))
	return k
}

func (g gen) scalar() []byte {
	b := g.bytes(32)
	b[0] &= 0x7f // below the curve order
	return b
}

func (g gen) tx(inputs, outputs int, witness bool) *wire.MsgTx {
	tx := wire.NewMsgTx(int32(g.r.Intn(3)))
	for range inputs {
		var h chainhash.Hash
		copy(h[:], g.bytes(32))
		in := wire.NewTxIn(wire.NewOutPoint(&h, g.r.Uint32()), nil, nil)
		in.Sequence = g.r.Uint32()
		if witness {
			in.Witness = wire.TxWitness{g.bytes(72), g.bytes(33)}
		}
		tx.AddTxIn(in)
	}
	for range outputs {
		tx.AddTxOut(wire.NewTxOut(g.r.Int63n(21e14), g.bytes(22+g.r.Intn(13))))
	}
	tx.LockTime = g.r.Uint32()
	// Canonical form, as Decode returns it (nil versus empty slices).
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		panic(err)
	}
	tx, err := parseTx(buf.Bytes())
	if err != nil {
		panic(err)
	}
	return tx
}

// psbt builds a PSBT with the fields CLN uses, in canonical (parsed) form.
// channelTx is a bitcoin_tx as lightningd sends one for a channel
// transaction: its PSBT has the same transaction, witness UTXOs and
// sometimes scripts.
func (g gen) channelTx(t testing.TB) BitcoinTx {
	tx := g.tx(1+g.r.Intn(2), 1+g.r.Intn(5), false)
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	unsigned, err := parseTx(buf.Bytes()) // a copy as Decode returns it
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := psbt.NewFromUnsignedTx(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pkt.Inputs {
		pkt.Inputs[i].WitnessUtxo = wire.NewTxOut(g.r.Int63n(21e14), g.bytes(34))
		if g.r.Intn(2) == 0 {
			pkt.Inputs[i].WitnessScript = g.bytes(71)
		}
	}
	for i := range pkt.Outputs {
		if g.r.Intn(2) == 0 {
			pkt.Outputs[i].WitnessScript = g.bytes(1 + g.r.Intn(140))
		}
	}
	pkt.Unknowns = nil // as Decode returns it
	return BitcoinTx{Tx: tx, PSBT: &PSBT{pkt}}
}

func (g gen) psbt(t testing.TB) *PSBT {
	tx := g.tx(1+g.r.Intn(2), 1+g.r.Intn(2), false)
	pkt, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pkt.Inputs {
		in := &pkt.Inputs[i]
		in.WitnessUtxo = wire.NewTxOut(g.r.Int63n(21e14), g.bytes(22))
		if g.r.Intn(2) == 0 {
			in.NonWitnessUtxo = g.tx(1, 2, true)
		}
		key := g.privKey()
		if g.r.Intn(2) == 0 {
			sig := ecdsa.Sign(key, g.bytes(32))
			in.PartialSigs = append(in.PartialSigs, &psbt.PartialSig{
				PubKey: key.PubKey().SerializeCompressed(), Signature: append(sig.Serialize(), 1)})
			in.WitnessScript = g.bytes(71)
			in.Bip32Derivation = append(in.Bip32Derivation, &psbt.Bip32Derivation{
				PubKey: key.PubKey().SerializeCompressed(), MasterKeyFingerprint: g.r.Uint32(), Bip32Path: []uint32{0, 7}})
		} else {
			sig, _ := schnorr.Sign(key, g.bytes(32))
			in.TaprootKeySpendSig = sig.Serialize()
			in.TaprootBip32Derivation = append(in.TaprootBip32Derivation, &psbt.TaprootBip32Derivation{
				XOnlyPubKey: schnorr.SerializePubKey(key.PubKey()), MasterKeyFingerprint: g.r.Uint32(), Bip32Path: []uint32{0}})
		}
	}
	for i := range pkt.Outputs {
		if g.r.Intn(2) == 0 {
			key := g.privKey()
			pkt.Outputs[i].Bip32Derivation = append(pkt.Outputs[i].Bip32Derivation, &psbt.Bip32Derivation{
				PubKey: key.PubKey().SerializeCompressed(), MasterKeyFingerprint: g.r.Uint32(), Bip32Path: []uint32{1 << 31, 3}})
		}
	}
	b, err := (&PSBT{pkt}).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePSBT(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	typePubkey      = reflect.TypeOf(Pubkey{})
	typeECDSA       = reflect.TypeOf(ECDSASignature{})
	typeRecoverable = reflect.TypeOf(RecoverableSignature{})
	typeBitcoinSig  = reflect.TypeOf(BitcoinSignature{})
	typeExtKey      = reflect.TypeOf(ExtKey{})
	typeSide        = reflect.TypeOf(Side(0))
	typeBitcoinTx   = reflect.TypeOf(BitcoinTx{})
	typePSBTPtr     = reflect.TypeOf((*PSBT)(nil))
	typeTLVRecords  = reflect.TypeOf([]TLVRecord(nil))
)

// fill sets v (addressable) to a random valid value.
func (g gen) fill(t testing.TB, v reflect.Value) {
	switch v.Type() {
	case typePubkey:
		reflect.Copy(v, reflect.ValueOf(g.privKey().PubKey().SerializeCompressed()))
		return
	case typeECDSA:
		reflect.Copy(v, reflect.ValueOf(append(g.scalar(), g.scalar()...)))
		return
	case typeRecoverable:
		reflect.Copy(v, reflect.ValueOf(append(append(g.scalar(), g.scalar()...), byte(g.r.Intn(4)))))
		return
	case typeBitcoinSig:
		var s BitcoinSignature
		copy(s.Sig[:], append(g.scalar(), g.scalar()...))
		s.SighashType = []uint8{SighashAll, SighashSingleAnyoneCanPay}[g.r.Intn(2)]
		v.Set(reflect.ValueOf(s))
		return
	case typeExtKey:
		var k ExtKey
		copy(k[:], g.bytes(78))
		if g.r.Intn(2) == 0 {
			binary.BigEndian.PutUint32(k[:], bip32MainPub)
			copy(k[45:], g.privKey().PubKey().SerializeCompressed())
		} else {
			binary.BigEndian.PutUint32(k[:], bip32TestPriv)
			k[45] = 0
			copy(k[46:], g.scalar())
		}
		v.Set(reflect.ValueOf(k))
		return
	case typeSide:
		v.SetUint(uint64(g.r.Intn(2)))
		return
	case typeBitcoinTx:
		if g.r.Intn(2) == 0 {
			v.Set(reflect.ValueOf(g.channelTx(t)))
			return
		}
		v.Set(reflect.ValueOf(BitcoinTx{Tx: g.tx(1+g.r.Intn(2), 1+g.r.Intn(3), g.r.Intn(2) == 0), PSBT: g.psbt(t)}))
		return
	case typePSBTPtr:
		if g.r.Intn(3) > 0 {
			v.Set(reflect.ValueOf(g.psbt(t)))
		}
		return
	case typeTLVRecords:
		var recs []TLVRecord
		typ := uint64(1001)
		for range g.r.Intn(3) {
			typ += 2 * uint64(1+g.r.Intn(1000))
			recs = append(recs, TLVRecord{Type: typ, Value: g.bytes(g.r.Intn(5))})
		}
		v.Set(reflect.ValueOf(recs))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(g.r.Intn(2) == 1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(g.r.Uint64())
	case reflect.Int32, reflect.Int64:
		v.SetInt(g.r.Int63())
	case reflect.String:
		// Anything without control characters: CLN wirestrings are bytes.
		b := g.bytes(g.r.Intn(12))
		for i := range b {
			b[i] = ' ' + b[i]%(256-' ')
		}
		v.SetString(string(b))
	case reflect.Array:
		for i := range v.Len() {
			g.fill(t, v.Index(i))
		}
	case reflect.Slice:
		n := g.r.Intn(4)
		if n == 0 {
			return // nil, as Decode leaves empty arrays
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			g.fill(t, s.Index(i))
		}
		v.Set(s)
	case reflect.Pointer:
		if g.r.Intn(2) == 0 {
			return // optional field or TLV record absent
		}
		p := reflect.New(v.Type().Elem())
		g.fill(t, p.Elem())
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			g.fill(t, v.Field(i))
		}
	default:
		t.Fatalf("fill: no generator for %s", v.Type())
	}
}

// TestRoundTripAllMessages builds random valid values of every message
// type, encodes, decodes and compares.
func TestRoundTripAllMessages(t *testing.T) {
	g := gen{rand.New(rand.NewSource(1))}
	types := MessageTypes()
	if len(types) != 89 {
		t.Errorf("%d message types, hsmd_wire.csv v26.06.6 has 89", len(types))
	}
	for _, typ := range types {
		for i := range 20 {
			m, ok := NewMessage(typ)
			if !ok {
				t.Fatalf("NewMessage(%d) failed", typ)
			}
			g.fill(t, reflect.ValueOf(m).Elem())
			b := m.Encode()
			if binary.BigEndian.Uint16(b) != typ {
				t.Fatalf("%s: encoded type %x", m.MsgName(), b[:2])
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("%s #%d: decode: %v\n%x", m.MsgName(), i, err, b)
			}
			if b2 := got.Encode(); !bytes.Equal(b2, b) {
				t.Fatalf("%s #%d: re-encoding with the PSBTs kept differs", m.MsgName(), i)
			}
			parsePSBTs(t, got)
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("%s #%d: decoded value differs\n got %#v\nwant %#v", m.MsgName(), i, got, m)
			}
			if b2 := got.Encode(); !bytes.Equal(b2, b) {
				t.Fatalf("%s #%d: re-encoding differs", m.MsgName(), i)
			}
			checkJSON(t, m)
		}
	}
}

// parsePSBTs builds the PSBTs Decode kept as bytes in m's bitcoin_txs,
// so that m compares equal to the message that was encoded.
func parsePSBTs(t testing.TB, m Message) {
	t.Helper()
	for _, p := range psbtsIn(reflect.ValueOf(m)) {
		if p == nil || p.Packet == nil {
			t.Fatalf("%s: a PSBT Decode kept does not parse", m.MsgName())
		}
	}
}

// checkJSON checks that the JSON form is valid and names every Go field.
func checkJSON(t *testing.T, m Message) {
	t.Helper()
	j, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("%s: JSON: %v", m.MsgName(), err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(j, &fields); err != nil {
		t.Fatalf("%s: JSON %s: %v", m.MsgName(), j, err)
	}
	st := reflect.TypeOf(m).Elem()
	for i := range st.NumField() {
		name := toSnake(st.Field(i).Name)
		if _, ok := fields[name]; !ok && !strings.Contains(name, "tlvs") {
			t.Errorf("%s: JSON %s lacks %q", m.MsgName(), j, name)
		}
	}
}

// toSnake inverts the generator's naming closely enough for checkJSON.
func toSnake(s string) string {
	s = strings.ReplaceAll(s, "DBID", "Dbid")
	s = strings.ReplaceAll(s, "ID", "Id")
	var b strings.Builder
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			if i > 0 && s[i-1] != '_' {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

func TestEncodeExample(t *testing.T) {
	// hsmd_ecdh_req: type 1, then the point. The bytes are BOLT 8's
	// initiator ephemeral key.
	point := mustHex(t, "036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f7")
	var m EcdhReq
	copy(m.Point[:], point)
	want := append([]byte{0, 1}, point...)
	if got := m.Encode(); !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}

	// A count field is written from the slice it counts.
	s := SignMessage{Msg: []byte("hi")}
	if got, want := s.Encode(), []byte{0, 23, 0, 2, 'h', 'i'}; !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
}

func TestDecodeErrorText(t *testing.T) {
	g := gen{rand.New(rand.NewSource(2))}
	var m SignRemoteCommitmentTx
	g.fill(t, reflect.ValueOf(&m).Elem())
	m.Htlcs = make([]HsmHtlc, 3)
	b := m.Encode()
	// Cut inside htlcs[2].cltv_expiry: the feerate (4 bytes) and 2 of the
	// last HTLC's cltv_expiry bytes go.
	cut := b[:len(b)-6]
	_, err := Decode(cut)
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v", err)
	}
	want := "sign_remote_commitment_tx: field htlcs[2].cltv_expiry at byte " + itoa(len(b)-8) + ": truncated"
	if err.Error() != want {
		t.Fatalf("got  %q\nwant %q", err, want)
	}
	if de.Message != "hsmd_sign_remote_commitment_tx" || de.Offset != len(b)-8 {
		t.Fatalf("got %+v", de)
	}

	_, err = Decode([]byte{0x12, 0x34, 0})
	if !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), "4660") {
		t.Fatalf("unknown type: %v", err)
	}
	_, err = Decode([]byte{0})
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("one byte: %v", err)
	}
}

// TestDecodeChecks covers the value checks CLN's fromwire_ functions make.
func TestDecodeChecks(t *testing.T) {
	// Simple messages whose layout is obvious.
	point := mustHex(t, "036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f7")
	sig := append(bytes.Repeat([]byte{0x11}, 64), SighashAll)
	order := mustHex(t, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	for _, c := range []struct {
		name  string
		hex   []byte
		field string
		err   error
	}{
		{"bool 2", cat([]byte{0, 132}, []byte{2}), "is_buried", ErrBadBool},
		{"pubkey prefix 04", cat([]byte{0, 1}, []byte{4}, point[1:]), "point", ErrBadPoint},
		{"pubkey x not on curve", cat([]byte{0, 1}, []byte{2}, bytes.Repeat([]byte{0xff}, 32)), "point", ErrBadPoint},
		{"sighash 0x02", cat([]byte{0, 112}, sig[:64], []byte{2}), "sig", ErrBadSighash},
		{"sighash 0x81", cat([]byte{0, 112}, sig[:64], []byte{0x81}), "sig", ErrBadSighash},
		{"s = n", cat([]byte{0, 112}, sig[:32], order, []byte{1}), "sig", ErrBadSignature},
		{"recid 4", cat([]byte{0, 123}, sig[:64], []byte{4}), "sig", ErrBadSignature},
		{"wirestring newline", cat([]byte{0, 38}, []byte("ln\nx\x00")), "invstring", ErrBadString},
		{"wirestring no NUL", cat([]byte{0, 38}, []byte("lnbc")), "invstring", ErrTruncated},
		{"side 2", cat([]byte{0, 40}), "commit_num", ErrTruncated},
		{"optional presence 2", cat([]byte{0, 118}, point, []byte{2}), "old_commitment_secret", ErrBadBool},
		{"array count beyond data", cat([]byte{0, 23}, []byte{0xff, 0xff}, []byte("x")), "msg", ErrTruncated},
		{"ext_key bad version", cat([]byte{0, 114}, make([]byte, 4), []byte{0, 0}, make([]byte, 33), make([]byte, 78)), "bip32", ErrBadExtKey},
	} {
		_, err := Decode(c.hex)
		var de *DecodeError
		if !errors.As(err, &de) || !errors.Is(err, c.err) || de.Field != c.field {
			t.Errorf("%s: got %v, want field %q and %v", c.name, err, c.field, c.err)
		}
	}

	// A BIP144 marker without any witness is not how libwally writes the
	// transaction, so CLN's length check fails: so must Decode.
	tx := cat([]byte{2, 0, 0, 0, 0, 1, 1}, rep(0x11, 32), make([]byte, 4), []byte{0}, rep(0xff, 4),
		[]byte{1}, []byte{0xe8, 3, 0, 0, 0, 0, 0, 0}, []byte{1, 0x51}, []byte{0}, make([]byte, 4))
	_, err := Decode(cat([]byte{0, 21, 0, 0, 0, byte(len(tx))}, tx, make([]byte, 4)))
	var de *DecodeError
	if !errors.As(err, &de) || de.Field != "tx" || !errors.Is(err, ErrBadTx) {
		t.Errorf("witness marker without witness: %v", err)
	}

	// Wirestrings accept bytes from 0x7f up (CLN only refuses < 0x20).
	m, err := Decode(cat([]byte{0, 38}, []byte("\x7f\xff ok\x00")))
	if err != nil || m.(*PreapproveInvoice).Invstring != "\x7f\xff ok" {
		t.Errorf("high bytes in a wirestring: %v", err)
	}
	// A node_id is not checked (fromwire_node_id copies it).
	if _, err := Decode(cat([]byte{0, 30}, make([]byte, 33+8))); err != nil {
		t.Errorf("zero node_id: %v", err)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestMarshalRejects(t *testing.T) {
	var bad Pubkey // all zero: not a point
	for _, c := range []struct {
		name string
		m    Message
		err  error
	}{
		{"invalid point", &EcdhReq{Point: bad}, ErrBadPoint},
		{"too long array", &SignMessage{Msg: make([]byte, 70000)}, ErrTooLong},
		{"sighash", &SignTxReply{Sig: BitcoinSignature{SighashType: 2}}, ErrBadSighash},
		{"side", &HsmstatusClientBadRequest{}, nil}, // replaced below
		{"control char", &Init{Tlvs: InitTlvs{HsmPassphrase: ptr("hunter2\n")}}, ErrBadString},
		{"unknown even TLV", &Init{Tlvs: InitTlvs{Unknown: []TLVRecord{{Type: 4}}}}, ErrBadTLV},
		{"unknown TLV of a known type", &Init{Tlvs: InitTlvs{Unknown: []TLVRecord{{Type: 1}}}}, ErrBadTLV},
		{"bitcoin_tx without tx", &SignMutualCloseTx{}, nil},
	} {
		if c.name == "side" {
			var m SignRemoteCommitmentTx
			gen{rand.New(rand.NewSource(4))}.fill(t, reflect.ValueOf(&m).Elem())
			m.Htlcs = []HsmHtlc{{Side: 2}}
			c.m, c.err = &m, ErrBadSide
		}
		_, err := Marshal(c.m)
		if err == nil || (c.err != nil && !errors.Is(err, c.err)) {
			t.Errorf("%s: Marshal: %v, want %v", c.name, err, c.err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error quotes the string, which may be a passphrase: %v", c.name, err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Encode did not panic", c.name)
				}
			}()
			c.m.Encode()
		}()
	}
}

func TestTLV(t *testing.T) {
	base := (&Init{}).Encode() // no records
	// An unknown odd record is kept and written back; records are in
	// type order, a known one between unknown ones.
	withTLV := cat(base, []byte{1, 3, 'p', 'w', 0}, []byte{0xfd, 0x01, 0x01, 2, 0xab, 0xcd})
	m, err := Decode(withTLV)
	if err != nil {
		t.Fatal(err)
	}
	init := m.(*Init)
	if init.Tlvs.HsmPassphrase == nil || *init.Tlvs.HsmPassphrase != "pw" ||
		len(init.Tlvs.Unknown) != 1 || init.Tlvs.Unknown[0].Type != 257 {
		t.Fatalf("got %+v", init.Tlvs)
	}
	if !bytes.Equal(m.Encode(), withTLV) {
		t.Fatalf("re-encoded %x", m.Encode())
	}
	for _, c := range []struct {
		name string
		tlv  []byte
	}{
		{"unknown even type", []byte{2, 0}},
		{"types not increasing", []byte{3, 0, 3, 0}},
		{"type not minimal", []byte{0xfd, 0, 3, 0}},
		{"length beyond data", []byte{3, 5, 0}},
		{"bytes left in a known record", []byte{1, 4, 'p', 'w', 0, 0}},
		{"string runs past the record", []byte{1, 2, 'p', 'w', 0}},
	} {
		_, err := Decode(cat(base, c.tlv))
		if !errors.As(err, new(*DecodeError)) {
			t.Errorf("%s: decoded (%v)", c.name, err)
		}
	}
}

func TestLookup(t *testing.T) {
	if MessageName(TypeSignWithdrawal) != "hsmd_sign_withdrawal" || MessageName(4660) != "unknown_4660" {
		t.Error("MessageName")
	}
	if typ, ok := MessageType("hsmd_sign_bolt12_2"); !ok || typ != TypeSignBolt12_2 {
		t.Error("MessageType")
	}
	if _, ok := MessageType("hsmd_nonsense"); ok {
		t.Error("MessageType of an unknown name")
	}
	if c, ok := ChainparamsFor("regtest"); !ok || c.Network() != "regtest" {
		t.Error("ChainparamsFor")
	}
}

func ptr[T any](v T) *T { return &v }
