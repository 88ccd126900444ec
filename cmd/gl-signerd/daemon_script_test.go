package main

// Transcripts of the daemon's commands (register, recover, run, ctl) in
// testdata/daemon: their error messages and exit codes, without a network.
// Besides the commands of script_test.go they may use
//
//	mkident DIR CN [expired|future]
//
// which writes a new CA (DIR/ca.pem) and a client certificate with the
// given CN signed by it (DIR/cert.pem, DIR/key.pem), valid now unless
// expired or future says otherwise.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestDaemonScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/daemon",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"mkident":  cmdMkident,
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("STATE_DIRECTORY", "")
			env.Setenv("CREDENTIALS_DIRECTORY", "")
			env.Setenv("NOTIFY_SOCKET", "")
			return nil
		},
	})
}

func cmdMkident(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: mkident DIR CN [expired|future]")
	}
	dir := ts.MkAbs(args[0])
	notBefore, notAfter := time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if len(args) == 3 {
		switch args[2] {
		case "expired":
			notBefore, notAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
		case "future":
			notBefore, notAfter = time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour)
		default:
			ts.Fatalf("mkident: %q is not expired or future", args[2])
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ts.Check(err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(72 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ts.Check(err)
	ca, err := x509.ParseCertificate(caDER)
	ts.Check(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ts.Check(err)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: args[1]},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &key.PublicKey, caKey)
	ts.Check(err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	ts.Check(err)
	ts.Check(os.MkdirAll(dir, 0o700))
	for name, b := range map[string]*pem.Block{
		"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
		"cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem":  {Type: "PRIVATE KEY", Bytes: pkcs8},
	} {
		ts.Check(os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600))
	}
}
