// Package secretstream implements libsodium's
// crypto_secretstream_xchacha20poly1305 for the one message that Core
// Lightning's encrypted hsm_secret holds.
//
// It follows libsodium's construction exactly, including its padding of the
// ciphertext length (libsodium pads by mlen mod 16, not by the complement), so
// that files written by CLN (through libsodium) open here and files written
// here open in CLN. Only the first message of a stream is supported: that is
// all an hsm_secret file contains.
package secretstream

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/poly1305" //nolint:staticcheck // libsodium's one-time authenticator, used as libsodium uses it.
)

const (
	// KeySize is crypto_secretstream_xchacha20poly1305_KEYBYTES.
	KeySize = 32
	// HeaderSize is crypto_secretstream_xchacha20poly1305_HEADERBYTES.
	HeaderSize = 24
	// Overhead is crypto_secretstream_xchacha20poly1305_ABYTES: one
	// encrypted tag byte and a 16-byte Poly1305 MAC.
	Overhead = 1 + poly1305.TagSize

	// TagMessage is crypto_secretstream_xchacha20poly1305_TAG_MESSAGE, the
	// tag CLN writes.
	TagMessage = 0
)

// ErrAuth is returned when the MAC does not verify: wrong key or altered data.
var ErrAuth = errors.New("secretstream: message authentication failed")

var pad0 [16]byte

// state is the stream state after init: the HChaCha20 subkey and the
// 12-byte ChaCha20-IETF nonce (4-byte little-endian counter, starting at 1,
// then the last 8 bytes of the header).
type state struct {
	k     []byte
	nonce [12]byte
}

func initState(key, header []byte) (*state, error) {
	if len(key) != KeySize {
		return nil, errors.New("secretstream: key must be 32 bytes")
	}
	if len(header) != HeaderSize {
		return nil, errors.New("secretstream: header must be 24 bytes")
	}
	k, err := chacha20.HChaCha20(key, header[:16])
	if err != nil {
		return nil, err
	}
	s := &state{k: k}
	s.nonce[0] = 1
	copy(s.nonce[4:], header[16:])
	return s, nil
}

func (s *state) wipe() {
	for i := range s.k {
		s.k[i] = 0
	}
}

// cipherAt returns a ChaCha20-IETF keystream positioned at block counter ic.
func (s *state) cipherAt(ic uint32) *chacha20.Cipher {
	c, err := chacha20.NewUnauthenticatedCipher(s.k, s.nonce[:])
	if err != nil {
		// Only reachable with a wrong key or nonce size, which initState rules out.
		panic("secretstream: " + err.Error())
	}
	if ic != 0 {
		c.SetCounter(ic)
	}
	return c
}

// mac computes libsodium's secretstream MAC over ad, the encrypted tag block
// and the ciphertext c.
func (s *state) mac(ad []byte, block *[64]byte, c []byte) [16]byte {
	var polyKey [32]byte
	s.cipherAt(0).XORKeyStream(polyKey[:], polyKey[:])
	h := poly1305.New(&polyKey)
	for i := range polyKey {
		polyKey[i] = 0
	}
	h.Write(ad)
	h.Write(pad0[:(0x10-len(ad))&0xf])
	h.Write(block[:])
	h.Write(c)
	// libsodium pads with (0x10 - sizeof block + mlen) & 0xf bytes, which is
	// mlen mod 16 rather than its complement; kept for compatibility.
	h.Write(pad0[:(0x10-64+len(c))&0xf])
	var slen [8]byte
	binary.LittleEndian.PutUint64(slen[:], uint64(len(ad)))
	h.Write(slen[:])
	binary.LittleEndian.PutUint64(slen[:], uint64(64+len(c)))
	h.Write(slen[:])
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Seal encrypts msg as the first message of a new stream with the given
// header (24 random bytes) and returns header ‖ tag ‖ ciphertext ‖ MAC, the
// layout of CLN's encrypted hsm_secret.
func Seal(key, header, msg []byte, tag byte) ([]byte, error) {
	s, err := initState(key, header)
	if err != nil {
		return nil, err
	}
	defer s.wipe()
	out := make([]byte, 0, HeaderSize+Overhead+len(msg))
	out = append(out, header...)
	var block [64]byte
	block[0] = tag
	s.cipherAt(1).XORKeyStream(block[:], block[:])
	out = append(out, block[0])
	c := make([]byte, len(msg))
	s.cipherAt(2).XORKeyStream(c, msg)
	mac := s.mac(nil, &block, c)
	out = append(out, c...)
	out = append(out, mac[:]...)
	return out, nil
}

// Open decrypts the first message of a stream laid out as header ‖ tag ‖
// ciphertext ‖ MAC and returns the message and its tag. A wrong key or altered
// bytes give ErrAuth.
func Open(key, sealed []byte) (msg []byte, tag byte, err error) {
	if len(sealed) < HeaderSize+Overhead {
		return nil, 0, errors.New("secretstream: input too short")
	}
	s, err := initState(key, sealed[:HeaderSize])
	if err != nil {
		return nil, 0, err
	}
	defer s.wipe()
	in := sealed[HeaderSize:]
	c := in[1 : len(in)-poly1305.TagSize]
	storedMAC := in[len(in)-poly1305.TagSize:]

	var block [64]byte
	block[0] = in[0]
	s.cipherAt(1).XORKeyStream(block[:], block[:])
	tag = block[0]
	block[0] = in[0]
	mac := s.mac(nil, &block, c)
	if subtle.ConstantTimeCompare(mac[:], storedMAC) != 1 {
		return nil, 0, ErrAuth
	}
	msg = make([]byte, len(c))
	s.cipherAt(2).XORKeyStream(msg, c)
	return msg, tag, nil
}
