package clnhsmd

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"

	"github.com/btcsuite/btcd/btcec/v2"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
)

// The fds lightningd gives hsmd (hsmd.c's REQ_FD; subd.c puts the status
// socket on stdin).
const (
	MasterFD = 3
	StatusFD = 0
)

// Exit statuses of CLN's hsmd: status_failed exits with 0x80 | the low byte
// of status_fail's type (0xFFF2), and a closed master connection with 2.
const (
	ExitFatal      = 0x80 | (typeStatusFail & 0xFF) // 242
	ExitMasterGone = 2
)

// maxDBIDZeroClients is CLN's three slots for dbid-0 clients: lightningd's
// own connection, gossipd and connectd.
const maxDBIDZeroClients = 3

// Handler answers one raw request (u16 type ‖ payload) from a client, or
// refuses it with a *signer.RefusalError; *signer.Engine is one.
type Handler interface {
	Handle(ctx context.Context, c signer.Client, raw []byte) ([]byte, error)
}

// Opener makes the Handler when lightningd's hsmd_init arrives: only then
// are the network and the hsm_secret passphrase known. An *InitError is
// reported to lightningd as hsmd_init_reply_failure. logf sends a status
// log line to lightningd.
type Opener func(init *hsmproto.Init, logf func(LogLevel, string)) (Handler, error)

// InitError is a failure to load the secret, reported as CLN's hsmd reports
// it: hsmd_init_reply_failure with Code (enum hsm_secret_error) and
// Message, then an exit: 0 for a wrong passphrase (a user error), 242
// otherwise. Message never holds a secret.
type InitError struct {
	Code    uint32
	Message string
}

func (e *InitError) Error() string { return e.Message }

// CLN's enum hsm_secret_error (common/hsm_secret.h).
const (
	ErrCodePassphraseRequired  = 1
	ErrCodePassphraseNotNeeded = 2
	ErrCodeWrongPassphrase     = 3
	ErrCodeInvalidMnemonic     = 4
	ErrCodeSeedDerivation      = 6
	ErrCodeInvalidFormat       = 7
)

// Config says how to serve.
type Config struct {
	// MasterFD and StatusFD are lightningd's connections (3 and 0).
	MasterFD, StatusFD int
	// Version is sent as status_version; lightningd restarts a subdaemon
	// whose version is not its own.
	Version string
	// Developer is lightningd's --developer: hsmd_dev_preinit and
	// hsmd_dev_memleak are then answered.
	Developer bool
	// Open makes the Handler at hsmd_init.
	Open Opener
	// OneThread serves every connection from one thread, as CLN's hsmd
	// does, instead of a goroutine for each client. Set it only when the
	// Handler never waits (a stateless engine): a request that waited,
	// say for a commit to disk, would hold up every other connection.
	OneThread bool
}

// ExitError is how Serve ends: the status CLN's hsmd would exit with, and
// why.
type ExitError struct {
	Code   int
	Reason string
}

func (e *ExitError) Error() string { return fmt.Sprintf("%s (exit status %d)", e.Reason, e.Code) }

type server struct {
	cfg    Config
	ctx    context.Context
	status *statusWriter
	master *conn

	mu      sync.Mutex
	handler Handler
	byDBID  map[uint64]*client
	clients map[*client]struct{}
	dbid0   int // dbid-0 clients, lightningd's included
	wg      sync.WaitGroup

	exit chan *ExitError
	// masterDone is closed when the goroutine reading lightningd's
	// connection has returned.
	masterDone chan struct{}
}

type client struct {
	conn *conn
	who  signer.Client
}

