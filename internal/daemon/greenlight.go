package daemon

// What Register, Recover and Run share: the device identity files in the
// state directory, the TLS material from the configuration, the engine's
// start-up messages, the node key's challenge signature, and how scheduler
// errors become one clear message of Kind Network (or Failed).
//
// State directory files written here (all 0600, replaced atomically):
//
//	device.crt      the device certificate chain the scheduler signed, leaf first
//	device-key.pem  its P-256 private key (made here; it never left the machine)
//	ca.pem          the Greenlight CA the scheduler was verified with

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"gl-signerd/config"
	"gl-signerd/hsmproto"
	"gl-signerd/internal/atomicfile"
	"gl-signerd/internal/filetrust"
	"gl-signerd/secretstore"
	"gl-signerd/signer"
	"gl-signerd/signer/keys"
	"gl-signerd/streamer"
	schedpb "gl-signerd/streamer/pb/scheduler"
)

const (
	deviceCertFile = "device.crt"
	deviceKeyFile  = "device-key.pem"
	caFile         = "ca.pem"
)

// schedulerTimeout bounds each scheduler call made before the daemon is
// up (register, recover, and run's first contact).
const schedulerTimeout = 20 * time.Second

// signerProto is the signer protocol version sent to the scheduler: the
// CLN release whose hsmd the engine answers as, "v26.06" for v26.06.6. It
// picks the CLN version Greenlight runs the node with.
func signerProto() string {
	v := hsmproto.CLNVersion
	if parts := strings.SplitN(v, ".", 3); len(parts) >= 2 {
		return parts[0] + "." + parts[1]
	}
	return v
}

// startupSecrets are the derive_secret requests lightningd makes while it
// starts (v26.06: the bolt12 and node-alias bases, commando's rune secret;
// the chanbackup plugin's "scb secret", which Greenlight's signer stashes
// too). The node is started without a signer attached, so their answers are
// stashed at the scheduler.
var startupSecrets = []string{"bolt12-invoice-base", "node-alias-base", "scb secret", "commando"}

// startupMessages returns the init_msg (the engine's hsmd_init reply for
// network) and the canned start-up request/response pairs: lightningd's
// hsmd_init for network, then the derive_secret calls.
func startupMessages(ctx context.Context, eng *signer.Engine, network string) ([]byte, []*schedpb.StartupMessage, error) {
	initMsg, err := eng.InitReply(network)
	if err != nil {
		return nil, nil, fmt.Errorf("the signing engine cannot make its init message: %w", err)
	}
	initReq, err := hsmproto.InitFor(network, hsmproto.MinVersion, hsmproto.MaxVersion)
	if err != nil {
		return nil, nil, err
	}
	msgs := []*schedpb.StartupMessage{{Request: initReq.Encode(), Response: initMsg}}
	for _, info := range startupSecrets {
		req := (&hsmproto.DeriveSecret{Info: []byte(info)}).Encode()
		resp, err := eng.Handle(ctx, signer.MasterClient, req)
		if err != nil {
			return nil, nil, fmt.Errorf("the signing engine cannot answer derive_secret %q: %w", info, err)
		}
		msgs = append(msgs, &schedpb.StartupMessage{Request: req, Response: resp})
	}
	return initMsg, msgs, nil
}

// nodeKeySigner signs scheduler challenges with the node key, as hsmd's
// sign_message does (SignLightningMessage), without the recovery id.
type nodeKeySigner struct{ ring *keys.Ring }

func (s nodeKeySigner) NodeID() [33]byte { return s.ring.NodeID() }

func (s nodeKeySigner) SignChallenge(challenge []byte) ([]byte, error) {
	sig, err := s.ring.SignLightningMessage(challenge)
	if err != nil {
		return nil, err
	}
	return sig[:64], nil
}

