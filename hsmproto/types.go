package hsmproto

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// NodeID is CLN's node_id: a 33-byte compressed public key that the wire
// code does not check (CLN's fromwire_node_id copies the bytes).
type NodeID [33]byte

// Pubkey is CLN's pubkey: 33 bytes that must parse as a compressed
// secp256k1 point (fromwire_pubkey fails otherwise).
type Pubkey [33]byte

// Key parses the point.
func (k Pubkey) Key() (*btcec.PublicKey, error) { return btcec.ParsePubKey(k[:]) }

// PubkeyFrom returns the compressed serialization of k.
func PubkeyFrom(k *btcec.PublicKey) Pubkey {
	var p Pubkey
	copy(p[:], k.SerializeCompressed())
	return p
}

// Secret is CLN's secret: 32 secret bytes. String and %v print a
// placeholder; JSON (hsmd decode) prints the bytes.
type Secret [32]byte

// Privkey is CLN's privkey: 32 bytes, not checked to be a valid scalar (as
// in CLN). String and %v print a placeholder.
type Privkey [32]byte

// SHA256 is CLN's sha256: 32 bytes.
type SHA256 [32]byte

// ECDSASignature is CLN's secp256k1_ecdsa_signature: 64-byte compact R‖S,
// each below the curve order (libsecp256k1's parse_compact rule).
type ECDSASignature [64]byte

// RecoverableSignature is CLN's secp256k1_ecdsa_recoverable_signature:
// compact R‖S then the recovery id (0..3).
type RecoverableSignature [65]byte

// BIP340Signature is CLN's bip340sig: 64 bytes, not checked.
type BIP340Signature [64]byte

// BitcoinSignature is CLN's bitcoin_signature: a compact signature and the
// sighash type, which CLN restricts to SIGHASH_ALL (0x01) and
// SIGHASH_SINGLE|SIGHASH_ANYONECANPAY (0x83).
type BitcoinSignature struct {
	Sig         ECDSASignature
	SighashType uint8
}

// Sighash types CLN accepts in a bitcoin_signature.
const (
	SighashAll                = 0x01
	SighashSingleAnyoneCanPay = 0x83
)

// ExtKey is CLN's ext_key: a 78-byte BIP32 serialization. Decode accepts
// what libwally's bip32_key_unserialize accepts: an xpub/tpub version with
// public key data (not checked to be a point), or an xprv/tprv version
// with 0x00 then a valid private key.
type ExtKey [78]byte

// Chainparams is CLN's chainparams: the genesis block hash of a network,
// in internal byte order. CLN accepts any value (an unknown one leaves
// chainparams NULL); Network names the known ones.
type Chainparams [32]byte

// AmountMsat is CLN's amount_msat, in millisatoshi.
type AmountMsat uint64

// AmountSat is CLN's amount_sat, in satoshi.
type AmountSat uint64

// Side is CLN's enum side: who offered an HTLC.
type Side uint8

// The sides of CLN's enum side.
const (
	Local  Side = 0
	Remote Side = 1
)

// TLVRecord is a TLV record of a type the table does not define.
type TLVRecord struct {
	Type  uint64
	Value []byte
}

// MarshalText writes the bytes as hex.
func (k NodeID) MarshalText() ([]byte, error)         { return hexText(k[:]) }
func (k Pubkey) MarshalText() ([]byte, error)         { return hexText(k[:]) }
func (s Secret) MarshalText() ([]byte, error)         { return hexText(s[:]) }
func (s Privkey) MarshalText() ([]byte, error)        { return hexText(s[:]) }
func (h SHA256) MarshalText() ([]byte, error)         { return hexText(h[:]) }
func (s ECDSASignature) MarshalText() ([]byte, error) { return hexText(s[:]) }
func (s RecoverableSignature) MarshalText() ([]byte, error) {
	return hexText(s[:])
}
func (s BIP340Signature) MarshalText() ([]byte, error) { return hexText(s[:]) }

// String keeps secrets out of logs.
func (Secret) String() string  { return "Secret(…)" }
func (Privkey) String() string { return "Privkey(…)" }

// GoString keeps secrets out of %#v.
func (Secret) GoString() string  { return "hsmproto.Secret{…}" }
func (Privkey) GoString() string { return "hsmproto.Privkey{…}" }

func hexText(b []byte) ([]byte, error) {
	out := make([]byte, hex.EncodedLen(len(b)))
	hex.Encode(out, b)
	return out, nil
}