// Serve answers lightningd until its master connection closes, a fatal
// request, or ctx ends (then the code is 0). It owns both fds and closes
// them.
func Serve(ctx context.Context, cfg Config) *ExitError {
	syscall.SetNonblock(cfg.StatusFD, false)
	master, err := openConn(cfg.MasterFD, cfg.OneThread)
	if err != nil {
		syscall.Close(cfg.StatusFD)
		return &ExitError{Code: ExitMasterGone, Reason: "lightningd's connection: " + err.Error()}
	}
	s := &server{
		cfg:     cfg,
		ctx:     ctx,
		status:  newStatusWriter(cfg.StatusFD),
		master:  master,
		byDBID:  map[uint64]*client{},
		clients: map[*client]struct{}{},
		dbid0:   1,
		exit:    make(chan *ExitError, 1),

		masterDone: make(chan struct{}),
	}
	s.status.send(statusVersion(cfg.Version), false)
	if cfg.OneThread {
		go s.serveLoop()
	} else {
		go s.serveMaster()
	}

	var e *ExitError
	select {
	case e = <-s.exit:
	case <-ctx.Done():
		e = &ExitError{Code: 0, Reason: "stopped: " + context.Cause(ctx).Error()}
		s.status.log(LogInfo, nil, "gl-signerd hsmd stopping: "+context.Cause(ctx).Error())
	}
	s.master.shutdown()
	s.mu.Lock()
	for c := range s.clients {
		c.conn.shutdown()
	}
	s.mu.Unlock()
	s.wg.Wait()
	<-s.masterDone
	s.master.close()
	s.status.close()
	syscall.Close(cfg.StatusFD)
	return e
}

// finish ends Serve with e; the first one wins.
func (s *server) finish(e *ExitError) {
	select {
	case s.exit <- e:
	default:
	}
}

// fatal is status_failed: the reason goes to lightningd, and hsmd exits.
func (s *server) fatal(reason FailReason, text string) {
	s.status.send(statusFail(reason, text), false)
	s.finish(&ExitError{Code: ExitFatal, Reason: text})
}

// badMaster is bad_req_fmt on lightningd's connection: BROKEN, then
// master_badmsg's status_fail, then exit 242.
func (s *server) badMaster(msg []byte, why string) {
	s.status.log(LogBroken, nil, why)
	// master_badmsg prints the type as a u32: -1 is 4294967295.
	s.fatal(FailMasterIO, fmt.Sprintf("Error parsing %d: %s", uint32(peekType(msg)), shownRequest(msg)))
}

// shownRequest is a request's hex for logs, except an hsmd_init's: that
// may carry the hsm_secret passphrase.
func shownRequest(msg []byte) string {
	if peekType(msg) == int(hsmproto.TypeInit) {
		return "(hsmd_init, not shown: it may carry the hsm_secret passphrase)"
	}
	return hex.EncodeToString(msg)
}

// peekType is fromwire_peektype: the message type, or -1 when there are
// fewer than two bytes.
func peekType(msg []byte) int {
	if len(msg) < 2 {
		return -1
	}
	return int(binary.BigEndian.Uint16(msg))
}

// wireName is hsmd_wire_name: WIRE_HSMD_ECDH_REQ for hsmd_ecdh_req.
func wireName(t int) string {
	if t < 0 || hsmproto.MessageName(uint16(t)) == fmt.Sprintf("unknown_%d", t) {
		return fmt.Sprintf("INVALID %d", t)
	}
	return "WIRE_" + strings.ToUpper(hsmproto.MessageName(uint16(t)))
}

func (s *server) currentHandler() Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handler
}

func (s *server) serveMaster() {
	defer close(s.masterDone)
	for {
		msg, err := s.master.readFrame()
		if err != nil {
			s.finish(&ExitError{Code: ExitMasterGone, Reason: "lightningd's connection ended: " + err.Error()})
			return
		}
		if !s.handleMaster(msg) {
			return
		}
	}
}

