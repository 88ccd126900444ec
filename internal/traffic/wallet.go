package traffic

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
)

// address is a wallet address: key m/0/0/index, P2WPKH or P2TR (the
// BIP86 tweak of the same key, as CLN does for 32-byte secrets).
type address struct {
	index    uint32
	pub      *btcec.PublicKey
	taproot  bool
	pkScript []byte
}

// walletKey is the public key m/0/0/index, from the init reply's xpub.
func (g *Generator) walletKey(index uint32) (*btcec.PublicKey, error) {
	k, err := g.wallet.Derive(index)
	if err != nil {
		return nil, err
	}
	return k.ECPubKey()
}

// newAddress hands out the next wallet address, checked with the signer
// first as lightningd's newaddr does (check_pubkey).
func (g *Generator) newAddress(ctx context.Context, taproot bool) (*address, error) {
	g.mu.Lock()
	index := g.nextIndex
	g.nextIndex++
	g.mu.Unlock()
	pub, err := g.walletKey(index)
	if err != nil {
		return nil, err
	}
	a := &address{index: index, pub: pub, taproot: taproot}
	if taproot {
		a.pkScript, err = txscript.PayToTaprootScript(txscript.ComputeTaprootKeyNoScript(pub))
		if err != nil {
			return nil, err
		}
	} else {
		a.pkScript = p2wpkh(pub)
	}
	_, err = ask(ctx, g, fmt.Sprintf("check_pubkey %d (newaddr)", index), signer.MasterClient,
		&hsmproto.CheckPubkey{Index: index, Pubkey: hsmproto.PubkeyFrom(pub)}, func(r *hsmproto.CheckPubkeyReply) error {
			if !r.Ok {
				return fmt.Errorf("wallet key %d from the init reply's xpub was not recognized", index)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// fingerprint is what lightningd writes in a PSBT output's derivation:
// the first 4 bytes of hash160(pubkey), and the path [index].
func (a *address) fingerprint() uint32 {
	return binary.LittleEndian.Uint32(hash160(a.pub.SerializeCompressed())[:4])
}

// describeOutput adds the output's key path, as lightningd does for
// outputs to its own wallet.
func (a *address) describeOutput(o *psbt.POutput) {
	if a.taproot {
		out := txscript.ComputeTaprootKeyNoScript(a.pub)
		o.TaprootInternalKey = nil
		o.TaprootBip32Derivation = []*psbt.TaprootBip32Derivation{{
			XOnlyPubKey: schnorr.SerializePubKey(out), MasterKeyFingerprint: a.fingerprint(), Bip32Path: []uint32{a.index},
		}}
		return
	}
	o.Bip32Derivation = []*psbt.Bip32Derivation{{PubKey: a.pub.SerializeCompressed(), MasterKeyFingerprint: a.fingerprint(), Bip32Path: []uint32{a.index}}}
}

// utxo is an output of our wallet.
type utxo struct {
	addr   *address
	op     wire.OutPoint
	prevTx *wire.MsgTx
}

func (u *utxo) out() *wire.TxOut { return u.prevTx.TxOut[u.op.Index] }

func (g *Generator) addUTXO(a *address, op wire.OutPoint, prev *wire.MsgTx) {
	g.mu.Lock()
	g.utxos = append(g.utxos, &utxo{addr: a, op: op, prevTx: prev})
	g.mu.Unlock()
}

// takeUTXOs removes up to n wallet UTXOs.
func (g *Generator) takeUTXOs(n int) []*utxo {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n > len(g.utxos) {
		n = len(g.utxos)
	}
	out := append([]*utxo(nil), g.utxos[:n]...)
	g.utxos = g.utxos[n:]
	return out
}

// WalletUTXOs is the number of wallet outputs the generator may spend.
func (g *Generator) WalletUTXOs() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.utxos)
}

// deposit makes up a confirmed transaction paying sat to a new wallet
// address (someone paying us on chain).
func (g *Generator) deposit(ctx context.Context, sat int64, taproot bool) (*utxo, error) {
	a, err := g.newAddress(ctx, taproot)
	if err != nil {
		return nil, err
	}
	rng := g.newRand()
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash(randBytes32(rng)), Index: uint32(rng.IntN(4))}, nil, nil)
	in.Sequence = 0xfffffffd
	tx.AddTxIn(in)
	tx.LockTime = 900_000 + uint32(rng.IntN(50_000))
	other := wire.NewTxOut(10_000+rng.Int64N(1_000_000), p2wpkh(randKey(rng).PubKey()))
	ours := wire.NewTxOut(sat, a.pkScript)
	idx := uint32(rng.IntN(2))
	if idx == 0 {
		tx.AddTxOut(ours)
		tx.AddTxOut(other)
	} else {
		tx.AddTxOut(other)
		tx.AddTxOut(ours)
	}
	return &utxo{addr: a, op: wire.OutPoint{Hash: tx.TxHash(), Index: idx}, prevTx: tx}, nil
}

