package clnhsmd

import (
	"encoding/binary"
	"sync"
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

// statusWriter queues messages for lightningd's status socket and writes
// them from one goroutine, so that a request never waits on logging (as
// CLN's daemon_conn queues them). Debug messages are dropped when the queue
// is full; the others wait for room.
type statusWriter struct {
	fd    int
	queue chan []byte
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	// dead is set when lightningd stopped reading status (run only).
	dead bool
}

const statusQueueLen = 1024

// statusFlushTimeout bounds how long close waits for lightningd to take
// the last messages (CLN's flush_and_exit gives itself 10 seconds).
const statusFlushTimeout = 10 * time.Second

func newStatusWriter(fd int) *statusWriter {
	w := &statusWriter{fd: fd, queue: make(chan []byte, statusQueueLen), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *statusWriter) run() {
	defer close(w.done)
	var frame []byte
	write := func(msg []byte) {
		if w.dead {
			return
		}
		frame = binary.BigEndian.AppendUint32(frame[:0], uint32(len(msg)))
		frame = append(frame, msg...)
		if err := writeAll(w.fd, frame); err != nil {
			w.dead = true
		}
	}
	for {
		select {
		case msg := <-w.queue:
			write(msg)
		case <-w.stop:
			for {
				select {
				case msg := <-w.queue:
					write(msg)
				default:
					return
				}
			}
		}
	}
}

// send queues msg; a debug message is dropped rather than waited for, and
// nothing is queued once the writer is closing.
func (w *statusWriter) send(msg []byte, droppable bool) {
	if droppable {
		select {
		case w.queue <- msg:
		default:
		}
		return
	}
	select {
	case w.queue <- msg:
	case <-w.stop:
	}
}

func (w *statusWriter) log(level LogLevel, peer *[33]byte, text string) {
	w.send(statusLog(level, peer, text), level <= LogDebug)
}

// close writes what is queued, waiting at most statusFlushTimeout for
// lightningd to read it, and stops.
func (w *statusWriter) close() {
	w.once.Do(func() { close(w.stop) })
	select {
	case <-w.done:
	case <-time.After(statusFlushTimeout):
	}
}
