package state

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleChannel(t testing.TB) *Channel {
	idx := uint32(7)
	ch := &Channel{
		ID:      ChannelID{Peer: [33]byte{2, 1, 2, 3}, DBID: 42},
		Status:  StatusOpen,
		Version: 9,
		Setup: &Setup{
			IsOutbound: true, ChannelValueSat: 1_000_000, PushMsat: 5000,
			FundingTxid: [32]byte{0xaa}, FundingVout: 1, HolderToSelfDelay: 144,
			HolderShutdownScript: []byte{0, 20, 1, 2}, HolderShutdownWalletIndex: &idx,
			CounterpartyBasepoints:    [4][33]byte{{2, 1}, {2, 2}, {2, 3}, {2, 4}},
			CounterpartyFundingPubkey: [33]byte{3, 9}, CounterpartyToSelfDelay: 720,
			ChannelType: []byte{0x40, 0x10, 0x00},
		},
		FundingLocked:   true,
		HolderCommitNum: 5, HolderRevokedNext: 5, HolderPointNext: 7,
		LastHolder: &Commitment{Num: 5, FeeratePerKw: 253, Txid: [32]byte{1}, HolderSat: 600_000, CounterpartySat: 399_000, BalancesKnown: true,
			HTLCs: []HTLC{{Offered: true, AmountMsat: 1_000_000, PaymentHash: [32]byte{5}, CltvExpiry: 800_000}}},
		CounterpartyCommitNum: 6,
		LastCounterparty:      &Commitment{Num: 6, FeeratePerKw: 253, PerCommitmentPoint: [33]byte{2, 6}},
		PrevCounterparty:      &Commitment{Num: 5, FeeratePerKw: 253, PerCommitmentPoint: [33]byte{2, 5}},
	}
	p := newPeerChain(t)
	for n := uint64(0); n < 5; n++ {
		if _, err := ch.Secrets.Add(n, p.secret(t, n)); err != nil {
			t.Fatal(err)
		}
	}
	return ch
}

func TestChannelRoundTrip(t *testing.T) {
	full := sampleChannel(t)
	bare := &Channel{ID: ChannelID{DBID: 1}}
	forgotten := &Channel{ID: ChannelID{Peer: [33]byte{3}, DBID: 2}, Status: StatusForgotten, Version: 4}
	noIndex := sampleChannel(t)
	noIndex.Setup.HolderShutdownWalletIndex = nil
	for name, ch := range map[string]*Channel{"full": full, "bare": bare, "forgotten": forgotten, "no wallet index": noIndex} {
		t.Run(name, func(t *testing.T) {
			rec, err := EncodeChannel(ch)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeChannel(channelKey(ch.ID), rec)
			if err != nil {
				t.Fatal(err)
			}
			again, err := EncodeChannel(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rec, again) {
				t.Fatalf("re-encoding differs:\n%x\n%x", rec, again)
			}
			if got.Secrets.Count() != ch.Secrets.Count() || got.Version != ch.Version || got.Status != ch.Status || got.ID != ch.ID {
				t.Fatalf("decoded %+v, want %+v", got, ch)
			}
			if ch.Setup != nil && !reflect.DeepEqual(got.Setup, ch.Setup) {
				t.Fatalf("setup %+v, want %+v", got.Setup, ch.Setup)
			}
		})
	}
}

func TestNodeRoundTrip(t *testing.T) {
	n := &Node{Version: 3, DBIDHighWater: 17,
		Invoices:  []Invoice{{PaymentHash: [32]byte{1}, AmountMsat: 1000, Expiry: 1_800_000_000}, {PaymentHash: [32]byte{2}, Keysend: true, Paid: true}},
		Addresses: []uint32{1, 2, 9}, Allowlist: [][]byte{{0, 20, 1}, {0x51, 0x20}},
		Velocity: Velocity{WindowStart: 1_700_000_000, SpentMsat: 55}}
	rec, err := EncodeNode(n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeNode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, n) {
		t.Fatalf("decoded %+v, want %+v", got, n)
	}
}

