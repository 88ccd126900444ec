package hsmproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrameSize is the largest message ReadFrame accepts and WriteFrame
// writes: 8 MiB. CLN sets no limit of its own; real hsmd traffic stays far
// below (the largest messages are sign_withdrawal PSBTs, a few kilobytes
// per input), while a hostile length cannot make a reader allocate more.
const MaxFrameSize = 8 << 20

// ErrFrameTooLarge is returned for a length above MaxFrameSize.
var ErrFrameTooLarge = errors.New("hsmproto: frame larger than MaxFrameSize")

// ReadFrame reads one frame as on every hsmd socket: a 4-byte big-endian
// length, then that many bytes of message (u16 type first). It returns
// io.EOF if r ends before the first length byte, io.ErrUnexpectedEOF if
// it ends inside a frame. Memory grows with the bytes actually received,
// not with the announced length.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrameSize {
		return nil, fmt.Errorf("%w: length %d", ErrFrameTooLarge, n)
	}
	var buf bytes.Buffer
	buf.Grow(int(min(n, 64<<10)))
	got, err := io.CopyN(&buf, r, int64(n))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("hsmproto: frame of %d bytes cut after %d: %w", n, got, err)
	}
	return buf.Bytes(), nil
}

// WriteFrame writes msg with its 4-byte big-endian length, in one Write.
func WriteFrame(w io.Writer, msg []byte) error {
	if len(msg) > MaxFrameSize {
		return fmt.Errorf("%w: length %d", ErrFrameTooLarge, len(msg))
	}
	frame := make([]byte, 4, 4+len(msg))
	binary.BigEndian.PutUint32(frame, uint32(len(msg)))
	_, err := w.Write(append(frame, msg...))
	return err
}
