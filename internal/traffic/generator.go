package traffic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
)

// Capabilities lightningd gives each subdaemon's hsmd client
// (hsmd/permissions.h; see the vectors' README).
const (
	capsConnectd = signer.CapECDH
	capsOpeningd = signer.CapCommitmentPoint | signer.CapSignRemoteTx
	capsChanneld = signer.CapSignGossip | signer.CapECDH | signer.CapCommitmentPoint | signer.CapSignRemoteTx |
		signer.CapSignOnchainTx | signer.CapSignClosingTx | signer.CapSignSpliceTx | signer.CapLockOutpoint
	capsClosingd = signer.CapSignClosingTx | signer.CapCommitmentPoint
	capsOnchaind = signer.CapSignOnchainTx | signer.CapCommitmentPoint
)

// Options configures a Generator.
type Options struct {
	// Seed makes the generated traffic reproducible (peer keys, amounts,
	// choices). Generators with the same seed, init reply and calls
	// send the same requests.
	Seed uint64
	// Oracle, if set, answers every request too (an in-process engine with
	// the signer's seed, EngineSender); answers must be byte-equal.
	Oracle Sender
	// Observe, if set, is called after every request.
	Observe func(Event)
	// UserCall, if set, is the user's application: the generator calls it
	// with the cln-grpc call (method and protobuf body) behind a payment
	// (Pay), an invoice (Invoice) or a channel it funds (FundChannel)
	// before sending its requests, and calls
	// done after (glemu's Device.Caller attaches the signed call to the
	// node's requests meanwhile).
	UserCall func(method string, body []byte) (done func())
	// FirstDBID is the dbid of the first channel (default 1). Channels get
	// consecutive dbids.
	FirstDBID uint64
	// FirstKeyIndex is the first wallet key index handed out (default 1).
	FirstKeyIndex uint32
	// Network names the invoices' currency: "bitcoin", "testnet",
	// "signet" or "regtest". Default: bitcoin for an xpub in the init
	// reply, regtest for a tpub.
	Network string
}

// Generator plays lightningd, its subdaemons and the channel peers
// against one signer. See the package documentation.
type Generator struct {
	send    Sender
	opts    Options
	nodeID  [33]byte
	nodePub *btcec.PublicKey
	wallet  *hdkeychain.ExtendedKey // m/0/0
	hrp     string
	stats   statsRecorder

	masterMu  sync.Mutex // one request at a time on lightningd's connection
	mu        sync.Mutex
	rng       *rand.Rand
	nextDBID  uint64
	nextIndex uint32
	utxos     []*utxo
}

// New returns a Generator for the signer whose hsmd_init reply (u16 type ‖
// payload, hsmd_init_reply_v4, as Greenlight stashes it: glemu's
// Node.InitMsg) is initReply. Requests go through send.
func New(initReply []byte, send Sender, opts Options) (*Generator, error) {
	m, err := hsmproto.Decode(initReply)
	if err != nil {
		return nil, fmt.Errorf("traffic: the init reply does not decode: %w", err)
	}
	init, ok := m.(*hsmproto.InitReplyV4)
	if !ok {
		return nil, fmt.Errorf("traffic: the init reply is %s, not hsmd_init_reply_v4", m.MsgName())
	}
	pub, err := btcec.ParsePubKey(init.NodeID[:])
	if err != nil {
		return nil, fmt.Errorf("traffic: the init reply's node id: %w", err)
	}
	xpub, err := init.Bip32.Key()
	if err != nil {
		return nil, fmt.Errorf("traffic: the init reply's bip32 key: %w", err)
	}
	if opts.FirstDBID == 0 {
		opts.FirstDBID = 1
	}
	if opts.FirstKeyIndex == 0 {
		opts.FirstKeyIndex = 1
	}
	if opts.Network == "" {
		opts.Network = "bitcoin"
		if bytes.Equal(init.Bip32[:4], []byte{0x04, 0x35, 0x87, 0xcf}) {
			opts.Network = "regtest"
		}
	}
	hrp, ok := map[string]string{"bitcoin": "lnbc", "testnet": "lntb", "signet": "lntbs", "regtest": "lnbcrt"}[opts.Network]
	if !ok {
		return nil, fmt.Errorf("traffic: unknown network %q", opts.Network)
	}
	return &Generator{
		send: send, opts: opts, nodeID: init.NodeID, nodePub: pub, wallet: xpub, hrp: hrp,
		rng:      rand.New(rand.NewPCG(opts.Seed, 0x67656e657261746f)),
		nextDBID: opts.FirstDBID, nextIndex: opts.FirstKeyIndex,
	}, nil
}

