package keys

import (
	"crypto/sha256"
	"errors"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/consensys/gnark-crypto/ecc/secp256k1/fp"

	"gl-signerd/signer/curve"
)

// ECDH is secp256k1_ecdh with its default hash function: SHA256 of the
// compressed point p·P (the same value lnd's keychain.PrivKeyECDH returns).
//
// The multiplication is signer/curve's (GLV endomorphism, width-5 NAF, a
// field multiplication that uses p's shape): 51–53 µs here against 70 µs
// for gnark-crypto's and 110 µs for decred's ScalarMultNonConst, which
// btcec offers (BenchmarkECDH, 64 points in turn). Neither is constant-time, and no Go secp256k1 library
// offers a fast constant-time multiplication of an arbitrary point
// (libsecp256k1's secp256k1_ecdh, CLN's, is). The node key is fixed and
// peers choose the points: the sequence of operations follows the key's
// digits, the same for every call, and the point only through rare
// exceptional cases of the additions; docs/self-hosted.md says so.
func (p *PrivateKey) ECDH(pub *btcec.PublicKey) [32]byte {
	xy := pub.SerializeUncompressed()
	shared, _ := p.ecdh((*[32]byte)(xy[1:33]), (*[32]byte)(xy[33:65])) // a parsed key is on the curve
	return shared
}

// ErrPoint is a compressed public key that is not a point of the curve.
var ErrPoint = errors.New("keys: not a compressed secp256k1 point")

// ECDHCompressed is ECDH of a compressed public key (SEC 1), decompressed
// here: hsmd_ecdh_req's point, which a connection's peer chose, then costs
// one square root in 4×64-bit arithmetic instead of btcec.ParsePubKey's.
func (p *PrivateKey) ECDHCompressed(pub [33]byte) ([32]byte, error) {
	x, y, err := decompress(pub)
	if err != nil {
		return [32]byte{}, err
	}
	return p.ecdh(&x, &y)
}

// decompress returns the coordinates of a compressed public key, ErrPoint
// for one that is not a point of the curve.
func decompress(pub [33]byte) (x, y [32]byte, err error) {
	var xe, ye fp.Element
	if pub[0] != 0x02 && pub[0] != 0x03 || xe.SetBytesCanonical(pub[1:]) != nil {
		return x, y, ErrPoint
	}
	var rhs, seven fp.Element
	seven.SetUint64(7)
	rhs.Square(&xe).Mul(&rhs, &xe).Add(&rhs, &seven)
	if ye.Sqrt(&rhs) == nil {
		return x, y, ErrPoint
	}
	y = ye.Bytes()
	if y[31]&1 != pub[0]&1 {
		ye.Neg(&ye)
		y = ye.Bytes()
	}
	return [32]byte(pub[1:]), y, nil
}

// ecdh is SHA256 of the compressed point p·(x, y).
func (p *PrivateKey) ecdh(x, y *[32]byte) ([32]byte, error) {
	m := curve.NewMultiplier(&p.k.Key)
	defer m.Wipe()
	return ecdhWith(m, x, y)
}

// ecdhWith is SHA256 of the compressed point m·(x, y).
func ecdhWith(m *curve.Multiplier, x, y *[32]byte) ([32]byte, error) {
	shared, ok := m.MulCompressed(x, y)
	if !ok {
		return [32]byte{}, ErrPoint
	}
	return sha256.Sum256(shared[:]), nil
}
