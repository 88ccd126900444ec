package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"go.uber.org/zap"
)

// FuzzDispatch feeds arbitrary request lines to a server with commands that
// decode their arguments: every line gets a response that encodes as JSON,
// and an error response never claims success.
func FuzzDispatch(f *testing.F) {
	for _, seed := range []string{
		`{"cmd":"status"}`, `{"cmd":"pause","args":{"reason":"maintenance"}}`, `{"cmd":"help"}`,
		`{"cmd":"pause","args":{"reason":17}}`, `{"cmd":"nope"}`, `not json`, `{"cmd":`, `[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	s := NewServer(zap.NewNop())
	s.Register(Command{Name: "status", Help: "status", Run: func(context.Context, json.RawMessage) (any, error) {
		return map[string]int{"requests": 1}, nil
	}})
	s.Register(Command{Name: "pause", Help: "pause", Run: func(_ context.Context, args json.RawMessage) (any, error) {
		var a struct {
			Reason string `json:"reason"`
		}
		if len(args) > 0 {
			if err := json.Unmarshal(args, &a); err != nil {
				return nil, errors.New("pause: the arguments are not {\"reason\": string}")
			}
		}
		return map[string]any{"paused": true, "reason": a.Reason}, nil
	}})
	f.Fuzz(func(t *testing.T, line []byte) {
		resp := s.dispatch(context.Background(), line)
		if resp.OK == (resp.Error != "") {
			t.Fatalf("response %+v: ok and error disagree", resp)
		}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		if err := writeResponse(w, resp); err != nil {
			t.Fatalf("writing the response: %v", err)
		}
		var back Response
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Fatalf("the response %q is not JSON: %v", buf.String(), err)
		}
	})
}

// FuzzReadLine checks the line reader never returns more than MaxRequest
// bytes and never loses a complete short line.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("{\"cmd\":\"status\"}\n"))
	f.Add(bytes.Repeat([]byte("x"), MaxRequest+10))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 16)
		for {
			line, err := readLine(r, MaxRequest)
			if err != nil {
				return
			}
			if len(line) > MaxRequest {
				t.Fatalf("a %d-byte line passed the %d-byte limit", len(line), MaxRequest)
			}
		}
	})
}
