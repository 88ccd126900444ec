// Package clnhsmd serves Core Lightning's own hsmd subdaemon protocol, so
// that gl-signerd can replace CLN's hsmd (`lightningd
// --subdaemon=hsmd:PATH`) on a self-hosted node.
//
// lightningd starts the hsmd binary with fd 0 a socket for status messages
// (the first is status_version, which must equal lightningd's own version),
// fd 3 the master connection (lightningd's own requests), and the hsm_secret
// in the working directory. On the master connection lightningd sends
// hsmd_init, its own requests, and hsmd_client_hsmfd for each subdaemon; the
// answer to that is a new socket pair whose one end is passed back with
// SCM_RIGHTS. Every client connection is served concurrently, with the peer
// id, dbid and capabilities it was opened with, by the same signer.Engine
// that Greenlight's stream feeds: the server knows nothing of policy or
// state. Each client has a goroutine of its own, or, with Config.OneThread
// (for a handler that never waits), one thread polls lightningd's
// connection and every client's and answers each request as it reads it,
// as CLN's hsmd does.
//
// The server keeps CLN v26.06.6's hsmd rules (hsmd/hsmd.c):
//   - at most three dbid-0 clients, lightningd's included; a fourth is fatal;
//   - a client opened for a dbid closes the one opened before for it;
//   - a bad or refused request on a client is logged (BROKEN), reported to
//     lightningd as hsmstatus_client_bad_request, and that client's
//     connection is closed; the server keeps serving the others;
//   - a bad request on the master connection is fatal: BROKEN log,
//     status_fail (master I/O), exit status 242, as CLN's hsmd does;
//   - the master connection closing ends the server with exit status 2.
//
// Serve returns an *ExitError carrying the status CLN's hsmd would exit
// with; the command exits with it. Nothing a client sends can make the
// server panic, and no secret is ever written to the status socket.
package clnhsmd
