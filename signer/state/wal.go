package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The write-ahead log, <state.db>-wal next to the bbolt file. A bbolt
// commit writes its pages and its meta page with an fdatasync after each
// (two flushes, and page allocation, per commit); a request that changes a
// channel would pay all of it. Instead each group commit appends one frame
// holding the new records to the log and fdatasyncs it once: the change is
// durable when that returns. Every walCheckpoint bytes (1 MB; and at Open and
// Close) the records the log holds are written to bbolt in one transaction
// and the log starts over. bbolt stays the store; the log is its journal.
//
// Log format: a 16-byte header, "glsw", u32 format = 1, u64 generation;
// then frames, each u32 payload length, u64 generation, u32 CRC-32C of the
// payload, then the payload: u16 put count, each u8 bucket (1 channels,
// 2 node, 3 meta, 4 operator), u16 key length, key, u32 value length, value. The log
// ends at the first frame that is short, has length 0, another generation
// or a CRC that does not match: a frame torn by a crash was never
// acknowledged (its fdatasync had not returned), and frames of an earlier
// generation are what is left of the file after a checkpoint.
//
// The file grows in walChunk steps written with zeros and fsynced, so that
// a frame overwrites blocks the file system has already allocated and an
// fdatasync has no metadata to write.

const (
	walMagic      = "glsw"
	walFormat     = 1
	walHeaderSize = 16
	walFrameHead  = 4 + 8 + 4
	walChunk      = 1 << 20
	// walCheckpoint is the log size that triggers a checkpoint.
	walCheckpoint = 1 << 20
	// walMaxFrame bounds a frame read back (a corrupt length allocates
	// nothing).
	walMaxFrame = 64 << 20
)

var walCRC = crc32.MakeTable(crc32.Castagnoli)

// walPath is the log of the store at path.
func walPath(path string) string { return path + "-wal" }

var walBuckets = [][]byte{nil, bucketChannels, bucketNode, bucketMeta, bucketOperator}

func walBucketID(b []byte) byte {
	for i, w := range walBuckets {
		if i > 0 && string(w) == string(b) {
			return byte(i)
		}
	}
	panic("state: no log id for bucket " + string(b))
}

// wal is the open log. Only the goroutine committing a group touches it.
type wal struct {
	f    *os.File
	gen  uint64
	off  int64 // where the next frame goes
	size int64 // bytes allocated (written) in the file
	buf  []byte
	// pending holds the latest value of every record the log carries
	// (bucket id ‖ key → value), for the next checkpoint.
	pending map[string][]byte
}

// openWAL opens (creating) the log at path and returns it with the puts
// of its valid frames, in order.
func openWAL(path string) (*wal, []put, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("the state log %s is readable or writable by others (mode %04o); run chmod 600 on it", path, fi.Mode().Perm())
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("could not open the state log: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("the state store is in use by another process or store (%s is locked): %w", path, err)
	}
	w := &wal{f: f, pending: make(map[string][]byte)}
	puts, err := w.read()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("could not read the state log %s: %w", path, err)
	}
	return w, puts, nil
}

// read reads the header and the valid frames; a missing or foreign header
// is an empty log.
func (w *wal) read() ([]put, error) {
	fi, err := w.f.Stat()
	if err != nil {
		return nil, err
	}
	w.size = fi.Size()
	w.off = walHeaderSize
	var head [walHeaderSize]byte
	if _, err := w.f.ReadAt(head[:], 0); err != nil {
		if errors.Is(err, io.EOF) && w.size == 0 {
			return nil, w.reset(1)
		}
		if errors.Is(err, io.EOF) {
			return nil, w.reset(1) // a header torn at creation
		}
		return nil, err
	}
	if string(head[:4]) != walMagic || binary.BigEndian.Uint32(head[4:8]) != walFormat {
		if head == ([walHeaderSize]byte{}) {
			return nil, w.reset(1)
		}
		return nil, fmt.Errorf("the log header is not one this signer writes (%x)", head[:8])
	}
	w.gen = binary.BigEndian.Uint64(head[8:])
	var puts []put
	for {
		var fh [walFrameHead]byte
		if _, err := w.f.ReadAt(fh[:], w.off); err != nil {
			break
		}
		n := binary.BigEndian.Uint32(fh[0:4])
		if n == 0 || n > walMaxFrame || binary.BigEndian.Uint64(fh[4:12]) != w.gen || w.off+walFrameHead+int64(n) > w.size {
			break
		}
		payload := make([]byte, n)
		if _, err := w.f.ReadAt(payload, w.off+walFrameHead); err != nil {
			break
		}
		if crc32.Checksum(payload, walCRC) != binary.BigEndian.Uint32(fh[12:16]) {
			break
		}
		ps, err := decodeWALFrame(payload)
		if err != nil {
			return nil, fmt.Errorf("frame at offset %d: %w", w.off, err)
		}
		puts = append(puts, ps...)
		w.off += walFrameHead + int64(n)
	}
	for _, p := range puts {
		w.pending[string(walBucketID(p.bucket))+string(p.key)] = p.value
	}
	return puts, nil
}

