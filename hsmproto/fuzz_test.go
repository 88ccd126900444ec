package hsmproto

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"gl-signerd/internal/sharedfiles"
)

// vectorMessages returns every request and response of shared/vectors, or
// nothing if shared/ is not there (the checked-in corpus still runs).
func vectorMessages(tb testing.TB) [][]byte {
	dir := filepath.Join("..", "..", "shared", "vectors")
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	more, _ := filepath.Glob(filepath.Join(dir, "policy", "*.jsonl"))
	files = append(files, more...)
	if len(files) == 0 {
		if _, fuzz := tb.(*testing.F); !fuzz && os.Getenv("CI") != "" {
			sharedfiles.Missing(tb, "no vectors in %s", dir) // fails: CI runs with shared/
		}
		tb.Logf("no vectors in %s: seeding from testdata/fuzz only", dir)
	}
	var msgs [][]byte
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var v struct {
				Request  string  `json:"request"`
				Response *string `json:"response"`
			}
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				tb.Fatal(err)
			}
			for _, h := range []*string{&v.Request, v.Response} {
				if h == nil {
					continue
				}
				b, err := hex.DecodeString(*h)
				if err != nil {
					tb.Fatal(err)
				}
				msgs = append(msgs, b)
			}
		}
		f.Close()
	}
	return msgs
}

// FuzzDecode: Decode never panics; what it accepts encodes (Marshal
// succeeds), and the encoding decodes again and encodes to itself.
func FuzzDecode(f *testing.F) {
	for _, m := range vectorMessages(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, n, err := DecodePrefix(raw)
		if err != nil {
			if !errors.As(err, new(*DecodeError)) {
				t.Fatalf("error is not a *DecodeError: %v", err)
			}
			return
		}
		if n < 2 || n > len(raw) {
			t.Fatalf("used %d of %d bytes", n, len(raw))
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("%s decoded but does not encode: %v", m.MsgName(), err)
		}
		m2, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: re-encoding does not decode: %v\n in %x\nout %x", m.MsgName(), err, raw[:n], b)
		}
		if b2 := m2.Encode(); !bytes.Equal(b2, b) {
			t.Fatalf("%s: encoding not stable\n1st %x\n2nd %x", m.MsgName(), b, b2)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("%s: JSON: %v", m.MsgName(), err)
		}
	})
}

// FuzzReadFrame: ReadFrame never panics or returns more than MaxFrameSize,
// and each frame it returns is exactly the bytes it consumed.
func FuzzReadFrame(f *testing.F) {
	var all bytes.Buffer
	for i, m := range vectorMessages(f) {
		var one bytes.Buffer
		WriteFrame(&one, m)
		f.Add(one.Bytes())
		if i%50 == 0 {
			all.Write(one.Bytes())
		}
	}
	f.Add(all.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			start := len(data) - r.Len()
			msg, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(msg) > MaxFrameSize {
				t.Fatalf("frame of %d bytes", len(msg))
			}
			var again bytes.Buffer
			if err := WriteFrame(&again, msg); err != nil {
				t.Fatal(err)
			}
			if end := len(data) - r.Len(); !bytes.Equal(again.Bytes(), data[start:end]) {
				t.Fatalf("frame %x is not the %d bytes read", again.Bytes(), end-start)
			}
			Decode(msg)
		}
	})
}

// FuzzParsePSBT: ParsePSBT never panics, scanPSBT catches what would make
// btcutil panic, and an accepted PSBT serializes to bytes that parse
// again and serialize to themselves.
func FuzzParsePSBT(f *testing.F) {
	for _, raw := range vectorMessages(f) {
		m, err := Decode(raw)
		if err != nil {
			continue
		}
		switch m := m.(type) {
		case *SignWithdrawal:
			if m.Psbt != nil {
				b, _ := m.Psbt.Bytes()
				f.Add(b)
			}
		case *SignMutualCloseTx:
			if p, err := m.Tx.ParsedPSBT(); err == nil {
				b, _ := p.Bytes()
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePSBT(b)
		if errors.Is(err, errParserPanic) {
			t.Fatalf("btcutil panicked: %v", err)
		}
		if err != nil {
			return
		}
		out, err := p.Bytes()
		if err != nil {
			t.Fatalf("parsed PSBT does not serialize: %v", err)
		}
		p2, err := ParsePSBT(out)
		if err != nil {
			t.Fatalf("serialization does not parse: %v\n in %x\nout %x", err, b, out)
		}
		if out2, _ := p2.Bytes(); !bytes.Equal(out, out2) {
			t.Fatalf("serialization not stable\n1st %x\n2nd %x", out, out2)
		}
	})
}
