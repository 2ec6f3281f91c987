package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrClosed is returned by Update after Close.
var ErrClosed = errors.New("store: closed")

// DefaultMaxBatch is the most updates one commit takes by default.
const DefaultMaxBatch = 256

// Options tune a DB.
type Options struct {
	// NoSync skips fsync on commit. Only for benchmarks that compare.
	NoSync bool
	// MaxBatch is the most updates one commit takes; 0 means
	// DefaultMaxBatch.
	MaxBatch int
	// LazyDelay is the longest an UpdateLazy waits for another commit to
	// ride on before it is committed alone; 0 means 20ms.
	LazyDelay time.Duration
	// Buckets are the buckets of the node's role (RoleBuckets), which Open
	// creates beside the runtime's; nil means every role's (AllBuckets),
	// for tests and tools. Buckets already in the file are kept whether
	// named or not, so a file of an older layout still opens.
	Buckets []Bucket
	// Committed, if set, is called by the commit loop after each commit
	// that succeeded, with the number of updates it took and how long the
	// transaction took (its fsyncs included); it must be quick (the node's
	// metrics: internal/metrics).
	Committed func(batch int, took time.Duration)
}

// DB is one node's bbolt file with group commit.
//
// Update functions are queued and run one after another by a single commit
// goroutine; all that queued while the previous commit was syncing share the
// next transaction and its fsyncs, and so do those that goroutines ready to
// run are about to queue (see fill). There is no fixed wait: an idle DB
// commits a lone update at once.
//
// Locking: closeMu is held for reading by an Update while it waits for room
// in ops (and by UpdateLazy while it queues), and for writing by Close while
// it marks the DB closed and closes ops, so that nothing is sent on a closed
// channel. lazyMu guards lazy. The commit loop takes only lazyMu, and
// nobody holding lazyMu waits for anything, so the loop can always drain
// ops: an Update blocked on a full queue never holds what the loop needs.
type DB struct {
	bolt      *bolt.DB
	maxBatch  int
	committed func(batch int, took time.Duration)

	closeMu sync.RWMutex // guards closed and the send on ops
	closed  bool
	ops     chan *op
	done    chan struct{}

	lazyMu    sync.Mutex // guards lazy
	lazy      []*op
	lazyKick  chan struct{}
	lazyDelay time.Duration

	// pending counts the updates (lazy ones too) queued and not yet
	// committed or failed; progress is the time (Unix ns) the commit loop
	// last finished a commit, or the queue last became non-empty after
	// being empty. See Stats.
	pending  atomic.Int64
	progress atomic.Int64
	// failing is the time (Unix ns) of the first of the commits that
	// failed since the last one that succeeded (0: the last succeeded);
	// failErr the last such failure. See Stats.
	failing atomic.Int64
	failErr atomic.Pointer[error]
}

type op struct {
	fn   func(*Tx) error
	err  chan error
	lazy bool
	// afterCommit of the attempt that committed.
	after []func()
}

