package clnhsmd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"gl-signerd/hsmproto"
)

// conn is one unix stream socket carrying CLN's framing (a 4-byte
// big-endian length, then the message). A polled conn is read and written
// through Go's network poller: a connection waiting for its next request
// holds no thread (lightningd keeps one open per channel), and on a quiet
// machine the poller hands a request over sooner than a thread blocked in
// read(2) wakes. A loop conn is not registered with Go's poller: the
// one-thread loop (loop.go) polls it itself, and what the socket does not
// take of a reply waits in pending.
type conn struct {
	fd   int
	f    *os.File // non-blocking, registered with the poller; nil for a loop conn
	raw  syscall.RawConn
	rbuf []byte
	// Unread bytes are rbuf[start:end].
	start, end int
	wbuf       []byte
	// pending is what a loop conn's socket has not yet taken of its
	// replies (a slice of wbuf).
	pending []byte

	mu     sync.Mutex
	closed bool
}

// newConn takes over fd, which is left non-blocking; on an error fd is
// closed.
func newConn(fd int) (*conn, error) {
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("making fd %d non-blocking: %w", fd, err)
	}
	f := os.NewFile(uintptr(fd), "hsmd connection")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &conn{fd: fd, f: f, raw: raw, rbuf: make([]byte, 16<<10)}, nil
}

// newLoopConn takes over fd, which is left non-blocking, for the
// one-thread loop: Go's poller never sees it. On an error fd is closed.
func newLoopConn(fd int) (*conn, error) {
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("making fd %d non-blocking: %w", fd, err)
	}
	return &conn{fd: fd, rbuf: make([]byte, 16<<10)}, nil
}

// openConn is newLoopConn for the one-thread loop, newConn otherwise.
func openConn(fd int, oneThread bool) (*conn, error) {
	if oneThread {
		return newLoopConn(fd)
	}
	return newConn(fd)
}

// errFrameTooLarge is a frame length above hsmproto.MaxFrameSize.
var errFrameTooLarge = errors.New("frame larger than the largest hsmd message")

// errShortFrame is a connection that ended inside a frame.
var errShortFrame = errors.New("connection closed in the middle of a frame")

// fill makes at least need unread bytes available.
func (c *conn) fill(need int) error {
	for c.end-c.start < need {
		c.makeRoom(need)
		n, err := c.f.Read(c.rbuf[c.end:])
		if err != nil && err != io.EOF {
			return err
		}
		if n == 0 {
			if c.end == c.start {
				return errEOF
			}
			return errShortFrame
		}
		c.end += n
	}
	return nil
}

// errEOF is a connection closed between frames.
var errEOF = errors.New("connection closed")

// readFrame returns the next message; it stays valid until the next read.
func (c *conn) readFrame() ([]byte, error) {
	if err := c.fill(4); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(c.rbuf[c.start:])
	if n > hsmproto.MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
	}
	if err := c.fill(4 + int(n)); err != nil {
		if err == errEOF {
			err = errShortFrame
		}
		return nil, err
	}
	msg := c.rbuf[c.start+4 : c.start+4+int(n)]
	c.start += 4 + int(n)
	if c.start == c.end {
		c.start, c.end = 0, 0
	}
	return msg, nil
}

// hasFrame reports whether nextFrame has a whole message (or a length it
// refuses) without reading.
func (c *conn) hasFrame() bool {
	unread := c.end - c.start
	if unread < 4 {
		return false
	}
	n := binary.BigEndian.Uint32(c.rbuf[c.start:])
	return n > hsmproto.MaxFrameSize || unread >= 4+int(n)
}