// NodeID is the signer's node id.
func (g *Generator) NodeID() [33]byte { return g.nodeID }

// Stats returns the counts so far.
func (g *Generator) Stats() Stats { return g.stats.snapshot() }

// newRand returns a generator-seeded source for one channel or step.
func (g *Generator) newRand() *rand.Rand {
	g.mu.Lock()
	defer g.mu.Unlock()
	return rand.New(rand.NewPCG(g.rng.Uint64(), g.rng.Uint64()))
}

func (g *Generator) allocDBID() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	id := g.nextDBID
	g.nextDBID++
	return id
}

// exchange sends req, compares with the oracle, runs check on the reply,
// and records the outcome. Requests on lightningd's own connection go one
// at a time, as lightningd's are: it waits for each hsmd reply on that
// connection before it sends the next (subdaemons have a connection each).
func (g *Generator) exchange(ctx context.Context, req Request, check func(raw []byte) error) error {
	if req.Client == signer.MasterClient {
		g.masterMu.Lock()
		defer g.masterMu.Unlock()
	}
	start := time.Now()
	reply, err := g.send(ctx, req)
	lat := time.Since(start)
	if err == nil && g.opts.Oracle != nil {
		want, oerr := g.opts.Oracle(ctx, req)
		switch {
		case oerr != nil:
			err = &CheckError{Request: req.Name, Err: fmt.Errorf("the signer answered but the oracle refused: %v", oerr)}
		case !bytes.Equal(reply, want):
			err = &CheckError{Request: req.Name, Err: fmt.Errorf("answer %x, the oracle's %x", reply, want)}
		}
	}
	if err == nil && check != nil {
		if cerr := check(reply); cerr != nil {
			err = &CheckError{Request: req.Name, Err: cerr}
		}
	}
	if err != nil && ctx.Err() != nil && !isRefusal(err) {
		err = fmt.Errorf("%s: %w", req.Name, ctx.Err())
	}
	g.stats.add(req, err)
	if g.opts.Observe != nil {
		g.opts.Observe(Event{Request: req, Latency: lat, Err: err})
	}
	return err
}

func isRefusal(err error) bool {
	var re *RefusedError
	return errors.As(err, &re)
}

// ask sends m from client c and decodes the reply as R, then runs check.
func ask[R hsmproto.Message](ctx context.Context, g *Generator, name string, c signer.Client, m hsmproto.Message, check func(R) error) (R, error) {
	var out R
	err := g.exchange(ctx, Request{Name: name, Client: c, Raw: m.Encode()}, func(raw []byte) error {
		msg, err := hsmproto.Decode(raw)
		if err != nil {
			return fmt.Errorf("the reply does not decode: %w", err)
		}
		r, ok := msg.(R)
		if !ok {
			return fmt.Errorf("the reply is %s", msg.MsgName())
		}
		out = r
		if check != nil {
			return check(r)
		}
		return nil
	})
	if err != nil {
		var zero R
		return zero, err
	}
	return out, nil
}

// Send sends a raw request from client c, checks nothing but the oracle,
// and returns the reply: for requests the generator does not make itself
// (refusal probes, fuzzing).
func (g *Generator) Send(ctx context.Context, name string, c signer.Client, raw []byte) ([]byte, error) {
	var reply []byte
	err := g.exchange(ctx, Request{Name: name, Client: c, Raw: raw}, func(r []byte) error { reply = r; return nil })
	return reply, err
}

// userCall starts the user's call behind what follows (Options.UserCall).
func (g *Generator) userCall(method string, body []byte) (done func()) {
	if g.opts.UserCall == nil {
		return func() {}
	}
	return g.opts.UserCall(method, body)
}