// Open opens (creating if needed) the file at path, the runtime's buckets
// and those of o.Buckets. A
// file bbolt cannot read is an error naming it (ErrCorrupt), never a
// panic; a file another process has open is ErrInUse after a short wait.
func Open(path string, o Options) (*DB, error) {
	if err := verify(path); err != nil {
		return nil, openError(path, err)
	}
	var b *bolt.DB
	err := safely(func() (err error) {
		b, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:        openTimeout,
			NoSync:         o.NoSync,
			NoFreelistSync: true,
			FreelistType:   bolt.FreelistMapType,
		})
		return err
	})
	if err != nil {
		return nil, openError(path, err)
	}
	err = safely(func() error {
		return b.Update(func(tx *bolt.Tx) error {
			roles := o.Buckets
			if roles == nil {
				roles = AllBuckets()
			}
			for _, name := range slices.Concat(runtimeBuckets, roles) {
				if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("store: create buckets in %s: %w", path, err)
	}
	db := &DB{bolt: b, maxBatch: o.MaxBatch, ops: make(chan *op, QueueSize), done: make(chan struct{}),
		lazyKick: make(chan struct{}, 1), lazyDelay: o.LazyDelay, committed: o.Committed}
	if db.maxBatch <= 0 {
		db.maxBatch = DefaultMaxBatch
	}
	if db.lazyDelay <= 0 {
		db.lazyDelay = 20 * time.Millisecond
	}
	db.progress.Store(time.Now().UnixNano())
	// The label names the file in a CPU profile (go tool pprof -tagfocus
	// db=switch.db), so one node's commits, its serial part, can be told
	// from the others'.
	go pprof.Do(context.Background(), pprof.Labels("db", filepath.Base(path)), func(context.Context) { db.commitLoop() })
	return db, nil
}

// Path is the file's path.
func (db *DB) Path() string { return db.bolt.Path() }

// Close waits for queued updates to commit, then closes the file. Updates
// that are waiting for room in the queue when Close is called are queued
// and committed too; those that come after it get ErrClosed. Close is safe
// to call concurrently with Update, UpdateLazy and itself.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		<-db.done
		return nil
	}
	db.closed = true
	close(db.ops)
	db.closeMu.Unlock()
	<-db.done
	return db.bolt.Close()
}

// Update runs fn in a read-write transaction and returns once that
// transaction is durably committed (or failed).
//
// fn may run more than once (when another update in its batch fails, the
// batch is rolled back and run again without it), so fn must have no effects
// outside tx; use Tx.OnCommit for those. When fn returns an error nothing it
// wrote is kept and Update returns that error.
//
// Update waits while the queue is full (QueueSize updates); it does not
// bound how many callers wait. Callers that take work from the network
// bound it themselves (node.Config.MaxInFlight).
func (db *DB) Update(fn func(*Tx) error) error {
	o := &op{fn: fn, err: make(chan error, 1)}
	db.closeMu.RLock()
	if db.closed {
		db.closeMu.RUnlock()
		return ErrClosed
	}
	db.queued()
	db.ops <- o // the commit loop drains ops without any lock we hold
	db.closeMu.RUnlock()
	err := <-o.err
	if err == nil {
		for _, f := range o.after {
			f()
		}
	}
	return err
}

// queued counts one more pending update. When the queue was empty, the
// store is making progress by definition, so the stall clock starts now.
func (db *DB) queued() {
	if db.pending.Add(1) == 1 {
		db.progress.Store(time.Now().UnixNano())
	}
}

// QueueSize is how many updates the commit loop's queue holds before
// Update waits.
const QueueSize = 1024

// Stats is what the store tells about its commit loop, for health checks.
type Stats struct {
	// Pending is the number of updates (lazy ones too) queued and not yet
	// committed or failed.
	Pending int
	// Progress is when the commit loop last finished a commit, or when
	// Pending last became non-zero after being zero, whichever is later.
	// While Pending > 0, the time since Progress is how long the queued
	// work has waited without a commit.
	Progress time.Time
	// FailingSince is the zero time when the last commit succeeded (or
	// none was tried); otherwise when commits began to fail (a full
	// disk, an I/O error), and CommitErr is the last one's error. Each
	// failed update is answered with the error, and a node's steps are
	// retried, so the store heals by itself when the cause goes.
	FailingSince time.Time
	CommitErr    error
}

// Stats returns the commit loop's pending work, last progress and
// failing commits.
func (db *DB) Stats() Stats {
	st := Stats{Pending: int(db.pending.Load()), Progress: time.Unix(0, db.progress.Load())}
	if f := db.failing.Load(); f != 0 {
		st.FailingSince = time.Unix(0, f)
		if e := db.failErr.Load(); e != nil {
			st.CommitErr = *e
		}
	}
	return st
}

// Stalled reports whether updates are pending and the commit loop has made
// no progress (Stats.Progress) for longer than d at now.
func (s Stats) Stalled(now time.Time, d time.Duration) bool {
	return s.Pending > 0 && now.Sub(s.Progress) > d
}

// View runs fn in a read-only transaction. Views run concurrently with each
// other and with the commit loop.
func (db *DB) View(fn func(*Tx) error) error {
	return db.bolt.View(func(btx *bolt.Tx) error {
		return fn(&Tx{tx: btx})
	})
}

// UpdateLazy queues fn to run in the next commit without waiting for it
// and without causing a commit of its own: it rides on the next Update's
// commit, or is committed alone after LazyDelay. Use it for writes whose
// loss in a crash is harmless (such as recording that a peer acked a
// message, which a resend after restart repairs). fn follows Update's rules;
// an error drops fn's writes and is returned by no one, so fn should not
// fail in ordinary use. OnCommit functions of a lazy update run in the
// commit goroutine and must be quick.
func (db *DB) UpdateLazy(fn func(*Tx) error) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	db.queued()
	db.lazyMu.Lock()
	db.lazy = append(db.lazy, &op{fn: fn, err: make(chan error, 1), lazy: true})
	first := len(db.lazy) == 1
	db.lazyMu.Unlock()
	if first {
		select {
		case db.lazyKick <- struct{}{}:
		default:
		}
	}
	return nil
}

func (db *DB) takeLazy(batch []*op) []*op {
	db.lazyMu.Lock()
	batch = append(batch, db.lazy...)
	clear(db.lazy) // drop the references, so committed ops can be freed
	db.lazy = db.lazy[:0]
	db.lazyMu.Unlock()
	return batch
}