// TestDecodeMalformed: every kind of damage is an error naming the record's
// key and the field at fault.
func TestDecodeMalformed(t *testing.T) {
	good, err := EncodeChannel(sampleChannel(t))
	if err != nil {
		t.Fatal(err)
	}
	key := channelKey(ChannelID{Peer: [33]byte{2, 1, 2, 3}, DBID: 42})
	with := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name, field string
		rec         []byte
	}{
		{"empty", "format", nil},
		{"unknown format", "format", with(func(b []byte) []byte { b[0] = 2; return b })},
		{"bad status", "status", with(func(b []byte) []byte { b[9] = 99; return b })},
		{"unknown flag", "flags", with(func(b []byte) []byte { b[10] |= 0x80; return b })},
		{"truncated", "counterparty_secrets", good[:len(good)-3]},
		{"trailing bytes", "end", append(bytes.Clone(good), 0)},
		{"bad boolean", "setup.is_outbound", with(func(b []byte) []byte { b[43] = 7; return b })},
		{"too many buckets", "counterparty_secrets", with(func(b []byte) []byte {
			n := b[len(b)-8-1-3*40] // bucket count: 3 buckets for 5 secrets
			_ = n
			b[len(b)-8-1-3*40] = 49
			return b
		})},
		{"huge htlc count", "last_holder.htlcs", func() []byte {
			ch := sampleChannel(t)
			ch.Setup, ch.LastCounterparty, ch.PrevCounterparty, ch.Secrets = nil, nil, nil, Secrets{}
			ch.LastHolder.HTLCs = nil
			b, _ := EncodeChannel(ch)
			b[len(b)-3], b[len(b)-4] = 0xff, 0xff // htlc count before the empty secrets' length
			return b
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeChannel(key, c.rec)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("DecodeChannel = %v, want a *DecodeError", err)
			}
			if de.Field != c.field {
				t.Errorf("field %q, want %q (%v)", de.Field, c.field, err)
			}
			if !strings.Contains(err.Error(), "channel 02010203") || !strings.HasSuffix(de.Key, "/42") {
				t.Errorf("error %q does not name the channel", err)
			}
		})
	}
	if _, err := DecodeChannel([]byte{1, 2}, good); err == nil || !strings.Contains(err.Error(), "41 bytes") {
		t.Errorf("short key: %v", err)
	}
	if _, err := DecodeNode([]byte{1, 0, 0}); err == nil || !strings.Contains(err.Error(), "node") {
		t.Errorf("short node record: %v", err)
	}
	unsorted, _ := EncodeNode(&Node{Addresses: []uint32{5, 3}})
	if _, err := DecodeNode(unsorted); err == nil || !strings.Contains(err.Error(), "addresses[1]") {
		t.Errorf("unsorted addresses: %v", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	ch, _ := EncodeChannel(sampleChannel(f))
	f.Add(ch)
	bare, _ := EncodeChannel(&Channel{})
	f.Add(bare)
	n, _ := EncodeNode(&Node{Addresses: []uint32{1}, Invoices: []Invoice{{}}, Allowlist: [][]byte{{1}}})
	f.Add(n)
	key := channelKey(ChannelID{DBID: 1})
	f.Fuzz(func(t *testing.T, rec []byte) {
		if ch, err := DecodeChannel(key, rec); err == nil {
			again, err := EncodeChannel(ch)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeChannel(key, again); err != nil {
				t.Fatalf("a decoded channel does not decode again: %v", err)
			}
			if ch.Secrets.Count() > 0 {
				ch.Secrets.Lookup(ch.Secrets.Count() - 1)
			}
			var s [32]byte
			ch.Secrets.Add(ch.Secrets.Count(), s)
		} else {
			var de *DecodeError
			if !errors.As(err, &de) || de.Key == "" {
				t.Fatalf("error %v is not a *DecodeError naming the key", err)
			}
		}
		if n, err := DecodeNode(rec); err == nil {
			again, err := EncodeNode(n)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, rec) {
				t.Fatalf("node record does not re-encode to itself")
			}
		}
	})
}
