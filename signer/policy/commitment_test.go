package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"gl-signerd/internal/sharedfiles"
)

const bolt3Vectors = "../../../shared/reference/bolts/bolt03-test-vectors.md"

func mustKey(t testing.TB, h string) *btcec.PublicKey {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	k, err := btcec.ParsePubKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustTx(t testing.TB, h string) *wire.MsgTx {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	tx := wire.NewMsgTx(2)
	if err := tx.Deserialize(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return tx
}

// bolt3HTLCs are Appendix C's HTLCs 0..6 (preimage i repeated, except 6
// which shares 5's).
func bolt3HTLCs() []CommitmentHTLC {
	amounts := []uint64{1000000, 2000000, 2000000, 3000000, 4000000, 5000000, 5000001}
	cltvs := []uint32{500, 501, 502, 503, 504, 506, 505}
	offered := []bool{false, false, true, true, false, true, true}
	var hs []CommitmentHTLC
	for i := range amounts {
		pre := bytes.Repeat([]byte{byte(min(i, 5))}, 32)
		hs = append(hs, CommitmentHTLC{OfferedByOwner: offered[i], AmountMsat: amounts[i], PaymentHash: sha256.Sum256(pre), CltvExpiry: cltvs[i]})
	}
	return hs
}

// bolt3Spec is Appendix C's channel: local funds, static to_remote key,
// commitment 42.
func bolt3Spec(t testing.TB) CommitmentSpec {
	txid, err := chainhash.NewHashFromStr("8984484a580b825b9972d7adb15050b3ab624ccd731946b3eeddb92f4e7ef6be")
	if err != nil {
		t.Fatal(err)
	}
	return CommitmentSpec{
		FundingOutpoint: wire.OutPoint{Hash: *txid, Index: 0},
		FundingSat:      10_000_000,
		Owner: Basepoints{
			Funding:        mustKey(t, "023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb"),
			Payment:        mustKey(t, "034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa"),
			HTLC:           mustKey(t, "034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa"),
			DelayedPayment: mustKey(t, "023c72addb4fdf09af94f0c94d7fe92a386a7e70cf8a1d85916386bb2535c7b1b1"),
		},
		Other: Basepoints{
			Funding:    mustKey(t, "030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c1"),
			Payment:    mustKey(t, "032c0b7cf95324a07d05398b240174dc0c2be444d96b159aa6c7f7b1e668680991"),
			HTLC:       mustKey(t, "032c0b7cf95324a07d05398b240174dc0c2be444d96b159aa6c7f7b1e668680991"),
			Revocation: mustKey(t, "02466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f27"),
		},
		OwnerFunds:      true,
		Point:           mustKey(t, "025f7117a78150fe2ef97db7cfc83bd57b2e2c0d0dd25eaf467a4a1c2a45ce1486"),
		Num:             42,
		ToSelfDelay:     144,
		StaticRemoteKey: true,
		DustLimitSat:    546,
	}
}

// bolt3Case is one commitment test vector: the spec's variable part and
// the expected commitment and HTLC transactions (output order).
type bolt3Case struct {
	name      string
	ownerMsat uint64
	otherMsat uint64
	feerate   uint32
	dust      uint64
	anchors   bool
	htlcs     []int
	commitTx  string
	htlcTxs   []string
}

func htlcSetFor(name string, none bool) []int {
	switch {
	case strings.Contains(name, "same amount and preimage"):
		return []int{1, 5, 6}
	case none:
		return nil
	}
	return []int{0, 1, 2, 3, 4}
}

// readBolt3 reads Appendix C (key: value lines) and Appendix F (JSON).
func readBolt3(t *testing.T) []bolt3Case {
	b, err := os.ReadFile(bolt3Vectors)
	if err != nil {
		sharedfiles.Missing(t, "%s not found (shared/ is expected next to the repository): %v", bolt3Vectors, err)
	}
	text := string(b)
	appC, rest, _ := strings.Cut(text, "# Appendix D")
	_, appC, _ = strings.Cut(appC, "# Appendix C")
	var cases []bolt3Case
	var cur *bolt3Case
	for _, line := range strings.Split(appC, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			continue
		}
		switch {
		case k == "name":
			cases = append(cases, bolt3Case{name: v, dust: 546})
			cur = &cases[len(cases)-1]
			cur.htlcs = htlcSetFor(v, len(cases) == 1)
		case cur == nil:
		case k == "to_local_msat":
			cur.ownerMsat, _ = strconv.ParseUint(v, 10, 64)
		case k == "to_remote_msat":
			cur.otherMsat, _ = strconv.ParseUint(v, 10, 64)
		case k == "local_feerate_per_kw":
			f, _ := strconv.ParseUint(v, 10, 32)
			cur.feerate = uint32(f)
		case k == "output commit_tx":
			cur.commitTx = v
		case strings.HasPrefix(k, "htlc_success_tx") || strings.HasPrefix(k, "htlc_timeout_tx"):
			cur.htlcTxs = append(cur.htlcTxs, v)
		}
	}
	_, appF, ok := strings.Cut(rest, "# Appendix F")
	if !ok {
		t.Fatal("no Appendix F (anchors) in the BOLT 3 vectors")
	}
	_, appF, _ = strings.Cut(appF, "```yaml")
	appF, _, _ = strings.Cut(appF, "```")
	var f []struct {
		Name                        string
		LocalBalance, RemoteBalance uint64
		DustLimitSatoshis           uint64
		FeePerKw                    uint32
		UseTestHtlcs                bool
		HtlcDescs                   []struct{ ResolutionTxHex string }
		ExpectedCommitmentTxHex     string
	}
	if err := json.Unmarshal([]byte(appF), &f); err != nil {
		t.Fatalf("Appendix F: %v", err)
	}
	for _, c := range f {
		bc := bolt3Case{name: "anchors: " + c.Name, ownerMsat: c.LocalBalance, otherMsat: c.RemoteBalance, feerate: c.FeePerKw,
			dust: c.DustLimitSatoshis, anchors: true, htlcs: htlcSetFor(c.Name, !c.UseTestHtlcs), commitTx: c.ExpectedCommitmentTxHex}
		for _, h := range c.HtlcDescs {
			bc.htlcTxs = append(bc.htlcTxs, h.ResolutionTxHex)
		}
		cases = append(cases, bc)
	}
	return cases
}

// The rebuild against BOLT 3's own vectors: every commitment (Appendix C,
// and Appendix F with zero-fee anchors) and every HTLC transaction, byte
// for byte without witnesses.
func TestCommitmentMatchesBOLT3Vectors(t *testing.T) {
	cases := readBolt3(t)
	if len(cases) < 20 {
		t.Fatalf("read %d BOLT 3 commitment vectors, want the 24 of Appendices C and F", len(cases))
	}
	all := bolt3HTLCs()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := bolt3Spec(t)
			s.OwnerMsat, s.OtherMsat, s.FeeratePerKw, s.DustLimitSat = c.ownerMsat, c.otherMsat, c.feerate, c.dust
			s.Anchors, s.ZeroFeeAnchors = c.anchors, c.anchors
			for _, i := range c.htlcs {
				s.HTLCs = append(s.HTLCs, all[i])
			}
			built, err := s.Build()
			if err != nil {
				t.Fatal(err)
			}
			want := serializeNoWitness(mustTx(t, c.commitTx))
			if got := serializeNoWitness(built.Tx); !bytes.Equal(got, want) {
				t.Fatalf("commitment:\n got %x\nwant %x", got, want)
			}
			var htlcOuts []int
			for i, o := range built.Outputs {
				if o.Kind == OutputHTLC {
					htlcOuts = append(htlcOuts, i)
				}
			}
			if len(htlcOuts) != len(c.htlcTxs) {
				t.Fatalf("%d HTLC outputs, the vector has %d HTLC transactions", len(htlcOuts), len(c.htlcTxs))
			}
			for j, i := range htlcOuts {
				tx, _, err := built.HTLCTx(i)
				if err != nil {
					t.Fatal(err)
				}
				want := serializeNoWitness(mustTx(t, c.htlcTxs[j]))
				if got := serializeNoWitness(tx); !bytes.Equal(got, want) {
					t.Errorf("HTLC tx of output %d:\n got %x\nwant %x", i, got, want)
				}
			}
		})
	}
}