// caPEM is the Greenlight CA: tls.ca_cert if set, else the ca.pem stored
// at registration.
func caPEM(cfg *config.Config, stateDir string) ([]byte, error) {
	if cfg.TLS.CACert != "" {
		b, err := config.ReadPEM("tls.ca_cert", cfg.TLS.CACert)
		if err != nil {
			return nil, withKind(Config, err)
		}
		return b, nil
	}
	b, err := os.ReadFile(filepath.Join(stateDir, caFile))
	if err == nil {
		return b, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, withKind(Config, errors.New(
			"no Greenlight CA certificate: set tls.ca_cert (or GL_CA_CRT) to the CA file Greenlight gave you (ca.pem)"))
	}
	return nil, withKind(Config, fmt.Errorf("cannot read the stored CA certificate: %w", err))
}

// nobodyTLS is the TLS configuration with the "nobody" identity that
// register and recover use.
func nobodyTLS(cfg *config.Config, ca []byte) (streamer.Credentials, error) {
	creds := streamer.Credentials{CA: ca}
	if cfg.TLS.NobodyCert == "" || cfg.TLS.NobodyKey == "" {
		return creds, withKind(Config, errors.New(
			"registering or recovering a node needs Greenlight's developer (\"nobody\") certificate: set tls.nobody_cert and tls.nobody_key (or GL_NOBODY_CRT and GL_NOBODY_KEY)"))
	}
	var err error
	if creds.Cert, err = config.ReadPEM("tls.nobody_cert", cfg.TLS.NobodyCert); err != nil {
		return creds, withKind(Config, err)
	}
	if creds.Key, err = config.ReadPEM("tls.nobody_key", cfg.TLS.NobodyKey); err != nil {
		return creds, withKind(Config, err)
	}
	return creds, nil
}

// dialScheduler reaches the scheduler at uri with creds; its errors name
// the settings (what) the credentials came from.
func dialScheduler(uri string, creds streamer.Credentials, what string) (*streamer.SchedulerClient, error) {
	tlsConf, err := streamer.ClientTLS(creds)
	if err != nil {
		return nil, withKind(Config, fmt.Errorf("%s: %w", what, err))
	}
	sc, err := streamer.DialScheduler(uri, tlsConf)
	if err != nil {
		return nil, withKind(Config, fmt.Errorf("scheduler.uri: %w", err))
	}
	return sc, nil
}

// schedulerError turns an error from a scheduler call into one message
// of Kind Network for the network and TLS identities, Failed for a
// request the scheduler answered and refused.
func schedulerError(uri, call string, err error) error {
	if err == nil {
		return nil
	}
	st := grpcStatus(err)
	desc := st.Message()
	if desc == "" {
		desc = err.Error()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return withKind(Failed, fmt.Errorf("%s was interrupted", call))
	case strings.Contains(desc, "x509:") || strings.Contains(desc, "tls: failed to verify certificate"):
		return withKind(Network, fmt.Errorf(
			"the scheduler at %s presented a certificate the Greenlight CA does not vouch for (%s); check tls.ca_cert and scheduler.uri", uri, tlsDetail(desc)))
	case strings.Contains(desc, "remote error: tls:"):
		return withKind(Network, fmt.Errorf(
			"the scheduler at %s refused our certificate (%s); a device certificate may have expired or belong to another node: run gl-signerd recover for a new one", uri, tlsDetail(desc)))
	}
	switch st.Code() {
	case codes.Unavailable:
		return withKind(Network, fmt.Errorf("cannot reach the Greenlight scheduler at %s: %s; check scheduler.uri and the network", uri, desc))
	case codes.DeadlineExceeded:
		return withKind(Network, fmt.Errorf("the Greenlight scheduler at %s did not answer %s within %s; check scheduler.uri and the network", uri, call, schedulerTimeout))
	case codes.Unauthenticated, codes.PermissionDenied:
		return withKind(Network, fmt.Errorf("the scheduler at %s refused our identity for %s: %s", uri, call, desc))
	case codes.AlreadyExists:
		return withKind(Failed, fmt.Errorf("the scheduler says: %s; to get a device certificate for an existing node, run gl-signerd recover", desc))
	case codes.NotFound:
		return withKind(Failed, fmt.Errorf("the scheduler says: %s; a new node is registered with gl-signerd register", desc))
	case codes.Unknown:
		return withKind(Failed, fmt.Errorf("%s failed: %v", call, err))
	}
	return withKind(Failed, fmt.Errorf("the scheduler refused %s: %s", call, desc))
}

