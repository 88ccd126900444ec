package signer_test

import (
	"reflect"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/replay"
)

// Every route names one of the three classes.
func TestEveryRouteHasAClass(t *testing.T) {
	classes := signer.Classes()
	if len(classes) == 0 {
		t.Fatal("no routes")
	}
	for mt, c := range classes {
		switch c {
		case signer.Public, signer.Signs, signer.Reveals:
		default:
			t.Errorf("%s (%d): route has no class (%v)", hsmproto.MessageName(mt), mt, c)
		}
	}
}

// A route's class agrees with what CLN's hsmd really answers to it: every
// reply in shared/vectors that carries a secret comes from a Reveals
// route, and every reply that carries a signature from a Signs route.
// The walk looks at values, so get_per_commitment_point's reply at wire
// version 5 (with the old secret) counts, and the same reply at 6 does
// not need to.
func TestClassesMatchReplies(t *testing.T) {
	lines, err := replay.ReadFile(sharedVectors(t, "public.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	classes := signer.Classes()
	seen := map[uint16]bool{}
	for _, l := range lines {
		if l.Response == nil || l.RequestType == nil {
			continue
		}
		mt := uint16(*l.RequestType)
		c, ok := classes[mt]
		if !ok {
			continue
		}
		reply, err := hsmproto.Decode(*l.Response)
		if err != nil {
			t.Fatalf("%s: hsmd's reply does not decode: %v", l.ID(), err)
		}
		seen[mt] = true
		secret, sig := holds(reflect.ValueOf(reply))
		if secret && c != signer.Reveals {
			t.Errorf("%s: %s's reply holds a secret, but its route's class is %v", l.ID(), hsmproto.MessageName(mt), c)
		}
		if sig && c != signer.Signs {
			t.Errorf("%s: %s's reply holds a signature, but its route's class is %v", l.ID(), hsmproto.MessageName(mt), c)
		}
	}
	for _, mt := range []uint16{hsmproto.TypeEcdhReq, hsmproto.TypeDeriveSecret, hsmproto.TypeGetPerCommitmentPoint,
		hsmproto.TypeRevokeCommitmentTx, hsmproto.TypeSignRemoteCommitmentTx} {
		if !seen[mt] {
			t.Errorf("the vectors hold no answered %s: the check above did not look at it", hsmproto.MessageName(mt))
		}
	}
}

var (
	secretTypes = []reflect.Type{reflect.TypeFor[hsmproto.Secret](), reflect.TypeFor[hsmproto.Privkey]()}
	sigTypes    = []reflect.Type{reflect.TypeFor[hsmproto.ECDSASignature](), reflect.TypeFor[hsmproto.RecoverableSignature](),
		reflect.TypeFor[hsmproto.BIP340Signature](), reflect.TypeFor[hsmproto.BitcoinSignature]()}
)

// holds reports whether v holds a non-nil secret or signature value,
// anywhere in its structs, pointers and slices.
func holds(v reflect.Value) (secret, sig bool) {
	for _, st := range secretTypes {
		if v.Type() == st {
			return true, false
		}
	}
	for _, st := range sigTypes {
		if v.Type() == st {
			return false, true
		}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return false, false
		}
		return holds(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			s, g := holds(v.Field(i))
			secret, sig = secret || s, sig || g
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return false, false
		}
		for i := range v.Len() {
			s, g := holds(v.Index(i))
			secret, sig = secret || s, sig || g
		}
	}
	return secret, sig
}
