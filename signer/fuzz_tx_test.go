package signer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"gl-signerd/hsmproto"
)

// FuzzTxHandlers sends arbitrary transaction requests — seeded with every
// transaction request of the vectors and synthetic wallet PSBTs — from
// lightningd (fromMaster) or from a channeld-like client with every
// per-channel capability. Whatever the PSBT or transaction holds (missing
// UTXOs, out-of-range indexes, odd scripts and sighash types), the engine
// must answer with a reply that decodes, or refuse with a *RefusalError;
// it must never panic.
func FuzzTxHandlers(f *testing.F) {
	for _, raw := range txFuzzSeeds(f) {
		f.Add(raw, true)
		f.Add(raw, false)
	}
	e, err := NewEngine(bytes.Repeat([]byte{0x01}, 32))
	if err != nil {
		f.Fatal(err)
	}
	channel := Client{PeerID: txPeer, DBID: 3, Capabilities: CapSignGossip | CapECDH | CapCommitmentPoint |
		CapSignRemoteTx | CapSignOnchainTx | CapSignClosingTx | CapSignSpliceTx | CapLockOutpoint}
	f.Fuzz(func(t *testing.T, raw []byte, fromMaster bool) {
		c := channel
		if fromMaster {
			c = MasterClient
		}
		reply, err := e.Handle(context.Background(), c, raw)
		if err != nil {
			var re *RefusalError
			if !errors.As(err, &re) {
				t.Fatalf("error is not a refusal: %v", err)
			}
			return
		}
		m, err := hsmproto.Decode(reply)
		if err != nil {
			t.Fatalf("reply %x does not decode: %v", reply, err)
		}
		req, _ := hsmproto.Decode(raw)
		if w, ok := req.(*hsmproto.SignWithdrawal); ok && w.Psbt != nil {
			// Signing adds fields; it never changes the transaction.
			got := m.(*hsmproto.SignWithdrawalReply).Psbt.UnsignedTx
			if got.TxHash() != w.Psbt.UnsignedTx.TxHash() {
				t.Fatalf("the signed PSBT's transaction changed")
			}
		}
	})
}

// txFuzzSeeds are the transaction requests of the vectors (when shared/ is
// there) and a few synthetic withdrawals.
func txFuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, rel := range []string{"public.jsonl", "policy/benign.jsonl"} {
		seeds = append(seeds, vectorTxRequests(f, filepath.Join("..", "..", "shared", "vectors", filepath.FromSlash(rel)))...)
	}
	e, err := NewEngine(bytes.Repeat([]byte{0x01}, 32))
	if err != nil {
		f.Fatal(err)
	}
	for _, ins := range [][]walletInput{
		{{1, false, 10_000}},
		{{2, true, 20_000}, {3, false, 30_000}},
	} {
		req := withdrawal(f, e, ins)
		seeds = append(seeds, req.Encode())
		req.Psbt.Inputs[0].SighashType = 0x83
		seeds = append(seeds, req.Encode())
	}
	return seeds
}

// vectorTxRequests reads the transaction requests of a vector file (none if
// the file is not there). (signer/replay reads vector files properly, but
// it imports this package.)
func vectorTxRequests(f *testing.F, path string) [][]byte {
	file, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer file.Close()
	var out [][]byte
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var v struct {
			Type    *int   `json:"request_type"`
			Request string `json:"request"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			f.Fatalf("%s: %v", path, err)
		}
		if v.Type == nil || *v.Type < 0 || *v.Type > 0xffff || !isTxRoute(uint16(*v.Type)) {
			continue
		}
		raw, err := hex.DecodeString(v.Request)
		if err != nil {
			f.Fatalf("%s: %v", path, err)
		}
		out = append(out, raw)
	}
	if err := sc.Err(); err != nil {
		f.Fatal(err)
	}
	return out
}

// isTxRoute reports whether t is answered by a transaction handler.
func isTxRoute(t uint16) bool {
	switch t {
	case hsmproto.TypeSignRemoteCommitmentTx, hsmproto.TypeSignRemoteHtlcTx, hsmproto.TypeValidateCommitmentTx,
		hsmproto.TypeValidateRevocation, hsmproto.TypeRevokeCommitmentTx, hsmproto.TypeSignCommitmentTx,
		hsmproto.TypeSignMutualCloseTx, hsmproto.TypeSignSpliceTx, hsmproto.TypeSignWithdrawal,
		hsmproto.TypeSignDelayedPaymentToUs, hsmproto.TypeSignRemoteHtlcToUs, hsmproto.TypeSignPenaltyToUs,
		hsmproto.TypeSignAnyDelayedPaymentToUs, hsmproto.TypeSignAnyRemoteHtlcToUs, hsmproto.TypeSignAnyPenaltyToUs,
		hsmproto.TypeSignAnyLocalHtlcTx, hsmproto.TypeSignAnchorspend, hsmproto.TypeSignHtlcTxMingle:
		return true
	}
	return false
}
