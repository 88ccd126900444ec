// Package traffic generates the hsmd requests a Core Lightning node sends
// its signer, for tests, benchmarks, `gl-signerd demo` and `gl-signerd
// bench` (so it is product code), and checks every answer. It needs
// nothing outside the repository (no ../shared).
//
// The common case:
//
//	g, _ := traffic.New(node.InitMsg(), traffic.NodeSender(node), traffic.Options{Seed: 1})
//	_ = g.Boot(ctx)
//	ch, _ := g.OpenChannel(ctx, traffic.ChannelOptions{WeFund: true, Anchors: true})
//	_ = ch.Pay(ctx, 50_000_000) // an outgoing payment: two commitment rounds
//	_ = ch.Receive(ctx, 20_000_000)
//	_ = ch.CloseMutual(ctx) // or ForceClose, CloseRemote (the peer's), CloseBreach
//	fmt.Println(g.Stats())
//
// A Generator plays lightningd and its subdaemons (openingd, channeld,
// closingd, onchaind, connectd) on one side and the channel peers on the
// other. Each peer has its own random keys and shachain; it really signs our
// commitments and HTLC transactions and really reveals its per-commitment
// secrets. Requests follow the order channeld uses (see the policy vectors'
// README, "How the transactions are built"): the peer's commitment is
// signed with sign_remote_commitment_tx (and its HTLC transactions with
// sign_remote_htlc_tx), ours validated with validate_commitment_tx, the
// peer's old commitment revoked with validate_revocation, ours with
// revoke_commitment_tx. Transactions are BOLT 3 commitments, HTLC, closing
// and sweep transactions built with btcd's wire and lnd's input scripts;
// wallet spends are PSBTs of UTXOs paying the signer's own wallet keys,
// derived from the xpub of its hsmd_init reply.
//
// What is checked about each answer, without knowing the seed:
//
//   - every signature verifies with the key it must be made with (funding
//     key, HTLC key at the right per-commitment point, delayed payment key,
//     node key, wallet keys) over the BIP143/BIP341 signature hash computed
//     here with btcd; transactions that can be completed (our commitment,
//     mutual closes, sweeps, withdrawals) are completed with the peer's
//     signature and run through btcd's script engine;
//   - per-commitment points and secrets agree with each other wherever the
//     protocol returns them twice (get_per_commitment_point,
//     validate_commitment_tx, revoke_commitment_tx);
//   - ECDH shared secrets, check_pubkey and basepoints asked twice are byte
//     for byte what they must be.
//
// With Options.Oracle (an in-process signer.Engine holding the same seed,
// through EngineSender) every answer must also be byte for byte the
// oracle's.
//
// Generators are safe for concurrent use: channels may run in parallel,
// each in its own goroutine, as the channels of a real node do.
package traffic
