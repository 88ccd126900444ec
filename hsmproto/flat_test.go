package hsmproto

import (
	"math/rand"
	"os"
	"reflect"
	"regexp"
	"testing"
)

// decodeFlatBothWays decodes raw with the generated decoders reading
// fixed-size subtypes (HTLCs, key versions, secrets) at once and field by
// field, and fails t unless both give the same error or the same message
// and length.
func decodeFlatBothWays(t testing.TB, raw []byte) {
	t.Helper()
	m, n, err := DecodePrefix(raw)
	flatDecoding = false
	slow, slowN, slowErr := DecodePrefix(raw)
	flatDecoding = true
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

// flatSubtypes are the subtypes whose generated decoders read them at
// once (TestFlatSubtypesListed keeps the list in step with the generator).
var flatSubtypes = map[reflect.Type]bool{
	reflect.TypeFor[HsmHtlc]():         true,
	reflect.TypeFor[Bip32KeyVersion](): true,
	reflect.TypeFor[Secrets]():         true,
}

// hasFlatSubtype reports whether v holds a value of one of flatSubtypes.
func hasFlatSubtype(v reflect.Value) bool {
	return holds(v, func(s reflect.Value) (found, stop bool) {
		return flatSubtypes[s.Type()], flatSubtypes[s.Type()]
	})
}

// The generated decoders that begin with a peek are flatSubtypes'.
func TestFlatSubtypesListed(t *testing.T) {
	src, err := os.ReadFile("messages_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`func \(v \*(\w+)\) decode\(d \*decoder\) \{\n\tif b := d\.peek\(`)
	generated := map[string]bool{}
	for _, m := range re.FindAllSubmatch(src, -1) {
		generated[string(m[1])] = true
	}
	listed := map[string]bool{}
	for typ := range flatSubtypes {
		listed[typ.Name()] = true
	}
	if !reflect.DeepEqual(generated, listed) {
		t.Fatalf("subtypes read at once: generated %v, listed in flatSubtypes %v", generated, listed)
	}
}

func FuzzFlatDecode(f *testing.F) {
	for _, raw := range vectorMessages(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		decodeFlatBothWays(t, raw)
	})
}
