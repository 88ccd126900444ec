package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the store's file in the state directory.
const FileName = "state.db"

var (
	bucketChannels = []byte("channels")
	bucketNode     = []byte("node")
	bucketMeta     = []byte("meta")
	keyLastCommit  = []byte("last_commit")
)

// ErrClosed is returned by updates after Close.
var ErrClosed = errors.New("the state store is closed")

// Store is the durable state: its contents in memory, every change in the
// write-ahead log before it is acknowledged, and the bbolt file the log is
// checkpointed into. Safe for concurrent use.
type Store struct {
	wal  *wal // the write-ahead log (wal.go); used only by the committing goroutine
	path string

	mu       sync.RWMutex
	channels map[ChannelID]*Channel
	node     *Node
	locks    map[ChannelID]*sync.Mutex
	closed   bool
	stats    Stats

	nodeMu sync.Mutex // serializes node-record updates

	gc        groupCommit
	batchPuts []put // write's buffer (the committing goroutine's)

	sync syncState // the node's copy (sync.go)

	operator operatorStore // the operator's record (operator.go)
	intents  intentRecords // consumed intents and issued runes (intents.go)
}

// Stats describe the store for `ctl status` and metrics.
type Stats struct {
	// LastCommit is when the last change was committed (zero: none since
	// the store was created).
	LastCommit time.Time
	// Commits is the number of bbolt transactions written since Open,
	// Changes the number of record changes they carried (Changes/Commits
	// is the group commit factor).
	Commits, Changes uint64
}

// put is one record write.
type put struct {
	bucket, key, value []byte
}

// commit is one caller's writes waiting to be committed.
type commit struct {
	puts []put
	err  chan error    // the outcome
	lead chan struct{} // this caller is to commit what is pending
}

// groupCommit batches concurrent callers' writes into one transaction
// (one fsync): the caller that finds no commit running commits everything
// pending, its own writes included; callers arriving meanwhile queue, and
// when the transaction is done the first of them takes over for the rest.
// A lone caller commits on its own goroutine, with no hand-off.
type groupCommit struct {
	mu      sync.Mutex
	idle    *sync.Cond // signalled when busy turns false
	pending []*commit
	busy    bool
	closed  bool
}

// Open opens (creating if needed) the store at path, mode 0600, and reads
// every record. A record that does not decode fails Open with an error
// naming its key; a file readable by others is refused.
func Open(path string) (*Store, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the state store %s is readable or writable by others (mode %04o); run chmod 600 on it", path, fi.Mode().Perm())
	}
	s := &Store{
		path:     path,
		channels: make(map[ChannelID]*Channel),
		node:     &Node{},
		locks:    make(map[ChannelID]*sync.Mutex),
	}
	s.sync.init()
	// The log is opened first: its lock keeps a second Store (in this
	// process or another) off the files while bbolt is closed.
	w, logged, err := openWAL(walPath(path))
	if err != nil {
		return nil, err
	}
	s.wal = w
	if err := s.load(logged); err != nil {
		w.close()
		return nil, err
	}
	s.gc.idle = sync.NewCond(&s.gc.mu)
	return s, nil
}

// updateDB runs fn in one bbolt transaction. bbolt is open only then (at
// Open, checkpoints and Close): between checkpoints the memory map of the
// file would only add to the resident set.
func (s *Store) updateDB(fn func(*bolt.Tx) error) error {
	// The freelist is rebuilt at open rather than written with every
	// commit: fewer pages per fsync.
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("could not open the state store %s: %w", s.path, err)
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// load reads the records from bbolt and then those of the log, newer;
// the log's are then checkpointed into bbolt.
func (s *Store) load(logged []put) error {
	err := s.updateDB(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketChannels, bucketNode, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		err := tx.Bucket(bucketChannels).ForEach(func(k, v []byte) error {
			ch, err := DecodeChannel(k, v)
			if err != nil {
				return err
			}
			s.channels[ch.ID] = ch
			return nil
		})
		if err != nil {
			return err
		}
		if v := tx.Bucket(bucketNode).Get(nodeKey); v != nil {
			n, err := DecodeNode(v)
			if err != nil {
				return err
			}
			s.node = n
		}
		if err := s.loadOperator(tx); err != nil {
			return err
		}
		if v := tx.Bucket(bucketMeta).Get(keyLastCommit); len(v) == 8 {
			s.stats.LastCommit = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("could not read the state store %s: %w", s.path, err)
	}
	for _, p := range logged {
		switch string(p.bucket) {
		case string(bucketChannels):
			ch, err := DecodeChannel(p.key, p.value)
			if err != nil {
				return fmt.Errorf("could not read the state log %s: %w", walPath(s.path), err)
			}
			s.channels[ch.ID] = ch
		case string(bucketNode):
			n, err := DecodeNode(p.value)
			if err != nil {
				return fmt.Errorf("could not read the state log %s: %w", walPath(s.path), err)
			}
			s.node = n
		case string(bucketOperator):
			if err := s.replayOperator(p.value); err != nil {
				return fmt.Errorf("could not read the state log %s: %w", walPath(s.path), err)
			}
		case string(bucketMeta):
			if string(p.key) == string(keyLastCommit) && len(p.value) == 8 {
				s.stats.LastCommit = time.Unix(0, int64(binary.BigEndian.Uint64(p.value)))
			}
		}
	}
	if err := s.wal.checkpoint(s.updateDB); err != nil {
		return fmt.Errorf("could not write the state log %s into the store: %w", walPath(s.path), err)
	}
	return nil
}

// Close waits for pending commits and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.gc.mu.Lock()
	s.gc.closed = true
	for s.gc.busy {
		s.gc.idle.Wait()
	}
	s.gc.mu.Unlock()
	err := s.wal.checkpoint(s.updateDB)
	if cerr := s.wal.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("could not close the state store %s: %w", s.path, err)
	}
	return nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Size is the size in bytes of the store's files (bbolt's and the log).
