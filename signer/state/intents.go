package state

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The user's intents (signer/intent) keep two records here, each in a
// bucket of its own, written straight to bbolt in a transaction of its
// own (Store.updateDB; they are rare: one per payment, withdrawal,
// channel or rune), not through the log, and held in memory once read:
//
//   - intents: a pending call consumed by a request, keyed by the call's
//     32-byte id, so that a restart does not let it authorize a second
//     request; pruned once too old to be accepted at all.
//   - runes: the runes issued for applications, keyed by their unique id
//     (big-endian u64).
var (
	bucketIntents = []byte("intents")
	bucketRunes   = []byte("runes")
)

// intentRecordFormat and runeRecordFormat lead each record's encoding.
const (
	intentRecordFormat = 1
	runeRecordFormat   = 1
)

// ConsumedIntent is a pending call that authorized a request.
type ConsumedIntent struct {
	// TimestampMs is the call's timestamp (ms since 1970): pruning reads it.
	TimestampMs uint64
	// Purpose is SHA-256 of what it authorized: the request, or the
	// payment, channel or close the request is part of (signer/intent);
	// requests of the same purpose are authorized again, nothing else.
	Purpose [32]byte
	// Method is the call's gRPC URI.
	Method string
}

// EncodeConsumedIntent is the record's bytes: format 1, u64 timestamp,
// 32-byte purpose hash, u16 length and the method.
func EncodeConsumedIntent(c ConsumedIntent) ([]byte, error) {
	if len(c.Method) > 0xffff {
		return nil, fmt.Errorf("a consumed intent's method is %d bytes, more than 65535", len(c.Method))
	}
	b := []byte{intentRecordFormat}
	b = binary.BigEndian.AppendUint64(b, c.TimestampMs)
	b = append(b, c.Purpose[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Method)))
	return append(b, c.Method...), nil
}

// DecodeConsumedIntent reads EncodeConsumedIntent's bytes.
func DecodeConsumedIntent(b []byte) (ConsumedIntent, error) {
	var c ConsumedIntent
	if len(b) < 1+8+32+2 {
		return c, fmt.Errorf("a consumed intent record is %d bytes, shorter than its fixed part (43)", len(b))
	}
	if b[0] != intentRecordFormat {
		return c, fmt.Errorf("a consumed intent record has format %d; this version reads %d", b[0], intentRecordFormat)
	}
	c.TimestampMs = binary.BigEndian.Uint64(b[1:])
	copy(c.Purpose[:], b[9:41])
	n := int(binary.BigEndian.Uint16(b[41:]))
	if len(b) != 43+n {
		return c, fmt.Errorf("a consumed intent record's method is %d bytes, the record holds %d", n, len(b)-43)
	}
	c.Method = string(b[43:])
	return c, nil
}

// intentRecords are the intents and runes in memory, read from bbolt on
// first use; mu serializes their changes (each one bbolt transaction).
type intentRecords struct {
	mu       sync.Mutex
	loaded   bool
	consumed map[[32]byte]ConsumedIntent
	runes    []IssuedRune
}