// handleMaster answers one request of lightningd's; false means stop.
func (s *server) handleMaster(msg []byte) bool {
	t := peekType(msg)
	switch t {
	case int(hsmproto.TypeDevPreinit):
		return s.devPreinit(msg)
	case int(hsmproto.TypeClientHsmfd):
		_, ok := s.passClientFD(msg)
		return ok
	case int(hsmproto.TypeDevMemleak):
		if !s.cfg.Developer {
			s.badMaster(msg, "Unknown request")
			return false
		}
		return s.replyMaster(&hsmproto.DevMemleakReply{Leak: false})
	case int(hsmproto.TypeInit):
		if s.currentHandler() == nil && !s.open(msg) {
			return false
		}
	}
	h := s.currentHandler()
	if h == nil {
		s.badMaster(msg, fmt.Sprintf("%s before hsmd_init: lightningd must send hsmd_init first", wireName(t)))
		return false
	}
	reply, err := h.Handle(s.ctx, signer.MasterClient, msg)
	if err != nil {
		s.badMaster(msg, refusalText(err))
		return false
	}
	if err := s.master.writeFrame(reply); err != nil {
		s.finish(&ExitError{Code: ExitMasterGone, Reason: "writing to lightningd: " + err.Error()})
		return false
	}
	return true
}

func (s *server) replyMaster(m hsmproto.Message) bool {
	raw, err := hsmproto.Marshal(m)
	if err == nil {
		err = s.master.writeFrame(raw)
	}
	if err != nil {
		s.finish(&ExitError{Code: ExitMasterGone, Reason: "writing to lightningd: " + err.Error()})
		return false
	}
	return true
}

// refusalText is what lightningd's log shows for a refused request: the
// engine's reason, as CLN words it, after the policy's tag if the policy
// refused it.
func refusalText(err error) string {
	var re *signer.RefusalError
	if errors.As(err, &re) {
		if re.ByPolicy() {
			// A policy refusal: its tag first, for operators to match.
			return re.Tag + ": " + re.Reason
		}
		return re.Reason
	}
	return err.Error()
}

// open builds the handler from hsmd_init (init_hsm: load the secret).
func (s *server) open(msg []byte) bool {
	m, err := hsmproto.Decode(msg)
	init, ok := m.(*hsmproto.Init)
	if err != nil || !ok {
		s.badMaster(msg, "could not parse request")
		return false
	}
	h, err := s.cfg.Open(init, func(l LogLevel, text string) { s.status.log(l, nil, text) })
	if err != nil {
		var ie *InitError
		if !errors.As(err, &ie) {
			ie = &InitError{Code: ErrCodeInvalidFormat, Message: err.Error()}
		}
		s.replyMaster(&hsmproto.InitReplyFailure{ErrorCode: ie.Code, ErrorMessage: ie.Message})
		if ie.Code == ErrCodeWrongPassphrase {
			// hsmd.c's load_hsm: a wrong passphrase is the user's
			// mistake, and hsmd exits cleanly.
			s.finish(&ExitError{Code: 0, Reason: ie.Message})
		} else {
			s.fatal(FailInternal, ie.Message)
		}
		return false
	}
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
	return true
}

// devPreinit is hsmd_dev_preinit (developer mode only; no reply).
func (s *server) devPreinit(msg []byte) bool {
	if !s.cfg.Developer {
		// CLN's hsmd asserts developer mode here and aborts.
		s.fatal(FailInternal, "hsmd_dev_preinit is for a --developer lightningd only")
		return false
	}
	m, err := hsmproto.Decode(msg)
	p, ok := m.(*hsmproto.DevPreinit)
	if err != nil || !ok {
		s.badMaster(msg, "could not parse request")
		return false
	}
	b := func(v *bool) int {
		if v != nil && *v {
			return 1
		}
		return 0
	}
	s.status.log(LogDebug, nil, fmt.Sprintf("preinit: dev_fail_preapprove = %d, dev_no_preapprove_check = %d, dev_warn_on_overgrind = %d (not applied by gl-signerd)",
		b(p.Tlvs.FailPreapprove), b(p.Tlvs.NoPreapproveCheck), b(p.Tlvs.WarnOnOvergrind)))
	return true
}

