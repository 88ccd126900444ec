package streamer

import (
	"context"
	"encoding/binary"
	"fmt"

	glpb "gl-signerd/streamer/pb/greenlight"
)

// RequestContext says which hsmd client connection a request came from,
// as lightningd set it up with hsmd_client_hsmfd. The command glue turns
// it into a signer.Client; a nil *RequestContext is lightningd's own
// (master) connection.
type RequestContext struct {
	PeerID       [33]byte
	DBID         uint64
	Capabilities uint64
}

// StateEntry is one key-version-value tuple of the signer state Greenlight
// keeps for the signer.
type StateEntry struct {
	Key       string
	Version   uint64
	Value     []byte
	Signature []byte
}

// PendingRequest is an authenticated client command in flight on the node,
// carried to justify a signing request.
type PendingRequest struct {
	Request   []byte
	URI       string
	Signature []byte
	PubKey    []byte
	Timestamp uint64
	Rune      []byte
}

// Request is one hsmd request from the node.
type Request struct {
	ID      uint32
	Context *RequestContext
	// Raw is the hsmd message: u16 type || payload, no length prefix.
	Raw []byte
	// SignerState holds state entries changed since the previous request
	// on this stream (a diff; the first message of a stream carries the
	// full state). See StateMerger.
	SignerState []StateEntry
	Requests    []PendingRequest
}

// Type is the request's hsmd message type, or 0 if Raw is too short.
func (r Request) Type() uint16 {
	if len(r.Raw) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(r.Raw)
}

// Response is the handler's answer: Raw (u16 type || payload) or Err.
type Response struct {
	Raw []byte
	// Err refuses the request; its text goes to the node and is reported
	// to Greenlight's Debug service.
	Err error
	// SignerState holds state entries the handler changed.
	SignerState []StateEntry
}

// RequestHandler answers hsmd requests. It is called concurrently for
// requests of different channels and sequentially, in arrival order, for
// one channel (RequestContext peer id and dbid; nil context is its own
// channel). ctx ends when the stream ends or Run returns.
type RequestHandler interface {
	HandleHsmRequest(ctx context.Context, req Request) Response
}

// RequestHandlerFunc adapts a function to RequestHandler.
type RequestHandlerFunc func(ctx context.Context, req Request) Response

// HandleHsmRequest calls f.
func (f RequestHandlerFunc) HandleHsmRequest(ctx context.Context, req Request) Response {
	return f(ctx, req)
}

// StateMerger is implemented by handlers that track Greenlight's signer
// state. Because each request carries only the entries changed since the
// previous one, the streamer calls MergeSignerState for every request
// with state, in arrival order, before any handler sees that request, and
// also for heartbeats (which the handler never sees). A merge error
// refuses that request.
type StateMerger interface {
	MergeSignerState(entries []StateEntry) error
}

// channelKey orders requests: one queue per (peer id, dbid).
type channelKey struct {
	peer [33]byte
	dbid uint64
}

func requestFromPB(r *glpb.HsmRequest) (Request, error) {
	req := Request{ID: r.GetRequestId(), Raw: r.GetRaw()}
	if c := r.GetContext(); c != nil {
		if len(c.GetNodeId()) != 33 {
			return req, fmt.Errorf("the request context names a %d-byte peer id; expected 33", len(c.GetNodeId()))
		}
		rc := &RequestContext{DBID: c.GetDbid(), Capabilities: c.GetCapabilities()}
		copy(rc.PeerID[:], c.GetNodeId())
		req.Context = rc
	}
	for _, e := range r.GetSignerState() {
		req.SignerState = append(req.SignerState, StateEntry{
			Key: e.GetKey(), Version: e.GetVersion(), Value: e.GetValue(), Signature: e.GetSignature(),
		})
	}
	for _, p := range r.GetRequests() {
		req.Requests = append(req.Requests, PendingRequest{
			Request: p.GetRequest(), URI: p.GetUri(), Signature: p.GetSignature(),
			PubKey: p.GetPubkey(), Timestamp: p.GetTimestamp(), Rune: p.GetRune(),
		})
	}
	return req, nil
}

func (r Request) key() channelKey {
	if r.Context == nil {
		return channelKey{}
	}
	return channelKey{peer: r.Context.PeerID, dbid: r.Context.DBID}
}

func stateToPB(entries []StateEntry) []*glpb.SignerStateEntry {
	if len(entries) == 0 {
		return nil
	}
	out := make([]*glpb.SignerStateEntry, len(entries))
	for i, e := range entries {
		out[i] = &glpb.SignerStateEntry{Key: e.Key, Version: e.Version, Value: e.Value, Signature: e.Signature}
	}
	return out
}
