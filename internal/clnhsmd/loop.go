package clnhsmd

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
)

// serveLoop answers lightningd and every client from one thread that waits
// in poll(2), as CLN's hsmd does (Config.OneThread). A request is answered
// by the thread that read it, which then goes straight back to poll: no
// other thread of ours is woken for it, so lightningd's side is woken
// sooner than through Go's poller, most of all on a connection's first
// request (docs/performance.md). Each connection gets at most one request
// answered per round of poll, so one that never stops sending cannot keep
// the others waiting. It suits a Handler that never waits: one that did
// would hold up every connection.
func (s *server) serveLoop() {
	defer close(s.masterDone)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var clients []*client // in the order they came
	defer func() {
		for _, c := range clients {
			s.dropClient(c)
		}
	}()
	var pfds []unix.PollFd
	for {
		// A whole request already read counts as ready: then poll only
		// looks, without waiting.
		timeout := -1
		if s.master.hasFrame() {
			timeout = 0
		}
		pfds = append(pfds[:0], unix.PollFd{Fd: int32(s.master.fd), Events: unix.POLLIN})
		for _, c := range clients {
			events := int16(unix.POLLIN)
			if len(c.conn.pending) > 0 {
				// No new request from a client until it has taken
				// its last reply.
				events = unix.POLLOUT
			} else if c.conn.hasFrame() {
				timeout = 0
			}
			pfds = append(pfds, unix.PollFd{Fd: int32(c.conn.fd), Events: events})
		}
		if _, err := unix.Poll(pfds, timeout); err != nil {
			if err == unix.EINTR {
				continue
			}
			s.fatal(FailInternal, "waiting for requests: "+err.Error())
			return
		}
		polled := len(clients)
		if pfds[0].Revents != 0 || s.master.hasFrame() {
			msg, err := s.master.nextFrame()
			if err != nil {
				s.finish(&ExitError{Code: ExitMasterGone, Reason: "lightningd's connection ended: " + err.Error()})
				return
			}
			if msg != nil {
				c, ok := s.handleMasterLoop(msg)
				if !ok {
					return
				}
				if c != nil {
					clients = append(clients, c)
				}
			}
		}
		kept := clients[:0]
		for i, c := range clients {
			if i < polled && (pfds[i+1].Revents != 0 || len(c.conn.pending) == 0 && c.conn.hasFrame()) {
				switch s.serveLoopClient(c) {
				case clientClosed:
					s.dropClient(c)
					continue
				case serverStops:
					clients = append(kept, clients[i:]...)
					return
				}
			}
			kept = append(kept, c)
		}
		clear(clients[len(kept):])
		clients = kept
	}
}

// handleMasterLoop is handleMaster for the loop: a new client is returned
// for the loop to poll rather than given a goroutine.
func (s *server) handleMasterLoop(msg []byte) (*client, bool) {
	if peekType(msg) != int(hsmproto.TypeClientHsmfd) {
		return nil, s.handleMaster(msg)
	}
	return s.passClientFD(msg)
}

type clientOutcome int

const (
	clientServed clientOutcome = iota // wait for its next request
	clientClosed                      // the connection is done
	serverStops                       // a fatal request: Serve ends
)

// serveLoopClient finishes sending c's last reply, or answers its next
// request if a whole one has come: at most one a round.
func (s *server) serveLoopClient(c *client) clientOutcome {
	if len(c.conn.pending) > 0 {
		if _, err := c.conn.flush(); err != nil {
			return clientClosed
		}
		return clientServed
	}
	msg, err := c.conn.nextFrame()
	if err != nil {
		s.reportBadFrame(c, err)
		return clientClosed
	}
	if msg == nil {
		return clientServed
	}
	reply, out := s.answerClient(c, msg)
	if out != clientServed {
		return out
	}
	werr := c.conn.queueFrame(reply)
	s.logGot(c, msg)
	if werr != nil {
		return clientClosed
	}
	return clientServed
}

// reportBadFrame tells lightningd why a client's connection is closed,
// unless it simply ended.
func (s *server) reportBadFrame(c *client, err error) {
	if err == errEOF || errors.Is(err, syscall.ECONNRESET) {
		return
	}
	peer := [33]byte(c.who.PeerID)
	s.status.log(LogBroken, &peer, fmt.Sprintf("%x: bad frame from client dbid %d: %v; closing its connection", peer[:], c.who.DBID, err))
}

// logGot is CLN's "Got <type>" debug line for a client's request. CLN
// logs it as the request comes; here it goes after the reply, so that
// waking lightningd's status reader does not delay the reply (the log is
// the same; its order against the reply, which travels on another socket,
// is not defined anyway). A request that fails logs it first, before the
// failure.
func (s *server) logGot(c *client, msg []byte) {
	peer := [33]byte(c.who.PeerID)
	s.status.log(LogDebug, &peer, "Got "+wireName(peekType(msg)))
}

// answerClient is the handler's answer to one of c's requests; a refusal
// is reported as CLN's hsmd reports it (the connection closes, or Serve
// ends for a fatal one) and gives no reply.
func (s *server) answerClient(c *client, msg []byte) ([]byte, clientOutcome) {
	h := s.currentHandler()
	if h == nil {
		s.logGot(c, msg)
		s.badClient(c, msg, fmt.Sprintf("%s before hsmd_init", wireName(peekType(msg))))
		return nil, clientClosed
	}
	reply, err := h.Handle(s.ctx, c.who, msg)
	if err != nil {
		s.logGot(c, msg)
		var re *signer.RefusalError
		if errors.As(err, &re) && re.Fatal {
			s.fatal(FailInternal, re.Reason)
			return nil, serverStops
		}
		s.badClient(c, msg, refusalText(err))
		return nil, clientClosed
	}
	return reply, clientServed
}
