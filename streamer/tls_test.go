package streamer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	glpb "gl-signerd/streamer/pb/greenlight"
)

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte // this certificate followed by its issuers (not the root)
}

func (c testCert) keyPEM(t *testing.T) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// issue makes a certificate for cn signed by parent (self-signed if nil).
func issue(t *testing.T, parent *testCert, cn string, isCA bool, notAfter time.Time) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	out := testCert{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	if parent != nil && parent.cert.Subject.String() != parent.cert.Issuer.String() {
		out.pem = append(out.pem, parent.pem...)
	}
	return out
}

type tlsTree struct {
	root, users, device testCert
	server              testCert
}

func newTLSTree(t *testing.T) tlsTree {
	year := time.Now().Add(365 * 24 * time.Hour)
	root := issue(t, nil, "GL root CA", true, year)
	users := issue(t, &root, "GL /users", true, year)
	return tlsTree{
		root:   root,
		users:  users,
		device: issue(t, &users, DeviceCN(testNodeID, "default"), false, year),
		server: issue(t, &root, "GL node server", false, year),
	}
}

// serveTLS runs a fake node behind server TLS that requires a client
// certificate chaining to clientRoot; it returns the node's URI.
func serveTLS(t *testing.T, node glpb.NodeServer, server testCert, clientRoot *x509.Certificate, maxVersion uint16) string {
	t.Helper()
	pair, err := tls.X509KeyPair(server.pem, server.keyPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(clientRoot)
	conf := &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MaxVersion:   maxVersion,
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(conf)))
	glpb.RegisterNodeServer(srv, node)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return "https://" + lis.Addr().String()
}

func (tr tlsTree) clientTLS(t *testing.T) *tls.Config {
	conf, err := ClientTLS(Credentials{CA: tr.root.pem, Cert: tr.device.pem, Key: tr.device.keyPEM(t)})
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// The device chain (leaf + /users intermediate) is presented in full: the
// server trusts only the root, so the handshake works only with the chain.
func TestTLSPresentsChain(t *testing.T) {
	checkLeaks(t)
	tr := newTLSTree(t)
	node := newFakeNode()
	uri := serveTLS(t, node, tr.server, tr.root.cert, 0)
	sched := &fakeScheduler{uri: uri}
	s, err := New(Config{NodeID: testNodeID, Scheduler: sched, NodeTLS: tr.clientTLS(t),
		Handler: RequestHandlerFunc(func(context.Context, Request) Response { return Response{Raw: msg(100)} })})
	if err != nil {
		t.Fatal(err)
	}
	runStreamer(t, s)
	node.waitOpened(t)
	node.requests <- &glpb.HsmRequest{RequestId: 9, Raw: msg(1)}
	if r := node.response(t); r.GetRequestId() != 9 || r.GetError() != "" {
		t.Fatalf("response over mTLS: %v", r)
	}
}

// A node whose certificate comes from another CA is not trusted, and Run
// says so instead of retrying forever.
func TestTLSPinsCA(t *testing.T) {
	checkLeaks(t)
	tr := newTLSTree(t)
	other := issue(t, nil, "someone else's CA", true, time.Now().Add(time.Hour))
	impostor := issue(t, &other, "GL node server", false, time.Now().Add(time.Hour))
	uri := serveTLS(t, newFakeNode(), impostor, tr.root.cert, 0)
	s, err := New(Config{NodeID: testNodeID, Scheduler: &fakeScheduler{uri: uri}, NodeTLS: tr.clientTLS(t),
		Handler: RequestHandlerFunc(func(context.Context, Request) Response { return Response{} })})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Run(ctx)
	var ie *IdentityError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("Run = %v; want an *IdentityError about the untrusted certificate", err)
	}
}

