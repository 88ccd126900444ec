package keys

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

func readBOLT3(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(sharedPath(t, "reference/bolts/bolt03-test-vectors.md"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bolt3Value finds "name: value" (or "name = value") in the document and
// returns the value's first field.
func bolt3Value(t testing.TB, doc []byte, name string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*(?:#\s*)?(?:INTERNAL:\s*)?` + regexp.QuoteMeta(name) + `\s*[:=]\s*(\S+)`)
	m := re.FindSubmatch(doc)
	if m == nil {
		t.Fatalf("%q not found in bolt03-test-vectors.md", name)
	}
	return strings.TrimPrefix(string(m[1]), "0x")
}

// bolt3PrivKey reads a private key, which the document writes with Bitcoin's
// trailing 01 "compressed" marker.
func bolt3PrivKey(t testing.TB, doc []byte, name string) *PrivateKey {
	t.Helper()
	s := bolt3Value(t, doc, name)
	if len(s) == 66 {
		s = strings.TrimSuffix(s, "01")
	}
	k, err := PrivKeyFromBytes(unhex(t, s))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return k
}

func bolt3PubKey(t testing.TB, doc []byte, name string) *btcec.PublicKey {
	t.Helper()
	p, err := btcec.ParsePubKey(unhex(t, bolt3Value(t, doc, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// Appendix E: key derivation.
func TestKeyDerivationBOLT3(t *testing.T) {
	doc := readBOLT3(t)
	base, err := PrivKeyFromBytes(unhex(t, bolt3Value(t, doc, "base_secret")))
	if err != nil {
		t.Fatal(err)
	}
	pcs := Secret(unhex32(t, bolt3Value(t, doc, "per_commitment_secret")))
	basepoint := bolt3PubKey(t, doc, "base_point")
	pcp := bolt3PubKey(t, doc, "per_commitment_point")

	if !base.PubKey().IsEqual(basepoint) {
		t.Fatalf("base_secret·G != base_point")
	}
	pcsKey, _ := PrivKeyFromBytes(pcs[:])
	if !pcsKey.PubKey().IsEqual(pcp) {
		t.Fatalf("per_commitment_secret·G != per_commitment_point")
	}

	t.Run("localpubkey", func(t *testing.T) {
		got, err := DeriveSimplePubKey(basepoint, pcp)
		if err != nil {
			t.Fatal(err)
		}
		if want := bolt3PubKey(t, doc, "localpubkey"); !got.IsEqual(want) {
			t.Errorf("got %x, want %x", got.SerializeCompressed(), want.SerializeCompressed())
		}
	})
	t.Run("localprivkey", func(t *testing.T) {
		got, err := DeriveSimplePrivKey(base, pcp)
		if err != nil {
			t.Fatal(err)
		}
		want := unhex32(t, bolt3Value(t, doc, "localprivkey"))
		if got.k.Key.Bytes() != want {
			t.Errorf("wrong private key")
		}
	})
	t.Run("revocationpubkey", func(t *testing.T) {
		got, err := DeriveRevocationPubKey(basepoint, pcp)
		if err != nil {
			t.Fatal(err)
		}
		if want := bolt3PubKey(t, doc, "revocationpubkey"); !got.IsEqual(want) {
			t.Errorf("got %x, want %x", got.SerializeCompressed(), want.SerializeCompressed())
		}
	})
	t.Run("revocationprivkey", func(t *testing.T) {
		got, err := DeriveRevocationPrivKey(base, pcs)
		if err != nil {
			t.Fatal(err)
		}
		want := unhex32(t, bolt3Value(t, doc, "revocationprivkey"))
		if got.k.Key.Bytes() != want {
			t.Errorf("wrong private key")
		}
		rp, _ := DeriveRevocationPubKey(basepoint, pcp)
		if !got.PubKey().IsEqual(rp) {
			t.Errorf("revocation private and public keys disagree")
		}
	})
}

// Appendix C states the keys it signs with and how they were derived.
func TestAppendixCKeys(t *testing.T) {
	doc := readBOLT3(t)
	pcs := Secret(unhex32(t, strings.TrimSuffix(bolt3Value(t, doc, "x_local_per_commitment_secret"), "01")))
	pcsKey, _ := PrivKeyFromBytes(pcs[:])
	pcp := bolt3PubKey(t, doc, "local_per_commitment_point")
	if !pcsKey.PubKey().IsEqual(pcp) {
		t.Fatalf("local_per_commitment_point")
	}
	localPayment := bolt3PrivKey(t, doc, "local_payment_basepoint_secret")
	remotePayment := bolt3PrivKey(t, doc, "remote_payment_basepoint_secret")
	remoteRevocation := bolt3PrivKey(t, doc, "remote_revocation_basepoint_secret")
	localDelayed := bolt3PrivKey(t, doc, "local_delayed_payment_basepoint_secret")

	check := func(name string, got *PrivateKey, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := bolt3PrivKey(t, doc, name); got.k.Key.Bytes() != want.k.Key.Bytes() {
			t.Errorf("%s: wrong key", name)
		}
	}
	k, err := DeriveSimplePrivKey(localPayment, pcp)
	check("local_privkey", k, err)
	k, err = DeriveSimplePrivKey(remotePayment, pcp)
	check("remote_privkey", k, err)
	k, err = DeriveSimplePrivKey(localDelayed, pcp)
	check("local_delayed_privkey", k, err)

	rev, err := DeriveRevocationPubKey(remoteRevocation.PubKey(), pcp)
	if err != nil {
		t.Fatal(err)
	}
	if want := bolt3PubKey(t, doc, "local_revocation_pubkey"); !rev.IsEqual(want) {
		t.Errorf("local_revocation_pubkey %x, want %x", rev.SerializeCompressed(), want.SerializeCompressed())
	}
	dk, err := DeriveSimplePubKey(localDelayed.PubKey(), pcp)
	if err != nil {
		t.Fatal(err)
	}
	if want := bolt3PubKey(t, doc, "local_delayedpubkey"); !dk.IsEqual(want) {
		t.Errorf("local_delayedpubkey")
	}
}

// bolt3Signers are Appendix C's signing keys.
type bolt3Signers struct {
	localFunding, remoteFunding, localHTLC, remoteHTLC *PrivateKey
	fundingScript                                      []byte
	fundingAmount                                      int64
}

func readBolt3Signers(t *testing.T, doc []byte) bolt3Signers {
	amt, err := strconv.ParseInt(bolt3Value(t, doc, "funding_amount_satoshi"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return bolt3Signers{
		localFunding:  bolt3PrivKey(t, doc, "local_funding_privkey"),
		remoteFunding: bolt3PrivKey(t, doc, "remote_funding_privkey"),
		// The HTLC basepoints equal the payment basepoints in Appendix C,
		// so the htlc keys are local_privkey and remote_privkey.
		localHTLC:     bolt3PrivKey(t, doc, "local_privkey"),
		remoteHTLC:    bolt3PrivKey(t, doc, "remote_privkey"),
		fundingScript: unhex(t, bolt3Value(t, doc, "funding wscript")),
		fundingAmount: amt,
	}
}

func parseTx(t *testing.T, h string) *wire.MsgTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	if err := tx.Deserialize(bytes.NewReader(unhex(t, h))); err != nil {
		t.Fatalf("tx: %v", err)
	}
	return tx
}

// segwitSighash is BIP143's digest of input 0.
func segwitSighash(t *testing.T, tx *wire.MsgTx, script []byte, amount int64, hashType txscript.SigHashType) [32]byte {
	t.Helper()
	fetcher := txscript.NewCannedPrevOutputFetcher(nil, amount)
	h, err := txscript.CalcWitnessSigHash(script, txscript.NewTxSigHashes(tx, fetcher), hashType, tx, 0, amount)
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(h)
}

// checkSig signs digest with key (plain RFC6979: the spec's vectors are not
// ground) and compares with the DER signature want; it also checks that
// want+hashType is in the witness.
func checkSig(t *testing.T, what string, key *PrivateKey, digest [32]byte, want []byte, witness wire.TxWitness, hashType txscript.SigHashType) {
	t.Helper()
	got := key.SignRFC6979(digest).Serialize()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", what, got, want)
	}
	full := append(append([]byte{}, want...), byte(hashType))
	for _, item := range witness {
		if bytes.Equal(item, full) {
			return
		}
	}
	t.Errorf("%s: signature %x not in the witness", what, full)
}

// checkHTLCTx checks both signatures of a second-stage HTLC transaction
// spending commit: witness = 0, remote sig, local sig, preimage or 0, script.
func checkHTLCTx(t *testing.T, s bolt3Signers, commit, htlc *wire.MsgTx, remoteSig []byte) {
	t.Helper()
	prev := htlc.TxIn[0].PreviousOutPoint
	if prev.Hash != commit.TxHash() {
		t.Fatalf("HTLC tx does not spend the commitment tx")
	}
	amount := commit.TxOut[prev.Index].Value
	w := htlc.TxIn[0].Witness
	if len(w) != 5 {
		t.Fatalf("witness has %d items", len(w))
	}
	script := w[4]
	remoteType := txscript.SigHashType(w[1][len(w[1])-1])
	localType := txscript.SigHashType(w[2][len(w[2])-1])
	checkSig(t, "remote htlc signature", s.remoteHTLC, segwitSighash(t, htlc, script, amount, remoteType), remoteSig, w, remoteType)
	checkSig(t, "local htlc signature", s.localHTLC, segwitSighash(t, htlc, script, amount, localType), w[2][:len(w[2])-1], w, localType)
}

// Appendix C: every commitment and HTLC signature, re-made.
func TestCommitmentSignaturesAppendixC(t *testing.T) {
	doc := readBOLT3(t)
	start := bytes.Index(doc, []byte("# Appendix C"))
	end := bytes.Index(doc, []byte("# Appendix D"))
	if start < 0 || end < start {
		t.Fatal("Appendix C not found")
	}
	s := readBolt3Signers(t, doc)

	var (
		name                  string
		remoteSig, localSig   []byte
		commit                *wire.MsgTx
		nCommit, nHTLC        int
		htlcLine              = regexp.MustCompile(`^htlc_(success|timeout)_tx \(htlc #(\d+)\): ([0-9a-f]+)$`)
		remoteHTLCSig, htlcLS []byte
	)
	sc := bufio.NewScanner(bytes.NewReader(doc[start:end]))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "name: "):
			name = strings.TrimPrefix(line, "name: ")
		case strings.HasPrefix(line, "remote_signature = "):
			remoteSig = unhex(t, strings.TrimPrefix(line, "remote_signature = "))
		case strings.HasPrefix(line, "# local_signature = "):
			localSig = unhex(t, strings.TrimPrefix(line, "# local_signature = "))
		case strings.HasPrefix(line, "remote_htlc_signature = "):
			remoteHTLCSig = unhex(t, strings.TrimPrefix(line, "remote_htlc_signature = "))
		case strings.HasPrefix(line, "# local_htlc_signature = "):
			htlcLS = unhex(t, strings.TrimPrefix(line, "# local_htlc_signature = "))
		case strings.HasPrefix(line, "output commit_tx: "):
			commit = parseTx(t, strings.TrimPrefix(line, "output commit_tx: "))
			nCommit++
			t.Run(name, func(t *testing.T) {
				digest := segwitSighash(t, commit, s.fundingScript, s.fundingAmount, txscript.SigHashAll)
				w := commit.TxIn[0].Witness
				checkSig(t, "local signature", s.localFunding, digest, localSig, w, txscript.SigHashAll)
				checkSig(t, "remote signature", s.remoteFunding, digest, remoteSig, w, txscript.SigHashAll)
			})
		case htlcLine.MatchString(line):
			m := htlcLine.FindStringSubmatch(line)
			htlc := parseTx(t, m[3])
			nHTLC++
			t.Run(fmt.Sprintf("%s/htlc_%s_tx #%s", name, m[1], m[2]), func(t *testing.T) {
				checkHTLCTx(t, s, commit, htlc, remoteHTLCSig)
				// The document's local signature too.
				if w := htlc.TxIn[0].Witness; !bytes.Equal(w[2][:len(w[2])-1], htlcLS) {
					t.Errorf("local_htlc_signature comment disagrees with the witness")
				}
			})
		}
	}
	if nCommit < 10 || nHTLC < 20 {
		t.Fatalf("parsed only %d commitment and %d HTLC transactions", nCommit, nHTLC)
	}
}

// Appendix F: the anchors variant, where the remote HTLC signatures are
// SIGHASH_SINGLE|ANYONECANPAY.
func TestCommitmentSignaturesAppendixF(t *testing.T) {
	doc := readBOLT3(t)
	s := readBolt3Signers(t, doc)
	start := bytes.Index(doc, []byte("# Appendix F"))
	if start < 0 {
		t.Fatal("Appendix F not found")
	}
	body := doc[start:]
	open := bytes.Index(body, []byte("```yaml"))
	if open < 0 {
		t.Fatal("Appendix F vectors not found")
	}
	body = body[open+len("```yaml"):]
	body = body[:bytes.Index(body, []byte("```"))]
	var cases []struct {
		Name                    string
		ExpectedCommitmentTxHex string
		RemoteSigHex            string
		HtlcDescs               []struct {
			RemoteSigHex    string
			ResolutionTxHex string
		}
	}
	if err := json.Unmarshal(body, &cases); err != nil {
		t.Fatalf("Appendix F: %v", err)
	}
	if len(cases) < 5 {
		t.Fatalf("only %d Appendix F cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			commit := parseTx(t, c.ExpectedCommitmentTxHex)
			w := commit.TxIn[0].Witness
			digest := segwitSighash(t, commit, s.fundingScript, s.fundingAmount, txscript.SigHashAll)
			checkSig(t, "remote signature", s.remoteFunding, digest, unhex(t, c.RemoteSigHex), w, txscript.SigHashAll)
			local := s.localFunding.SignRFC6979(digest).Serialize()
			checkSig(t, "local signature", s.localFunding, digest, local, w, txscript.SigHashAll)
			for i, h := range c.HtlcDescs {
				t.Run(fmt.Sprint("htlc ", i), func(t *testing.T) {
					htlc := parseTx(t, h.ResolutionTxHex)
					checkHTLCTx(t, s, commit, htlc, unhex(t, h.RemoteSigHex))
					if typ := htlc.TxIn[0].Witness[1]; typ[len(typ)-1] != byte(txscript.SigHashSingle|txscript.SigHashAnyOneCanPay) {
						t.Errorf("remote HTLC signature type %#x", typ[len(typ)-1])
					}
				})
			}
		})
	}
}
