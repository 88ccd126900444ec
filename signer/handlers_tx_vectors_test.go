package signer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"gl-signerd/hsmproto"
)

// The transaction handlers replayed against CLN's own answers: every line
// of shared/vectors/public.jsonl whose request is one of them, and every
// accept line of the policy vectors, must get hsmd's reply byte for byte;
// every request hsmd refused must be refused, with Fatal where hsmd died.
//
// (signer/replay replays whole files; this table stays local to the
// handlers so that a failure names the handler at fault.)

// txRequestTypes are the requests the transaction handlers answer.
var txRequestTypes = map[uint16]bool{
	hsmproto.TypeSignRemoteCommitmentTx:    true,
	hsmproto.TypeSignRemoteHtlcTx:          true,
	hsmproto.TypeValidateCommitmentTx:      true,
	hsmproto.TypeValidateRevocation:        true,
	hsmproto.TypeRevokeCommitmentTx:        true,
	hsmproto.TypeSignCommitmentTx:          true,
	hsmproto.TypeSignMutualCloseTx:         true,
	hsmproto.TypeSignSpliceTx:              true,
	hsmproto.TypeSignWithdrawal:            true,
	hsmproto.TypeSignDelayedPaymentToUs:    true,
	hsmproto.TypeSignRemoteHtlcToUs:        true,
	hsmproto.TypeSignPenaltyToUs:           true,
	hsmproto.TypeSignAnyDelayedPaymentToUs: true,
	hsmproto.TypeSignAnyRemoteHtlcToUs:     true,
	hsmproto.TypeSignAnyPenaltyToUs:        true,
	hsmproto.TypeSignAnyLocalHtlcTx:        true,
	hsmproto.TypeSignAnchorspend:           true,
	hsmproto.TypeSignHtlcTxMingle:          true,
}

// txVector is one vector line, as much of it as these tests need.
type txVector struct {
	file     string
	line     int
	Name     string `json:"name"`
	Scenario string `json:"scenario"`
	Seq      int    `json:"seq"`
	Secret   string `json:"secret"`
	Network  string `json:"network"`
	Versions []int  `json:"hsm_versions"`
	Context  *struct {
		PeerID       string `json:"peer_id"`
		DBID         uint64 `json:"dbid"`
		Capabilities uint64 `json:"capabilities"`
	} `json:"context"`
	RequestType *int    `json:"request_type"`
	Request     string  `json:"request"`
	Response    *string `json:"response"`
	HsmdExited  *bool   `json:"hsmd_exited"`
	Expect      string  `json:"expect"`
}

func (v *txVector) where() string {
	return fmt.Sprintf("%s:%d %s #%d %q", filepath.Base(v.file), v.line, v.Scenario, v.Seq, v.Name)
}

func (v *txVector) client(t testing.TB) Client {
	if v.Context == nil {
		return MasterClient
	}
	c := Client{DBID: v.Context.DBID, Capabilities: v.Context.Capabilities}
	copy(c.PeerID[:], mustHex(t, v.Context.PeerID))
	return c
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sharedVectors reads a vector file under shared/ (next to the repository),
// skipping the test when shared/ is not there.
func sharedVectors(t testing.TB, rel string) []*txVector {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "vectors", filepath.FromSlash(rel))
	f, err := os.Open(p)
	if err != nil {
		t.Skipf("skipping: %v (shared/ is expected next to the repository)", err)
	}
	defer f.Close()
	var out []*txVector
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for n := 1; sc.Scan(); n++ {
		v := &txVector{file: p, line: n}
		if err := json.Unmarshal(sc.Bytes(), v); err != nil {
			t.Fatalf("%s:%d: %v", p, n, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (v *txVector) isTx() bool {
	return v.RequestType != nil && *v.RequestType >= 0 && *v.RequestType <= 0xffff && txRequestTypes[uint16(*v.RequestType)]
}

// replayTxVectors replays the transaction lines of vs, one engine per
// signer instance (secret, network, versions), each scenario in seq order,
// and reports every mismatch. With policy set, only the lines whose expect
// is "accept" are replayed (the policy vectors' reject lines are the
// policy layer's).
func replayTxVectors(t *testing.T, vs []*txVector, policy bool) (total, matched, refused int) {
	t.Helper()
	type instance struct {
		e     *Engine
		lines []*txVector
	}
	instances := map[string]*instance{}
	var order []string
	for _, v := range vs {
		k := fmt.Sprint(v.Secret, v.Network, v.Versions)
		in := instances[k]
		if in == nil {
			e, err := NewEngine(mustHex(t, v.Secret))
			if err != nil {
				t.Fatal(err)
			}
			in = &instance{e: e}
			instances[k] = in
			order = append(order, k)
		}
		in.lines = append(in.lines, v)
	}
	for _, k := range order {
		in := instances[k]
		// Scenarios in the order they appear, each in seq order.
		first := map[string]int{}
		for i, v := range in.lines {
			if _, ok := first[v.Scenario]; !ok {
				first[v.Scenario] = i
			}
		}
		sort.SliceStable(in.lines, func(i, j int) bool {
			a, b := in.lines[i], in.lines[j]
			if first[a.Scenario] != first[b.Scenario] {
				return first[a.Scenario] < first[b.Scenario]
			}
			return a.Seq < b.Seq
		})
		for _, v := range in.lines {
			if !v.isTx() || (policy && v.Expect != "accept") {
				continue
			}
			total++
			got, err := in.e.Handle(context.Background(), v.client(t), mustHex(t, v.Request))
			switch {
			case v.Response == nil:
				var re *RefusalError
				if !errors.As(err, &re) {
					t.Errorf("%s: hsmd refused it; got reply %x, error %v", v.where(), got, err)
					continue
				}
				if v.HsmdExited != nil && re.Fatal != *v.HsmdExited {
					t.Errorf("%s: refused (%v) with Fatal %v; hsmd exited: %v", v.where(), re, re.Fatal, *v.HsmdExited)
					continue
				}
				refused++
			case err != nil:
				t.Errorf("%s: %v", v.where(), err)
			case !bytes.Equal(got, mustHex(t, *v.Response)):
				t.Errorf("%s:\n got %x\nwant %s", v.where(), got, *v.Response)
			default:
				matched++
			}
		}
	}
	return total, matched, refused
}

func TestTxHandlersPublicVectors(t *testing.T) {
	vs := sharedVectors(t, "public.jsonl")
	total, matched, refused := replayTxVectors(t, vs, false)
	t.Logf("public.jsonl: %d transaction lines: %d replies byte-identical, %d refused as hsmd refused them", total, matched, refused)
	if total == 0 || refused == 0 {
		t.Errorf("%d transaction lines, %d of them refusals: not the vectors expected", total, refused)
	}
}

func TestTxHandlersPolicyAcceptVectors(t *testing.T) {
	for _, f := range []string{"policy/benign.jsonl", "policy/attacks.jsonl"} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			total, matched, _ := replayTxVectors(t, sharedVectors(t, f), true)
			t.Logf("%s: %d accept lines, %d replies byte-identical", f, total, matched)
			if total == 0 {
				t.Error("no transaction accept lines")
			}
		})
	}
}
