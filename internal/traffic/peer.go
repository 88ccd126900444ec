package traffic

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/input"
	"github.com/lightningnetwork/lnd/shachain"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
)

// randKey is a private key from rng.
func randKey(rng *rand.Rand) *btcec.PrivateKey {
	for {
		var b [32]byte
		for i := 0; i < 32; i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		var s btcec.ModNScalar
		if overflow := s.SetBytes(&b); overflow == 0 && !s.IsZero() {
			return btcec.PrivKeyFromScalar(&s)
		}
	}
}

func randBytes32(rng *rand.Rand) [32]byte {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// peer is a channel counterparty: its node key and the channel's keys and
// shachain.
type peer struct {
	node                                        *btcec.PrivateKey
	id                                          [33]byte
	funding, revocation, payment, htlc, delayed *btcec.PrivateKey
	shachain                                    shachain.Producer
}

func newPeer(rng *rand.Rand) *peer {
	p := &peer{
		node:       randKey(rng),
		funding:    randKey(rng),
		revocation: randKey(rng),
		payment:    randKey(rng),
		htlc:       randKey(rng),
		delayed:    randKey(rng),
	}
	copy(p.id[:], p.node.PubKey().SerializeCompressed())
	root := chainhash.Hash(randBytes32(rng))
	p.shachain = shachain.NewRevocationProducer(root)
	return p
}

func (p *peer) keyset() keyset {
	return keyset{funding: p.funding.PubKey(), revocation: p.revocation.PubKey(), payment: p.payment.PubKey(), htlc: p.htlc.PubKey(), delayed: p.delayed.PubKey()}
}

// secret is the peer's per-commitment secret n (BOLT 3: lnd's producer
// counts commitments up from its root, like CLN's shachain_from_seed at
// index 2^48-1-n).
func (p *peer) secret(n uint64) [32]byte {
	h, err := p.shachain.AtIndex(n)
	if err != nil {
		panic(err) // n < 2^48 always here
	}
	return [32]byte(*h)
}

func (p *peer) point(n uint64) *btcec.PublicKey {
	s := p.secret(n)
	return input.ComputeCommitmentPoint(s[:])
}

// tweakedHTLC is the peer's HTLC private key at per-commitment point.
func (p *peer) tweakedHTLC(point *btcec.PublicKey) *btcec.PrivateKey {
	return input.TweakPrivKey(p.htlc, input.SingleTweakBytes(point, p.htlc.PubKey()))
}

// signWitness signs input idx (BIP143) with priv, as a bitcoin_signature.
func signWitness(priv *btcec.PrivateKey, tx *wire.MsgTx, idx int, wscript, pkScript []byte, amount int64, ht txscript.SigHashType) (hsmproto.BitcoinSignature, error) {
	h, err := witnessSighash(tx, idx, wscript, pkScript, amount, ht)
	if err != nil {
		return hsmproto.BitcoinSignature{}, err
	}
	sig := ecdsa.Sign(priv, h)
	return hsmproto.BitcoinSignature{Sig: hsmproto.ECDSASignature(keys.CompactSig(sig)), SighashType: uint8(ht)}, nil
}

// checkWitnessSig checks that bs is pub's signature of input idx (BIP143)
// with sighash type ht.
func checkWitnessSig(bs hsmproto.BitcoinSignature, pub *btcec.PublicKey, tx *wire.MsgTx, idx int, wscript, pkScript []byte, amount int64, ht txscript.SigHashType) error {
	if bs.SighashType != uint8(ht) {
		return fmt.Errorf("sighash type 0x%02x, want 0x%02x", bs.SighashType, uint8(ht))
	}
	h, err := witnessSighash(tx, idx, wscript, pkScript, amount, ht)
	if err != nil {
		return err
	}
	return checkSig(bs.Sig[:], pub, h)
}

// checkSig checks a 64-byte compact signature of hash by pub.
func checkSig(compact []byte, pub *btcec.PublicKey, hash []byte) error {
	sig, err := keys.ParseCompactSig(compact)
	if err != nil {
		return fmt.Errorf("the signature does not parse: %w", err)
	}
	if !sig.Verify(hash, pub) {
		return fmt.Errorf("the signature does not verify with key %x", pub.SerializeCompressed())
	}
	return nil
}

// derSig is bs as a script signature (DER ‖ sighash byte).
func derSig(bs hsmproto.BitcoinSignature) ([]byte, error) {
	sig, err := keys.ParseCompactSig(bs.Sig[:])
	if err != nil {
		return nil, err
	}
	return append(sig.Serialize(), bs.SighashType), nil
}

// runScript completes input idx of tx with witness and runs btcd's script
// engine on it.
func runScript(tx *wire.MsgTx, idx int, witness wire.TxWitness, prevOuts txscript.PrevOutputFetcher) error {
	tx = tx.Copy()
	tx.TxIn[idx].Witness = witness
	prev := prevOuts.FetchPrevOutput(tx.TxIn[idx].PreviousOutPoint)
	if prev == nil {
		return fmt.Errorf("no previous output for input %d", idx)
	}
	vm, err := txscript.NewEngine(prev.PkScript, tx, idx, txscript.StandardVerifyFlags, nil,
		txscript.NewTxSigHashes(tx, prevOuts), prev.Value, prevOuts)
	if err != nil {
		return err
	}
	if err := vm.Execute(); err != nil {
		return fmt.Errorf("the completed input %d does not validate: %w", idx, err)
	}
	return nil
}

// multisigWitness is the witness spending a 2-of-2 funding output.
func multisigWitness(wscript []byte, a *btcec.PublicKey, sigA []byte, b *btcec.PublicKey, sigB []byte) wire.TxWitness {
	if bytes.Compare(a.SerializeCompressed(), b.SerializeCompressed()) > 0 {
		sigA, sigB = sigB, sigA
	}
	return wire.TxWitness{nil, sigA, sigB, wscript}
}

// ecdh is BOLT 8's ECDH: SHA256 of the compressed point priv·pub.
func ecdh(priv *btcec.PrivateKey, pub *btcec.PublicKey) [32]byte {
	var p, r btcec.JacobianPoint
	pub.AsJacobian(&p)
	btcec.ScalarMultNonConst(&priv.Key, &p, &r)
	r.ToAffine()
	return sha256.Sum256(btcec.NewPublicKey(&r.X, &r.Y).SerializeCompressed())
}
