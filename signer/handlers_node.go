package signer

import "gl-signerd/hsmproto"

// Handlers for lightningd's own requests, messages, invoices, gossip and
// channel set-up. TEMPORARY stubs: being replaced by the real handlers.

func (e *Engine) handleInit(c Client, req *hsmproto.Init) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleDeriveSecret(c Client, req *hsmproto.DeriveSecret) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleCheckPubkey(c Client, req *hsmproto.CheckPubkey) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleCheckBip86Pubkey(c Client, req *hsmproto.CheckBip86Pubkey) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleNewChannel(c Client, req *hsmproto.NewChannel) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleForgetChannel(c Client, req *hsmproto.ForgetChannel) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleGetChannelBasepoints(c Client, req *hsmproto.GetChannelBasepoints) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleGetOutputScriptpubkey(c Client, req *hsmproto.GetOutputScriptpubkey) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignMessage(c Client, req *hsmproto.SignMessage) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleBip137SignMessage(c Client, req *hsmproto.Bip137SignMessage) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignInvoice(c Client, req *hsmproto.SignInvoice) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignBolt12(c Client, req *hsmproto.SignBolt12) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignBolt12_2(c Client, req *hsmproto.SignBolt12_2) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handlePreapproveInvoice(c Client, req *hsmproto.PreapproveInvoice) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handlePreapproveInvoiceCheck(c Client, req *hsmproto.PreapproveInvoiceCheck) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handlePreapproveKeysend(c Client, req *hsmproto.PreapproveKeysend) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handlePreapproveKeysendCheck(c Client, req *hsmproto.PreapproveKeysendCheck) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleEcdh(c Client, req *hsmproto.EcdhReq) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleNodeAnnouncementSig(c Client, req *hsmproto.NodeAnnouncementSigReq) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleCannouncementSig(c Client, req *hsmproto.CannouncementSigReq) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleCupdateSig(c Client, req *hsmproto.CupdateSigReq) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignAnyCannouncement(c Client, req *hsmproto.SignAnyCannouncementReq) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSetupChannel(c Client, req *hsmproto.SetupChannel) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleGetPerCommitmentPoint(c Client, req *hsmproto.GetPerCommitmentPoint) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleCheckFutureSecret(c Client, req *hsmproto.CheckFutureSecret) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleCheckOutpoint(c Client, req *hsmproto.CheckOutpoint) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleLockOutpoint(c Client, req *hsmproto.LockOutpoint) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignOptionWillFundOffer(c Client, req *hsmproto.SignOptionWillFundOffer) (hsmproto.Message, error) {
	return nil, errNotImplemented
}
