package streamer

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Credentials is an mTLS identity and the CA it trusts, all PEM-encoded.
type Credentials struct {
	// CA holds the certificate(s) of the Greenlight CA. Servers are
	// verified against these only; the system roots are never used.
	CA []byte
	// Cert is the client certificate chain, leaf first (the device_cert
	// the scheduler returned, or the "nobody" certificate).
	Cert []byte
	// Key is the private key of the leaf certificate.
	Key []byte
}

// LoadCredentials reads the CA, certificate chain and key PEM files.
func LoadCredentials(caPath, certPath, keyPath string) (Credentials, error) {
	var c Credentials
	var err error
	if c.CA, err = os.ReadFile(caPath); err != nil {
		return c, fmt.Errorf("reading the CA certificate: %w", err)
	}
	if c.Cert, err = os.ReadFile(certPath); err != nil {
		return c, fmt.Errorf("reading the client certificate: %w", err)
	}
	if c.Key, err = os.ReadFile(keyPath); err != nil {
		return c, fmt.Errorf("reading the client key: %w", err)
	}
	return c, nil
}

// ClientTLS returns a TLS client configuration that presents the whole
// certificate chain in c.Cert, trusts only c.CA, and requires TLS 1.3.
// gRPC adds the h2 ALPN protocol itself.
func ClientTLS(c Credentials) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CA) {
		return nil, errors.New("the CA file holds no PEM certificate; point it at the Greenlight CA (ca.pem)")
	}
	pair, err := tls.X509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("the client certificate and key do not form a usable pair: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      pool,
		Certificates: []tls.Certificate{pair},
	}, nil
}

// CertInfo describes a client certificate's leaf.
type CertInfo struct {
	// CommonName is the subject CN, e.g. "/users/<node id hex>/default".
	CommonName string
	// NodeID is the node id the CN names; zero for "/users/nobody".
	NodeID [33]byte
	// Device is the CN's last element ("default", "recovered-…").
	Device    string
	NotBefore time.Time
	NotAfter  time.Time
}

// ParseCertInfo reads the first certificate of a PEM chain and decodes the
// Greenlight CN convention "/users/<node_id hex>/<device>".
func ParseCertInfo(certPEM []byte) (CertInfo, error) {
	var info CertInfo
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return info, errors.New("no PEM certificate found")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return info, fmt.Errorf("parsing the certificate: %w", err)
	}
	info.CommonName = cert.Subject.CommonName
	info.NotBefore, info.NotAfter = cert.NotBefore, cert.NotAfter
	parts := strings.Split(info.CommonName, "/")
	if len(parts) < 3 || parts[0] != "" || parts[1] != "users" {
		return info, fmt.Errorf("certificate CN %q is not a Greenlight user certificate (/users/...)", info.CommonName)
	}
	if parts[2] == "nobody" {
		return info, nil
	}
	id, err := hex.DecodeString(parts[2])
	if err != nil || len(id) != 33 {
		return info, fmt.Errorf("certificate CN %q does not name a 33-byte node id", info.CommonName)
	}
	copy(info.NodeID[:], id)
	if len(parts) > 3 {
		info.Device = strings.Join(parts[3:], "/")
	}
	return info, nil
}

// dialTarget turns a Greenlight URI ("https://host:port") into a gRPC dial
// target and the host name. Plain http is refused: the daemon only speaks
// mTLS.
func dialTarget(uri string) (target, host string, err error) {
	if !strings.Contains(uri, "://") {
		uri = "https://" + uri
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", "", fmt.Errorf("cannot parse URI %q: %w", uri, err)
	}
	if u.Scheme != "https" {
		return "", "", fmt.Errorf("URI %q: only https is supported", uri)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", "", fmt.Errorf("URI %q has no host", uri)
	}
	if port == "" {
		port = "443"
	}
	return net.JoinHostPort(host, port), host, nil
}

// nodeServerName is the name a node's server certificate is checked
// against. Greenlight's own client (libs/gl-client/src/signer/mod.rs,
// run_once) verifies nodes under Greenlight's production domain by their
// host name and every other node as "localhost".
func nodeServerName(host string) string {
	if strings.Contains(host, "blckstrm") {
		return host
	}
	return "localhost"
}
