package signing

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/keys"
	"gl-signerd/signer/state"
	"gl-signerd/streamer"
)

func statefulHandler(t *testing.T) (*Handler, *state.Store) {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng, err := signer.NewEngine(bytes.Repeat([]byte{0x31}, 32), signer.WithState(st))
	if err != nil {
		t.Fatal(err)
	}
	return NewHandler(eng, Options{}), st
}

// TestStateSync: the entries an answer carries restore a signer with an
// empty state directory; a conflicting entry freezes its channel.
func TestStateSync(t *testing.T) {
	ctx := context.Background()
	a, _ := statefulHandler(t)
	id := state.ChannelID{Peer: [33]byte{2, 9}, DBID: 4}
	newChannel := streamer.Request{ID: 1, Raw: (&hsmproto.NewChannel{ID: id.Peer, DBID: id.DBID}).Encode()}
	resp := a.HandleHsmRequest(ctx, newChannel)
	if resp.Err != nil || len(resp.SignerState) != 2 {
		t.Fatalf("new_channel: %v, %d state entries; want the channel and node records", resp.Err, len(resp.SignerState))
	}
	if again := a.HandleHsmRequest(ctx, newChannel); again.Err != nil || len(again.SignerState) != 0 {
		t.Fatalf("the same request again: %v, %d entries; want none (nothing changed)", again.Err, len(again.SignerState))
	}
	// A node's copy also holds other signers' entries: left alone.
	entries := append(resp.SignerState, streamer.StateEntry{Key: "nodestates/02ab", Version: 3, Value: []byte("{}")})

	b, bst := statefulHandler(t)
	if err := b.MergeSignerState(entries); err != nil {
		t.Fatal(err)
	}
	ch, ok := bst.Channel(id)
	if !ok || ch.Status != state.StatusDeclared || bst.Node().DBIDHighWater != 4 || bst.Restored() != 2 {
		t.Fatalf("restored: %v %+v, high water %d", ok, ch, bst.Node().DBIDHighWater)
	}

	// Same version, another value: the channel is frozen.
	var chEntry streamer.StateEntry
	for _, e := range resp.SignerState {
		if strings.Contains(e.Key, "/channel/") {
			chEntry = e
		}
	}
	rec, err := base64.StdEncoding.DecodeString(strings.Trim(string(chEntry.Value), `"`)) // state.EntryValue
	if err != nil {
		t.Fatal(err)
	}
	rec[len(rec)-3] ^= 1 // counterparty_commit_num's low byte
	chEntry.Value = state.EntryValue(rec)
	conflict := signLike(t, chEntry)
	if err := b.MergeSignerState([]streamer.StateEntry{conflict}); err != nil {
		t.Fatal(err)
	}
	r := b.HandleHsmRequest(ctx, newChannel)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "frozen") {
		t.Fatalf("a request for a frozen channel: %v", r.Err)
	}
}

// signLike signs e with the test seed's state-signing key.
func signLike(t *testing.T, e streamer.StateEntry) streamer.StateEntry {
	k, err := keysStateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	se := state.Entry{Key: e.Key, Version: e.Version, Value: e.Value}
	state.NewEntrySigner(k).Sign(&se)
	e.Signature = se.Signature
	return e
}

func keysStateSigningKey() (*keys.PrivateKey, error) {
	return keys.StateSigningKey(bytes.Repeat([]byte{0x31}, 32))
}
