package hsmproto

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	msgs := [][]byte{{0, 18, 0, 0, 0, 0, 0, 0, 0, 1}, {0, 33}, bytes.Repeat([]byte{7}, 100000)}
	for _, m := range msgs {
		if err := WriteFrame(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte{0, 0, 0, 10, 0, 18}) {
		t.Fatalf("frame layout: %x", buf.Bytes()[:6])
	}
	r := iotest.HalfReader(&buf) // short reads must not matter
	for _, want := range msgs {
		got, err := ReadFrame(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes, %v", len(got), err)
		}
	}
	if _, err := ReadFrame(r); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

// failAfter fails the test if more than n bytes are read from it.
type failAfter struct {
	t *testing.T
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	f.n -= n
	if f.n < 0 {
		f.t.Fatal("ReadFrame read past the length of an oversized frame")
	}
	return n, err
}

func TestFrameLimits(t *testing.T) {
	// A length of 2^32-1 fails at once, without reading on or allocating.
	huge := &failAfter{t: t, r: io.MultiReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}), zeros{}), n: 4}
	if _, err := ReadFrame(huge); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("2^32-1: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0x80, 0, 1})); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("MaxFrameSize+1: %v", err)
	}
	// A frame cut short.
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0, 0, 9, 0, 1})); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short frame: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0})); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short length: %v", err)
	}
	// A claimed large length is not allocated before the data comes.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ReadFrame(bytes.NewReader([]byte{0, 0x7f, 0xff, 0xff, 0, 1}))
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("allocated %d bytes for a frame cut after 2 bytes", got)
	}
	if err := WriteFrame(io.Discard, make([]byte, MaxFrameSize+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("WriteFrame of MaxFrameSize+1: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
