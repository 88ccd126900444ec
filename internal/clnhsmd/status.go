package clnhsmd

import (
	"encoding/binary"
	"sync"
	"syscall"
	"time"
)

// Status messages (CLN's common/status_wire.csv) go to lightningd on fd 0.
// lightningd logs them under the hsmd's name; status_fail is the last thing
// a dying subdaemon says.
const (
	typeStatusLog     = 0xFFF0
	typeStatusFail    = 0xFFF2
	typeStatusVersion = 0xFFF6
)

// LogLevel is CLN's enum log_level.
type LogLevel uint8

const (
	LogDebug   LogLevel = 3
	LogInfo    LogLevel = 4
	LogUnusual LogLevel = 5
	LogBroken  LogLevel = 6
)

// FailReason is CLN's enum status_failreason.
type FailReason uint8

const (
	// FailMasterIO: lightningd sent a bad request.
	FailMasterIO FailReason = 0
	// FailInternal: anything else that makes hsmd give up.
	FailInternal FailReason = 3
)

// wirestring appends s and its NUL terminator, as towire_wirestring does.
func wirestring(b []byte, s string) []byte {
	return append(append(b, s...), 0)
}

func statusVersion(version string) []byte {
	return wirestring(binary.BigEndian.AppendUint16(nil, typeStatusVersion), version)
}

// statusLog is status_log: level, optional peer, text.
func statusLog(level LogLevel, peer *[33]byte, text string) []byte {
	b := binary.BigEndian.AppendUint16(nil, typeStatusLog)
	b = append(b, byte(level))
	if peer != nil {
		b = append(b, 1)
		b = append(b, peer[:]...)
	} else {
		b = append(b, 0)
	}
	return wirestring(b, text)
}

func statusFail(reason FailReason, text string) []byte {
	b := binary.BigEndian.AppendUint16(nil, typeStatusFail)
	b = append(b, byte(reason))
	return wirestring(b, text)
}

// statusWriter sends messages to lightningd's status socket without making
// a request wait on it (as CLN's daemon_conn queues them): a message is
// written at once, from the caller, when nothing is queued and the socket
// takes it whole without blocking (the common case, and no hand-off to
// another thread per request); otherwise it is queued, in order, for one
// writer goroutine. Debug messages are dropped once statusQueueLen
// messages wait; the others are always queued, never waited for, as
// daemon_conn does: lightningd reads status only between its own requests,
// so a sender that waited for room while lightningd waited for its reply
// would never be answered.
type statusWriter struct {
	fd   int
	done chan struct{}
	once sync.Once

	mu   sync.Mutex
	wake *sync.Cond // on mu: a message was queued, or closing was set
	// queue holds framed messages (the first may be the rest of one cut
	// short), in order; while it is not empty, or writing is set, a
	// message goes behind them, never past them.
	queue   [][]byte
	writing bool // run is writing a message taken from queue
	closing bool
	// dead is set when lightningd stopped reading status.
	dead bool
}

const statusQueueLen = 1024

// statusFlushTimeout bounds how long close waits for lightningd to take
// the last messages (CLN's flush_and_exit gives itself 10 seconds).
const statusFlushTimeout = 10 * time.Second

func newStatusWriter(fd int) *statusWriter {
	w := &statusWriter{fd: fd, done: make(chan struct{})}
	w.wake = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// run writes what is queued until the writer is closing and the queue is
// empty.
func (w *statusWriter) run() {
	defer close(w.done)
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for len(w.queue) == 0 && !w.closing {
			w.wake.Wait()
		}
		if len(w.queue) == 0 {
			return
		}
		b := w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.writing = true
		dead := w.dead
		w.mu.Unlock()
		var err error
		if !dead {
			err = writeAll(w.fd, b)
		}
		w.mu.Lock()
		w.writing = false
		if err != nil {
			w.dead = true
		}
	}
}

// send writes or queues msg; a debug message is dropped rather than
// queued past statusQueueLen, and nothing is sent once the writer is
// closing. It never waits for lightningd.
func (w *statusWriter) send(msg []byte, droppable bool) {
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(msg)), uint32(len(msg)))
	frame = append(frame, msg...)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing || w.dead {
		return
	}
	if len(w.queue) == 0 && !w.writing {
		n, err := sendNow(w.fd, frame)
		switch {
		case err == nil && n == len(frame):
			return
		case err != nil && err != syscall.EAGAIN:
			w.dead = true
			return
		}
		// The socket took part of it or none: the rest goes first in
		// the queue (even a debug message: a frame is never left cut).
		if n > 0 {
			frame, droppable = frame[n:], false
		}
	}
	if droppable && len(w.queue) >= statusQueueLen {
		return
	}
	w.queue = append(w.queue, frame)
	w.wake.Signal()
}

// sendNow writes what the socket takes of b without blocking.
func sendNow(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.SendmsgN(fd, b, nil, nil, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL)
		if err == syscall.EINTR {
			continue
		}
		return n, err
	}
}

func (w *statusWriter) log(level LogLevel, peer *[33]byte, text string) {
	w.send(statusLog(level, peer, text), level <= LogDebug)
}

// close writes what is queued, waiting at most statusFlushTimeout for
// lightningd to read it, and stops.
func (w *statusWriter) close() {
	w.once.Do(func() {
		w.mu.Lock()
		w.closing = true
		w.wake.Signal()
		w.mu.Unlock()
	})
	select {
	case <-w.done:
	case <-time.After(statusFlushTimeout):
	}
}
