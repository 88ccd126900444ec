// Package streamer connects gl-signerd to Greenlight: it talks to the
// scheduler over mTLS gRPC (register or recover a node, wait for it to be
// scheduled), then opens the node's StreamHsmRequests stream and answers
// every hsmd request through a RequestHandler.
//
// The common case:
//
//	creds, _ := streamer.LoadCredentials(caPath, deviceCertPath, deviceKeyPath)
//	tlsConf, _ := streamer.ClientTLS(creds)
//	sched, _ := streamer.DialScheduler(schedulerURI, tlsConf)
//	s, _ := streamer.New(streamer.Config{
//		NodeID: nodeID, Scheduler: sched, NodeTLS: tlsConf,
//		Handler: handler, Logger: log,
//	})
//	err := s.Run(ctx) // until ctx ends or the credentials are refused
//
// Registration (Register, Recover) signs the scheduler's challenge through
// a ChallengeSigner, which the signing engine implements; the device key
// and its certificate signing request are made here.
//
// What the streamer promises:
//   - Requests for different channels (peer id, dbid) are handled
//     concurrently; requests for one channel are handled in arrival order.
//   - Every request gets exactly one RespondHsmRequest on the stream it came
//     from, unless that stream ends first; Greenlight then replays the
//     request on the next stream.
//   - A node that comes back is answered at once: when the scheduler names
//     a new address for the node it was streaming from (preempted and
//     scheduled again), it connects without waiting, and a stream the node
//     accepted starts the backoff over. Real failures (scheduler
//     unreachable, an address refusing connections, a refused identity)
//     are retried with jittered exponential backoff (500 ms doubling to
//     30 s by default); the same address is never retried without a
//     delay, so it never spins.
//   - Only the given CA is trusted, TLS 1.3 is the minimum, and the device
//     certificate chain is presented in full.
//
// Wire compatibility with Greenlight is defined by the protos in
// streamer/pb; see docs/architecture.md for where this package sits.
package streamer