func (s *Store) Size() int64 {
	var n int64
	for _, p := range []string{s.path, walPath(s.path)} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Stats returns the commit statistics.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stats
}

// Channel returns a copy of channel id's state, and whether it is known.
func (s *Store) Channel(id ChannelID) (*Channel, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ch, ok := s.channels[id]
	if !ok {
		return &Channel{ID: id}, false
	}
	return ch.Clone(), true
}

// Channels returns a copy of every channel's state, by peer then dbid.
func (s *Store) Channels() []*Channel {
	s.mu.RLock()
	out := make([]*Channel, 0, len(s.channels))
	for _, ch := range s.channels {
		out = append(out, ch.Clone())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Channel) int {
		if c := bytes.Compare(a.ID.Peer[:], b.ID.Peer[:]); c != 0 {
			return c
		}
		switch {
		case a.ID.DBID < b.ID.DBID:
			return -1
		case a.ID.DBID > b.ID.DBID:
			return 1
		}
		return 0
	})
	return out
}

// ChannelCount is the number of channels held, tombstones included.
func (s *Store) ChannelCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.channels)
}

// Node returns a copy of the node-wide state.
func (s *Store) Node() *Node {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.node.Clone()
}

func (s *Store) channelLock(id ChannelID) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.locks[id]
	if !ok {
		l = new(sync.Mutex)
		s.locks[id] = l
	}
	return l
}

// UpdateChannel runs fn on a copy of channel id's state (its zero value,
// status Unknown, if the channel is new) and commits the result before
// returning. Updates of the same channel run one at a time in call order.
// An error from fn is returned and nothing is written; so is nothing when
// fn changes nothing.
func (s *Store) UpdateChannel(ctx context.Context, id ChannelID, fn func(*Channel) error) error {
	return s.update(ctx, id, true, false, func(ch *Channel, _ *Node) error { return fn(ch) })
}

// UpdateNode is UpdateChannel for the node-wide state.
func (s *Store) UpdateNode(ctx context.Context, fn func(*Node) error) error {
	return s.update(ctx, ChannelID{}, false, true, func(_ *Channel, n *Node) error { return fn(n) })
}

// UpdateChannelAndNode changes a channel and the node-wide state in one
// transaction (new_channel: the channel and the dbid high-water mark).
func (s *Store) UpdateChannelAndNode(ctx context.Context, id ChannelID, fn func(*Channel, *Node) error) error {
	return s.update(ctx, id, true, true, fn)
}

