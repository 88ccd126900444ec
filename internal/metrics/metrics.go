// Package metrics exposes gl-signerd's Prometheus metrics on an opt-in
// address (metrics.listen, loopback only unless allowed otherwise), from a
// private registry: nothing registered by a library elsewhere leaks in.
//
// Metrics (all prefixed gl_signerd_):
//
//	requests_total{type,outcome}       hsmd requests decided, by CLN message name and answered/refused
//	request_duration_seconds{type}     time to decide (engine, or refusal), by message name
//	refusals_total{tag}                refusals by stable reason tag (paused, capability, ...)
//	policy_refusals_total{tag}         refusals by the signing policy, by policy tag (docs/policy.md)
//	paused                             1 while signing is paused
//	connection_state{state}            1 for the streamer's current state, 0 for the others
//	stream_connects_total              node request streams opened
//	stream_disconnects_total           streams that ended (each is followed by a reconnect)
//	stream_requests_total              messages received on the stream, heartbeats included
//	stream_send_errors_total           responses that could not be delivered
//	rejection_reports_total{result}    refusals reported to Greenlight: sent, dropped, failed
//	start_time_seconds                 when the daemon started (Unix time)
//
// plus the standard go_* and process_* metrics. Labels only take values
// from fixed sets (a request type CLN does not define is "unknown"), so a
// misbehaving node cannot grow the series without bound. No metric carries
// a key, a peer id or a payload.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/signing"
	"gl-signerd/signer/policy"
	"gl-signerd/streamer"
)

const ns = "gl_signerd"

// Metrics holds the registry and the daemon's instruments.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	refusals *prometheus.CounterVec
	// policyRefusals counts policy refusals by tag; its labels are the
	// tags of package policy, made at start.
	policyRefusals map[string]prometheus.Counter
	paused         prometheus.Gauge
	byType         sync.Map // uint16 message type → *typeChildren
}

// New registers the daemon's metrics in a new private registry. stats,
// if not nil, is read at every scrape for the streamer's state and
// counters.
func New(stats func() streamer.Stats, started time.Time) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "requests_total",
			Help: "hsmd requests decided, by CLN message name and outcome (answered or refused).",
		}, []string{"type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "request_duration_seconds",
			Help:    "Time to decide an hsmd request, by CLN message name.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 0.1 ms .. 2.4 s
		}, []string{"type"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "refusals_total",
			Help: "Refused hsmd requests, by stable reason tag.",
		}, []string{"tag"}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "paused", Help: "1 while signing is paused (gl-signerd ctl pause).",
		}),
	}
	policyVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "policy_refusals_total",
		Help: "hsmd requests the signing policy refused, by policy tag.",
	}, []string{"tag"})
	m.policyRefusals = make(map[string]prometheus.Counter, len(policy.Tags))
	for _, tag := range policy.Tags {
		m.policyRefusals[tag] = policyVec.WithLabelValues(tag)
	}
	m.reg.MustRegister(m.requests, m.latency, m.refusals, policyVec, m.paused,
		prometheus.NewGoCollector(),
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "start_time_seconds", Help: "Start time of the daemon, in seconds since the Unix epoch.",
		}, func() float64 { return float64(started.UnixNano()) / 1e9 }),
	)
	if stats != nil {
		m.reg.MustRegister(&streamerCollector{stats: stats})
	}
	return m
}

// Registry is the private registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Observe records one decision; it is a signing.Options.Observe.
func (m *Metrics) Observe(d signing.Decision) {
	if d.Outcome == signing.Answered {
		// The common case, without a label lookup: the children of each
		// known type are cached.
		if c, ok := m.byType.Load(d.Type); ok {
			c := c.(*typeChildren)
			c.answered.Inc()
			c.latency.Observe(d.Duration.Seconds())
			return
		}
	}
	name := hsmproto.MessageName(d.Type)
	known := !strings.HasPrefix(name, "unknown_")
	if !known {
		name = "unknown"
	}
	m.requests.WithLabelValues(name, d.Outcome).Inc()
	m.latency.WithLabelValues(name).Observe(d.Duration.Seconds())
	if d.Outcome == signing.Refused {
		m.refusals.WithLabelValues(d.Tag).Inc()
		if c, ok := m.policyRefusals[d.Tag]; ok {
			c.Inc()
		}
	}
	if known && d.Outcome == signing.Answered { // at most one entry per CLN message type
		m.byType.LoadOrStore(d.Type, &typeChildren{
			answered: m.requests.WithLabelValues(name, signing.Answered),
			latency:  m.latency.WithLabelValues(name),
		})
	}
}

