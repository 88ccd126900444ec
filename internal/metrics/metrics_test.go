package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"gl-signerd/internal/signing"
	"gl-signerd/streamer"
)

func TestScrape(t *testing.T) {
	m := New(func() streamer.Stats {
		return streamer.Stats{State: streamer.StateStreaming, Connects: 3, Disconnects: 2, ReportsDropped: 1}
	}, time.Unix(1700000000, 0))
	for range 3 { // the first through the labels, the others through the cached children
		m.Observe(signing.Decision{Type: 4, Outcome: signing.Answered, Duration: time.Millisecond})
	}
	m.Observe(signing.Decision{Type: 4, Outcome: signing.Refused, Tag: signing.TagEngine})
	m.Observe(signing.Decision{Type: 23, TypeName: "hsmd_sign_message", Outcome: signing.Refused, Tag: signing.TagSignMessage})
	m.Observe(signing.Decision{Type: 777, TypeName: "unknown_777", Outcome: signing.Refused, Tag: signing.TagCapability})
	m.Observe(signing.Decision{Type: 7, TypeName: "hsmd_sign_withdrawal", Outcome: signing.Refused, Tag: "policy-onchain-no-unknown-outputs"})
	m.SetPaused(true)

	srv, err := Listen("127.0.0.1:0", m, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	resp, err := http.Get("http://" + srv.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := string(body)
	for _, want := range []string{
		`gl_signerd_requests_total{outcome="answered",type="hsmd_sign_any_cannouncement_req"} 3`,
		`gl_signerd_requests_total{outcome="refused",type="hsmd_sign_any_cannouncement_req"} 1`,
		`gl_signerd_request_duration_seconds_count{type="hsmd_sign_any_cannouncement_req"} 4`,
		`gl_signerd_refusals_total{tag="engine"} 1`,
		`gl_signerd_requests_total{outcome="refused",type="hsmd_sign_message"} 1`,
		`gl_signerd_requests_total{outcome="refused",type="unknown"} 1`,
		`gl_signerd_refusals_total{tag="sign-message-from-node"} 1`,
		`gl_signerd_refusals_total{tag="capability"} 1`,
		`gl_signerd_policy_refusals_total{tag="policy-onchain-no-unknown-outputs"} 1`,
		`gl_signerd_policy_refusals_total{tag="policy-mutual-fee-range"} 0`,
		`gl_signerd_request_duration_seconds_count{type="hsmd_sign_message"} 1`,
		`gl_signerd_paused 1`,
		`gl_signerd_connection_state{state="streaming"} 1`,
		`gl_signerd_connection_state{state="backoff"} 0`,
		`gl_signerd_stream_disconnects_total 2`,
		`gl_signerd_rejection_reports_total{result="dropped"} 1`,
		`gl_signerd_start_time_seconds 1.7e+09`,
		`go_goroutines `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(out, "unknown_777") {
		t.Error("an undefined message type became its own label value")
	}
	// The address is taken: a second endpoint says so at once.
	if _, err := Listen(srv.Addr().String(), m, zap.NewNop()); err == nil {
		t.Error("Listen on a busy address succeeded")
	}
}
