package keys

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/tyler-smith/go-bip39"

	"gl-signerd/signer/curve"
	"gl-signerd/signer/internal/lru"
)

// SecretType is CLN's enum hsm_secret_type (common/hsm_secret.h), which
// hsmd reports in the init reply's hsm_secret_type TLV.
type SecretType uint8

// Values of SecretType.
const (
	SecretPlain              SecretType = 0 // legacy 32-byte hsm_secret
	SecretEncrypted          SecretType = 1 // legacy 73-byte encrypted hsm_secret
	SecretMnemonicNoPass     SecretType = 2 // BIP39 mnemonic, no passphrase
	SecretMnemonicWithPass   SecretType = 3 // BIP39 mnemonic with passphrase
	secretTypeInvalidOrAbove SecretType = 4
)

// Ring holds every secret hsmd derives at start-up from its hsm_secret, and
// the per-channel key cache.  It is safe for concurrent use.  Create it with
// New or NewFromMnemonic.
type Ring struct {
	mu    sync.RWMutex
	wiped bool

	secretType SecretType
	seedLen    int // 32 or 64: decides BIP86 (use_bip86_derivation)

	node    PrivateKey // node_key(): HKDF "nodeid"
	nodePub *btcec.PublicKey
	nodeID  [33]byte
	// nodeECDH is node split and written in digits for ECDH, once.
	nodeECDH *curve.Multiplier

	// wallet is m/0/0 (secretstuff.bip32) and bolt12 the private key of
	// m/9735', both under the master key m from the "bip32 seed" HKDF;
	// walletParent is m/0/0 ready to derive the wallet keys m/0/0/i.
	wallet       *extKey
	walletParent *bip32Parent
	bolt12       PrivateKey
	bolt12Pub    *btcec.PublicKey

	// bip86 is m/86'/0'/0' from the raw 64-byte seed, bip86Parent its
	// child 0 (the parent of the BIP86 wallet keys); both nil for 32
	// bytes.
	bip86       *extKey
	bip86Parent *bip32Parent

	// walletPubs caches the public keys of wallet keys (WalletKey,
	// BIP86Key) by index.
	walletPubs *lru.Cache[walletKeyID, *btcec.PublicKey]

	derivedSecret Secret // secretstuff.derived_secret
	channelBase   Secret // hsm_channel_secret_base(): HKDF "peer seed"

	channels *channelCache
}

// Option adjusts New.
type Option func(*Ring)

// WithSecretType records the hsm_secret type reported in the init reply
// (default: SecretPlain for 32 bytes, SecretMnemonicNoPass for 64 bytes).
func WithSecretType(t SecretType) Option { return func(r *Ring) { r.secretType = t } }

// WithChannelCacheSize bounds the per-channel key cache (default 256
// channels; least recently used first out).  0 disables caching.
func WithChannelCacheSize(n int) Option {
	return func(r *Ring) { r.channels = newChannelCache(n) }
}

// WithWalletCacheSize bounds the cache of wallet public keys (WalletKey,
// BIP86Key; default 1024 keys, least recently used first out).  It holds
// no secret.  0 disables caching.
func WithWalletCacheSize(n int) Option {
	return func(r *Ring) { r.walletPubs = lru.New[walletKeyID, *btcec.PublicKey](n) }
}

// New derives a Ring from a 32-byte hsm_secret (the Greenlight seed, CLN's
// raw hsm_secret) or a 64-byte BIP39 seed (CLN's mnemonic hsm_secret), as
// hsmd_init() does.  It keeps no copy of secret: the caller should Wipe its
// own.
//
// With a 64-byte seed, CLN derives the node key and the channel seeds from
// the first 32 bytes only, the BIP32 wallet, bolt12 and derived-secret bases
// from all 64, and BIP86 keys straight from the 64-byte seed.
func New(secret []byte, opts ...Option) (*Ring, error) {
	if len(secret) != 32 && len(secret) != 64 {
		return nil, ErrSecretLength
	}
	r := &Ring{
		seedLen:    len(secret),
		channels:   newChannelCache(defaultChannelCacheSize),
		walletPubs: lru.New[walletKeyID, *btcec.PublicKey](defaultWalletCacheSize),
	}
	if len(secret) == 32 {
		r.secretType = SecretPlain
	} else {
		r.secretType = SecretMnemonicNoPass
	}
	for _, o := range opts {
		o(r)
	}
	if r.secretType >= secretTypeInvalidOrAbove {
		return nil, fmt.Errorf("keys: invalid hsm_secret type %d", r.secretType)
	}
	if err := r.derive(secret); err != nil {
		r.Wipe()
		return nil, err
	}
	return r, nil
}

