package streamer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

	schedpb "gl-signerd/streamer/pb/scheduler"
)

// ChallengeSigner proves control of the node key to the scheduler. The
// signing engine implements it.
type ChallengeSigner interface {
	// NodeID is the node's 33-byte compressed public key.
	NodeID() [33]byte
	// SignChallenge signs a 32-byte scheduler challenge the way
	// hsmd_sign_message does: ECDSA over
	// SHA256(SHA256("Lightning Signed Message:" || challenge)) with the
	// node key, returned as the 64-byte compact signature r || s (without
	// the recovery id).
	SignChallenge(challenge []byte) ([]byte, error)
}

// Registration is what the scheduler needs to know about a new node.
type Registration struct {
	// Network is "bitcoin", "testnet", "signet" or "regtest".
	Network string
	// SignerProto is the signer protocol version, e.g. "v26.06"; it picks
	// the CLN version the node runs.
	SignerProto string
	// InitMsg is the signer's full hsmd_init reply (with its u16 type).
	InitMsg []byte
	// StartupMsgs are canned answers to the requests lightningd sends at
	// startup (hsmd_init and the derive_secret calls), so the node can
	// start before the signer attaches.
	StartupMsgs []*schedpb.StartupMessage
	// Bip32Key is the deprecated BIP32 extended public key; optional.
	Bip32Key []byte
	// InviteCode is optional.
	InviteCode string
}

// Device is a node's device identity: the certificate chain the scheduler
// signed and the private key that never left this machine.
type Device struct {
	NodeID [33]byte
	// Name is the CN's device part: "default" after Register,
	// "recovered-<hex>" after Recover.
	Name string
	// Cert is the PEM certificate chain, leaf first.
	Cert []byte
	// Key is the PEM (PKCS#8) private key.
	Key []byte
	// Rune is whatever the scheduler returned (Greenlight's client adds
	// its own; see the report in docs).
	Rune string
}

// NewDeviceCSR makes a P-256 device key and a PEM certificate signing
// request with CN "/users/<node id hex>/<device>" (and SAN "localhost", as
// Greenlight's client does). It returns the CSR and the PKCS#8 key, both
// PEM.
func NewDeviceCSR(nodeID [33]byte, device string) (csrPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the device key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: DeviceCN(nodeID, device)},
		DNSNames: []string{"localhost"},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("making the certificate signing request: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the device key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil
}

// DeviceCN is the certificate CN Greenlight expects for a node's device.
func DeviceCN(nodeID [33]byte, device string) string {
	return "/users/" + hex.EncodeToString(nodeID[:]) + "/" + device
}

// Register registers a new node: it fetches a REGISTER challenge, has the
// signer sign it, makes a device key and CSR (device "default"), and
// returns the device identity built from the signed certificate. The
// scheduler client must use the "nobody" identity.
func Register(ctx context.Context, sc *SchedulerClient, s ChallengeSigner, reg Registration) (*Device, error) {
	nodeID := s.NodeID()
	challenge, sig, err := signedChallenge(ctx, sc, s, schedpb.ChallengeScope_REGISTER)
	if err != nil {
		return nil, err
	}
	csr, key, err := NewDeviceCSR(nodeID, "default")
	if err != nil {
		return nil, err
	}
	res, err := sc.Register(ctx, &schedpb.RegistrationRequest{
		NodeId:      nodeID[:],
		Bip32Key:    reg.Bip32Key,
		Network:     reg.Network,
		Challenge:   challenge,
		Signature:   sig,
		SignerProto: reg.SignerProto,
		InitMsg:     reg.InitMsg,
		Csr:         csr,
		InviteCode:  reg.InviteCode,
		Startupmsgs: reg.StartupMsgs,
	})
	if err != nil {
		return nil, err
	}
	return deviceFromResponse(nodeID, "default", res.GetDeviceCert(), res.GetDeviceKey(), key, res.GetRune())
}

// Recover gets a new device certificate for a registered node, proving
// control of the node key with a RECOVER challenge. Like Greenlight's
// client it names the device "recovered-<first 8 challenge bytes, hex>".
// Existing device certificates stay valid.
func Recover(ctx context.Context, sc *SchedulerClient, s ChallengeSigner) (*Device, error) {
	nodeID := s.NodeID()
	challenge, sig, err := signedChallenge(ctx, sc, s, schedpb.ChallengeScope_RECOVER)
	if err != nil {
		return nil, err
	}
	name := "recovered-" + hex.EncodeToString(challenge[:8])
	csr, key, err := NewDeviceCSR(nodeID, name)
	if err != nil {
		return nil, err
	}
	res, err := sc.Recover(ctx, &schedpb.RecoveryRequest{
		NodeId:    nodeID[:],
		Challenge: challenge,
		Signature: sig,
		Csr:       csr,
	})
	if err != nil {
		return nil, err
	}
	return deviceFromResponse(nodeID, name, res.GetDeviceCert(), res.GetDeviceKey(), key, res.GetRune())
}

func signedChallenge(ctx context.Context, sc *SchedulerClient, s ChallengeSigner, scope schedpb.ChallengeScope) (challenge, sig []byte, err error) {
	nodeID := s.NodeID()
	challenge, err = sc.GetChallenge(ctx, scope, nodeID[:])
	if err != nil {
		return nil, nil, err
	}
	// Greenlight's signer only signs 32-byte challenges; anything else is
	// not a scheduler challenge.
	if len(challenge) != 32 {
		return nil, nil, fmt.Errorf("the scheduler sent a %d-byte challenge; expected 32", len(challenge))
	}
	sig, err = s.SignChallenge(challenge)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the scheduler challenge: %w", err)
	}
	if len(sig) != 64 {
		return nil, nil, fmt.Errorf("the challenge signature is %d bytes; expected a 64-byte compact signature", len(sig))
	}
	return challenge, sig, nil
}

// deviceFromResponse checks the returned certificate against what we asked
// for and pairs it with its key. An old backend that ignores the CSR sends
// its own key; that is honoured as Greenlight's client does.
func deviceFromResponse(nodeID [33]byte, name, certPEM, serverKey string, ourKey []byte, rune string) (*Device, error) {
	if certPEM == "" {
		return nil, errors.New("the scheduler returned no device certificate")
	}
	info, err := ParseCertInfo([]byte(certPEM))
	if err != nil {
		return nil, fmt.Errorf("the scheduler returned an unusable device certificate: %w", err)
	}
	if info.NodeID != nodeID {
		return nil, fmt.Errorf("the scheduler issued a certificate for %q, not for this node", info.CommonName)
	}
	key := ourKey
	if serverKey != "" {
		key = []byte(serverKey)
	} else if err := samePublicKey([]byte(certPEM), ourKey); err != nil {
		return nil, err
	}
	return &Device{NodeID: nodeID, Name: name, Cert: []byte(certPEM), Key: key, Rune: rune}, nil
}

func samePublicKey(certPEM, keyPEM []byte) error {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return errors.New("cannot decode the device certificate or key")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return fmt.Errorf("parsing the device certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return fmt.Errorf("parsing the device key: %w", err)
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return errors.New("the device key is not an ECDSA key")
	}
	want, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return err
	}
	got, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		return fmt.Errorf("the device certificate has an unusable public key: %w", err)
	}
	if !bytes.Equal(got, want) {
		return errors.New("the scheduler signed a certificate for a different key than our CSR's")
	}
	return nil
}