// MarshalJSON writes {"signature": hex, "sighash_type": n}.
func (s BitcoinSignature) MarshalJSON() ([]byte, error) {
	var o jsonObject
	o.add("signature", s.Sig)
	o.add("sighash_type", s.SighashType)
	return o.finish()
}

// MarshalText writes "local" or "remote".
func (s Side) MarshalText() ([]byte, error) {
	switch s {
	case Local:
		return []byte("local"), nil
	case Remote:
		return []byte("remote"), nil
	}
	return nil, fmt.Errorf("%w: %d", ErrBadSide, s)
}

// MarshalJSON writes {"type": n, "value": hex}.
func (r TLVRecord) MarshalJSON() ([]byte, error) {
	var o jsonObject
	o.add("type", r.Type)
	o.addHex("value", r.Value)
	return o.finish()
}

// String is the usual Base58Check form (xpub…, tprv…).
func (k ExtKey) String() string {
	sum := chainhash.DoubleHashB(k[:])
	return base58.Encode(append(k[:], sum[:4]...))
}

// Key parses the extended key.
func (k ExtKey) Key() (*hdkeychain.ExtendedKey, error) {
	return hdkeychain.NewKeyFromString(k.String())
}

// MarshalText writes the Base58Check form.
func (k ExtKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// BIP32 versions libwally accepts in bip32_key_unserialize.
const (
	bip32MainPriv = 0x0488ade4
	bip32MainPub  = 0x0488b21e
	bip32TestPriv = 0x04358394
	bip32TestPub  = 0x043587cf
)

func (k *ExtKey) check() error {
	ver := binary.BigEndian.Uint32(k[:4])
	private := ver == bip32MainPriv || ver == bip32TestPriv
	if !private && ver != bip32MainPub && ver != bip32TestPub {
		return fmt.Errorf("%w: version 0x%08x", ErrBadExtKey, ver)
	}
	if k[45] == 0 {
		if !private {
			return fmt.Errorf("%w: private key data with a public version", ErrBadExtKey)
		}
		var s btcec.ModNScalar
		if overflow := s.SetByteSlice(k[46:]); overflow || s.IsZero() {
			return fmt.Errorf("%w: private key out of range", ErrBadExtKey)
		}
	} else if private {
		return fmt.Errorf("%w: public key data with a private version", ErrBadExtKey)
	}
	return nil
}

// The networks CLN knows (bitcoin/chainparams.c of v26.06.6): their
// genesis block hashes and whether their BIP32 key versions are mainnet's
// (bitcoin, liquid) or testnet's (every other; signet's are testnet's).
var networks = []struct {
	name        string
	genesis     string // as block explorers print it
	mainnetKeys bool
}{
	{"bitcoin", "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f", true},
	{"regtest", "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206", false},
	{"signet", "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6", false},
	{"testnet", "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943", false},
	{"testnet4", "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043", false},
	{"liquid-regtest", "c6864236932316016814fef84490999936bb6ab69f1e21dc115f9e0b58eb879f", false},
	{"liquid", "0360208a889692372c8d68b084a62efdf60ea1a359a04c94b20d223658276614", true},
}

// Bip32KeyVersionFor returns the BIP32 key versions CLN's chainparams
// give a network it knows by name.
func Bip32KeyVersionFor(network string) (Bip32KeyVersion, bool) {
	for _, n := range networks {
		if n.name == network {
			if n.mainnetKeys {
				return Bip32KeyVersion{Bip32PubkeyVersion: bip32MainPub, Bip32PrivkeyVersion: bip32MainPriv}, true
			}
			return Bip32KeyVersion{Bip32PubkeyVersion: bip32TestPub, Bip32PrivkeyVersion: bip32TestPriv}, true
		}
	}
	return Bip32KeyVersion{}, false
}

// InitFor returns the hsmd_init lightningd sends when it starts hsmd on a
// network it knows by name, offering wire versions minVersion to
// maxVersion (MinVersion and MaxVersion for the range this package
// speaks).
func InitFor(network string, minVersion, maxVersion uint32) (*Init, error) {
	cp, ok := ChainparamsFor(network)
	if !ok {
		return nil, fmt.Errorf("network %q is not one CLN knows", network)
	}
	v, _ := Bip32KeyVersionFor(network)
	return &Init{
		Bip32KeyVersion:   v,
		Chainparams:       cp,
		HsmWireMinVersion: minVersion,
		HsmWireMaxVersion: maxVersion,
	}, nil
}

// Network returns CLN's name for the network ("bitcoin", "testnet",
// "regtest", …), or "" for a hash CLN does not know.
func (c Chainparams) Network() string {
	h := chainhash.Hash(c)
	for _, n := range networks {
		if h.String() == n.genesis {
			return n.name
		}
	}
	return ""
}

// ChainparamsFor returns the genesis hash of a network CLN knows by name.
func ChainparamsFor(network string) (Chainparams, bool) {
	for _, n := range networks {
		if n.name == network {
			h, err := chainhash.NewHashFromStr(n.genesis)
			if err != nil {
				panic(err)
			}
			return Chainparams(*h), true
		}
	}
	return Chainparams{}, false
}

// MarshalJSON writes {"network": name or null, "genesis_hash": hash}.
func (c Chainparams) MarshalJSON() ([]byte, error) {
	var o jsonObject
	if n := c.Network(); n != "" {
		o.add("network", n)
	} else {
		o.add("network", nil)
	}
	o.add("genesis_hash", chainhash.Hash(c))
	return o.finish()
}

// --- decoding ---------------------------------------------------------

func (d *decoder) fixed(f string, dst []byte) (start int, ok bool) {
	start = d.off
	b := d.take(f, len(dst))
	if b == nil {
		return start, false
	}
	copy(dst, b)
	return start, true
}

func (d *decoder) readNodeID(f string, v *NodeID)           { d.fixed(f, v[:]) }
func (d *decoder) readSecret(f string, v *Secret)           { d.fixed(f, v[:]) }
func (d *decoder) readPrivkey(f string, v *Privkey)         { d.fixed(f, v[:]) }
func (d *decoder) readSHA256(f string, v *SHA256)           { d.fixed(f, v[:]) }
func (d *decoder) readTxid(f string, v *chainhash.Hash)     { d.fixed(f, v[:]) }
func (d *decoder) readChainparams(f string, v *Chainparams) { d.fixed(f, v[:]) }
func (d *decoder) readBIP340Signature(f string, v *BIP340Signature) {
	d.fixed(f, v[:])
}

func (d *decoder) readAmountMsat(f string, v *AmountMsat) { d.readU64(f, (*uint64)(v)) }
func (d *decoder) readAmountSat(f string, v *AmountSat)   { d.readU64(f, (*uint64)(v)) }

func (d *decoder) readPubkey(f string, v *Pubkey) {
	if start, ok := d.fixed(f, v[:]); ok && !validPoint(v[:]) {
		d.failAt(f, start, ErrBadPoint)
	}
}

// checkCompact applies libsecp256k1's parse_compact rule: R and S below
// the group order (zero is allowed).
func checkCompact(rs []byte) error {
	var r, s btcec.ModNScalar
	if r.SetByteSlice(rs[:32]) || s.SetByteSlice(rs[32:64]) {
		return fmt.Errorf("%w: R or S not below the curve order", ErrBadSignature)
	}
	return nil
}

func (d *decoder) readECDSASignature(f string, v *ECDSASignature) {
	if start, ok := d.fixed(f, v[:]); ok {
		if err := checkCompact(v[:]); err != nil {
			d.failAt(f, start, err)
		}
	}
}

func (d *decoder) readRecoverableSignature(f string, v *RecoverableSignature) {
	if start, ok := d.fixed(f, v[:]); ok {
		if err := checkRecoverable(v); err != nil {
			d.failAt(f, start, err)
		}
	}
}

func checkRecoverable(v *RecoverableSignature) error {
	if v[64] > 3 {
		return fmt.Errorf("%w: recovery id %d", ErrBadSignature, v[64])
	}
	return checkCompact(v[:64])
}

func (d *decoder) readBitcoinSignature(f string, v *BitcoinSignature) {
	d.readECDSASignature(f, &v.Sig)
	start := d.off
	d.readU8(f, &v.SighashType)
	if d.err == nil && !validSighash(v.SighashType) {
		d.failAt(f, start, fmt.Errorf("%w: 0x%02x (CLN accepts 0x01 and 0x83)", ErrBadSighash, v.SighashType))
	}
}

func validSighash(t uint8) bool { return t == SighashAll || t == SighashSingleAnyoneCanPay }

func (d *decoder) readExtKey(f string, v *ExtKey) {
	if start, ok := d.fixed(f, v[:]); ok {
		if err := v.check(); err != nil {
			d.failAt(f, start, err)
		}
	}
}

func (d *decoder) readSide(f string, v *Side) {
	start := d.off
	d.readU8(f, (*uint8)(v))
	if d.err == nil && *v > Remote {
		d.failAt(f, start, fmt.Errorf("%w: %d", ErrBadSide, *v))
	}
}

// readWirestring reads a NUL-terminated string without control characters
// (CLN's fromwire_wirestring: bytes below 0x20 other than the final NUL
// fail; bytes from 0x7f up are accepted).
func (d *decoder) readWirestring(f string, v *string) {
	if d.err != nil {
		return
	}
	rest := d.b[d.off:d.end]
	for i, c := range rest {
		if c == 0 {
			*v = string(rest[:i])
			d.off += i + 1
			return
		}
		if c < ' ' {
			d.failAt(f, d.off, fmt.Errorf("%w: control character 0x%02x at byte %d", ErrBadString, c, d.off+i))
			return
		}
	}
	d.failAt(f, d.off, fmt.Errorf("%w: no terminating NUL", ErrTruncated))
}

// --- encoding ---------------------------------------------------------

func (e *encoder) writeNodeID(v NodeID)                   { e.b = append(e.b, v[:]...) }
func (e *encoder) writeSecret(v Secret)                   { e.b = append(e.b, v[:]...) }
func (e *encoder) writePrivkey(v Privkey)                 { e.b = append(e.b, v[:]...) }
func (e *encoder) writeSHA256(v SHA256)                   { e.b = append(e.b, v[:]...) }
func (e *encoder) writeTxid(v chainhash.Hash)             { e.b = append(e.b, v[:]...) }
func (e *encoder) writeChainparams(v Chainparams)         { e.b = append(e.b, v[:]...) }
func (e *encoder) writeBIP340Signature(v BIP340Signature) { e.b = append(e.b, v[:]...) }
func (e *encoder) writeAmountMsat(v AmountMsat)           { e.writeU64(uint64(v)) }
func (e *encoder) writeAmountSat(v AmountSat)             { e.writeU64(uint64(v)) }

func (e *encoder) writePubkey(v Pubkey) {
	if !validPoint(v[:]) {
		e.fail(fmt.Errorf("pubkey %x: %w", v[:], ErrBadPoint))
	}
	e.b = append(e.b, v[:]...)
}

func (e *encoder) writeECDSASignature(v ECDSASignature) {
	if err := checkCompact(v[:]); err != nil {
		e.fail(err)
	}
	e.b = append(e.b, v[:]...)
}

func (e *encoder) writeRecoverableSignature(v RecoverableSignature) {
	if err := checkRecoverable(&v); err != nil {
		e.fail(err)
	}
	e.b = append(e.b, v[:]...)
}

func (e *encoder) writeBitcoinSignature(v BitcoinSignature) {
	if !validSighash(v.SighashType) {
		e.fail(fmt.Errorf("%w: 0x%02x", ErrBadSighash, v.SighashType))
	}
	e.writeECDSASignature(v.Sig)
	e.writeU8(v.SighashType)
}

func (e *encoder) writeExtKey(v ExtKey) {
	if err := v.check(); err != nil {
		e.fail(err)
	}
	e.b = append(e.b, v[:]...)
}

func (e *encoder) writeSide(v Side) {
	if v > Remote {
		e.fail(fmt.Errorf("%w: %d", ErrBadSide, v))
	}
	e.writeU8(uint8(v))
}

func (e *encoder) writeWirestring(v string) {
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' {
			// Not the string itself: it may be a passphrase (hsm_passphrase).
			e.fail(fmt.Errorf("%w: control character 0x%02x at index %d", ErrBadString, v[i], i))
			break
		}
	}
	e.b = append(append(e.b, v...), 0)
}

// --- JSON ---------------------------------------------------------------

// jsonObject builds a JSON object with keys in insertion order.
type jsonObject struct {
	buf bytes.Buffer
	err error
}

func (o *jsonObject) key(k string) {
	if o.buf.Len() == 0 {
		o.buf.WriteByte('{')
	} else {
		o.buf.WriteByte(',')
	}
	kb, _ := json.Marshal(k)
	o.buf.Write(kb)
	o.buf.WriteByte(':')
}

func (o *jsonObject) add(k string, v any) {
	o.key(k)
	b, err := json.Marshal(v)
	if err != nil && o.err == nil {
		o.err = fmt.Errorf("%s: %w", k, err)
	}
	o.buf.Write(b)
}

// addHex writes bytes as a hex string ("" when empty).
func (o *jsonObject) addHex(k string, v []byte) { o.add(k, hex.EncodeToString(v)) }

func (o *jsonObject) finish() ([]byte, error) {
	if o.buf.Len() == 0 {
		o.buf.WriteByte('{')
	}
	o.buf.WriteByte('}')
	return o.buf.Bytes(), o.err
}
