package clnhsmd

import (
	"bytes"
	"sync"
	"syscall"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
)

var (
	fuzzEngineOnce sync.Once
	fuzzEngine     *signer.Engine
)

// FuzzServe feeds arbitrary bytes to a client connection and then to the
// master connection of a server with a real engine, served either way
// (a goroutine per client, or one thread): it must never panic
// nor hang, and must end with one of CLN's exit statuses once lightningd
// goes away.
func FuzzServe(f *testing.F) {
	for _, oneThread := range []bool{false, true} {
		f.Add([]byte{0, 0, 0, 2, 0, 22}, []byte{0, 0, 0, 2, 0, 27}, oneThread)
		f.Add([]byte{0xff, 0xff, 0xff, 0xff}, []byte{0, 0, 0, 1, 7}, oneThread)
		f.Add([]byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 0, 0, 1}, append([]byte{0, 0, 0, 51}, append([]byte{0, 9}, make([]byte, 49)...)...), oneThread)
		f.Add([]byte{}, []byte{0, 0, 0, 3, 0, 33, 0, 0, 0, 0, 2, 0, 99}, oneThread)
	}
	f.Fuzz(func(t *testing.T, clientIn, masterIn []byte, oneThread bool) {
		fuzzEngineOnce.Do(func() {
			var err error
			if fuzzEngine, err = signer.NewEngine(bytes.Repeat([]byte{1}, 32)); err != nil {
				t.Fatal(err)
			}
		})
		l := serveIn(t, oneThread, false, func(*hsmproto.Init, func(LogLevel, string)) (Handler, error) { return fuzzEngine, nil })
		if _, err := call(l.master, testInit); err != nil {
			t.Fatal(err)
		}
		c := l.client(testPeer, 1, 0xFFFF&^CapMasterBit)
		fdRW(c).Write(clientIn)
		syscall.Shutdown(c, syscall.SHUT_WR)
		// Drain replies so that the server never blocks writing; the
		// drains end when the server closes its ends, before the test
		// closes (and the next run reuses) these fds.
		var drains sync.WaitGroup
		drain := func(fd int) {
			defer drains.Done()
			var b [4096]byte
			for {
				if n, _ := syscall.Read(fd, b[:]); n <= 0 {
					return
				}
			}
		}
		drains.Add(2)
		go drain(c)
		go drain(l.master)
		defer func() {
			drains.Wait()
			syscall.Close(c)
		}()
		fdRW(l.master).Write(masterIn)
		syscall.Shutdown(l.master, syscall.SHUT_WR)
		select {
		case e := <-l.done:
			l.done <- e
			if e.Code != clnMasterGone && e.Code != clnFatal {
				t.Fatalf("exit %+v", e)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not stop after lightningd went away")
		}
	})
}

// CapMasterBit is the master capability, which lightningd never gives a
// client.
const CapMasterBit = signer.CapMaster
