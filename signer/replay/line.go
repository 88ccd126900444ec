package replay

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gl-signerd/signer"
)

// Line is one line of a vector file: a request, the client that sent it,
// and what CLN's hsmd answered.
type Line struct {
	// File and LineNo say where the line came from (1-based); set by Read.
	File   string `json:"-"`
	LineNo int    `json:"-"`

	Name     string `json:"name"`
	Scenario string `json:"scenario"`
	Seq      int    `json:"seq"`
	// Secret is the signer's secret (32-byte hsm_secret or 64-byte BIP39
	// seed). It never formats its value.
	Secret      Secret    `json:"secret"`
	Network     string    `json:"network"`
	HsmVersions [2]uint32 `json:"hsm_versions"`
	// Client names the sender ("master", "channeld", …); Context is the
	// client connection, nil for lightningd's own.
	Client  string   `json:"client"`
	Context *Context `json:"context"`

	RequestType  *int    `json:"request_type"`
	RequestName  *string `json:"request_name"`
	Request      Hex     `json:"request"`
	Response     *Hex    `json:"response"` // nil: hsmd refused the request
	ResponseName string  `json:"response_name,omitempty"`
	Error        *string `json:"error"`
	HsmdExited   *bool   `json:"hsmd_exited,omitempty"`
	ExitCode     *int    `json:"exit_code,omitempty"`
	Note         string  `json:"note,omitempty"`

	// Expect is "accept", "reject" or "" (policy vectors only): a reject
	// line must be refused whatever Response says. Policy is the tag of
	// the rule a reject line breaks.
	Expect string `json:"expect,omitempty"`
	Policy string `json:"policy,omitempty"`
}

// Context is a subdaemon's client connection: the peer id, channel dbid
// and capabilities lightningd gave it with hsmd_client_hsmfd.
type Context struct {
	PeerID       Hex    `json:"peer_id"`
	DBID         uint64 `json:"dbid"`
	Capabilities uint64 `json:"capabilities"`
}

// Expectations of a policy vector line.
const (
	ExpectAccept = "accept"
	ExpectReject = "reject"
)

// SignerClient is the signer.Client the line is sent on: signer.MasterClient
// for a nil Context.
func (l *Line) SignerClient() signer.Client {
	if l.Context == nil {
		return signer.MasterClient
	}
	c := signer.Client{DBID: l.Context.DBID, Capabilities: l.Context.Capabilities}
	copy(c.PeerID[:], l.Context.PeerID)
	return c
}

// Where is "file:line".
func (l *Line) Where() string { return fmt.Sprintf("%s:%d", l.File, l.LineNo) }

// ID names the line as scenario/seq name, e.g.
// "S1/boot/004 check_pubkey 3"; tests use it as the subtest name.
func (l *Line) ID() string { return fmt.Sprintf("%s/%03d %s", l.Scenario, l.Seq, l.Name) }

// Refused reports whether CLN's hsmd refused the request (no response).
func (l *Line) Refused() bool { return l.Response == nil }

// MustRefuse reports whether the signer must refuse the request: hsmd
// refused it, or it is a policy vector's reject line.
func (l *Line) MustRefuse() bool { return l.Response == nil || l.Expect == ExpectReject }

// Hex is bytes written as a hex string in JSON.
type Hex []byte

// UnmarshalJSON reads a hex string.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a hex string: %w", err)
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("not hex: %w", err)
	}
	*h = v
	return nil
}

// MarshalJSON writes a hex string.
func (h Hex) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// Secret is a signer secret from a vector line. It formats as a
// placeholder with every fmt verb and marshals as such too.
type Secret []byte

// UnmarshalJSON reads a hex string.
func (s *Secret) UnmarshalJSON(b []byte) error { return (*Hex)(s).UnmarshalJSON(b) }

// MarshalJSON writes the placeholder, never the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// String implements fmt.Stringer without revealing the secret.
func (s Secret) String() string { return fmt.Sprintf("<%d-byte secret>", len(s)) }

// GoString implements fmt.GoStringer without revealing the secret.
func (s Secret) GoString() string { return s.String() }

// Format implements fmt.Formatter: every verb prints String.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// ReadFile reads the lines of a vector file (JSON Lines).
func ReadFile(path string) ([]*Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads vector lines from r; name is used in errors and Line.File.
// Blank lines are skipped. Every line is checked for what replaying needs:
// a 32- or 64-byte secret, a request, hsm_versions, a 33-byte context
// peer_id, and expect "accept", "reject" or absent.
func Read(r io.Reader, name string) ([]*Line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var lines []*Line
	n := 0
	for sc.Scan() {
		n++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		l := &Line{File: name, LineNo: n}
		dec := json.NewDecoder(bytes.NewReader(text))
		if err := dec.Decode(l); err != nil {
			return nil, fmt.Errorf("%s:%d: not a vector line: %v", name, n, err)
		}
		if err := l.check(); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, n, err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: no vector lines", name)
	}
	return lines, nil
}

func (l *Line) check() error {
	var problems []string
	if l.Scenario == "" {
		problems = append(problems, `"scenario" is missing`)
	}
	if len(l.Secret) != 32 && len(l.Secret) != 64 {
		problems = append(problems, fmt.Sprintf(`"secret" must be 32 or 64 bytes, got %d`, len(l.Secret)))
	}
	if len(l.Request) == 0 {
		problems = append(problems, `"request" is missing or empty`)
	}
	if l.HsmVersions[1] == 0 {
		problems = append(problems, `"hsm_versions" must be [min, max]`)
	}
	if l.Context != nil && len(l.Context.PeerID) != 33 {
		problems = append(problems, fmt.Sprintf(`"context.peer_id" must be 33 bytes, got %d`, len(l.Context.PeerID)))
	}
	switch l.Expect {
	case "", ExpectAccept, ExpectReject:
	default:
		problems = append(problems, fmt.Sprintf(`"expect" must be "accept" or "reject", got %q`, l.Expect))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
