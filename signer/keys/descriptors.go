package keys

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// bip32Master is hsmd_init's BIP32 master key m: the "bip32 seed" is
// HKDF-SHA256(salt = a little-endian u32 counter from 0, ikm = the whole
// secret, info "bip32 seed"), the first one bip32_key_from_seed accepts
// (its HMAC-SHA512 half is a valid key).
func bip32Master(secret []byte) (*extKey, error) {
	var buf [32]byte
	defer clear(buf[:])
	for salt := uint32(0); ; salt++ {
		hkdfSHA256(buf[:], le32(salt), secret, "bip32 seed")
		master, err := newMasterKey(buf[:])
		if err == nil {
			return master, nil
		}
		if !errors.Is(err, hdkeychain.ErrUnusableSeed) {
			return nil, fmt.Errorf("keys: bip32 master: %w", err)
		}
	}
}

// WalletDescriptors returns the output descriptors of the on-chain wallet
// lightningd keeps with this secret (32 bytes, or the 64-byte BIP39 seed),
// as lightning-hsmtool dumponchaindescriptors of CLN v26.06.6 prints them:
// wpkh, sh(wpkh) and tr, in that order, each with its BIP380 checksum. They
// hold extended public keys only, in version v (BIP32Mainnet on bitcoin,
// BIP32Testnet elsewhere):
//
//   - a 32-byte secret: the master key m of the "bip32 seed" HKDF, and the
//     path 0/0/* (bitcoin_key(): m/0/0/index, for every address type);
//   - a 64-byte seed: m/86'/0'/0' of the seed itself, and the path 0/*
//     (bip86_key(): m/86'/0'/0'/0/index, for every address type, since
//     hsm_key_for_utxo takes BIP86 keys for such seeds).
//
// A wallet watching them sees the addresses lightningd hands out (newaddr
// p2tr and bech32) and the p2sh-segwit ones older nodes used.
func WalletDescriptors(secret []byte, v BIP32Version) ([]string, error) {
	if !v.Valid() {
		return nil, ErrKeyVersion
	}
	var ext [ExtKeySize]byte
	var path string
	switch len(secret) {
	case 32:
		master, err := bip32Master(secret)
		if err != nil {
			return nil, err
		}
		ext, err = master.serializePub(v)
		master.wipe()
		if err != nil {
			return nil, err
		}
		path = "0/0"
	case 64:
		r, err := New(secret, WithChannelCacheSize(0), WithWalletCacheSize(0))
		if err != nil {
			return nil, err
		}
		ext, err = r.BIP86BaseExtKey(v)
		r.Wipe()
		if err != nil {
			return nil, err
		}
		path = "0"
	default:
		return nil, ErrSecretLength
	}
	xpub := base58CheckExtKey(ext)
	out := make([]string, 0, 3)
	for _, form := range []string{"wpkh(%s/%s/*)", "sh(wpkh(%s/%s/*))", "tr(%s/%s/*)"} {
		out = append(out, withDescriptorChecksum(fmt.Sprintf(form, xpub, path)))
	}
	return out, nil
}

// base58CheckExtKey is libwally's bip32_key_to_base58: the serialized key,
// then the first 4 bytes of its double SHA-256, in base58.
func base58CheckExtKey(ext [ExtKeySize]byte) string {
	first := sha256.Sum256(ext[:])
	check := sha256.Sum256(first[:])
	return base58.Encode(append(ext[:], check[:4]...))
}

// The BIP380 descriptor checksum: the descriptor's characters mapped into
// descriptorInputCharset, a BCH code over GF(32) of their symbols, written
// with descriptorChecksumCharset.
const (
	descriptorInputCharset    = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
	descriptorChecksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
)

func descriptorPolymod(c uint64, v int) uint64 {
	c0 := c >> 35
	c = (c&0x7ffffffff)<<5 ^ uint64(v)
	for i, g := range []uint64{0xf5dee51989, 0xa9fdca3312, 0x1bab10e32d, 0x3706b1677a, 0x644d626ffd} {
		if c0>>i&1 != 0 {
			c ^= g
		}
	}
	return c
}

// DescriptorChecksum returns the 8-character BIP380 checksum of desc (the
// descriptor without "#..."), or an error naming a character outside
// descriptors' character set.
func DescriptorChecksum(desc string) (string, error) {
	c := uint64(1)
	cls, clsCount := 0, 0
	for i, ch := range desc {
		pos := strings.IndexRune(descriptorInputCharset, ch)
		if pos < 0 {
			return "", fmt.Errorf("character %q at %d cannot be in a descriptor", ch, i)
		}
		c = descriptorPolymod(c, pos&31)
		cls = cls*3 + pos>>5
		if clsCount++; clsCount == 3 {
			c = descriptorPolymod(c, cls)
			cls, clsCount = 0, 0
		}
	}
	if clsCount > 0 {
		c = descriptorPolymod(c, cls)
	}
	for range 8 {
		c = descriptorPolymod(c, 0)
	}
	c ^= 1
	var out [8]byte
	for j := range out {
		out[j] = descriptorChecksumCharset[c>>(5*(7-j))&31]
	}
	return string(out[:]), nil
}

// withDescriptorChecksum appends "#" and the checksum to a descriptor made
// of descriptor characters (WalletDescriptors' are); it panics otherwise.
func withDescriptorChecksum(desc string) string {
	sum, err := DescriptorChecksum(desc)
	if err != nil {
		panic("keys: " + err.Error())
	}
	return desc + "#" + sum
}
