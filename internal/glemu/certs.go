package glemu

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"
)

// The certificate tree mirrors Greenlight's (libs/gl-testing/gltesting/
// certs.py): a root CA, a "/users" CA under it, one CA per node under
// that, and leaves. A client's certificate file holds its leaf followed by
// the intermediates, so servers that trust only the root can verify it.
//
//	GL root CA ─┬─ scheduler server (SAN localhost, 127.0.0.1)
//	            └─ GL /users ─┬─ /users/nobody
//	                          └─ GL /users/<id> ─┬─ /users/<id>/default  (device, from CSR)
//	                                             └─ /users/<id>/node     (node server)

type authority struct {
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	chain []byte // PEM of this CA and its issuers below the root; empty for the root
}

type certTree struct {
	root, users *authority
	mu          sync.Mutex
	nodes       map[[33]byte]*authority
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func newCertTree() (*certTree, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	root, err := sign(nil, certTemplate("GL root CA", true, time.Now().Add(-time.Hour), time.Now().Add(10*365*24*time.Hour)), &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	t := &certTree{root: &authority{cert: root, key: key}, nodes: make(map[[33]byte]*authority)}
	if t.users, err = t.newCA(t.root, "GL /users"); err != nil {
		return nil, err
	}
	return t, nil
}

func certTemplate(cn string, isCA bool, notBefore, notAfter time.Time) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"gl-signerd emulator"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	}
	return tmpl
}

// sign signs tmpl for pub with parent (self-signed when parent is nil).
func sign(parent *authority, tmpl *x509.Certificate, pub crypto.PublicKey, selfKey *ecdsa.PrivateKey) (*x509.Certificate, error) {
	issuer, key := tmpl, selfKey
	if parent != nil {
		issuer, key = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func (t *certTree) newCA(parent *authority, cn string) (*authority, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	c, err := sign(parent, certTemplate(cn, true, time.Now().Add(-time.Hour), time.Now().Add(5*365*24*time.Hour)), &key.PublicKey, nil)
	if err != nil {
		return nil, err
	}
	return &authority{cert: c, key: key, chain: append(certPEM(c), parent.chain...)}, nil
}

// nodeCA returns the CA of one node, making it on first use.
func (t *certTree) nodeCA(id [33]byte) (*authority, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.nodes[id]; a != nil {
		return a, nil
	}
	a, err := t.newCA(t.users, "GL /users/"+hex.EncodeToString(id[:]))
	if err != nil {
		return nil, err
	}
	t.nodes[id] = a
	return a, nil
}

// leaf issues a certificate for pub and returns the PEM chain (leaf +
// intermediates).
func (t *certTree) leaf(parent *authority, cn string, pub crypto.PublicKey, notBefore, notAfter time.Time, server bool) ([]byte, error) {
	tmpl := certTemplate(cn, false, notBefore, notAfter)
	if server {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	c, err := sign(parent, tmpl, pub, nil)
	if err != nil {
		return nil, err
	}
	return append(certPEM(c), parent.chain...), nil
}

// newIdentity makes a key and a certificate chain for cn under parent.
func (t *certTree) newIdentity(parent *authority, cn string, notBefore, notAfter time.Time, server bool) (chain, key []byte, err error) {
	k, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	if chain, err = t.leaf(parent, cn, &k.PublicKey, notBefore, notAfter, server); err != nil {
		return nil, nil, err
	}
	if key, err = keyPEM(k); err != nil {
		return nil, nil, err
	}
	return chain, key, nil
}

// serverTLS is a TLS 1.3 server configuration presenting a new
// certificate for cn under parent and requiring client certificates that
// chain to the root.
func (t *certTree) serverTLS(parent *authority, cn string) (*tls.Config, error) {
	chain, key, err := t.newIdentity(parent, cn, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour), true)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(t.root.cert)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// signCSR checks a device CSR for node id and signs it with the node's CA.
// The CN must be /users/<id hex>/<device name>.
func (t *certTree) signCSR(id [33]byte, csrPEM []byte, validFor time.Duration) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("the csr field holds no PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the certificate request is not signed by its key: %w", err)
	}
	prefix := "/users/" + hex.EncodeToString(id[:]) + "/"
	cn := csr.Subject.CommonName
	if !strings.HasPrefix(cn, prefix) || len(cn) == len(prefix) || strings.Contains(cn[len(prefix):], "/") {
		return nil, fmt.Errorf("the certificate request CN %q does not match %s<device>", cn, prefix)
	}
	ca, err := t.nodeCA(id)
	if err != nil {
		return nil, err
	}
	return t.leaf(ca, cn, csr.PublicKey, time.Now().Add(-time.Hour), time.Now().Add(validFor), false)
}

// parseCN reads a Greenlight user CN: "/users/nobody" or
// "/users/<id hex>/<device>".
func parseCN(cn string) (nobody bool, id [33]byte, ok bool) {
	if cn == "/users/nobody" {
		return true, id, true
	}
	parts := strings.Split(cn, "/")
	if len(parts) != 4 || parts[0] != "" || parts[1] != "users" || parts[3] == "" {
		return false, id, false
	}
	b, err := hex.DecodeString(parts[2])
	if err != nil || len(b) != 33 {
		return false, id, false
	}
	copy(id[:], b)
	return false, id, true
}
