package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"gl-signerd/config"
	"gl-signerd/internal/audit"
	"gl-signerd/internal/control"
	"gl-signerd/secretstore"
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
	var list []RuneInfo
	json.Unmarshal(call(t, sock, "rune_list", nil), &list)
	if len(list) != 1 || list[0].Rune != got.Rune {
		t.Fatalf("rune_list %+v", list)
	}
	if err := al.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, audit.FileName))
	if !strings.Contains(string(b), `"event":"rune_created","id":"1","detail":"pubkey=`) || strings.Contains(string(b), got.Rune) {
		t.Fatalf("audit log: %s", b)
	}
}