// typeChildren are the instruments of one message type's answers.
type typeChildren struct {
	answered prometheus.Counter
	latency  prometheus.Observer
}

// SetPaused records the pause state.
func (m *Metrics) SetPaused(p bool) {
	if p {
		m.paused.Set(1)
	} else {
		m.paused.Set(0)
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Server is a running metrics endpoint.
type Server struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

// Listen starts serving m on addr (host:port) at /metrics. The listener is
// opened before Listen returns, so an address in use is reported at once.
func Listen(addr string, m *Metrics, log *zap.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot serve metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	s := &Server{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          zap.NewStdLog(log.Named("metrics")),
		},
		addr: ln.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("the metrics endpoint stopped", zap.Error(err))
		}
	}()
	return s, nil
}

// Addr is the address the endpoint listens on.
func (s *Server) Addr() net.Addr { return s.addr }

// Shutdown stops the endpoint, waiting for scrapes in progress until ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.done
	return err
}

// streamerCollector turns a streamer.Stats snapshot into metrics at
// scrape time.
type streamerCollector struct {
	stats func() streamer.Stats
}

var (
	descState = prometheus.NewDesc(ns+"_connection_state",
		"1 for what the connection to Greenlight is doing now, 0 for the other states.", []string{"state"}, nil)
	descConnects = prometheus.NewDesc(ns+"_stream_connects_total",
		"Node request streams opened.", nil, nil)
	descDisconnects = prometheus.NewDesc(ns+"_stream_disconnects_total",
		"Node request streams that ended; each is followed by a reconnect.", nil, nil)
	descStreamRequests = prometheus.NewDesc(ns+"_stream_requests_total",
		"Messages received on the node request stream, heartbeats included.", nil, nil)
	descSendErrors = prometheus.NewDesc(ns+"_stream_send_errors_total",
		"Responses that could not be delivered to the node.", nil, nil)
	descReports = prometheus.NewDesc(ns+"_rejection_reports_total",
		"Refusals reported to Greenlight, by result (sent, dropped, failed).", []string{"result"}, nil)
)

var states = []streamer.State{
	streamer.StateIdle, streamer.StateUpgrading, streamer.StateWaiting, streamer.StateConnecting,
	streamer.StateStreaming, streamer.StateBackoff, streamer.StateStopped,
}

func (c *streamerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descConnects, descDisconnects, descStreamRequests, descSendErrors, descReports} {
		ch <- d
	}
}

func (c *streamerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, st := range states {
		v := 0.0
		if s.State == st {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, string(st))
	}
	ch <- prometheus.MustNewConstMetric(descConnects, prometheus.CounterValue, float64(s.Connects))
	ch <- prometheus.MustNewConstMetric(descDisconnects, prometheus.CounterValue, float64(s.Disconnects))
	ch <- prometheus.MustNewConstMetric(descStreamRequests, prometheus.CounterValue, float64(s.Requests))
	ch <- prometheus.MustNewConstMetric(descSendErrors, prometheus.CounterValue, float64(s.SendErrors))
	ch <- prometheus.MustNewConstMetric(descReports, prometheus.CounterValue, float64(s.Reports), "sent")
	ch <- prometheus.MustNewConstMetric(descReports, prometheus.CounterValue, float64(s.ReportsDropped), "dropped")
	ch <- prometheus.MustNewConstMetric(descReports, prometheus.CounterValue, float64(s.ReportErrors), "failed")
}
