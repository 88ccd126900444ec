package signer_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/replay"
)

// checkAnswer is the engine's contract for any input: a reply that decodes
// as an hsmd message, or a *signer.RefusalError; never both, never
// anything else. A request that does not decode must be refused as a parse
// error (or for a missing capability, which is checked first).
func checkAnswer(t testing.TB, c signer.Client, raw, reply []byte, err error) {
	t.Helper()
	if err != nil {
		var re *signer.RefusalError
		if !errors.As(err, &re) {
			t.Fatalf("request %x: error is not a *signer.RefusalError: %T %v", raw, err, err)
		}
		if reply != nil {
			t.Fatalf("request %x: refused (%v) but also replied %x", raw, err, reply)
		}
		if re.Fatal && !c.IsMaster() && re.Reason == "could not parse request" {
			t.Fatalf("request %x: a parse error from a subdaemon client is fatal", raw)
		}
		return
	}
	if _, derr := hsmproto.Decode(reply); derr != nil {
		t.Fatalf("request %x: reply %x does not decode: %v", raw, reply, derr)
	}
	if _, derr := hsmproto.Decode(raw); derr != nil {
		t.Fatalf("request %x does not decode (%v), but the engine answered %x", raw, derr, reply)
	}
}

// vectorLines reads public.jsonl, skipping the test without it.
func vectorLines(t testing.TB) []*replay.Line {
	t.Helper()
	lines, err := replay.ReadFile(sharedVectors(t, "public.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// startedEngines starts one engine per instance of the vector lines.
func startedEngines(t testing.TB, lines []*replay.Line) map[*replay.Line]*signer.Engine {
	t.Helper()
	plan, err := replay.Plan(lines)
	if err != nil {
		t.Fatal(err)
	}
	out := map[*replay.Line]*signer.Engine{}
	for _, in := range plan {
		s, err := in.Start(context.Background(), replay.Options{Policy: replay.PolicyOff})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range in.Lines() {
			out[l] = s.Handler.(*signer.Engine)
		}
	}
	return out
}

// TestTruncatedRequests cuts every vector request short at many lengths:
// what does not decode must be refused as a parse error, and nothing may
// panic.
func TestTruncatedRequests(t *testing.T) {
	lines := vectorLines(t)
	engines := startedEngines(t, lines)
	ctx := context.Background()
	n := 0
	for _, l := range lines {
		e, c := engines[l], l.SignerClient()
		for _, cut := range cuts(len(l.Request)) {
			raw := l.Request[:cut]
			reply, err := e.Handle(ctx, c, raw)
			checkAnswer(t, c, raw, reply, err)
			if _, derr := hsmproto.Decode(raw); derr != nil {
				var re *signer.RefusalError
				if !errors.As(err, &re) {
					t.Fatalf("%s cut to %d bytes: answered", l.ID(), cut)
				}
				var de *hsmproto.DecodeError
				if !errors.As(err, &de) && !bytes.Contains([]byte(re.Reason), []byte("capability")) {
					t.Errorf("%s cut to %d bytes: refused without the decode error: %v", l.ID(), cut, err)
				}
				if re.Fatal != c.IsMaster() {
					t.Errorf("%s cut to %d bytes: Fatal = %v on client %s", l.ID(), cut, re.Fatal, l.Client)
				}
			}
			n++
		}
	}
	t.Logf("%d truncated requests", n)
}

// cuts are the lengths to cut a request of n bytes to: every length up to
// 100, then about 40 more spread over the rest.
func cuts(n int) []int {
	var out []int
	for i := 0; i < n && i <= 100; i++ {
		out = append(out, i)
	}
	if n > 101 {
		step := max((n-101)/40, 1)
		for i := 101; i < n; i += step {
			out = append(out, i)
		}
	}
	return out
}

// TestTrailingBytes: CLN's generated fromwire_ only checks that parsing
// did not run short and ignores bytes after the last field, so every request hsmd answered gets the same reply
// with junk appended — except hsmd_init, whose TLV stream runs to the end.
func TestTrailingBytes(t *testing.T) {
	lines := vectorLines(t)
	plan, err := replay.Plan(lines)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, in := range plan {
		s, err := in.Start(ctx, replay.Options{Policy: replay.PolicyOff})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range in.Lines() {
			if l.Response == nil || (l.RequestType != nil && *l.RequestType == int(hsmproto.TypeInit)) {
				continue
			}
			t.Run(l.ID(), func(t *testing.T) {
				raw := append(append([]byte(nil), l.Request...), 0xde, 0xad, 0xbe, 0xef)
				reply, err := s.Handler.Handle(ctx, l.SignerClient(), raw)
				if err != nil {
					t.Fatalf("refused with trailing bytes: %v", err)
				}
				if !bytes.Equal(reply, *l.Response) {
					d, _ := replay.Diff(reply, *l.Response)
					t.Fatalf("reply differs with trailing bytes: %v", d)
				}
			})
		}
	}
}

// FuzzHandle feeds random bytes to the engine as random clients: it must
// never panic, and must answer with a decodable reply or a RefusalError.
// The seeds are the vector requests (when shared/ is there) and a few
// hand-made ones.
func FuzzHandle(f *testing.F) {
	seeds := [][]byte{
		{}, {0}, {0, 1}, {0x12, 0x34},
		hexBytes(f, "00010260edf936137b1c61e7235aa443a0f6cf7bde779a35fd303520fdbe49c82454a5"),
		hexBytes(f, "00120000000000000005"),
		hexBytes(f, "001c0000000302439c2071934d9f656d8907261f83ad5bfe2cef6f60d8fbbfcb73fe5578d5119b"),
	}
	for _, s := range seeds {
		f.Add(s, uint64(1027), uint64(0), uint8(0))
		f.Add(s, uint64(447), uint64(3), uint8(2))
	}
	if lines, err := replay.ReadFile("../../shared/vectors/public.jsonl"); err == nil {
		for _, l := range lines {
			c := l.SignerClient()
			f.Add([]byte(l.Request), c.Capabilities, c.DBID, c.PeerID[32])
		}
	}
	secret := bytes.Repeat([]byte{1}, 32)
	e, err := signer.NewEngine(secret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte, caps, dbid uint64, peerByte uint8) {
		c := signer.Client{Capabilities: caps & 0x7ff, DBID: dbid}
		c.PeerID[0] = 2 + peerByte&1
		c.PeerID[32] = peerByte
		reply, err := e.Handle(context.Background(), c, raw)
		checkAnswer(t, c, raw, reply, err)
	})
}

// TestRandomClients is a short, deterministic run of FuzzHandle's check
// over mutated vector requests, so that plain go test exercises it too.
func TestRandomClients(t *testing.T) {
	lines := vectorLines(t)
	e, err := signer.NewEngine(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		l := lines[rng.IntN(len(lines))]
		raw := append([]byte(nil), l.Request...)
		if len(raw) > 2 {
			for j := rng.IntN(4); j >= 0; j-- {
				raw[2+rng.IntN(len(raw)-2)] ^= byte(1 << rng.IntN(8))
			}
		}
		c := signer.Client{Capabilities: rng.Uint64() & 0x7ff, DBID: rng.Uint64N(4)}
		c.PeerID[0] = 3
		reply, err := e.Handle(context.Background(), c, raw)
		checkAnswer(t, c, raw, reply, err)
	}
}

func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