func decodeWALFrame(b []byte) ([]put, error) {
	r := &reader{b: b}
	n := r.count("puts", uint64(r.u16("put count")), 1+2+4)
	puts := make([]put, 0, n)
	for range n {
		id := r.u8("bucket")
		if r.err == nil && (id == 0 || int(id) >= len(walBuckets)) {
			r.fail("bucket", fmt.Errorf("unknown bucket %d", id))
		}
		key := r.take("key", int(r.u16("key length")))
		value := r.take("value", int(r.u32("value length")))
		if r.err != nil {
			break
		}
		puts = append(puts, put{walBuckets[id], key, value})
	}
	if err := r.end("log frame"); err != nil {
		return nil, err
	}
	return puts, nil
}

// append writes one frame carrying puts and fdatasyncs it.
func (w *wal) append(puts []put) error {
	b := w.buf[:0]
	b = append(b, make([]byte, walFrameHead)...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(puts)))
	for _, p := range puts {
		if len(p.key) > 0xffff || uint64(len(p.value)) > walMaxFrame || len(puts) > 0xffff {
			return errors.New("a record is too large for the state log")
		}
		b = append(b, walBucketID(p.bucket))
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.key)))
		b = append(b, p.key...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.value)))
		b = append(b, p.value...)
	}
	payload := b[walFrameHead:]
	if len(payload) > walMaxFrame {
		return errors.New("a commit is too large for the state log")
	}
	binary.BigEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint64(b[4:12], w.gen)
	binary.BigEndian.PutUint32(b[12:16], crc32.Checksum(payload, walCRC))
	w.buf = b
	// Room for the frame and the zero length that ends the log.
	if err := w.grow(w.off + int64(len(b)) + 4); err != nil {
		return err
	}
	if err := writeDurable(w.f, b, w.off); err != nil {
		return err
	}
	w.off += int64(len(b))
	for _, p := range puts {
		w.pending[string(walBucketID(p.bucket))+string(p.key)] = p.value
	}
	return nil
}

// grow allocates the file up to at least n bytes, in chunks of zeros.
func (w *wal) grow(n int64) error {
	if n <= w.size {
		return nil
	}
	target := (n + walChunk - 1) / walChunk * walChunk
	zeros := make([]byte, 64<<10)
	for off := w.size; off < target; off += int64(len(zeros)) {
		if _, err := w.f.WriteAt(zeros[:min(int64(len(zeros)), target-off)], off); err != nil {
			return err
		}
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	w.size = target
	return nil
}

// full reports whether the log is due a checkpoint.
func (w *wal) full() bool { return w.off >= walCheckpoint }

// checkpoint writes every record the log holds to bbolt (transactions
// of at most checkpointBatch records, each fsynced: a crash between them
// replays the log again, which writes the same values) and starts the log
// over.
func (w *wal) checkpoint(update func(func(*bolt.Tx) error) error) error {
	if len(w.pending) == 0 && w.off == walHeaderSize {
		return nil
	}
	keys := make([]string, 0, len(w.pending))
	for k := range w.pending {
		keys = append(keys, k)
	}
	slices.Sort(keys) // bbolt writes sorted keys with fewer page splits
	for len(keys) > 0 {
		n := min(len(keys), checkpointBatch)
		err := update(func(tx *bolt.Tx) error {
			for _, k := range keys[:n] {
				if err := tx.Bucket(walBuckets[k[0]]).Put([]byte(k[1:]), w.pending[k]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		keys = keys[n:]
	}
	return w.reset(w.gen + 1)
}

// checkpointBatch bounds one checkpoint transaction (its pages are held in
// memory until it commits).
const checkpointBatch = 200

// reset starts an empty log of generation gen: frames of earlier
// generations left in the file end it.
func (w *wal) reset(gen uint64) error {
	var head [walHeaderSize + 4]byte
	copy(head[:], walMagic)
	binary.BigEndian.PutUint32(head[4:8], walFormat)
	binary.BigEndian.PutUint64(head[8:16], gen)
	if err := w.grow(int64(len(head))); err != nil {
		return err
	}
	if _, err := w.f.WriteAt(head[:], 0); err != nil {
		return err
	}
	if err := fdatasync(w.f); err != nil {
		return err
	}
	w.gen, w.off = gen, walHeaderSize
	clear(w.pending)
	return nil
}

func (w *wal) close() error { return w.f.Close() }
