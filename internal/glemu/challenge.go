package glemu

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	schedpb "gl-signerd/streamer/pb/scheduler"
)

// SignedMessageHash is what a Greenlight signer signs to answer a
// challenge, the digest of hsmd_sign_message:
// SHA256(SHA256("Lightning Signed Message:" || msg)).
func SignedMessageHash(msg []byte) [32]byte {
	h := sha256.Sum256(append([]byte("Lightning Signed Message:"), msg...))
	return sha256.Sum256(h[:])
}

// VerifyChallengeSignature checks a 64-byte compact signature (r || s)
// over SignedMessageHash(challenge) against the 33-byte node id.
func VerifyChallengeSignature(nodeID [33]byte, challenge, sig []byte) error {
	pub, err := btcec.ParsePubKey(nodeID[:])
	if err != nil {
		return fmt.Errorf("the node id is not a public key: %w", err)
	}
	if len(sig) != 64 {
		return fmt.Errorf("the signature is %d bytes; expected a 64-byte compact signature", len(sig))
	}
	var r, s btcec.ModNScalar
	if overflow := r.SetByteSlice(sig[:32]); overflow || r.IsZero() {
		return errors.New("the signature's r is out of range")
	}
	if overflow := s.SetByteSlice(sig[32:]); overflow || s.IsZero() {
		return errors.New("the signature's s is out of range")
	}
	h := SignedMessageHash(challenge)
	if !ecdsa.NewSignature(&r, &s).Verify(h[:], pub) {
		return errors.New("the signature does not verify against the node id")
	}
	return nil
}

// KeySigner answers scheduler challenges with a private key, as a
// Greenlight signer does; it satisfies streamer.ChallengeSigner. For tests
// and the demo.
type KeySigner struct{ Key *btcec.PrivateKey }

// NodeID is the compressed public key.
func (k KeySigner) NodeID() [33]byte {
	var id [33]byte
	copy(id[:], k.Key.PubKey().SerializeCompressed())
	return id
}

// SignChallenge signs SignedMessageHash(challenge), returning r || s.
func (k KeySigner) SignChallenge(challenge []byte) ([]byte, error) {
	h := SignedMessageHash(challenge)
	sig, err := ecdsa.SignCompact(k.Key, h[:], true) // recovery byte || r || s
	if err != nil {
		return nil, err
	}
	return sig[1:], nil
}

type challenge struct {
	nodeID  [33]byte
	scope   schedpb.ChallengeScope
	expires time.Time
}

// challenges are one-time, scoped and expiring.
type challengeStore struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]challenge
}

const maxOutstandingChallenges = 10000

func (c *challengeStore) issue(nodeID [33]byte, scope schedpb.ChallengeScope) ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m {
		if now.After(v.expires) {
			delete(c.m, k)
		}
	}
	if len(c.m) >= maxOutstandingChallenges {
		return nil, errors.New("too many outstanding challenges")
	}
	c.m[hex.EncodeToString(b)] = challenge{nodeID: nodeID, scope: scope, expires: now.Add(c.ttl)}
	return b, nil
}

// take consumes a challenge: whatever the outcome, it cannot be used again.
func (c *challengeStore) take(b []byte, nodeID [33]byte, scope schedpb.ChallengeScope) error {
	c.mu.Lock()
	ch, ok := c.m[hex.EncodeToString(b)]
	delete(c.m, hex.EncodeToString(b))
	c.mu.Unlock()
	switch {
	case !ok:
		return errors.New("unknown or already used challenge")
	case time.Now().After(ch.expires):
		return errors.New("the challenge expired")
	case ch.scope != scope:
		return fmt.Errorf("the challenge was issued for %s, not %s", ch.scope, scope)
	case ch.nodeID != nodeID:
		return errors.New("the challenge was issued for another node")
	}
	return nil
}