// nextFrame is readFrame for a loop conn: the next whole message, reading
// what the socket has without waiting; nil and no error when a whole
// message has not come yet.
func (c *conn) nextFrame() ([]byte, error) {
	for {
		if unread := c.end - c.start; unread >= 4 {
			n := binary.BigEndian.Uint32(c.rbuf[c.start:])
			if n > hsmproto.MaxFrameSize {
				return nil, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
			}
			if unread >= 4+int(n) {
				msg := c.rbuf[c.start+4 : c.start+4+int(n)]
				c.start += 4 + int(n)
				if c.start == c.end {
					c.start, c.end = 0, 0
				}
				return msg, nil
			}
			c.makeRoom(4 + int(n))
		} else {
			c.makeRoom(4)
		}
		n, err := syscall.Read(c.fd, c.rbuf[c.end:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return nil, nil
		case err != nil:
			return nil, err
		case n == 0 && c.end == c.start:
			return nil, errEOF
		case n == 0:
			return nil, errShortFrame
		}
		c.end += n
	}
}

// makeRoom makes rbuf hold need bytes from start, keeping what is unread.
func (c *conn) makeRoom(need int) {
	if len(c.rbuf)-c.start >= need {
		return
	}
	if need > len(c.rbuf) {
		nb := make([]byte, max(need, 2*len(c.rbuf)))
		c.end = copy(nb, c.rbuf[c.start:c.end])
		c.rbuf = nb
	} else {
		c.end = copy(c.rbuf, c.rbuf[c.start:c.end])
	}
	c.start = 0
}

// writeFrame writes one framed message; a loop conn waits in poll(2) while
// the socket is full (lightningd's own connection only: clients use
// queueFrame).
func (c *conn) writeFrame(msg []byte) error {
	c.wbuf = binary.BigEndian.AppendUint32(c.wbuf[:0], uint32(len(msg)))
	c.wbuf = append(c.wbuf, msg...)
	if c.f == nil {
		c.pending = c.wbuf
		return c.flushWaiting()
	}
	_, err := c.f.Write(c.wbuf) // EPIPE, not SIGPIPE: the fd is not 1 or 2
	return err
}

// queueFrame writes what a loop conn's socket takes of one framed message
// now and keeps the rest in pending for the loop to flush: a client that
// does not read its replies holds up no other.
func (c *conn) queueFrame(msg []byte) error {
	c.wbuf = binary.BigEndian.AppendUint32(c.wbuf[:0], uint32(len(msg)))
	c.wbuf = append(c.wbuf, msg...)
	c.pending = c.wbuf
	_, err := c.flush()
	return err
}

// flush writes what the socket takes of pending without waiting; done
// says all of it went.
func (c *conn) flush() (done bool, err error) {
	for len(c.pending) > 0 {
		n, err := sendNow(c.fd, c.pending)
		if err == syscall.EAGAIN {
			return false, nil
		}
		if err != nil {
			c.pending = nil
			return false, err
		}
		c.pending = c.pending[n:]
	}
	c.pending = nil
	return true, nil
}

// flushWaiting writes all of pending, waiting in poll(2) while the socket
// is full.
func (c *conn) flushWaiting() error {
	for {
		done, err := c.flush()
		if done || err != nil {
			return err
		}
		if err := waitWritable(c.fd); err != nil {
			return err
		}
	}
}

// waitWritable waits until fd can take more.
func waitWritable(fd int) error {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		_, err := unix.Poll(pfd, -1)
		if err != unix.EINTR {
			return err
		}
	}
}

// writeAll writes b in full to a blocking socket; a peer that went away
// gives EPIPE, never SIGPIPE.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.SendmsgN(fd, b, nil, nil, syscall.MSG_NOSIGNAL)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// sendFD passes fd with SCM_RIGHTS and one data byte 0x00, as CLN's
// ccan/fdpass does.
func (c *conn) sendFD(fd int) error {
	rights := syscall.UnixRights(fd)
	var err error
	if c.raw == nil {
		for {
			err = syscall.Sendmsg(c.fd, []byte{0}, rights, nil, syscall.MSG_NOSIGNAL)
			switch err {
			case syscall.EINTR:
			case syscall.EAGAIN:
				if err := waitWritable(c.fd); err != nil {
					return err
				}
			default:
				return err
			}
		}
	}
	werr := c.raw.Write(func(s uintptr) bool {
		err = syscall.Sendmsg(int(s), []byte{0}, rights, nil, syscall.MSG_NOSIGNAL)
		return err != syscall.EAGAIN && err != syscall.EINTR
	})
	if werr != nil {
		return werr
	}
	return err
}

// shutdown wakes a goroutine waiting to read c: its read sees EOF. The fd
// stays open until close, so it cannot be reused under the reader.
func (c *conn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
	}
}

// close closes the socket; only the goroutine that reads c calls it.
func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		if c.f != nil {
			c.f.Close()
		} else {
			syscall.Close(c.fd)
		}
	}
}

// socketpair returns a connected pair of blocking unix stream sockets,
// close-on-exec.
func socketpair() (int, int, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	return fds[0], fds[1], nil
}
