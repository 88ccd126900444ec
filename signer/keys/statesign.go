package keys

// StateSigningInfo is the HKDF info of Greenlight's state-signing key.
const StateSigningInfo = "greenlight/state-signing/v1"

// StateSigningKey is the key Greenlight's signer signs its state entries
// with (HsmResponse.signer_state): HKDF-SHA256 with no salt over the
// node's 32-byte secret, info "greenlight/state-signing/v1". With a
// 64-byte BIP39 seed its first 32 bytes are used, as Greenlight's seed is.
func StateSigningKey(secret []byte) (*PrivateKey, error) {
	if len(secret) < 32 {
		return nil, ErrInvalidKey
	}
	var k [32]byte
	hkdfSHA256(k[:], nil, secret[:32], StateSigningInfo)
	defer clear(k[:])
	return privKeyFromArray(&k)
}
