package audit

import (
	"encoding/json"
	"math"
	"math/rand"
	"testing"
	"time"
)

// encode must write what json.Marshal writes, byte for byte.
func TestEncodeIsJSONMarshal(t *testing.T) {
	strs := []string{"", "answered", "refused", "hsmd_sign_withdrawal", "unknown_65535", "paused",
		"a \"quoted\" reason", `back\slash`, "<html> & co", "tab\there", "new\nline", "é ünïcode",
		"\u2028 line sep", "invalid \xff utf-8", "0239aabbccddeeff00112233445566778899aabbccddeeff0011223344556677",
		"the signer is paused by its operator (gl-signerd ctl resume continues): maintenance"}
	times := []time.Time{
		time.Date(2026, 11, 25, 0, 47, 1, 123456789, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 100000000, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 6, 1, 12, 0, 0, 5000, time.FixedZone("x", 3600)), time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	durs := []float64{0, 0.001, 0.061, 1.5, 12345.678, 1e-7, 3e21, math.NaN(), math.Inf(1), -0.5, 1e20}
	rng := rand.New(rand.NewSource(1))
	pick := func() string { return strs[rng.Intn(len(strs))] }
	for i := 0; i < 5000; i++ {
		r := Record{
			Time: times[rng.Intn(len(times))], RequestID: rng.Uint32(), Type: uint16(rng.Intn(70000)),
			TypeName: pick(), Peer: pick(), DBID: rng.Uint64(), Capabilities: uint64(rng.Intn(64)),
			Outcome: pick(), Reason: pick(), Tag: pick(), DurationMS: durs[rng.Intn(len(durs))],
		}
		if i%3 == 0 {
			r.Peer, r.Reason, r.Tag = "", "", ""
			r.DurationMS = float64(rng.Intn(1_000_000)) / 1000
		}
		want, werr := json.Marshal(r)
		got, gerr := encode(r)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("record %+v: json.Marshal error %v, encode error %v", r, werr, gerr)
		}
		if string(got) != string(want) {
			t.Fatalf("record %+v:\n got %s\nwant %s", r, got, want)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	r := Record{Time: time.Now().UTC(), RequestID: 123456, Type: 19, TypeName: "hsmd_sign_remote_commitment_tx",
		Peer: "0239aabbccddeeff00112233445566778899aabbccddeeff0011223344556677", DBID: 42, Capabilities: 15,
		Outcome: OutcomeAnswered, DurationMS: 0.087}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			encode(r)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			json.Marshal(r)
		}
	})
}
