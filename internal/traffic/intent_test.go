package traffic_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
	"gl-signerd/signer/intent"
	"gl-signerd/signer/state"
)

// The generator's payments, invoices and channels it funds carry the
// user's calls behind them (Options.UserCall), and the IntentSource finds
// each preapprove_invoice, sign_invoice, outbound setup_channel and
// funding signature the traffic makes authorized by its call, and nothing
// else.
func TestUserCallsAuthorizeTraffic(t *testing.T) {
	seed := bytes.Repeat([]byte{0x22}, 32)
	st, err := state.Open(filepath.Join(t.TempDir(), state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	accepted := map[string]map[string]bool{} // request → the calls that authorized one

	var refused []string
	src, err := intent.NewSource(seed, "bitcoin", time.Minute, st, intent.WithReporter(func(d intent.Decision) {
		mu.Lock()
		defer mu.Unlock()
		if d.Accepted {
			if accepted[d.Request] == nil {
				accepted[d.Request] = map[string]bool{}
			}
			accepted[d.Request][d.ID] = true
		} else {
			refused = append(refused, d.Reason)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	// The engine asks the source itself where it needs intent (payments,
	// the funding of a channel we fund); the sender below asks it for
	// every request too, to see the mapping of each.
	eng, err := signer.NewEngine(seed, signer.WithState(st), signer.WithIntentSource(src))
	if err != nil {
		t.Fatal(err)
	}

	// The application: a device key and a rune for it.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := key.PublicKey.Bytes()
	bind, _ := intent.ParseRestriction("pubkey=" + hex.EncodeToString(pub))
	rn := src.Master().Carve(1, bind).Bytes()
	var inflight []intent.Pending
	userCall := func(method string, body []byte) func() {
		framed := intent.Frame(body)
		ts := uint64(time.Now().UnixMilli())
		h := sha256.Sum256(binary.BigEndian.AppendUint64(append([]byte(nil), framed...), ts))
		r, s, _ := ecdsa.Sign(rand.Reader, key, h[:])
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		p := intent.Pending{Request: framed, URI: method, Signature: sig, PubKey: pub, Timestamp: ts, Rune: rn}
		mu.Lock()
		inflight = append(inflight, p)
		mu.Unlock()
		return func() {
			mu.Lock()
			defer mu.Unlock()
			for i := range inflight {
				if inflight[i].Timestamp == p.Timestamp && bytes.Equal(inflight[i].Signature, p.Signature) {
					inflight = append(inflight[:i], inflight[i+1:]...)
					return
				}
			}
		}
	}
	send := func(ctx context.Context, r traffic.Request) ([]byte, error) {
		mu.Lock()
		calls := append([]intent.Pending(nil), inflight...)
		mu.Unlock()
		ctx = intent.WithPending(ctx, calls)
		if m, err := hsmproto.Decode(r.Raw); err == nil {
			c := signer.MasterClient
			if rc := r.Context(); rc != nil {
				copy(c.PeerID[:], rc.GetNodeId())
				c.DBID, c.Capabilities = rc.GetDbid(), rc.GetCapabilities()
			}
			if _, err := src.Authorize(ctx, c, m); err != nil {
				return nil, err
			}
		}
		return traffic.EngineSender(eng)(ctx, r)
	}
	init, err := eng.InitReply("bitcoin")
	if err != nil {
		t.Fatal(err)
	}
	g, err := traffic.New(init, send, traffic.Options{Seed: 3, UserCall: userCall})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := g.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	for _, we := range []bool{true, false} {
		if _, err := g.RunLifecycle(ctx, traffic.Lifecycle{Channel: traffic.ChannelOptions{WeFund: we, Anchors: true}, Payments: 3, Close: traffic.CloseMutual}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.Withdraw(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := g.Invoice(ctx, 250_000); err != nil {
		t.Fatal(err)
	}
	s := g.Stats()
	mu.Lock()
	defer mu.Unlock()
	// Every payment and invoice; the channel we fund (its setup_channel and
	// funding signature), not the one the peer funds nor the withdrawal to
	// our own wallet.
	n := func(req string) uint64 { return uint64(len(accepted[req])) }
	if n("hsmd_preapprove_invoice") != s.ByType["hsmd_preapprove_invoice"] || n("hsmd_preapprove_invoice") == 0 ||
		n("hsmd_sign_invoice") != s.ByType["hsmd_sign_invoice"] || n("hsmd_sign_invoice") == 0 ||
		n("hsmd_setup_channel") != 1 || s.ByType["hsmd_setup_channel"] != 2 ||
		n("hsmd_sign_withdrawal") != 1 || s.ByType["hsmd_sign_withdrawal"] < 2 || len(refused) != 0 || len(accepted) != 4 {
		t.Fatalf("authorized %v of %v sent; refused %q", accepted, s.ByType, refused)
	}
	if len(inflight) != 0 {
		t.Fatalf("%d calls still in flight after the traffic", len(inflight))
	}
}
