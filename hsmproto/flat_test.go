package hsmproto

import (
	"math/rand"
	"reflect"
	"testing"
)

// decodeFlatBothWays decodes raw with the generated decoders reading
// fixed-size subtypes (HTLCs, key versions, secrets) at once and field by
// field, and fails t unless both give the same error or the same message
// and length.
func decodeFlatBothWays(t testing.TB, raw []byte) {
	t.Helper()
	m, n, err := DecodePrefix(raw)
	slow, slowN, slowErr := decodePrefix(raw, decodeOptions{fieldByField: true})
	switch {
	case (err == nil) != (slowErr == nil) || (err != nil && err.Error() != slowErr.Error()):
		t.Fatalf("reading subtypes at once changes the result:\nat once:        %v\nfield by field: %v\n%x", err, slowErr, raw)
	case err == nil && (n != slowN || !reflect.DeepEqual(m, slow)):
		t.Fatalf("%s: reading subtypes at once changes the message (%d, %d bytes)\n%#v\n%#v", m.MsgName(), n, slowN, m, slow)
	}
}

// TestFlatDecode: on every vector message, and on each single-byte change
// and truncation of those with a fixed-size subtype (an HTLC's side set to
// 2, a secret cut short, …), both ways of reading agree. Generated
// messages of every type are mutated too, for the subtypes no vector
// carries (an init's dev_force_channel_secrets).
func TestFlatDecode(t *testing.T) {
	t.Parallel() // the two ways of decoding are per call: nothing global changes
	mutateAll := func(raw []byte) {
		for i := 2; i < len(raw); i++ {
			decodeFlatBothWays(t, raw[:i])
			for _, b := range []byte{0, 1, 2, 0xff, raw[i] ^ 0x80} {
				mut := append([]byte(nil), raw...)
				mut[i] = b
				decodeFlatBothWays(t, mut)
			}
		}
	}
	perType := map[uint16]int{}
	for _, raw := range vectorMessages(t) {
		decodeFlatBothWays(t, raw)
		m, err := Decode(raw)
		if err != nil || !hasFlatSubtype(reflect.ValueOf(m)) || perType[m.MsgType()] >= 2 {
			continue
		}
		perType[m.MsgType()]++
		mutateAll(raw)
	}
	g := gen{rand.New(rand.NewSource(21))}
	withSecrets := false
	for _, typ := range MessageTypes() {
		for range 3 {
			m, _ := NewMessage(typ)
			g.fill(t, reflect.ValueOf(m).Elem())
			if in, ok := m.(*Init); ok {
				in.DevForceChannelSecrets = new(Secrets)
				g.fill(t, reflect.ValueOf(in.DevForceChannelSecrets).Elem())
				withSecrets = true
			}
			if hasFlatSubtype(reflect.ValueOf(m)) {
				perType[typ]++
				mutateAll(m.Encode())
			}
		}
	}
	if !withSecrets || perType[TypeSignRemoteCommitmentTx] == 0 {
		t.Fatalf("the messages mutated lack HTLCs or secrets: %v", perType)
	}
	t.Logf("messages mutated, by type: %v", perType)
}

// flatTypes are the types of flatSubtypes, the generator's list.
var flatTypes = func() map[reflect.Type]bool {
	m := map[reflect.Type]bool{}
	for _, z := range flatSubtypes {
		m[reflect.TypeOf(z)] = true
	}
	return m
}()

// hasFlatSubtype reports whether v holds a value of one of flatSubtypes.
func hasFlatSubtype(v reflect.Value) bool {
	return holds(v, func(s reflect.Value) (found, stop bool) {
		return flatTypes[s.Type()], flatTypes[s.Type()]
	})
}

func FuzzFlatDecode(f *testing.F) {
	for _, raw := range vectorMessages(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		decodeFlatBothWays(t, raw)
	})
}
