package keys

import (
	"crypto/sha256"
	"errors"
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/consensys/gnark-crypto/ecc/secp256k1"
	"github.com/consensys/gnark-crypto/ecc/secp256k1/fp"
)

// ECDH is secp256k1_ecdh with its default hash function: SHA256 of the
// compressed point p·P (the same value lnd's keychain.PrivKeyECDH returns).
//
// The multiplication is gnark-crypto's (GLV endomorphism, 4×64-bit field
// arithmetic), about 3.5 times as fast here as decred's ScalarMultNonConst,
// which btcec offers and which spends most of its time in 10×26-bit field
// multiplications. Neither is constant-time, and no Go secp256k1 library
// offers a constant-time multiplication of an arbitrary point
// (libsecp256k1's secp256k1_ecdh, CLN's, is). The node key is fixed and
// peers choose the points: the time taken depends on the key's
// decomposition, the same for every call, and on the point only through
// rare exceptional cases of the additions; docs/self-hosted.md says so.
func (p *PrivateKey) ECDH(pub *btcec.PublicKey) [32]byte {
	var point secp256k1.G1Affine
	xy := pub.SerializeUncompressed()
	point.X.SetBytes(xy[1:33])
	point.Y.SetBytes(xy[33:65])
	return p.ecdh(&point)
}

// ErrPoint is a compressed public key that is not a point of the curve.
var ErrPoint = errors.New("keys: not a compressed secp256k1 point")

// ECDHCompressed is ECDH of a compressed public key (SEC 1), decompressed
// here: hsmd_ecdh_req's point, which a connection's peer chose, then costs
// one square root in 4×64-bit arithmetic instead of btcec.ParsePubKey's.
func (p *PrivateKey) ECDHCompressed(pub [33]byte) ([32]byte, error) {
	var point secp256k1.G1Affine
	if pub[0] != 0x02 && pub[0] != 0x03 || point.X.SetBytesCanonical(pub[1:]) != nil {
		return [32]byte{}, ErrPoint
	}
	var rhs, seven fp.Element
	seven.SetUint64(7)
	rhs.Square(&point.X).Mul(&rhs, &point.X).Add(&rhs, &seven)
	if point.Y.Sqrt(&rhs) == nil {
		return [32]byte{}, ErrPoint
	}
	if y := point.Y.Bytes(); y[31]&1 != pub[0]&1 {
		point.Y.Neg(&point.Y)
	}
	return p.ecdh(&point), nil
}

// ecdh is SHA256 of the compressed point p·point, point on the curve.
func (p *PrivateKey) ecdh(point *secp256k1.G1Affine) [32]byte {
	var shared secp256k1.G1Affine
	kb := p.k.Key.Bytes()
	var k big.Int
	k.SetBytes(kb[:])
	shared.ScalarMultiplication(point, &k)
	clear(kb[:])
	clear(k.Bits())

	var compressed [33]byte
	y := shared.Y.Bytes()
	compressed[0] = 0x02 | y[31]&1
	x := shared.X.Bytes()
	copy(compressed[1:], x[:])
	return sha256.Sum256(compressed[:])
}