// Deposit adds a confirmed on-chain payment of sat to the wallet.
func (g *Generator) Deposit(ctx context.Context, sat int64) error {
	u, err := g.deposit(ctx, sat, g.newRand().IntN(2) == 0)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.utxos = append(g.utxos, u)
	g.mu.Unlock()
	return nil
}

// walletSpend is a transaction spending wallet UTXOs, before signing.
type walletSpend struct {
	tx      *wire.MsgTx
	inputs  []*utxo
	outputs map[int]*address // outputs to our wallet
}

// psbtFor is the PSBT lightningd sends with sign_withdrawal: each input
// with its previous transaction and output, our outputs with their paths.
func (w *walletSpend) psbt() *hsmproto.PSBT {
	p := newPSBT(w.tx)
	for i, u := range w.inputs {
		p.Inputs[i].NonWitnessUtxo = u.prevTx
		p.Inputs[i].WitnessUtxo = u.out()
	}
	for i, a := range w.outputs {
		a.describeOutput(&p.Outputs[i])
	}
	return p
}

func (w *walletSpend) hsmUTXOs() []hsmproto.HsmUtxo {
	var l []hsmproto.HsmUtxo
	for _, u := range w.inputs {
		l = append(l, hsmproto.HsmUtxo{Txid: u.op.Hash, Outnum: u.op.Index, Amount: hsmproto.AmountSat(u.out().Value),
			Keyindex: u.addr.index, ScriptPubkey: u.out().PkScript})
	}
	return l
}

// sign sends sign_withdrawal and checks that every input of the returned
// PSBT is signed by its wallet key, completing each input and running the
// script engine.
func (g *Generator) signWallet(ctx context.Context, name string, w *walletSpend) error {
	prevOuts := txscript.NewMultiPrevOutFetcher(nil)
	for i, u := range w.inputs {
		prevOuts.AddPrevOut(w.tx.TxIn[i].PreviousOutPoint, u.out())
	}
	_, err := ask(ctx, g, name, signer.MasterClient, &hsmproto.SignWithdrawal{Inputs: w.hsmUTXOs(), Psbt: w.psbt()},
		func(r *hsmproto.SignWithdrawalReply) error {
			if r.Psbt == nil || r.Psbt.UnsignedTx == nil {
				return errors.New("no PSBT in the reply")
			}
			if r.Psbt.UnsignedTx.TxHash() != w.tx.TxHash() {
				return errors.New("the reply's PSBT is another transaction")
			}
			for i, u := range w.inputs {
				in := r.Psbt.Inputs[i]
				var wit wire.TxWitness
				if u.addr.taproot {
					if len(in.TaprootKeySpendSig) == 0 {
						return fmt.Errorf("input %d (p2tr, key %d) is not signed", i, u.addr.index)
					}
					wit = wire.TxWitness{in.TaprootKeySpendSig}
				} else {
					if len(in.PartialSigs) != 1 {
						return fmt.Errorf("input %d (p2wpkh, key %d) has %d signatures", i, u.addr.index, len(in.PartialSigs))
					}
					ps := in.PartialSigs[0]
					if !bytes.Equal(ps.PubKey, u.addr.pub.SerializeCompressed()) {
						return fmt.Errorf("input %d is signed by %x, not wallet key %d", i, ps.PubKey, u.addr.index)
					}
					wit = wire.TxWitness{ps.Signature, ps.PubKey}
				}
				if err := runScript(w.tx, i, wit, prevOuts); err != nil {
					return err
				}
			}
			return nil
		})
	return err
}