func TestTLSRequires13(t *testing.T) {
	checkLeaks(t)
	tr := newTLSTree(t)
	uri := serveTLS(t, newFakeNode(), tr.server, tr.root.cert, tls.VersionTLS12)
	conn, err := dialTLS(uri, tr.clientTLS(t), "localhost", Keepalive{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = glpb.NewNodeClient(conn).RespondHsmRequest(ctx, &glpb.HsmResponse{})
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("a TLS 1.2 server answered: %v", err)
	}
}

func TestClientTLSRejectsBadInput(t *testing.T) {
	tr := newTLSTree(t)
	other := issue(t, nil, "x", true, time.Now().Add(time.Hour))
	for name, c := range map[string]Credentials{
		"no CA":          {CA: []byte("not pem"), Cert: tr.device.pem, Key: tr.device.keyPEM(t)},
		"key mismatch":   {CA: tr.root.pem, Cert: tr.device.pem, Key: other.keyPEM(t)},
		"no certificate": {CA: tr.root.pem, Key: tr.device.keyPEM(t)},
	} {
		if _, err := ClientTLS(c); err == nil {
			t.Errorf("%s: ClientTLS accepted it", name)
		}
	}
	conf := tr.clientTLS(t)
	if conf.MinVersion != tls.VersionTLS13 || len(conf.Certificates[0].Certificate) != 2 {
		t.Errorf("MinVersion %x, %d certificates in the chain; want TLS 1.3 and 2", conf.MinVersion, len(conf.Certificates[0].Certificate))
	}
}

func TestDeviceCSR(t *testing.T) {
	csrPEM, keyPEM, err := NewDeviceCSR(testNodeID, "default")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Errorf("CSR signature: %v", err)
	}
	wantCN := "/users/" + hex.EncodeToString(testNodeID[:]) + "/default"
	if csr.Subject.CommonName != wantCN {
		t.Errorf("CN = %q; want %q", csr.Subject.CommonName, wantCN)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CSR key is %T; want P-256", csr.PublicKey)
	}
	kb, _ := pem.Decode(keyPEM)
	if k, err := x509.ParsePKCS8PrivateKey(kb.Bytes); err != nil || !k.(*ecdsa.PrivateKey).PublicKey.Equal(pub) {
		t.Errorf("the key does not match the CSR: %v", err)
	}
}

func TestParseCertInfo(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	root := issue(t, nil, "GL root CA", true, year)
	cases := []struct {
		cn      string
		ok      bool
		device  string
		hasNode bool
	}{
		{DeviceCN(testNodeID, "default"), true, "default", true},
		{DeviceCN(testNodeID, "recovered-0102030405060708"), true, "recovered-0102030405060708", true},
		{"/users/nobody", true, "", false},
		{"/users/0203", false, "", false},
		{"GL root CA", false, "", false},
	}
	for _, c := range cases {
		cert := issue(t, &root, c.cn, false, year)
		info, err := ParseCertInfo(cert.pem)
		if (err == nil) != c.ok {
			t.Errorf("%q: err = %v", c.cn, err)
			continue
		}
		if c.ok && (info.Device != c.device || (info.NodeID == testNodeID) != c.hasNode) {
			t.Errorf("%q: %+v", c.cn, info)
		}
	}
}

func TestDialTarget(t *testing.T) {
	for in, want := range map[string]string{
		"https://scheduler.gl.blckstrm.com":      "scheduler.gl.blckstrm.com:443",
		"https://scheduler.gl.blckstrm.com:2601": "scheduler.gl.blckstrm.com:2601",
		"127.0.0.1:5000":                         "127.0.0.1:5000",
		"https://[::1]:8080":                     "[::1]:8080",
	} {
		if got, _, err := dialTarget(in); err != nil || got != want {
			t.Errorf("dialTarget(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://example.com", "https://", "unix:///tmp/x"} {
		if _, _, err := dialTarget(bad); err == nil {
			t.Errorf("dialTarget(%q) accepted it", bad)
		}
	}
	if nodeServerName("node-3.us-west2.gl.blckstrm.com") != "node-3.us-west2.gl.blckstrm.com" || nodeServerName("127.0.0.1") != "localhost" {
		t.Error("nodeServerName does not follow Greenlight's client")
	}
}

func TestKeepaliveParams(t *testing.T) {
	for _, tc := range []struct {
		in            Keepalive
		time, timeout time.Duration
	}{
		{Keepalive{}, KeepaliveTime, KeepaliveTimeout},
		{Keepalive{Time: time.Second, Timeout: time.Second}, 10 * time.Second, time.Second},
		{Keepalive{Time: time.Minute, Timeout: 20 * time.Second}, time.Minute, 20 * time.Second},
	} {
		p := tc.in.params()
		if p.Time != tc.time || p.Timeout != tc.timeout || !p.PermitWithoutStream {
			t.Errorf("%+v: got time %v timeout %v permit %v, want %v %v true", tc.in, p.Time, p.Timeout, p.PermitWithoutStream, tc.time, tc.timeout)
		}
	}
}

// A request above gRPC's default 4 MiB receive limit still reaches the
// signer over the real mTLS connection (so it can be refused with an error
// rather than breaking the stream on every replay).
func TestLargeRequestReceived(t *testing.T) {
	checkLeaks(t)
	tr := newTLSTree(t)
	node := newFakeNode()
	uri := serveTLS(t, node, tr.server, tr.root.cert, tls.VersionTLS13)
	conn, err := dialTLS(uri, tr.clientTLS(t), "localhost", Keepalive{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := glpb.NewNodeClient(conn).StreamHsmRequests(ctx, &glpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	node.requests <- &glpb.HsmRequest{RequestId: 1, Raw: make([]byte, MaxRequestSize+1)}
	r, err := stream.Recv()
	if err != nil || len(r.GetRaw()) != MaxRequestSize+1 {
		t.Fatalf("a %d-byte request: %v", MaxRequestSize+1, err)
	}
}