func (db *DB) commitLoop() {
	defer close(db.done)
	batch := make([]*op, 0, db.maxBatch)
	var lazyTimer <-chan time.Time
	for {
		batch = batch[:0]
		select {
		case first, ok := <-db.ops:
			if !ok {
				// Closed: everything queued was committed; flush the lazy.
				if batch = db.takeLazy(batch); len(batch) > 0 {
					db.run(batch)
				}
				return
			}
			batch = append(batch, first)
			db.fill(&batch)
		case <-db.lazyKick:
			if lazyTimer == nil {
				lazyTimer = time.After(db.lazyDelay)
			}
			continue
		case <-lazyTimer:
		}
		lazyTimer = nil
		if batch = db.takeLazy(batch); len(batch) > 0 {
			db.run(batch)
		}
	}
}

// maxYields bounds how often fill yields the processor before a commit.
const maxYields = 4

// fill adds the updates queued behind the first to batch. When none is
// queued it yields the processor (runtime.Gosched) and looks again, as long
// as the last yield brought more and at most maxYields times: on a busy
// machine the goroutines about to queue an update are often runnable but
// not running, and letting them run first makes one commit (two fsyncs and
// the rewrite of the same top pages) serve several times as many updates;
// it measured about a third less CPU per pay flow. An idle process has
// nothing else to run, so Gosched returns at once and a lone update still
// commits without waiting.
func (db *DB) fill(batch *[]*op) {
	yields, before := 0, 0
	for len(*batch) < db.maxBatch {
		select {
		case o, ok := <-db.ops:
			if !ok {
				return
			}
			*batch = append(*batch, o)
			continue
		default:
		}
		if yields == maxYields || (yields > 0 && len(*batch) == before) {
			return
		}
		before = len(*batch)
		runtime.Gosched()
		yields++
	}
}

// run commits batch, dropping (and failing) the updates that return errors.
func (db *DB) run(batch []*op) {
	for len(batch) > 0 {
		failed := -1
		var failErr error
		start := time.Now()
		err := db.bolt.Update(func(btx *bolt.Tx) error {
			open := newOpenBuckets()
			for i, o := range batch {
				tx := &Tx{tx: btx, open: open}
				if err := o.fn(tx); err != nil {
					failed, failErr = i, err
					return err
				}
				o.after = tx.after
			}
			return nil
		})
		if failed >= 0 {
			db.pending.Add(-1)
			batch[failed].err <- failErr
			batch = append(batch[:failed], batch[failed+1:]...)
			continue
		}
		if err == nil {
			now := time.Now()
			db.progress.Store(now.UnixNano())
			db.failing.Store(0)
			if db.committed != nil {
				db.committed(len(batch), now.Sub(start))
			}
		} else {
			db.failErr.Store(&err)
			db.failing.CompareAndSwap(0, time.Now().UnixNano())
		}
		db.pending.Add(-int64(len(batch)))
		for _, o := range batch {
			o.err <- err
			if o.lazy && err == nil {
				for _, f := range o.after {
					f()
				}
			}
		}
		return
	}
}

// Tx is a transaction. A Tx from Update may write; one from View may not.
// A Tx must not be used after its function returns.
type Tx struct {
	tx    *bolt.Tx
	after []func()
	open  *openBuckets
}

// openBuckets are the buckets a bolt transaction has opened so far, shared
// by the updates of one batch (a transaction uses a few: their first
// openBucketsInline need no allocation), each with the cursor Get and Has
// look keys up with.
type openBuckets struct {
	names   []Bucket
	buckets []*bolt.Bucket
	cursors []*bolt.Cursor

	inlineNames   [openBucketsInline]Bucket
	inlineBuckets [openBucketsInline]*bolt.Bucket
	inlineCursors [openBucketsInline]*bolt.Cursor
}

// openBucketsInline is how many open buckets openBuckets holds without
// growing its slices: more than a pay step of any role opens.
const openBucketsInline = 12

func newOpenBuckets() *openBuckets {
	o := &openBuckets{}
	o.names, o.buckets, o.cursors = o.inlineNames[:0], o.inlineBuckets[:0], o.inlineCursors[:0]
	return o
}

// lookup returns the value at key in bucket b, or nil. It seeks with the
// bucket's one cursor of the transaction instead of a new one each time,
// as bolt's Bucket.Get does: a cursor's stack grows by an allocation for
// each level of the tree, and a reused one keeps its capacity (a pay
// flow's steps made some 130 such lookups, 400 allocations). A seek starts
// from the root, so writes in between do not matter; Scan and the other
// iterations keep their own cursors, so a lookup inside one moves only
// this one.
func (t *Tx) lookup(b Bucket, key []byte) []byte {
	i := t.bucketIndex(b)
	c := t.open.cursors[i]
	if c == nil {
		c = t.open.buckets[i].Cursor()
		t.open.cursors[i] = c
	}
	k, v := c.Seek(key)
	if k == nil || v == nil || !bytes.Equal(k, key) { // v nil: a nested bucket
		return nil
	}
	return v
}

