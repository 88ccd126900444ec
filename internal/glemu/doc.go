// Package glemu emulates Greenlight: a scheduler and the nodes it
// schedules, speaking the real gRPC API over mTLS with a certificate tree
// made at start. It is product code, not test code: `gl-signerd emulator`,
// `demo` and `bench` ship it, and the tests use it.
//
// The common case:
//
//	emu, _ := glemu.Start(ctx, glemu.Options{})
//	defer emu.Close()
//	// point a signer at emu.SchedulerURI() with emu.CAPath(),
//	// emu.NobodyCertPath() and emu.NobodyKeyPath() (or emu.Env()),
//	// let it register, then:
//	node := emu.Node(nodeID)
//	node.Schedule()
//	resp, err := node.Submit(ctx, &greenlight.HsmRequest{Raw: msg}) // like lightningd
//	node.Reschedule() // preempt and move to a new port
//	node.CutStreams() // or only end the signer's streams, as a broken connection does
//
// What it checks, as Greenlight does:
//   - Register and Recover take the "nobody" certificate, a one-time,
//     scoped, expiring challenge and its signature by the node key
//     (ECDSA over SHA256d("Lightning Signed Message:" || challenge), 64-byte
//     compact), and a CSR whose CN is /users/<node id hex>/<device>; the
//     returned device certificate chain is signed by the node's own CA.
//   - Scheduler calls about a node, and the node's own service, take only
//     that node's device certificates. TLS 1.3, client certificates
//     required and verified against the emulator's root CA.
//   - GetNodeInfo with wait blocks until the node is scheduled.
//
// What the node does, as Greenlight's node plugin does: each new stream
// starts with a heartbeat (request 0, VLS GetHeartbeat, the full signer
// state); pending requests are replayed to every new stream; each request
// carries the signer state entries that stream has not seen; a response
// is applied once (later ones are counted as duplicates); returned state
// entries are merged, the higher version winning. Unlike Greenlight, by
// default a refusal completes the request (see Options.KeepRefusedPending).
//
// The emulator holds no Lightning logic: it does not run lightningd and
// does not check the signer's answers.
package glemu