// NewFromMnemonic checks a BIP39 English mnemonic (words and checksum, as
// CLN's validate_mnemonic does), turns it into the 64-byte seed with the
// passphrase (bip39_mnemonic_to_seed; "" means none) and derives the Ring,
// with secret type SecretMnemonicNoPass or SecretMnemonicWithPass.
func NewFromMnemonic(mnemonic, passphrase string, opts ...Option) (*Ring, error) {
	seed, err := MnemonicToSeed(mnemonic, passphrase)
	if err != nil {
		return nil, err
	}
	defer Wipe(seed)
	t := SecretMnemonicNoPass
	if passphrase != "" {
		t = SecretMnemonicWithPass
	}
	return New(seed, append([]Option{WithSecretType(t)}, opts...)...)
}

// ErrInvalidMnemonic: the mnemonic is not a valid English BIP39 mnemonic.
var ErrInvalidMnemonic = errors.New("keys: invalid BIP39 mnemonic (check the words and their order)")

// MnemonicToSeed validates an English BIP39 mnemonic and returns its 64-byte
// seed (PBKDF2-HMAC-SHA512, 2048 rounds, salt "mnemonic"+passphrase).
func MnemonicToSeed(mnemonic, passphrase string) ([]byte, error) {
	seed, err := bip39.NewSeedWithErrorChecking(mnemonic, passphrase)
	if err != nil {
		return nil, ErrInvalidMnemonic
	}
	return seed, nil
}

func (r *Ring) derive(secret []byte) error {
	// node_key(): HKDF-SHA256(salt = LE u32 counter, ikm = first 32 bytes,
	// info "nodeid") until the result is a valid private key.
	var buf [32]byte
	defer clear(buf[:])
	for salt := uint32(0); ; salt++ {
		hkdfSHA256(buf[:], le32(salt), secret[:32], "nodeid")
		if k, err := privKeyFromArray(&buf); err == nil {
			r.node = *k
			k.Wipe()
			break
		}
	}
	r.nodePub = r.node.PubKey()
	r.node.pub = r.nodePub
	r.nodeECDH = curve.NewMultiplier(&r.node.k.Key)
	copy(r.nodeID[:], r.nodePub.SerializeCompressed())

	master, err := bip32Master(secret)
	if err != nil {
		return err
	}

	// secretstuff.bip32 = m/0/0 (the BIP32 default account's external chain).
	defer master.wipe()
	m0, err := master.derive(0)
	if err != nil {
		return fmt.Errorf("keys: bip32 m/0: %w", err)
	}
	r.wallet, err = m0.derive(0)
	m0.wipe()
	if err != nil {
		return fmt.Errorf("keys: bip32 m/0/0: %w", err)
	}
	r.walletParent = r.wallet.parent()

	// secretstuff.bolt12 = private key of m/9735'.
	b12, err := master.derive(hdkeychain.HardenedKeyStart | 9735)
	if err != nil {
		return fmt.Errorf("keys: bip32 m/9735': %w", err)
	}
	r.bolt12.k.Key.Set(&b12.key.k.Key)
	r.bolt12Pub = b12.key.pub
	r.bolt12.pub = r.bolt12Pub
	b12.wipe()

	// derived_secret = HKDF-SHA256(no salt, ikm = the whole secret,
	// info "derived secrets").
	hkdfSHA256(r.derivedSecret[:], nil, secret, "derived secrets")

	// hsm_channel_secret_base() = HKDF-SHA256(no salt, ikm = first 32
	// bytes, info "peer seed").
	hkdfSHA256(r.channelBase[:], nil, secret[:32], "peer seed")

	// derive_bip86_base_key(): m/86'/0'/0' from the raw 64-byte seed
	// (coin type 0' on every network).
	if len(secret) == 64 {
		k, err := newMasterKey(secret)
		if err != nil {
			return fmt.Errorf("keys: BIP86 master key from the 64-byte seed: %w", err)
		}
		for _, i := range []uint32{86, 0, 0} {
			next, err := k.derive(hdkeychain.HardenedKeyStart | i)
			k.wipe()
			if err != nil {
				return fmt.Errorf("keys: BIP86 base m/86'/0'/0': %w", err)
			}
			k = next
		}
		r.bip86 = k
		receive, err := k.derive(0)
		if err != nil {
			return fmt.Errorf("keys: BIP86 m/86'/0'/0'/0: %w", err)
		}
		r.bip86Parent = receive.parent()
		receive.wipe()
	}
	return nil
}

