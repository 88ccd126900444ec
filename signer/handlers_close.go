package signer

import "gl-signerd/hsmproto"

// Spends of the funding output other than commitments: the cooperative
// close (closingd) and the splice transaction (channeld). Both use the
// client's channel and sign with the funding key, SIGHASH_ALL; hsmd checks
// nothing about the transaction (its FIXME: dust, fee range, balances,
// destination).

// handleSignMutualCloseTx is sign_mutual_close_tx: the funding signature
// on a cooperative close, input 0.
func (e *Engine) handleSignMutualCloseTx(c Client, req *hsmproto.SignMutualCloseTx) (hsmproto.Message, error) {
	t := req.MsgType()
	peer, dbid := clientChannel(c)
	sig, err := e.signFundingInput(t, peer, dbid, &req.Tx, 0, req.RemoteFundingKey)
	if err != nil {
		return nil, err
	}
	return &hsmproto.SignTxReply{Sig: sig}, nil
}

// handleSignSpliceTx is sign_splice_tx: the funding signature on the input
// of a splice transaction that spends the current funding output.
func (e *Engine) handleSignSpliceTx(c Client, req *hsmproto.SignSpliceTx) (hsmproto.Message, error) {
	t := req.MsgType()
	peer, dbid := clientChannel(c)
	in := int(req.InputIndex)
	if uint64(req.InputIndex) > uint64(maxInt) {
		in = maxInt
	}
	sig, err := e.signFundingInput(t, peer, dbid, &req.Tx, in, req.RemoteFundingKey)
	if err != nil {
		return nil, err
	}
	return &hsmproto.SignTxReply{Sig: sig}, nil
}

// maxInt bounds a wire index converted to int (on 32-bit platforms a u32
// may not fit); anything that large is out of range anyway.
const maxInt = int(^uint(0) >> 1)