// passClientFD answers hsmd_client_hsmfd: a new socket pair, one end served
// as a client with the id, dbid and capabilities lightningd named, the
// other passed back after the reply. The client is returned for the
// one-thread loop to serve; otherwise it has its own goroutine.
func (s *server) passClientFD(msg []byte) (*client, bool) {
	m, err := hsmproto.Decode(msg)
	req, ok := m.(*hsmproto.ClientHsmfd)
	if err != nil || !ok {
		s.badMaster(msg, "could not parse request")
		return nil, false
	}
	if _, err := btcec.ParsePubKey(req.ID[:]); err != nil {
		s.fatal(FailInternal, fmt.Sprintf("Invalid node id %x", req.ID[:]))
		return nil, false
	}
	ours, theirs, err := socketpair()
	if err != nil {
		s.fatal(FailInternal, "creating fds: "+err.Error())
		return nil, false
	}
	s.status.log(LogDebug, nil, fmt.Sprintf("new_client: %d", req.DBID))
	cc, err := openConn(ours, s.cfg.OneThread) // owns ours from here, even on an error
	if err != nil {
		syscall.Close(theirs)
		s.fatal(FailInternal, "creating fds: "+err.Error())
		return nil, false
	}
	c := &client{conn: cc, who: signer.Client{PeerID: req.ID, DBID: req.DBID, Capabilities: req.Permissions}}

	s.mu.Lock()
	if req.DBID == 0 {
		if s.dbid0 >= maxDBIDZeroClients {
			s.mu.Unlock()
			cc.close() // not syscall.Close: cc's os.File would close the number again
			syscall.Close(theirs)
			s.fatal(FailInternal, fmt.Sprintf("lightningd asked for a dbid-0 client beyond hsmd's %d slots (lightningd, gossipd, connectd)", maxDBIDZeroClients))
			return nil, false
		}
		s.dbid0++
	} else {
		// A new client for a dbid replaces the old one: close it.
		if old := s.byDBID[req.DBID]; old != nil {
			old.conn.shutdown()
		}
		s.byDBID[req.DBID] = c
	}
	s.clients[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	if !s.cfg.OneThread {
		// The fd goes to lightningd once the client's goroutine runs,
		// so that its first request never waits for the goroutine's
		// start.
		reading := make(chan struct{})
		go s.serveClient(c, reading)
		<-reading
	}

	ok = s.replyMaster(&hsmproto.ClientHsmfdReply{})
	if ok {
		if err := s.master.sendFD(theirs); err != nil {
			s.finish(&ExitError{Code: ExitMasterGone, Reason: "passing a client fd to lightningd: " + err.Error()})
			ok = false
		}
	}
	syscall.Close(theirs)
	if !ok {
		if s.cfg.OneThread {
			s.dropClient(c) // no loop will
		}
		return nil, false
	}
	return c, true
}

func (s *server) dropClient(c *client) {
	s.mu.Lock()
	delete(s.clients, c)
	if s.byDBID[c.who.DBID] == c {
		delete(s.byDBID, c.who.DBID)
	}
	s.mu.Unlock()
	c.conn.close()
	s.wg.Done()
}

// serveClient answers c's requests until it closes; reading is closed as
// it starts.
func (s *server) serveClient(c *client, reading chan<- struct{}) {
	defer s.dropClient(c)
	close(reading)
	for {
		msg, err := c.conn.readFrame()
		if err != nil {
			s.reportBadFrame(c, err)
			return
		}
		reply, out := s.answerClient(c, msg)
		if out != clientServed {
			return
		}
		werr := c.conn.writeFrame(reply)
		s.logGot(c, msg)
		if werr != nil {
			return
		}
	}
}

// badClient is bad_req_fmt on a client: BROKEN with the client's id,
// hsmstatus_client_bad_request to lightningd, and the connection closes.
func (s *server) badClient(c *client, msg []byte, why string) {
	s.status.log(LogBroken, nil, fmt.Sprintf("%x: %s", c.who.PeerID[:], why))
	// The report's length field is a u16: a longer request is cut.
	shown := msg[:min(len(msg), 0xFFFF)]
	report, err := hsmproto.Marshal(&hsmproto.HsmstatusClientBadRequest{
		ID: hsmproto.NodeID(c.who.PeerID), Description: why, Msg: append([]byte(nil), shown...)})
	if err == nil {
		s.status.send(report, false)
	}
}
