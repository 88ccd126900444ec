package signing

import (
	"context"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/intent"
	"gl-signerd/streamer"
)

type pendingEngine struct{ got []intent.Pending }

func (e *pendingEngine) Handle(ctx context.Context, _ signer.Client, _ []byte) ([]byte, error) {
	e.got = intent.PendingFrom(ctx)
	return []byte{0, 0x7f}, nil
}

// The user's calls a request carries reach the engine in its context,
// field for field; a request without any carries none.
func TestPendingRequestsReachEngine(t *testing.T) {
	eng := &pendingEngine{}
	h := NewHandler(eng, Options{Audit: &memAudit{}})
	p := streamer.PendingRequest{Request: []byte{0, 0, 0, 0, 1, 9}, URI: "/cln.Node/Pay", Signature: []byte{1}, PubKey: []byte{4}, Timestamp: 77, Rune: []byte{5}}
	req := streamer.Request{ID: 1, Raw: []byte{0, byte(hsmproto.TypePreapproveInvoice), 0, 0}, Requests: []streamer.PendingRequest{p, p}}
	h.HandleHsmRequest(context.Background(), req)
	if len(eng.got) != 2 {
		t.Fatalf("the engine saw %d pending calls; want 2", len(eng.got))
	}
	g := eng.got[0]
	if string(g.Request) != string(p.Request) || g.URI != p.URI || string(g.Signature) != string(p.Signature) ||
		string(g.PubKey) != string(p.PubKey) || g.Timestamp != p.Timestamp || string(g.Rune) != string(p.Rune) {
		t.Fatalf("the engine saw %+v; want %+v", g, p)
	}
	req.Requests = nil
	h.HandleHsmRequest(context.Background(), req)
	if eng.got != nil {
		t.Fatalf("a request without calls carried %d", len(eng.got))
	}
}