// grpcStatus is the gRPC status err carries, however deeply wrapped (the
// status package would put the wrapping text into the message).
func grpcStatus(err error) *status.Status {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		if st := se.GRPCStatus(); st != nil {
			return st
		}
	}
	return status.Convert(err)
}

// tlsDetail keeps the informative end of a gRPC transport error.
func tlsDetail(desc string) string {
	for _, marker := range []string{"x509: ", "tls: "} {
		if i := strings.LastIndex(desc, marker); i >= 0 {
			return strings.TrimSuffix(desc[i:], `"`)
		}
	}
	return desc
}

// saveDevice stores the device identity and the CA it was obtained with.
func saveDevice(stateDir string, dev *streamer.Device, ca []byte) error {
	// The key first: a certificate without its key would be useless, a key
	// without its certificate is simply replaced next time.
	for _, f := range []struct {
		name string
		data []byte
	}{{deviceKeyFile, dev.Key}, {deviceCertFile, dev.Cert}, {caFile, ca}} {
		if err := atomicfile.Write(filepath.Join(stateDir, f.name), f.data, atomicfile.Options{}); err != nil {
			return fmt.Errorf("cannot store the device identity: %w", err)
		}
	}
	return nil
}

// loadDevice reads the device identity of stateDir and checks it belongs
// to nodeID and is valid now.
func loadDevice(stateDir string, nodeID [33]byte, now time.Time) (cert, key []byte, info streamer.CertInfo, err error) {
	certPath := filepath.Join(stateDir, deviceCertFile)
	cert, err = filetrust.ReadPrivateFile("device certificate", certPath, 64<<10)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, info, withKind(Network, fmt.Errorf(
			"%s has no device certificate: register a new node with gl-signerd register, or get a certificate for an existing one with gl-signerd recover", stateDir))
	}
	if err == nil {
		key, err = filetrust.ReadPrivateFile("device key", filepath.Join(stateDir, deviceKeyFile), 64<<10)
	}
	var untrusted *filetrust.Error
	if errors.As(err, &untrusted) {
		return nil, nil, info, withKind(SecretStore, err)
	}
	if err != nil {
		return nil, nil, info, withKind(Network, fmt.Errorf("cannot read the device identity: %w", err))
	}
	info, err = streamer.ParseCertInfo(cert)
	if err != nil {
		return nil, nil, info, withKind(Network, fmt.Errorf("%s: %w; get a new one with gl-signerd recover", certPath, err))
	}
	switch {
	case info.NodeID != nodeID:
		return nil, nil, info, withKind(Network, fmt.Errorf(
			"%s is a certificate for %q, but the secret store holds node %s; get a certificate for this node with gl-signerd recover",
			certPath, info.CommonName, hex.EncodeToString(nodeID[:])))
	case now.After(info.NotAfter):
		return nil, nil, info, withKind(Network, fmt.Errorf(
			"the device certificate %s expired on %s; get a new one with gl-signerd recover", certPath, info.NotAfter.UTC().Format(time.RFC3339)))
	case now.Before(info.NotBefore):
		return nil, nil, info, withKind(Network, fmt.Errorf(
			"the device certificate %s is valid only from %s; check the system clock", certPath, info.NotBefore.UTC().Format(time.RFC3339)))
	}
	return cert, key, info, nil
}

// removeLeftovers removes the temporary files an interrupted init
// (seed.enc), register or recover (the device files) left in stateDir, and
// logs each. The caller holds the state directory's lock, so no register
// or recover is writing; a running init's file is locked and kept.
func removeLeftovers(log *zap.Logger, stateDir string) {
	for _, name := range []string{secretstore.FileName, deviceKeyFile, deviceCertFile, caFile} {
		removed, err := secretstore.RemoveLeftovers(filepath.Join(stateDir, name))
		for _, p := range removed {
			log.Info("removed a temporary file left by an interrupted init, register or recover", zap.String("path", p))
		}
		if err != nil {
			log.Warn("cannot remove a temporary file left by an interrupted init, register or recover", zap.Error(err))
		}
	}
}
