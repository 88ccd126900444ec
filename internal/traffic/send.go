package traffic

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/glemu"
	"gl-signerd/signer"
	glpb "gl-signerd/streamer/pb/greenlight"
)

// Request is one hsmd request as lightningd or a subdaemon sends it.
type Request struct {
	// Name says what the step is, e.g. "sign_remote_commitment_tx 3 (2 htlcs)".
	Name string
	// Client is the hsmd client the request comes from; signer.MasterClient
	// is lightningd's own connection (no Greenlight request context).
	Client signer.Client
	// Raw is the message: u16 type ‖ payload.
	Raw []byte
}

// Type is the request's hsmd message type.
func (r Request) Type() uint16 {
	if len(r.Raw) < 2 {
		return 0
	}
	return uint16(r.Raw[0])<<8 | uint16(r.Raw[1])
}

// Context is the Greenlight request context for r's client, nil for
// lightningd's own connection.
func (r Request) Context() *glpb.HsmRequestContext {
	if r.Client == signer.MasterClient {
		return nil
	}
	return &glpb.HsmRequestContext{NodeId: append([]byte(nil), r.Client.PeerID[:]...), Dbid: r.Client.DBID, Capabilities: r.Client.Capabilities}
}

// Sender delivers one request to the signer under test and returns the raw
// reply. A refusal is returned as a *RefusedError.
type Sender func(ctx context.Context, r Request) ([]byte, error)

// RefusedError is a request the signer answered with an error.
type RefusedError struct {
	Request string
	Type    uint16
	Reason  string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the signer refused %s: %s", e.Request, e.Reason)
}

// NodeSender submits requests through an emulated Greenlight node, as
// lightningd does through Greenlight's hsmd proxy.
func NodeSender(n *glemu.Node) Sender {
	return func(ctx context.Context, r Request) ([]byte, error) {
		resp, err := n.Submit(ctx, &glpb.HsmRequest{Context: r.Context(), Raw: r.Raw})
		if err != nil {
			return nil, err
		}
		if resp.GetError() != "" {
			return nil, &RefusedError{Request: r.Name, Type: r.Type(), Reason: resp.GetError()}
		}
		return resp.GetRaw(), nil
	}
}

// EngineSender answers requests with an in-process engine: an oracle for
// Options.Oracle, or the engine alone for benchmarks.
func EngineSender(e *signer.Engine) Sender {
	return func(ctx context.Context, r Request) ([]byte, error) {
		reply, err := e.Handle(ctx, r.Client, r.Raw)
		var re *signer.RefusalError
		if errors.As(err, &re) {
			return nil, &RefusedError{Request: r.Name, Type: r.Type(), Reason: re.Error()}
		}
		return reply, err
	}
}

// CheckError is an answer that is wrong: a signature by the wrong key, a
// point that does not match its secret, bytes other than the oracle's.
type CheckError struct {
	Request string
	Err     error
}

func (e *CheckError) Error() string { return fmt.Sprintf("wrong answer to %s: %v", e.Request, e.Err) }
func (e *CheckError) Unwrap() error { return e.Err }

// Event is reported to Options.Observe once per request.
type Event struct {
	Request Request
	Latency time.Duration
	// Err is nil for a correct answer, a *RefusedError, a *CheckError,
	// or the Sender's error.
	Err error
}

// Stats counts requests by outcome.
type Stats struct {
	Sent     uint64 // requests sent
	Answered uint64 // answered and checked correct
	Refused  uint64 // refused by the signer
	Wrong    uint64 // answered, but the answer failed a check
	Failed   uint64 // no answer (transport error, cancelled)
	ByType   map[string]uint64
}

func (s Stats) String() string {
	return fmt.Sprintf("%d requests: %d answered and checked, %d refused, %d wrong, %d without answer",
		s.Sent, s.Answered, s.Refused, s.Wrong, s.Failed)
}

type statsRecorder struct {
	mu sync.Mutex
	s  Stats
}

func (r *statsRecorder) add(req Request, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.Sent++
	if r.s.ByType == nil {
		r.s.ByType = make(map[string]uint64)
	}
	name := hsmproto.MessageName(req.Type())
	if name == "" {
		name = fmt.Sprintf("unknown_%d", req.Type())
	}
	r.s.ByType[name]++
	var re *RefusedError
	var ce *CheckError
	switch {
	case err == nil:
		r.s.Answered++
	case errors.As(err, &re):
		r.s.Refused++
	case errors.As(err, &ce):
		r.s.Wrong++
	default:
		r.s.Failed++
	}
}

func (r *statsRecorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.s
	s.ByType = make(map[string]uint64, len(r.s.ByType))
	for k, v := range r.s.ByType {
		s.ByType[k] = v
	}
	return s
}

// Latencies collects durations and reports percentiles. The zero value is
// ready; it is safe for concurrent use.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Len is the number of durations recorded.
func (l *Latencies) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// Percentile returns the p-th percentile (0 < p ≤ 100), nearest rank; 0
// when nothing was recorded.
func (l *Latencies) Percentile(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l.d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(p/100*float64(len(s))+0.999999) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(s) {
		rank = len(s) - 1
	}
	return s[rank]
}

// Mean is the average duration.
func (l *Latencies) Mean() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range l.d {
		sum += d
	}
	return sum / time.Duration(len(l.d))
}

// Reset forgets every duration.
func (l *Latencies) Reset() {
	l.mu.Lock()
	l.d = l.d[:0]
	l.mu.Unlock()
}
