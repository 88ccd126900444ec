package clnhsmd

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestStatusWriterKeepsFramesWhole sends from many goroutines into a
// socket with a small buffer that lightningd's side reads slowly, so that
// messages are written at once, cut short and queued in turn: every frame
// must arrive whole, each sender's in order, and none that may not be
// dropped may be missing.
func TestStatusWriterKeepsFramesWhole(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.SetsockoptInt(fds[0], syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	w := newStatusWriter(fds[0])
	lightningd := os.NewFile(uintptr(fds[1]), "lightningd")
	defer lightningd.Close()

	const senders, each = 8, 300
	got := make(chan map[int][]int, 1)
	go func() {
		seen := map[int][]int{}
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(lightningd, hdr[:]); err != nil {
				got <- seen
				return
			}
			msg := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(lightningd, msg); err != nil {
				t.Errorf("a frame was cut: %v", err)
				got <- seen
				return
			}
			var s, i int
			var pad string
			if _, err := fmt.Sscanf(string(msg[4:len(msg)-1]), "%d %d %s", &s, &i, &pad); err != nil {
				t.Errorf("a frame was mixed up: %q", msg)
				continue
			}
			seen[s] = append(seen[s], i)
			if i%50 == 0 {
				time.Sleep(time.Millisecond) // a slow reader: the buffer fills
			}
		}
	}()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				text := fmt.Sprintf("%d %d %0*d", s, i, 200+(i*37)%900, 0)
				level := LogDebug
				if i%3 == 0 {
					level = LogInfo // may not be dropped
				}
				w.log(level, nil, text)
			}
		}()
	}
	wg.Wait()
	w.close()
	syscall.Close(fds[0])
	seen := <-got
	for s := range senders {
		last := -1
		kept := map[int]bool{}
		for _, i := range seen[s] {
			if i <= last {
				t.Fatalf("sender %d: message %d after %d", s, i, last)
			}
			last, kept[i] = i, true
		}
		for i := 0; i < each; i += 3 {
			if !kept[i] {
				t.Fatalf("sender %d: info message %d is missing", s, i)
			}
		}
	}
}

// A message that may not be dropped never waits for lightningd, however
// many are queued (lightningd reads status only between its own requests,
// which a waiting sender could be answering), and every one arrives, in
// order, once lightningd reads.
func TestStatusWriterNeverWaits(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := newStatusWriter(fds[0])
	const n = 4 * statusQueueLen
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n {
			w.log(LogInfo, nil, fmt.Sprintf("%d %0500d", i, 0))
		}
	}()
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("sending waited for lightningd to read")
	}
	lightningd := os.NewFile(uintptr(fds[1]), "lightningd")
	defer lightningd.Close()
	closed := make(chan struct{})
	go func() {
		w.close()
		syscall.Close(fds[0])
		close(closed)
	}()
	var hdr [4]byte
	for i := range n {
		if _, err := io.ReadFull(lightningd, hdr[:]); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		msg := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(lightningd, msg); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		var got int
		if _, err := fmt.Sscanf(string(msg[4:]), "%d ", &got); err != nil || got != i {
			t.Fatalf("message %d: got %q", i, msg[4:min(len(msg), 20)])
		}
	}
	<-closed
}
