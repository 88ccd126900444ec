package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"gl-signerd/config"
	"gl-signerd/hsmproto"
	"gl-signerd/internal/audit"
	"gl-signerd/internal/control"
	"gl-signerd/secretstore"
	"gl-signerd/signer"
	"gl-signerd/signer/intent"
	"gl-signerd/signer/state"
)

// ctl rune create issues a rune from the seed's master, kept in the state
// store (rune list shows it after a restart) and audited; a rune without a
// device key is refused.
func TestRuneCommands(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(filepath.Join(dir, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	al, err := audit.Open(filepath.Join(dir, audit.FileName), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	events := &eventLog{}
	events.log.Store(al)
	seed := &secretstore.Seed{Secret: make([]byte, 32), Network: "regtest"}
	src, err := newIntentSource(config.Default(dir), seed, "regtest", st, zap.NewNop(), events)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{state: st, intents: src, events: events, log: zap.NewNop()}
	srv := control.NewServer(nil)
	d.registerCommands(srv)
	sock := filepath.Join(t.TempDir(), "r.sock")
	ln, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Serve(ctx, ln)
	defer func() { cancel(); srv.Close() }()

	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := k.PublicKey.Bytes()
	var got RuneInfo
	if err := json.Unmarshal(call(t, sock, "rune_create", RuneCreateArgs{Restrictions: []string{"pubkey=" + hex.EncodeToString(pub), "method=pay"}}), &got); err != nil {
		t.Fatal(err)
	}
	r, err := intent.DecodeRune(got.Rune)
	if err != nil || !src.Master().Authorized(r) || got.ID != 1 || !strings.HasSuffix(got.Restrictions, "&method=pay") {
		t.Fatalf("issued %+v (%v)", got, err)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	if _, err := control.Call(cctx, sock, "rune_create", RuneCreateArgs{Restrictions: []string{"method=pay"}}); err == nil || !strings.Contains(err.Error(), "pubkey=") {
		t.Fatalf("a rune without a device key: %v", err)
	}
	// A call of that device with that rune authorizes its payment, and
	// the decision is audited.
	payCall := signedCall(t, k, pub, r.Bytes(), intent.MethodPay, []byte("\x0a\x0blnbcrt1demo"))
	m := &hsmproto.PreapproveInvoice{Invstring: "lnbcrt1demo"}
	if got, err := src.Authorize(intent.WithPending(context.Background(), []intent.Pending{payCall}), signer.MasterClient, m); err != nil || got == nil {
		t.Fatalf("the issued rune's call: %+v, %v", got, err)
	}
	stale := payCall
	stale.Rune = src.Master().Carve(9, mustRestriction(t, "pubkey=04"+strings.Repeat("00", 64))).Bytes()
	src.Authorize(intent.WithPending(context.Background(), []intent.Pending{stale}), signer.MasterClient, m)

	var list []RuneInfo
	json.Unmarshal(call(t, sock, "rune_list", nil), &list)
	if len(list) != 1 || list[0].Rune != got.Rune {
		t.Fatalf("rune_list %+v", list)
	}
	if err := al.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, audit.FileName))
	if !strings.Contains(string(b), `"event":"rune_created","id":"1","detail":"pubkey=`) || strings.Contains(string(b), got.Rune) ||
		!auditHas(string(b), `"event":"intent_accepted"`, `"method":"/cln.Node/Pay"`, `"type_name":"hsmd_preapprove_invoice"`) ||
		!auditHas(string(b), `"event":"intent_refused"`, `"method":"/cln.Node/Pay"`, `"id":"`, `"reason":"rune: restriction 2 (pubkey=0400`) {
		t.Fatalf("audit log: %s", b)
	}
}

func mustRestriction(t *testing.T, s string) intent.Restriction {
	t.Helper()
	r, err := intent.ParseRestriction(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// signedCall is a call as a Greenlight client signs it now.
func signedCall(t *testing.T, k *ecdsa.PrivateKey, pub, rn []byte, method string, body []byte) intent.Pending {
	t.Helper()
	p := intent.Pending{Request: intent.Frame(body), URI: method, PubKey: pub, Timestamp: uint64(time.Now().UnixMilli()), Rune: rn}
	h := sha256.Sum256(intent.SignedBytes(p.Request, p.Timestamp))
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	p.Signature = make([]byte, 64)
	r.FillBytes(p.Signature[:32])
	s.FillBytes(p.Signature[32:])
	return p
}

// auditHas reports whether some line of log has every one of fields.
func auditHas(log string, fields ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, f := range fields {
			all = all && strings.Contains(line, f)
		}
		if all {
			return true
		}
	}
	return false
}