// intentsLocked reads the records from bbolt the first time; the caller
// holds s.intents.mu.
func (s *Store) intentsLocked() (*intentRecords, error) {
	r := &s.intents
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if r.loaded {
		return r, nil
	}
	consumed := map[[32]byte]ConsumedIntent{}
	var runes []IssuedRune
	err := s.updateDB(func(tx *bolt.Tx) error {
		bi, err := tx.CreateBucketIfNotExists(bucketIntents)
		if err != nil {
			return err
		}
		br, err := tx.CreateBucketIfNotExists(bucketRunes)
		if err != nil {
			return err
		}
		err = bi.ForEach(func(k, v []byte) error {
			c, err := DecodeConsumedIntent(v)
			if err != nil || len(k) != 32 {
				return nil // unreadable: it can no longer be matched; pruned below
			}
			consumed[[32]byte(k)] = c
			return nil
		})
		if err != nil {
			return err
		}
		return br.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("a rune record has a %d-byte key; expected 8", len(k))
			}
			ru, err := DecodeIssuedRune(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			runes = append(runes, ru)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("could not read the intents in the state store %s: %w", s.path, err)
	}
	r.consumed, r.runes, r.loaded = consumed, runes, true
	return r, nil
}

// ConsumeIntent records intent id as consumed by rec, unless it already
// was: then it returns the earlier record and false. The record is
// committed (fsynced) before it returns; a record already there is only
// read.
func (s *Store) ConsumeIntent(id [32]byte, rec ConsumedIntent) (ConsumedIntent, bool, error) {
	val, err := EncodeConsumedIntent(rec)
	if err != nil {
		return ConsumedIntent{}, false, err
	}
	s.intents.mu.Lock()
	defer s.intents.mu.Unlock()
	r, err := s.intentsLocked()
	if err != nil {
		return ConsumedIntent{}, false, err
	}
	if old, ok := r.consumed[id]; ok {
		return old, false, nil
	}
	err = s.updateDB(func(tx *bolt.Tx) error { return tx.Bucket(bucketIntents).Put(id[:], val) })
	if err != nil {
		return ConsumedIntent{}, false, fmt.Errorf("could not record a consumed intent in the state store %s: %w", s.path, err)
	}
	r.consumed[id] = rec
	return rec, true, nil
}

// PruneIntents forgets consumed intents whose timestamp is before
// beforeMs and returns how many.
func (s *Store) PruneIntents(beforeMs uint64) (int, error) {
	s.intents.mu.Lock()
	defer s.intents.mu.Unlock()
	r, err := s.intentsLocked()
	if err != nil {
		return 0, err
	}
	var old [][32]byte
	for id, c := range r.consumed {
		if c.TimestampMs < beforeMs {
			old = append(old, id)
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	err = s.updateDB(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIntents)
		for _, id := range old {
			if err := b.Delete(id[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("could not prune consumed intents in the state store %s: %w", s.path, err)
	}
	for _, id := range old {
		delete(r.consumed, id)
	}
	return len(old), nil
}

// ConsumedIntents is the number of consumed intents remembered.
func (s *Store) ConsumedIntents() (int, error) {
	s.intents.mu.Lock()
	defer s.intents.mu.Unlock()
	r, err := s.intentsLocked()
	if err != nil {
		return 0, err
	}
	return len(r.consumed), nil
}

// IssuedRune is a rune issued for an application (gl-signerd ctl rune
// create).
type IssuedRune struct {
	// ID is its unique id (the "N" of "=N-gl0").
	ID uint64
	// Created is when it was issued.
	Created time.Time
	// Rune is the rune in URL-safe base64 (it is bound to a device key,
	// useless without that key's signatures).
	Rune string
	// Restrictions is its text after the unique id.
	Restrictions string
}

// EncodeIssuedRune is the record's bytes: format 1, u64 creation time (Unix
// seconds), u16 length and the rune, u16 length and the restrictions.
func EncodeIssuedRune(r IssuedRune) ([]byte, error) {
	if len(r.Rune) > 0xffff || len(r.Restrictions) > 0xffff {
		return nil, fmt.Errorf("rune %d is longer than 65535 bytes", r.ID)
	}
	b := []byte{runeRecordFormat}
	b = binary.BigEndian.AppendUint64(b, uint64(r.Created.Unix()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Rune)))
	b = append(b, r.Rune...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Restrictions)))
	return append(b, r.Restrictions...), nil
}

// DecodeIssuedRune reads EncodeIssuedRune's bytes for rune id.
func DecodeIssuedRune(id uint64, b []byte) (IssuedRune, error) {
	r := IssuedRune{ID: id}
	if len(b) < 1+8+2 {
		return r, fmt.Errorf("rune record %d is %d bytes, shorter than its fixed part (11)", id, len(b))
	}
	if b[0] != runeRecordFormat {
		return r, fmt.Errorf("rune record %d has format %d; this version reads %d", id, b[0], runeRecordFormat)
	}
	r.Created = time.Unix(int64(binary.BigEndian.Uint64(b[1:])), 0).UTC()
	rest := b[9:]
	str := func(what string) (string, bool) {
		if len(rest) < 2 {
			return "", false
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+n {
			return "", false
		}
		s := string(rest[2 : 2+n])
		rest = rest[2+n:]
		return s, true
	}
	var ok bool
	if r.Rune, ok = str("rune"); !ok {
		return r, fmt.Errorf("rune record %d: its rune is cut short", id)
	}
	if r.Restrictions, ok = str("restrictions"); !ok {
		return r, fmt.Errorf("rune record %d: its restrictions are cut short", id)
	}
	if len(rest) != 0 {
		return r, fmt.Errorf("rune record %d has %d bytes after its fields", id, len(rest))
	}
	return r, nil
}

// IssueRune records a new rune: issue is given the next unique id and
// returns the rune; it is committed before IssueRune returns.
func (s *Store) IssueRune(issue func(id uint64) (IssuedRune, error)) (IssuedRune, error) {
	s.intents.mu.Lock()
	defer s.intents.mu.Unlock()
	r, err := s.intentsLocked()
	if err != nil {
		return IssuedRune{}, err
	}
	id := uint64(1) // 0 is Greenlight's own rune
	if n := len(r.runes); n > 0 {
		id = r.runes[n-1].ID + 1
	}
	ru, err := issue(id)
	if err != nil {
		return IssuedRune{}, err
	}
	ru.ID = id
	v, err := EncodeIssuedRune(ru)
	if err != nil {
		return IssuedRune{}, err
	}
	err = s.updateDB(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRunes).Put(binary.BigEndian.AppendUint64(nil, id), v)
	})
	if err != nil {
		return IssuedRune{}, fmt.Errorf("could not record a rune in the state store %s: %w", s.path, err)
	}
	r.runes = append(r.runes, ru)
	return ru, nil
}

// Runes lists the runes issued, oldest first.
func (s *Store) Runes() ([]IssuedRune, error) {
	s.intents.mu.Lock()
	defer s.intents.mu.Unlock()
	r, err := s.intentsLocked()
	if err != nil {
		return nil, err
	}
	return slices.Clone(r.runes), nil
}
