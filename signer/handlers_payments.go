package signer

import (
	"gl-signerd/hsmproto"
	"gl-signerd/signer/policy"
)

// Messages, invoices, offers and payments: lightningd's signmessage,
// BIP137 signatures, BOLT 11 invoices, BOLT 12 signatures and the
// preapprove requests it makes before paying.

// handleSignMessage is sign_message: a recoverable node-key signature of
// SHA256d("Lightning Signed Message:" ‖ msg).
func (e *Engine) handleSignMessage(c Client, req *hsmproto.SignMessage) (hsmproto.Message, error) {
	sig, err := e.ring.SignLightningMessage(req.Msg)
	if err != nil {
		return nil, keyFailure(req.MsgType(), err)
	}
	return &hsmproto.SignMessageReply{Sig: hsmproto.RecoverableSignature(sig)}, nil
}

// handleBip137SignMessage is bip137_sign_message: a recoverable signature
// of the BIP137 message hash with wallet key keyidx (BIP86 for 64-byte
// seeds, m/0/0/keyidx otherwise). A hardened index makes CLN's hsmd exit.
func (e *Engine) handleBip137SignMessage(c Client, req *hsmproto.Bip137SignMessage) (hsmproto.Message, error) {
	if req.Keyidx >= 1<<31 {
		return nil, statusFailed(req.MsgType(), "Index %d too great", req.Keyidx)
	}
	sig, err := e.ring.SignBIP137Message(req.Msg, req.Keyidx)
	if err != nil {
		return nil, keyFailure(req.MsgType(), err)
	}
	return &hsmproto.Bip137SignMessageReply{Sig: hsmproto.RecoverableSignature(sig)}, nil
}

// handleSignInvoice is sign_invoice: a recoverable node-key signature of
// the BOLT 11 hash of hrp and the 5-bit data. hsmd does not look at the
// invoice; the policy checks that it is a BOLT 11 invoice of our network
// whose payee, if named, is us.
func (e *Engine) handleSignInvoice(c Client, req *hsmproto.SignInvoice) (hsmproto.Message, error) {
	if err := e.checkPolicy(c, req.MsgType(), e.withNetwork(func(n policy.Network) *policy.Violation {
		return policy.CheckInvoice(req.Hrp, req.U5bytes, n, e.ring.NodeID())
	})); err != nil {
		return nil, err
	}
	sig, err := e.ring.SignInvoice(req.Hrp, req.U5bytes)
	if err != nil {
		return nil, keyFailure(req.MsgType(), err)
	}
	return &hsmproto.SignInvoiceReply{Sig: hsmproto.RecoverableSignature(sig)}, nil
}

// handleSignBolt12 is sign_bolt12: a BIP340 signature of the BOLT 12
// sighash, with the node key, or with the bolt12 base key tweaked by
// publictweak when one is given (payer ids).
func (e *Engine) handleSignBolt12(c Client, req *hsmproto.SignBolt12) (hsmproto.Message, error) {
	sig, err := e.ring.SignBolt12(req.Messagename, req.Fieldname, req.Merkleroot, req.Publictweak)
	if err != nil {
		return nil, keyFailure(req.MsgType(), err)
	}
	return &hsmproto.SignBolt12Reply{Sig: hsmproto.BIP340Signature(sig)}, nil
}

// handleSignBolt12_2 is sign_bolt12_2: a BIP340 signature of the BOLT 12
// sighash with the node key, tweaked (when publictweak is not empty) by
// SHA256(derive_secret(info) ‖ publictweak).
func (e *Engine) handleSignBolt12_2(c Client, req *hsmproto.SignBolt12_2) (hsmproto.Message, error) {
	sig, err := e.ring.SignBolt12V2(req.Messagename, req.Fieldname, req.Merkleroot, req.Info, req.Publictweak)
	if err != nil {
		return nil, keyFailure(req.MsgType(), err)
	}
	return &hsmproto.SignBolt12_2Reply{Sig: hsmproto.BIP340Signature(sig)}, nil
}

// The preapprove requests always approve, as CLN's hsmd does; a policy
// layer will decide here. CLN answers both forms of each request with the
// reply of the plain form (type 138 for invoices, 139 for keysend), even
// for the _check forms whose own reply types (151, 152) it never sends.

// handlePreapproveInvoice is preapprove_invoice.
func (e *Engine) handlePreapproveInvoice(c Client, req *hsmproto.PreapproveInvoice) (hsmproto.Message, error) {
	return &hsmproto.PreapproveInvoiceReply{Approved: true}, nil
}

// handlePreapproveInvoiceCheck is preapprove_invoice_check; the reply is
// preapprove_invoice_reply.
func (e *Engine) handlePreapproveInvoiceCheck(c Client, req *hsmproto.PreapproveInvoiceCheck) (hsmproto.Message, error) {
	return &hsmproto.PreapproveInvoiceReply{Approved: true}, nil
}

// handlePreapproveKeysend is preapprove_keysend.
func (e *Engine) handlePreapproveKeysend(c Client, req *hsmproto.PreapproveKeysend) (hsmproto.Message, error) {
	return &hsmproto.PreapproveKeysendReply{Approved: true}, nil
}

// handlePreapproveKeysendCheck is preapprove_keysend_check; the reply is
// preapprove_keysend_reply.
func (e *Engine) handlePreapproveKeysendCheck(c Client, req *hsmproto.PreapproveKeysendCheck) (hsmproto.Message, error) {
	return &hsmproto.PreapproveKeysendReply{Approved: true}, nil
}
