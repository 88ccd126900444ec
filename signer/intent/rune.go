package intent

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// RuneVersion is the version Greenlight's signer writes after a rune's
// unique id ("0-gl0"); a rune of another version is refused.
const RuneVersion = "gl0"

// runeDerivationInfo is the HKDF info Greenlight's signer derives its
// rune secret with, from the node's 32-byte secret.
const runeDerivationInfo = "gl-commando"

// Alternative is one condition of a restriction: field, operator, value
// ("method=pay", "pubkey^04ab", "time<1700000000"). The unique id is the
// alternative with the empty field.
type Alternative struct {
	Field string
	Cond  byte
	Value string
}

// Restriction holds when any of its alternatives does.
type Restriction []Alternative

// Rune is a commando-style rune: a SHA-256 authcode and the restrictions
// it was carved with. Every restriction must hold.
type Rune struct {
	Authcode     [32]byte
	Restrictions []Restriction
}

// conditions are the operators runes know (rustyrussell/runes README).
const conditions = "!=/^$~<>{}#"

// punctuation ends a field name (Python's string.punctuation).
const punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

func (a Alternative) encode() string {
	r := strings.NewReplacer(`\`, `\\`, `|`, `\|`, `&`, `\&`)
	return a.Field + string(a.Cond) + r.Replace(a.Value)
}

func (r Restriction) encode() string {
	parts := make([]string, len(r))
	for i, a := range r {
		parts[i] = a.encode()
	}
	return strings.Join(parts, "|")
}

// String is the rune's restrictions as text ("=0-gl0&pubkey=04…&method=pay").
func (r *Rune) String() string {
	parts := make([]string, len(r.Restrictions))
	for i, x := range r.Restrictions {
		parts[i] = x.encode()
	}
	return strings.Join(parts, "&")
}

// Encode is the rune as applications hold it: URL-safe base64 of the
// authcode followed by the restrictions' text.
func (r *Rune) Encode() string {
	return base64.URLEncoding.EncodeToString(r.Bytes())
}

// Bytes is the rune as a PendingRequest carries it: the authcode and the
// restrictions' text.
func (r *Rune) Bytes() []byte {
	return append(r.Authcode[:], r.String()...)
}

// UniqueID is the rune's unique id and version ("0", "gl0"), empty when it
// has none.
func (r *Rune) UniqueID() (id, version string) {
	if len(r.Restrictions) == 0 || len(r.Restrictions[0]) != 1 || r.Restrictions[0][0].Field != "" {
		return "", ""
	}
	id, version, _ = strings.Cut(r.Restrictions[0][0].Value, "-")
	return id, version
}

// DecodeRune reads a rune in URL-safe base64, with or without padding.
func DecodeRune(s string) (*Rune, error) {
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, fmt.Errorf("the rune is not URL-safe base64: %v", err)
	}
	return ParseRune(b)
}

// ParseRune reads a rune's bytes: a 32-byte authcode, then the
// restrictions' text. It refuses what the runes spec calls malformed: an
// unknown operator, a field with punctuation, a unique id not first or
// not written with '='.
func ParseRune(b []byte) (*Rune, error) {
	if len(b) < 32 {
		return nil, fmt.Errorf("the rune is %d bytes long, shorter than its 32-byte authcode", len(b))
	}
	r := &Rune{}
	copy(r.Authcode[:], b)
	text := b[32:]
	if !utf8.Valid(text) {
		return nil, errors.New("the rune's restrictions are not UTF-8 text")
	}
	s := string(text)
	for len(s) > 0 {
		var x Restriction
		var err error
		x, s, err = decodeRestriction(s)
		if err != nil {
			return nil, fmt.Errorf("the rune's restriction %d: %w", len(r.Restrictions)+1, err)
		}
		for _, a := range x {
			if a.Field != "" {
				continue
			}
			if a.Cond != '=' {
				return nil, fmt.Errorf("the rune's restriction %d: a unique id must be written with '=', not %q", len(r.Restrictions)+1, a.Cond)
			}
			if len(r.Restrictions) != 0 || len(x) != 1 {
				return nil, fmt.Errorf("the rune's restriction %d: a unique id may only be the first restriction, alone", len(r.Restrictions)+1)
			}
		}
		r.Restrictions = append(r.Restrictions, x)
	}
	return r, nil
}

// decodeRestriction reads alternatives up to an unescaped '&' (or the end).
func decodeRestriction(s string) (Restriction, string, error) {
	var r Restriction
	for len(s) > 0 {
		if s[0] == '&' {
			s = s[1:]
			break
		}
		a, rest, err := decodeAlternative(s)
		if err != nil {
			return nil, "", err
		}
		r = append(r, a)
		s = rest
	}
	if len(r) == 0 {
		return nil, "", errors.New("it is empty")
	}
	return r, s, nil
}

func decodeAlternative(s string) (Alternative, string, error) {
	i := strings.IndexAny(s, punctuation)
	if i < 0 {
		return Alternative{}, "", fmt.Errorf("%q has no operator", s)
	}
	a := Alternative{Field: s[:i], Cond: s[i]}
	if !strings.ContainsRune(conditions, rune(a.Cond)) {
		return Alternative{}, "", fmt.Errorf("%q is not an operator (one of %s)", a.Cond, conditions)
	}
	var v strings.Builder
	j := i + 1
	for j < len(s) {
		c := s[j]
		if c == '|' {
			j++
			break
		}
		if c == '&' {
			break
		}
		if c == '\\' {
			j++
			if j == len(s) {
				return Alternative{}, "", errors.New("it ends in an escape character")
			}
			c = s[j]
		}
		v.WriteByte(c)
		j++
	}
	a.Value = v.String()
	return a, s[j:], nil
}

// ParseRestriction reads a restriction as an operator types it
// ("method=pay|method=keysend"): alternatives separated by '|'.
func ParseRestriction(s string) (Restriction, error) {
	r, rest, err := decodeRestriction(s)
	if err != nil {
		return nil, fmt.Errorf("the restriction %q: %w", s, err)
	}
	if rest != "" {
		return nil, fmt.Errorf("the restriction %q holds '&': give each restriction on its own", s)
	}
	for _, a := range r {
		if a.Field == "" {
			return nil, fmt.Errorf("the restriction %q has an empty field name (the unique id is the signer's to set)", s)
		}
	}
	return r, nil
}

// Master is the secret runes are derived from, and the checks of them.
type Master struct {
	secret []byte
}

// MasterFromSeed derives the master rune's secret from the node's secret as
// Greenlight's signer does: HKDF-SHA256 of its first 32 bytes (the
// hsm_secret), no salt, info "gl-commando".
func MasterFromSeed(seed []byte) (*Master, error) {
	if len(seed) < 32 {
		return nil, fmt.Errorf("the node secret is %d bytes; at least 32 are needed", len(seed))
	}
	k, err := hkdf.Key(sha256.New, seed[:32], nil, runeDerivationInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("could not derive the rune secret: %w", err)
	}
	return &Master{secret: k}, nil
}

// NewMaster makes a master from the rune secret itself (tests, vectors).
func NewMaster(secret []byte) (*Master, error) {
	if len(secret)+1+8 > 64 {
		return nil, fmt.Errorf("a rune secret is at most 55 bytes; this one is %d", len(secret))
	}
	return &Master{secret: append([]byte(nil), secret...)}, nil
}

// endPad is SHA-256's padding after length bytes.
func endPad(length int) []byte {
	pad := (64 - (length+1+8)%64) % 64
	b := make([]byte, 1+pad+8)
	b[0] = 0x80
	binary.BigEndian.PutUint64(b[1+pad:], uint64(length)*8)
	return b
}

// authcode is what the rune with these restrictions has, carved from m.
func (m *Master) authcode(rs []Restriction) [32]byte {
	h := sha256.New()
	h.Write(m.secret)
	n := len(m.secret)
	for _, r := range rs {
		p := endPad(n)
		h.Write(p)
		n += len(p)
		enc := r.encode()
		h.Write([]byte(enc))
		n += len(enc)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Authorized reports whether r was carved from m (its authcode is the one
// its restrictions give).
func (m *Master) Authorized(r *Rune) bool {
	want := m.authcode(r.Restrictions)
	return subtle.ConstantTimeCompare(want[:], r.Authcode[:]) == 1
}

// Carve makes a rune from m with a unique id (of RuneVersion) followed by
// restrictions, as Greenlight's create_rune does.
func (m *Master) Carve(uniqueID uint64, restrictions ...Restriction) *Rune {
	rs := append([]Restriction{{{Field: "", Cond: '=', Value: strconv.FormatUint(uniqueID, 10) + "-" + RuneVersion}}}, restrictions...)
	return &Rune{Authcode: m.authcode(rs), Restrictions: rs}
}

// Restrict adds a restriction to a rune without the master's secret (the
// runes' length extension): anyone holding a rune can narrow it.
func Restrict(r *Rune, x Restriction) (*Rune, error) {
	// The authcode is SHA-256's state after whole blocks: resume it.
	n := 64 // the secret's block
	for _, old := range r.Restrictions {
		n += len(old.encode())
		n += (64 - n%64) % 64
	}
	state := make([]byte, 0, 4+32+64+8)
	state = append(state, "sha\x03"...)
	state = append(state, r.Authcode[:]...)
	state = append(state, make([]byte, 64)...)
	state = binary.BigEndian.AppendUint64(state, uint64(n))
	h := sha256.New()
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, errors.New("this Go's SHA-256 cannot resume a state")
	}
	if err := u.UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("this Go's SHA-256 state layout is not the one runes resume: %w", err)
	}
	h.Write([]byte(x.encode()))
	out := &Rune{Restrictions: append(append([]Restriction(nil), r.Restrictions...), x)}
	h.Sum(out.Authcode[:0])
	return out, nil
}

// Check returns nil when every restriction of r holds for values, else an
// error saying which does not. A field absent from values passes only
// "!" (and "#", a comment); the unique id passes when absent unless it
// carries a version.
func (r *Rune) Check(values map[string]string) error {
	for i, x := range r.Restrictions {
		var reasons []string
		ok := false
		for _, a := range x {
			why := a.test(values)
			if why == "" {
				ok = true
				break
			}
			reasons = append(reasons, why)
		}
		if !ok {
			return fmt.Errorf("restriction %d (%s) does not hold: %s", i+1, x.encode(), strings.Join(reasons, " and "))
		}
	}
	return nil
}

func (a Alternative) test(values map[string]string) string {
	if a.Cond == '#' {
		return ""
	}
	name := a.Field
	if name == "" {
		name = "id"
	}
	val, present := values[a.Field]
	if !present {
		if a.Field == "" {
			if strings.Contains(a.Value, "-") {
				return "id: unknown version " + a.Value
			}
			return ""
		}
		if a.Cond == '!' {
			return ""
		}
		return name + " is missing"
	}
	fail := func(ok bool, why string) string {
		if ok {
			return ""
		}
		return name + " " + why
	}
	switch a.Cond {
	case '!':
		return name + " is present"
	case '=':
		return fail(val == a.Value, "!= "+a.Value)
	case '/':
		return fail(val != a.Value, "= "+a.Value)
	case '^':
		return fail(strings.HasPrefix(val, a.Value), "does not start with "+a.Value)
	case '$':
		return fail(strings.HasSuffix(val, a.Value), "does not end with "+a.Value)
	case '~':
		return fail(strings.Contains(val, a.Value), "does not contain "+a.Value)
	case '<', '>':
		have, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return name + " is not an integer"
		}
		want, err := strconv.ParseInt(a.Value, 10, 64)
		if err != nil {
			return name + ": " + a.Value + " is not an integer"
		}
		if a.Cond == '<' {
			return fail(have < want, ">= "+a.Value)
		}
		return fail(have > want, "<= "+a.Value)
	case '{':
		return fail(val < a.Value, "is the same or ordered after "+a.Value)
	case '}':
		return fail(val > a.Value, "is the same or ordered before "+a.Value)
	}
	return name + ": unknown operator " + string(a.Cond)
}