// SecretType is the hsm_secret type to report in the init reply.
func (r *Ring) SecretType() SecretType { return r.secretType }

// HasBIP86 reports whether wallet keys use BIP86 (CLN's
// use_bip86_derivation(): a 64-byte seed).
func (r *Ring) HasBIP86() bool { return r.seedLen == 64 }

// NodeID is the 33-byte compressed node id.
func (r *Ring) NodeID() [33]byte { return r.nodeID }

// NodePubKey is the node public key.
func (r *Ring) NodePubKey() *btcec.PublicKey { return r.nodePub }

// NodeKey returns a copy of the node private key (node_key()).  Prefer the
// Sign* methods and ECDH; the copy is the caller's to Wipe.
func (r *Ring) NodeKey() (*PrivateKey, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.wiped {
		return nil, ErrWiped
	}
	k := r.node
	return &k, nil
}

// Bolt12PubKey is the public key of m/9735', returned in the init reply as
// the base of bolt12 payer ids.
func (r *Ring) Bolt12PubKey() *btcec.PublicKey { return r.bolt12Pub }

// DeriveSecret is handle_derive_secret(): HKDF-SHA256(no salt, ikm =
// derived_secret, info).  An empty info is allowed.
func (r *Ring) DeriveSecret(info []byte) (Secret, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var s Secret
	if r.wiped {
		return s, ErrWiped
	}
	hkdfSHA256(s[:], nil, r.derivedSecret[:], string(info))
	return s, nil
}

// ECDHNode is handle_ecdh(): SHA256 of the compressed point node_key·P
// (secp256k1_ecdh with its default hash).
func (r *Ring) ECDHNode(p *btcec.PublicKey) ([32]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.wiped {
		return [32]byte{}, ErrWiped
	}
	xy := p.SerializeUncompressed()
	shared, _ := ecdhWith(r.nodeECDH, (*[32]byte)(xy[1:33]), (*[32]byte)(xy[33:65])) // a parsed key is on the curve
	return shared, nil
}

// ECDHNodeCompressed is ECDHNode of a compressed public key; ErrPoint
// when it is not a point of the curve.
func (r *Ring) ECDHNodeCompressed(p [33]byte) ([32]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.wiped {
		return [32]byte{}, ErrWiped
	}
	x, y, err := decompress(p)
	if err != nil {
		return [32]byte{}, err
	}
	return ecdhWith(r.nodeECDH, &x, &y)
}

// Wipe zeroes every secret the Ring holds, including cached channel keys.
// Afterwards every method that needs a secret returns ErrWiped.
func (r *Ring) Wipe() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wiped = true
	r.node.Wipe()
	if r.nodeECDH != nil {
		r.nodeECDH.Wipe()
	}
	r.bolt12.Wipe()
	r.derivedSecret.Wipe()
	r.channelBase.Wipe()
	for _, k := range []*extKey{r.wallet, r.bip86} {
		if k != nil {
			k.wipe()
		}
	}
	for _, p := range []*bip32Parent{r.walletParent, r.bip86Parent} {
		if p != nil {
			p.wipe()
		}
	}
	if r.walletPubs != nil {
		r.walletPubs.Clear()
	}
	if r.channels != nil {
		r.channels.wipe()
	}
}

// String implements fmt.Stringer without revealing secrets.
func (r *Ring) String() string { return fmt.Sprintf("keys.Ring{node %x, %s}", r.nodeID, redacted) }

// GoString implements fmt.GoStringer without revealing secrets.
func (r *Ring) GoString() string { return r.String() }

// Format implements fmt.Formatter: every verb prints String.
func (r *Ring) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }
