package signer_test

import (
	"context"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/policy"
)

// FuzzCommitmentChecks sends arbitrary sign_remote_commitment_tx,
// validate_commitment_tx and sign_remote_htlc_tx payloads to a channel that
// is set up and has signed commitments: the rebuild and the balance rules
// run on whatever decodes, and never panic (refusing is fine).
func FuzzCommitmentChecks(f *testing.F) {
	fx := newChanFixture(f, false)
	s0 := fx.remoteSpec(0, capSat*1000-pushMsat, pushMsat, 1000)
	s1 := fx.remoteSpec(1, capSat*1000-pushMsat, pushMsat-10_000_000, 1000, htlc(true, 10_000, 700))
	for _, s := range []policy.CommitmentSpec{s0, s1} {
		c, err := s.Build()
		if err != nil {
			f.Fatal(err)
		}
		btx := fx.bitcoinTx(f, c.Tx, nil, capSat, fx.fundPK)
		req := &hsmproto.SignRemoteCommitmentTx{Tx: btx, RemoteFundingKey: hsmproto.PubkeyFrom(fx.theirs.Funding),
			RemotePerCommit: hsmproto.PubkeyFrom(s.Point), OptionStaticRemotekey: true, CommitNum: s.Num, Feerate: s.FeeratePerKw}
		if s.Num == 1 {
			req.Htlcs = []hsmproto.HsmHtlc{{Side: hsmproto.Remote, Amount: 10_000_000, PaymentHash: s.HTLCs[0].PaymentHash, CltvExpiry: 700}}
			for i, o := range c.Outputs {
				if o.Kind == policy.OutputHTLC {
					tx, ws, _ := c.HTLCTx(i)
					f.Add(uint8(2), (&hsmproto.SignRemoteHtlcTx{Tx: fx.bitcoinTx(f, tx, [][]byte{ws}, c.Tx.TxOut[i].Value, c.Tx.TxOut[i].PkScript),
						Wscript: o.WitnessScript, RemotePerCommitPoint: hsmproto.PubkeyFrom(s.Point)}).Encode())
				}
			}
		}
		f.Add(uint8(0), req.Encode())
		f.Add(uint8(1), (&hsmproto.ValidateCommitmentTx{Tx: btx, CommitNum: s.Num, Feerate: s.FeeratePerKw, Sig: hsmproto.BitcoinSignature{SighashType: hsmproto.SighashAll}}).Encode())
	}
	types := []uint16{hsmproto.TypeSignRemoteCommitmentTx, hsmproto.TypeValidateCommitmentTx, hsmproto.TypeSignRemoteHtlcTx}
	f.Fuzz(func(t *testing.T, kind uint8, raw []byte) {
		if len(raw) < 2 {
			return
		}
		// The message type is one of the three; the payload is the fuzzer's.
		t16 := types[int(kind)%len(types)]
		raw = append([]byte{byte(t16 >> 8), byte(t16)}, raw[2:]...)
		_, _ = fx.e.Handle(context.Background(), fx.channeld, raw)
	})
}
