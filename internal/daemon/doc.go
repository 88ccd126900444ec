// Package daemon is gl-signerd's daemon and the Greenlight enrolment that
// precedes it, so that cmd/gl-signerd is left with flags, prompts, output
// and exit codes.
//
//   - Run(ctx, Options) is gl-signerd run: it locks the state directory,
//     unlocks the secret store, checks the device identity, tells the
//     scheduler its start-up answers and answers the node's hsmd requests
//     through the signing seam (internal/signing), with the audit log, the
//     control socket (status, pause, resume, shutdown) and metrics, until
//     ctx ends or ctl shutdown; then it drains and syncs the audit log.
//   - OpenEnrolment, then Enrolment.Register or Enrolment.Recover, is
//     gl-signerd register and recover: they store the device identity
//     (device.crt, device-key.pem, ca.pem; mode 0600, replaced atomically).
//   - NodeID and NewEngine turn a seed into its node id and engine, the
//     one place where that happens.
//
// Errors that an operator acts on carry a Kind (SecretStore, Config,
// Network, Locked; Failed otherwise) for the command line to map to its
// documented exit code. The Status type is the control command "status"'s
// result; its fields are only ever added.
package daemon
