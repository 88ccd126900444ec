package signing

import (
	"context"

	"go.uber.org/zap"

	"gl-signerd/signer/state"
	"gl-signerd/streamer"
)

// Greenlight state sync at the seam: the node's copy of the signer state
// (HsmRequest.signer_state) goes to the engine before the request it came
// with, and the engine's changed entries leave with each answer
// (HsmResponse.signer_state). An engine without state ignores both.

// StateSyncer is an Engine that keeps Greenlight's signer state
// (*signer.Engine does).
type StateSyncer interface {
	MergeState(ctx context.Context, entries []state.Entry) (state.MergeResult, error)
	StateUpdates() []state.Entry
}

// MergeSignerState implements streamer.StateMerger. Entries that are
// refused (bad signature, malformed) or in conflict are logged, never
// used; only a store that cannot write refuses the request.
func (h *Handler) MergeSignerState(entries []streamer.StateEntry) error {
	s, ok := h.engine.(StateSyncer)
	if !ok {
		return nil
	}
	in := make([]state.Entry, len(entries))
	for i, e := range entries {
		in[i] = state.Entry{Key: e.Key, Version: e.Version, Value: e.Value, Signature: e.Signature}
	}
	res, err := s.MergeState(context.Background(), in)
	for _, r := range res.Refused {
		h.log.Warn("refused a state entry from the node", zap.Error(r))
	}
	for _, k := range res.Conflicts {
		h.log.Error("the node's signed state conflicts with ours; the channel is frozen", zap.String("key", k))
	}
	if len(res.Adopted) > 0 || len(res.Older) > 0 {
		h.log.Info("merged the node's copy of the signer state", zap.Int("adopted", len(res.Adopted)),
			zap.Int("restored", res.Restored), zap.Int("older_on_node", len(res.Older)))
	}
	return err
}

// stateUpdates are the entries to send with an answer.
func (h *Handler) stateUpdates() []streamer.StateEntry {
	s, ok := h.engine.(StateSyncer)
	if !ok {
		return nil
	}
	up := s.StateUpdates()
	if len(up) == 0 {
		return nil
	}
	out := make([]streamer.StateEntry, len(up))
	for i, e := range up {
		out[i] = streamer.StateEntry{Key: e.Key, Version: e.Version, Value: e.Value, Signature: e.Signature}
	}
	return out
}