func (s *Store) update(ctx context.Context, id ChannelID, withChannel, withNode bool, fn func(*Channel, *Node) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Lock order: the channel, then the node record.
	if withChannel {
		l := s.channelLock(id)
		l.Lock()
		defer l.Unlock()
	}
	if withNode {
		s.nodeMu.Lock()
		defer s.nodeMu.Unlock()
	}
	var (
		oldCh, newCh     *Channel
		oldNode, newNode *Node
	)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	if withChannel {
		if ch, ok := s.channels[id]; ok {
			oldCh = ch
		} else {
			oldCh = &Channel{ID: id}
		}
		newCh = oldCh.Clone()
	}
	if withNode {
		oldNode = s.node
		newNode = oldNode.Clone()
	}
	s.mu.RUnlock()

	if s.sync.anyFrozen.Load() {
		if why, ok := s.sync.frozenReason(ChannelEntryKey(id)); ok && withChannel {
			return fmt.Errorf("%w: %s", ErrFrozen, why)
		}
		if why, ok := s.sync.frozenReason(nodeEntryKey); ok && withNode {
			return fmt.Errorf("%w: %s", ErrFrozen, why)
		}
	}
	if err := fn(newCh, newNode); err != nil {
		return err
	}
	var puts []put
	if withChannel {
		newCh.ID, newCh.Version = id, oldCh.Version
		rec, changed, err := changedChannel(oldCh, newCh)
		if err != nil {
			return err
		}
		if changed {
			puts = append(puts, put{bucketChannels, channelKey(id), rec})
		} else {
			newCh = nil
		}
	}
	if withNode {
		newNode.Version = oldNode.Version
		rec, changed, err := changedNode(oldNode, newNode)
		if err != nil {
			return err
		}
		if changed {
			puts = append(puts, put{bucketNode, nodeKey, rec})
		} else {
			newNode = nil
		}
	}
	if len(puts) == 0 {
		return nil
	}
	if err := s.submit(&commit{puts: puts}); err != nil {
		return err
	}
	s.mu.Lock()
	if newCh != nil {
		s.channels[id] = newCh
	}
	if newNode != nil {
		s.node = newNode
	}
	s.mu.Unlock()
	if newCh != nil {
		s.sync.changed(ChannelEntryKey(id))
	}
	if newNode != nil {
		s.sync.changed(nodeEntryKey)
	}
	return nil
}

// submit commits c's writes (with whatever else is pending) and returns
// once they are on disk.
func (s *Store) submit(c *commit) error {
	c.err = make(chan error, 1)
	c.lead = make(chan struct{}, 1)
	g := &s.gc
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	g.pending = append(g.pending, c)
	if g.busy {
		g.mu.Unlock()
		select {
		case err := <-c.err:
			return err
		case <-c.lead:
		}
		g.mu.Lock()
	}
	g.busy = true
	batch := g.pending
	if len(batch) > maxBatch {
		batch = batch[:maxBatch]
	}
	g.pending = g.pending[len(batch):]
	g.mu.Unlock()

	s.write(batch)

	g.mu.Lock()
	if len(g.pending) > 0 {
		g.pending[0].lead <- struct{}{} // the next caller commits the rest
	} else {
		g.busy = false
		g.idle.Broadcast()
	}
	g.mu.Unlock()
	return <-c.err
}

// changedChannel encodes newCh with its version advanced, if it differs
// from oldCh.
func changedChannel(oldCh, newCh *Channel) ([]byte, bool, error) {
	buf := encodeBuffers.Get().(*[]byte)
	defer encodeBuffers.Put(buf)
	before, err := appendChannel((*buf)[:0], oldCh)
	*buf = before
	if err != nil {
		return nil, false, err
	}
	after, err := EncodeChannel(newCh)
	if err != nil {
		return nil, false, err
	}
	if equalRecords(before, after) {
		return nil, false, nil
	}
	newCh.Version++
	binary.BigEndian.PutUint64(after[1:9], newCh.Version)
	return after, true, nil
}

// encodeBuffers hold the encodings of records before a change, compared
// and dropped.
var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func changedNode(oldNode, newNode *Node) ([]byte, bool, error) {
	before, err := EncodeNode(oldNode)
	if err != nil {
		return nil, false, err
	}
	after, err := EncodeNode(newNode)
	if err != nil {
		return nil, false, err
	}
	if equalRecords(before, after) {
		return nil, false, nil
	}
	newNode.Version++
	binary.BigEndian.PutUint64(after[1:9], newNode.Version)
	return after, true, nil
}

// write commits a batch: one frame of the log, one fdatasync (and, when
// the log is full, a checkpoint into bbolt); then it tells each caller.
func (s *Store) write(batch []*commit) {
	now := time.Now()
	puts := s.batchPuts[:0]
	for _, c := range batch {
		puts = append(puts, c.puts...)
	}
	puts = append(puts, put{bucketMeta, keyLastCommit, binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))})
	err := s.wal.append(puts)
	if err == nil && s.wal.full() {
		err = s.wal.checkpoint(s.updateDB)
	}
	clear(puts)
	s.batchPuts = puts[:0]
	if err != nil {
		err = fmt.Errorf("could not commit to the state store: %w", err)
	} else {
		s.mu.Lock()
		s.stats.LastCommit = now
		s.stats.Commits++
		s.stats.Changes += uint64(len(batch))
		s.mu.Unlock()
	}
	for _, c := range batch {
		c.err <- err
	}
}

// maxBatch bounds one group commit.
const maxBatch = 512