// fundingTx is a funding transaction we build and sign.
type fundingTx struct {
	spend      *walletSpend
	fundingOut wire.OutPoint
	change     *address
	changeIdx  int
}

// buildFunding makes a deposit and a transaction spending it to the
// funding output, with change back to the wallet.
func (g *Generator) buildFunding(ctx context.Context, fundingPk []byte, capacity int64) (*fundingTx, error) {
	rng := g.newRand()
	in, err := g.deposit(ctx, capacity+20_000+rng.Int64N(2_000_000), rng.IntN(2) == 0)
	if err != nil {
		return nil, err
	}
	change, err := g.newAddress(ctx, rng.IntN(2) == 0)
	if err != nil {
		return nil, err
	}
	tx := wire.NewMsgTx(2)
	txin := wire.NewTxIn(&in.op, nil, nil)
	txin.Sequence = 0xfffffffd
	tx.AddTxIn(txin)
	tx.LockTime = in.prevTx.LockTime + 10
	outs := []*wire.TxOut{wire.NewTxOut(capacity, fundingPk), wire.NewTxOut(in.out().Value-capacity-1_500, change.pkScript)}
	sort.SliceStable(outs, func(i, j int) bool {
		if outs[i].Value != outs[j].Value {
			return outs[i].Value < outs[j].Value
		}
		return bytes.Compare(outs[i].PkScript, outs[j].PkScript) < 0
	})
	f := &fundingTx{change: change}
	for i, o := range outs {
		tx.AddTxOut(o)
		if bytes.Equal(o.PkScript, fundingPk) {
			f.fundingOut = wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}
		} else {
			f.changeIdx = i
		}
	}
	f.fundingOut.Hash = tx.TxHash()
	f.spend = &walletSpend{tx: tx, inputs: []*utxo{in}, outputs: map[int]*address{f.changeIdx: change}}
	return f, nil
}

// signFunding signs the funding transaction (after funding_signed) and
// keeps the change.
func (g *Generator) signFunding(ctx context.Context, f *fundingTx) error {
	if err := g.signWallet(ctx, "sign_withdrawal funding tx", f.spend); err != nil {
		return err
	}
	g.addUTXO(f.change, wire.OutPoint{Hash: f.spend.tx.TxHash(), Index: uint32(f.changeIdx)}, f.spend.tx)
	return nil
}

// Withdraw spends up to maxInputs wallet UTXOs (making deposits first if
// the wallet is empty) into one new wallet address: sign_withdrawal, as
// lightningd's withdraw does. It returns the number of inputs spent.
func (g *Generator) Withdraw(ctx context.Context, maxInputs int) (int, error) {
	if g.WalletUTXOs() == 0 {
		for i := 0; i < 2; i++ {
			if err := g.Deposit(ctx, 100_000+int64(i)*50_000); err != nil {
				return 0, err
			}
		}
	}
	ins := g.takeUTXOs(maxInputs)
	if len(ins) == 0 {
		return 0, errors.New("traffic: no wallet UTXO to spend")
	}
	rng := g.newRand()
	to, err := g.newAddress(ctx, rng.IntN(2) == 0)
	if err != nil {
		return 0, err
	}
	tx := wire.NewMsgTx(2)
	var total int64
	for _, u := range ins {
		in := wire.NewTxIn(&u.op, nil, nil)
		in.Sequence = 0xfffffffd
		tx.AddTxIn(in)
		total += u.out().Value
	}
	fee := int64(200 + 100*len(ins))
	if total-fee < dustLimit {
		return 0, nil
	}
	tx.AddTxOut(wire.NewTxOut(total-fee, to.pkScript))
	w := &walletSpend{tx: tx, inputs: ins, outputs: map[int]*address{0: to}}
	if err := g.signWallet(ctx, fmt.Sprintf("sign_withdrawal %d inputs", len(ins)), w); err != nil {
		return 0, err
	}
	g.addUTXO(to, wire.OutPoint{Hash: tx.TxHash(), Index: 0}, tx)
	return len(ins), nil
}
