package signer

import "gl-signerd/hsmproto"

// Handlers that sign transactions: commitments, HTLCs, closes, splices,
// the wallet and on-chain sweeps. TEMPORARY stubs: being replaced.

func (e *Engine) handleSignRemoteCommitmentTx(c Client, req *hsmproto.SignRemoteCommitmentTx) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignRemoteHtlcTx(c Client, req *hsmproto.SignRemoteHtlcTx) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleValidateCommitmentTx(c Client, req *hsmproto.ValidateCommitmentTx) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleValidateRevocation(c Client, req *hsmproto.ValidateRevocation) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleRevokeCommitmentTx(c Client, req *hsmproto.RevokeCommitmentTx) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignCommitmentTx(c Client, req *hsmproto.SignCommitmentTx) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignMutualCloseTx(c Client, req *hsmproto.SignMutualCloseTx) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignSpliceTx(c Client, req *hsmproto.SignSpliceTx) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignWithdrawal(c Client, req *hsmproto.SignWithdrawal) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignDelayedPaymentToUs(c Client, req *hsmproto.SignDelayedPaymentToUs) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignRemoteHtlcToUs(c Client, req *hsmproto.SignRemoteHtlcToUs) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignPenaltyToUs(c Client, req *hsmproto.SignPenaltyToUs) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignAnyDelayedPaymentToUs(c Client, req *hsmproto.SignAnyDelayedPaymentToUs) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignAnyRemoteHtlcToUs(c Client, req *hsmproto.SignAnyRemoteHtlcToUs) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignAnyPenaltyToUs(c Client, req *hsmproto.SignAnyPenaltyToUs) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignAnyLocalHtlcTx(c Client, req *hsmproto.SignAnyLocalHtlcTx) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignAnchorspend(c Client, req *hsmproto.SignAnchorspend) (hsmproto.Message, error) {
	return nil, errNotImplemented
}

func (e *Engine) handleSignHtlcTxMingle(c Client, req *hsmproto.SignHtlcTxMingle) (hsmproto.Message, error) {
	return nil, errNotImplemented
}