func (t *Tx) bucket(b Bucket) *bolt.Bucket { return t.open.buckets[t.bucketIndex(b)] }

// bucketIndex opens bucket b in t, if it is not yet, and returns its index
// in t.open.
func (t *Tx) bucketIndex(b Bucket) int {
	if t.open == nil {
		t.open = newOpenBuckets()
	}
	o := t.open
	for i, n := range o.names {
		if n == b {
			return i
		}
	}
	bk := t.tx.Bucket([]byte(b))
	if bk == nil {
		if !declared(b) {
			panic("store: undeclared bucket " + string(b))
		}
		panic("store: bucket " + string(b) + " is not created on this node (Options.Buckets)")
	}
	if f, ok := fillPercent[b]; ok {
		bk.FillPercent = f
	}
	o.names = append(o.names, b)
	o.buckets = append(o.buckets, bk)
	o.cursors = append(o.cursors, nil)
	return len(o.names) - 1
}

// OnCommit runs f after the transaction is durably committed, in the
// goroutine that called Update. It is dropped if the transaction fails.
func (t *Tx) OnCommit(f func()) { t.after = append(t.after, f) }

// Get returns a copy of the value at key, or nil.
func (t *Tx) Get(b Bucket, key []byte) []byte {
	v := t.lookup(b, key)
	if v == nil {
		return nil
	}
	return bytes.Clone(v)
}

// Has reports whether key is present.
func (t *Tx) Has(b Bucket, key []byte) bool { return t.lookup(b, key) != nil }

// Put stores val at key.
func (t *Tx) Put(b Bucket, key, val []byte) error { return t.bucket(b).Put(key, val) }

// Delete removes key.
func (t *Tx) Delete(b Bucket, key []byte) error { return t.bucket(b).Delete(key) }

// NextSeq returns the bucket's next sequence number (1, 2, ...).
func (t *Tx) NextSeq(b Bucket) (uint64, error) { return t.bucket(b).NextSequence() }

// Seq returns the bucket's last sequence number (0 before the first
// NextSeq).
func (t *Tx) Seq(b Bucket) uint64 { return t.bucket(b).Sequence() }

// Count returns the number of keys in the bucket.
func (t *Tx) Count(b Bucket) int { return t.bucket(b).Stats().KeyN }

// Scan calls fn for every key with the prefix, in key order, until fn
// returns false or an error. The slices are valid only during the call.
func (t *Tx) Scan(b Bucket, prefix []byte, fn func(k, v []byte) (bool, error)) error {
	c := t.bucket(b).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// ScanAfter calls fn for each key of b greater than after ("" for every
// key), in order, until fn returns false or an error.
func (t *Tx) ScanAfter(b Bucket, after []byte, fn func(k, v []byte) (bool, error)) error {
	c := t.bucket(b).Cursor()
	k, v := c.Seek(after)
	if k != nil && len(after) > 0 && bytes.Equal(k, after) {
		k, v = c.Next()
	}
	for ; k != nil; k, v = c.Next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// First returns copies of the first key and value of the bucket, or nils.
func (t *Tx) First(b Bucket) (k, v []byte) {
	k, v = t.bucket(b).Cursor().First()
	return bytes.Clone(k), bytes.Clone(v)
}

// GetJSON decodes the JSON value at key into v and reports whether it was
// there.
func (t *Tx) GetJSON(b Bucket, key string, v any) (bool, error) {
	raw := t.lookup(b, []byte(key))
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("store: decode %s/%s: %w", b, key, err)
	}
	return true, nil
}

// PutJSON stores v as JSON at key.
func (t *Tx) PutJSON(b Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s/%s: %w", b, key, err)
	}
	return t.bucket(b).Put([]byte(key), raw)
}

// Nanos is a time of a node's clock as a record keeps it: Unix nanoseconds,
// 0 for the zero time. (int64 nanoseconds span the years 1678 to 2262.)
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos is the time of a record's Nanos (in UTC), the zero time for 0.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// TS is t as a protobuf Timestamp for a record, nil for the zero time.
func TS(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Time is the time of a record's Timestamp (in UTC), the zero time for nil.
func Time(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// U64 encodes n big-endian, so keys sort numerically.
func U64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

// ParseU64 decodes a big-endian uint64 from the first 8 bytes of b.
func ParseU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
