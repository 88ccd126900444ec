package keys

import (
	"crypto/sha256"
	"errors"

	"github.com/consensys/gnark-crypto/ecc/secp256k1/fp"

	"gl-signerd/signer/curve"
)

// ErrPoint is a compressed public key that is not a point of the curve.
var ErrPoint = errors.New("keys: not a compressed secp256k1 point")

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

// ecdhWith is secp256k1_ecdh with its default hash function: SHA256 of the
// compressed point k·(x, y) for m made from k (the same value lnd's
// keychain.PrivKeyECDH returns); ErrPoint when (x, y) is not on the curve.
//
// The multiplication is signer/curve's (GLV endomorphism, width-5 NAF, a
// field multiplication that uses p's shape): 47–54 µs here against 70 µs
// for gnark-crypto's and 110 µs for decred's ScalarMultNonConst, which
// btcec offers (BenchmarkECDH, 64 points in turn). Neither is constant-time, and no Go secp256k1 library
// offers a fast constant-time multiplication of an arbitrary point
// (libsecp256k1's secp256k1_ecdh, CLN's, is). The node key is fixed and
// peers choose the points: the sequence of operations follows the key's
// digits, the same for every call, and the point only through rare
// exceptional cases of the additions; docs/self-hosted.md says so.
func ecdhWith(m *curve.Multiplier, x, y *[32]byte) ([32]byte, error) {
	shared, ok := m.MulCompressed(x, y)
	if !ok {
		return [32]byte{}, ErrPoint
	}
	return sha256.Sum256(shared[:]), nil
}
