// Package state is the signer's durable memory: every channel from
// new_channel/setup_channel to forget_channel (and its tombstone after),
// and the node-wide facts a validating signer needs (the dbid high-water
// mark, preapproved and paid invoices and keysends, issued wallet
// addresses, the allowlist, velocity counters).
//
// The model is plain Go values (Channel, Node); a Store keeps them in a
// bbolt file, <state-dir>/state.db (mode 0600), and in memory. The engine
// reads a snapshot, returns the changed value, and the store commits and
// fsyncs it before the caller answers the request:
//
//	st, err := state.Open(filepath.Join(stateDir, state.FileName))
//	err = st.UpdateChannel(ctx, id, func(ch *state.Channel) error { ch.FundingLocked = true; return nil })
//
// Updates of one channel run one at a time, in call order; updates of
// different channels run side by side and share fsyncs (group commit: one
// frame of the write-ahead log, wal.go, carries every change that arrived
// while the previous one was being written; the log is checkpointed into
// bbolt every few megabytes and at Open and Close). An update that changes nothing writes nothing,
// so a retried request advances nothing twice.
//
// Records are stored in a versioned binary encoding (encoding.go, and
// docs/state.md), never as Go structs: format 1 is what this package
// writes, and a record that does not decode is an error naming its key.
// Counterparty per-commitment secrets are kept in BOLT 3's compact
// shachain storage (at most 48 hashes per channel, lnd's shachain).
package state
