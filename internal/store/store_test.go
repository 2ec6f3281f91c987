package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t testing.TB, o Options) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "test.db"), o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// hold blocks the commit loop: it queues an update that waits until the
// returned release is called, and returns once that update is running.
// Updates queued meanwhile all land in the next batch.
func hold(t *testing.T, db *DB) (release func(), done <-chan error) {
	t.Helper()
	running := make(chan struct{})
	gate := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- db.Update(func(*Tx) error {
			close(running)
			<-gate
			return nil
		})
	}()
	<-running
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }, errc
}

// waitQueued waits until n updates are queued behind the commit loop.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(db.ops) >= n }, 5*time.Second, time.Millisecond,
		"want %d queued updates", n)
}

func TestUpdateViewRoundTrip(t *testing.T) {
	db := open(t, Options{NoSync: true})
	require.NoError(t, db.Update(func(tx *Tx) error {
		require.False(t, tx.Has(Meta, []byte("k")))
		assert.Nil(t, tx.Get(Meta, []byte("k")))
		return tx.Put(Meta, []byte("k"), []byte("v1"))
	}))
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.True(t, tx.Has(Meta, []byte("k")))
		assert.Equal(t, []byte("v1"), tx.Get(Meta, []byte("k")))
		assert.Equal(t, 1, tx.Count(Meta))
		k, v := tx.First(Meta)
		assert.Equal(t, []byte("k"), k)
		assert.Equal(t, []byte("v1"), v)
		return nil
	}))
	require.NoError(t, db.Update(func(tx *Tx) error {
		s1, err := tx.NextSeq(Outbox)
		require.NoError(t, err)
		s2, err := tx.NextSeq(Outbox)
		require.NoError(t, err)
		assert.Equal(t, []uint64{1, 2}, []uint64{s1, s2})
		return tx.Delete(Meta, []byte("k"))
	}))
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.False(t, tx.Has(Meta, []byte("k")))
		assert.Equal(t, 0, tx.Count(Meta))
		k, v := tx.First(Meta)
		assert.Nil(t, k)
		assert.Nil(t, v)
		return nil
	}))
}

func TestGetReturnsCopy(t *testing.T) {
	db := open(t, Options{NoSync: true})
	require.NoError(t, db.Update(func(tx *Tx) error { return tx.Put(Meta, []byte("k"), []byte("abc")) }))
	var got []byte
	require.NoError(t, db.View(func(tx *Tx) error { got = tx.Get(Meta, []byte("k")); return nil }))
	// Valid after the transaction ended (bbolt's own slices would not be).
	assert.Equal(t, []byte("abc"), got)
}

func TestUndeclaredBucketPanics(t *testing.T) {
	db := open(t, Options{NoSync: true})
	assert.PanicsWithValue(t, "store: undeclared bucket nope", func() {
		_ = db.View(func(tx *Tx) error { tx.Get(Bucket("nope"), []byte("k")); return nil })
	})
}

func TestUpdateErrorKeepsNothing(t *testing.T) {
	db := open(t, Options{NoSync: true})
	boom := errors.New("boom")
	ran := false
	err := db.Update(func(tx *Tx) error {
		require.NoError(t, tx.Put(Meta, []byte("k"), []byte("v")))
		tx.OnCommit(func() { ran = true })
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.False(t, ran, "OnCommit ran after a failed update")
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.False(t, tx.Has(Meta, []byte("k")))
		return nil
	}))
}

// One failing update in a shared batch is dropped; the others commit once,
// and their OnCommit callbacks run once each, after the commit.
func TestFailingUpdateInSharedBatch(t *testing.T) {
	db := open(t, Options{NoSync: true})
	const n = 50
	const bad = 17
	boom := errors.New("boom")

	release, held := hold(t, db)
	var committed atomic.Int32
	var runs [n]atomic.Int32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = db.Update(func(tx *Tx) error {
				runs[i].Add(1)
				key := fmt.Appendf(nil, "k%02d", i)
				if err := tx.Put(Meta, key, []byte("v")); err != nil {
					return err
				}
				if i == bad {
					return boom
				}
				tx.OnCommit(func() {
					// Runs after the commit: a new View sees the write.
					var seen bool
					_ = db.View(func(tx *Tx) error { seen = tx.Has(Meta, key); return nil })
					assert.True(t, seen, "OnCommit of %d ran before its write was visible", i)
					committed.Add(1)
				})
				return nil
			})
		})
		waitQueued(t, db, i+1) // queue in order i = 0, 1, ...
	}
	// All n are queued behind the held update, so they make one batch.
	release()
	wg.Wait()
	require.NoError(t, <-held)

	for i, err := range errs {
		if i == bad {
			assert.ErrorIs(t, err, boom)
		} else {
			assert.NoError(t, err, "update %d", i)
		}
	}
	assert.EqualValues(t, n-1, committed.Load(), "OnCommit must run once per committed update")
	// The updates queued before the bad one ran twice (once in the attempt
	// it rolled back), those after it once: they all shared its batch.
	for i := range n {
		want := 1
		if i < bad {
			want = 2
		}
		assert.EqualValues(t, want, runs[i].Load(), "runs of update %d", i)
	}
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.Equal(t, n-1, tx.Count(Meta))
		assert.False(t, tx.Has(Meta, fmt.Appendf(nil, "k%02d", bad)))
		return nil
	}))
}

// A batch where several updates fail.
func TestSeveralFailuresInOneBatch(t *testing.T) {
	db := open(t, Options{NoSync: true})
	const n = 40
	release, held := hold(t, db)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		wg.Go(func() {
			err := db.Update(func(tx *Tx) error {
				if err := tx.Put(Meta, fmt.Appendf(nil, "k%02d", i), nil); err != nil {
					return err
				}
				if i%5 == 0 {
					return fmt.Errorf("fail %d", i)
				}
				return nil
			})
			if err != nil {
				failed.Add(1)
			}
		})
	}
	waitQueued(t, db, n)
	release()
	wg.Wait()
	require.NoError(t, <-held)
	assert.EqualValues(t, n/5, failed.Load())
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.Equal(t, n-n/5, tx.Count(Meta))
		return nil
	}))
}

func TestMaxBatchSplits(t *testing.T) {
	db := open(t, Options{NoSync: true, MaxBatch: 3})
	release, held := hold(t, db)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			assert.NoError(t, db.Update(func(tx *Tx) error { return tx.Put(Meta, fmt.Appendf(nil, "k%d", i), nil) }))
		})
	}
	waitQueued(t, db, 10)
	release()
	wg.Wait()
	require.NoError(t, <-held)
	require.NoError(t, db.View(func(tx *Tx) error { assert.Equal(t, 10, tx.Count(Meta)); return nil }))
}

func TestConcurrentUpdatesAllCommit(t *testing.T) {
	db := open(t, Options{})
	const goroutines, each = 64, 10
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				assert.NoError(t, db.Update(func(tx *Tx) error {
					return tx.Put(Txns, fmt.Appendf(nil, "g%02d-%02d", g, i), []byte("x"))
				}))
			}
		})
	}
	wg.Wait()
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.Equal(t, goroutines*each, tx.Count(Txns))
		return nil
	}))
}

func TestCloseDrainsQueuedUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	const n = 20
	release, held := hold(t, db)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = db.Update(func(tx *Tx) error { return tx.Put(Meta, fmt.Appendf(nil, "k%02d", i), nil) })
		})
	}
	waitQueued(t, db, n)

	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	// Close marks the DB closed at once, then waits for the queue.
	require.Eventually(t, func() bool {
		db.closeMu.RLock()
		defer db.closeMu.RUnlock()
		return db.closed
	}, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, db.Update(func(*Tx) error { return nil }), ErrClosed)
	select {
	case <-closed:
		t.Fatal("Close returned before the queue drained")
	case <-time.After(20 * time.Millisecond):
	}
	release()
	require.NoError(t, <-closed)
	wg.Wait()
	require.NoError(t, <-held)
	for i, err := range errs {
		assert.NoError(t, err, "queued update %d", i)
	}
	require.ErrorIs(t, db.Update(func(*Tx) error { return nil }), ErrClosed)
	require.NoError(t, db.Close(), "second Close is a no-op")

	db2, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	defer db2.Close()
	require.NoError(t, db2.View(func(tx *Tx) error { assert.Equal(t, n, tx.Count(Meta)); return nil }))
}

// waitAll waits for wg with a deadline far past what the work needs, and
// fails the test (leaving the goroutines) if it passes: a deadlocked
// store never finishes.
func waitAll(t *testing.T, wg *sync.WaitGroup, what string) bool {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(2 * time.Minute):
		t.Errorf("%s did not finish within 2 minutes: the store is wedged", what)
		return false
	}
}

// TestBurstOfUpdatesAndLazyOnesCommits queues many times the queue's size
// of concurrent updates, mixed with lazy ones, as a burst of messages does
// at a busy node. Every one commits. (Update once held the lock that the
// commit loop needs to take the lazy updates while it waited for room in
// the full queue, and the store stopped for good.)
func TestBurstOfUpdatesAndLazyOnesCommits(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "test.db"), Options{NoSync: true})
	require.NoError(t, err)
	const n = 20000
	var wg sync.WaitGroup
	var lazyDone atomic.Int64
	for i := range n {
		wg.Go(func() {
			key := fmt.Appendf(nil, "k%05d", i)
			if i%4 == 3 {
				assert.NoError(t, db.UpdateLazy(func(tx *Tx) error {
					tx.OnCommit(func() { lazyDone.Add(1) })
					return tx.Put(Txns, key, nil)
				}))
				return
			}
			assert.NoError(t, db.Update(func(tx *Tx) error { return tx.Put(Txns, key, nil) }))
		})
	}
	if !waitAll(t, &wg, fmt.Sprintf("%d concurrent updates", n)) {
		return // Close would hang too
	}
	require.Eventually(t, func() bool { return lazyDone.Load() == n/4 }, time.Minute, time.Millisecond,
		"every lazy update commits")
	require.NoError(t, db.View(func(tx *Tx) error { assert.Equal(t, n, tx.Count(Txns)); return nil }))
	assert.Zero(t, db.Stats().Pending)
	require.NoError(t, db.Close())
}

// TestCloseRacesUpdates closes the store while a burst of updates and lazy
// updates is queueing: Close returns, each update either commits or gets
// ErrClosed, and what was acknowledged (nil error) is on disk when the file
// is opened again, lazy updates accepted before Close included.
func TestCloseRacesUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	const n = 5000
	var wg sync.WaitGroup
	errs := make([]error, n)
	started := make(chan struct{})
	var once sync.Once
	for i := range n {
		wg.Go(func() {
			if i == n/2 {
				once.Do(func() { close(started) })
			}
			key := fmt.Appendf(nil, "k%05d", i)
			put := func(tx *Tx) error { return tx.Put(Txns, key, nil) }
			if i%3 == 2 {
				errs[i] = db.UpdateLazy(put)
			} else {
				errs[i] = db.Update(put)
			}
		})
	}
	<-started
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	wg.Add(1)
	go func() { defer wg.Done(); assert.NoError(t, <-closed) }()
	if !waitAll(t, &wg, "updates racing Close") {
		return
	}
	var ok int
	for i, err := range errs {
		if err != nil {
			require.ErrorIs(t, err, ErrClosed, "update %d", i)
			continue
		}
		ok++
	}
	t.Logf("%d of %d updates committed before Close, %d refused", ok, n, n-ok)
	require.ErrorIs(t, db.Update(func(*Tx) error { return nil }), ErrClosed)
	require.ErrorIs(t, db.UpdateLazy(func(*Tx) error { return nil }), ErrClosed)

	db2, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	defer db2.Close()
	require.NoError(t, db2.View(func(tx *Tx) error {
		for i, err := range errs {
			if err == nil {
				assert.True(t, tx.Has(Txns, fmt.Appendf(nil, "k%05d", i)), "acknowledged update %d is on disk", i)
			}
		}
		assert.Equal(t, ok, tx.Count(Txns), "nothing refused was written")
		return nil
	}))
}

// TestStatsStalled: while the commit loop is held, queued work is pending
// and, past the limit, stalled; once it commits nothing is pending.
func TestStatsStalled(t *testing.T) {
	db := open(t, Options{NoSync: true})
	s := db.Stats()
	assert.Zero(t, s.Pending)
	assert.False(t, s.Stalled(time.Now().Add(time.Hour), time.Second), "an idle store is never stalled")

	release, held := hold(t, db)
	defer release()
	errc := make(chan error, 1)
	go func() { errc <- db.Update(func(tx *Tx) error { return tx.Put(Meta, []byte("k"), nil) }) }()
	require.NoError(t, db.UpdateLazy(func(tx *Tx) error { return tx.Put(Meta, []byte("l"), nil) }))
	waitQueued(t, db, 1)
	s = db.Stats()
	assert.Equal(t, 3, s.Pending, "the held update, the queued one and the lazy one")
	assert.False(t, s.Stalled(s.Progress.Add(time.Second), time.Second))
	assert.True(t, s.Stalled(s.Progress.Add(time.Second+1), time.Second))

	release()
	require.NoError(t, <-held)
	require.NoError(t, <-errc)
	require.Eventually(t, func() bool { return db.Stats().Pending == 0 }, 5*time.Second, time.Millisecond)
	assert.False(t, db.Stats().Stalled(time.Now().Add(time.Hour), time.Second))
}

func TestSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	db, err := Open(path, Options{}) // fsync on
	require.NoError(t, err)
	require.Equal(t, path, db.Path())
	type rec struct {
		A string
		N int64
	}
	require.NoError(t, db.Update(func(tx *Tx) error {
		if err := tx.Put(Accounts, []byte("ac1"), []byte("raw")); err != nil {
			return err
		}
		return tx.PutJSON(Txns, "t1", rec{A: "x", N: 42})
	}))
	require.NoError(t, db.Close())

	db, err = Open(path, Options{})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.Equal(t, []byte("raw"), tx.Get(Accounts, []byte("ac1")))
		var r rec
		ok, err := tx.GetJSON(Txns, "t1", &r)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, rec{A: "x", N: 42}, r)
		return nil
	}))
	// Every declared bucket exists in the reopened file.
	require.NoError(t, db.View(func(tx *Tx) error {
		for _, b := range slices.Concat(runtimeBuckets, AllBuckets()) {
			assert.NotPanics(t, func() { tx.Count(b) }, "bucket %s", b)
		}
		return nil
	}))
}

func TestScanPrefixOrder(t *testing.T) {
	db := open(t, Options{NoSync: true})
	keys := []string{"b\x00" + string(U64(10)), "a\x00" + string(U64(2)), "a\x00" + string(U64(1)), "ab", "a\x00" + string(U64(256)), "c"}
	require.NoError(t, db.Update(func(tx *Tx) error {
		for i, k := range keys {
			if err := tx.Put(Trace, []byte(k), []byte{byte(i)}); err != nil {
				return err
			}
		}
		return nil
	}))

	tests := []struct {
		name   string
		prefix string
		limit  int // stop after this many (0: all)
		want   []string
	}{
		{"prefix in numeric order", "a\x00", 0, []string{"a\x00" + string(U64(1)), "a\x00" + string(U64(2)), "a\x00" + string(U64(256))}},
		{"stop early", "a\x00", 2, []string{"a\x00" + string(U64(1)), "a\x00" + string(U64(2))}},
		{"a and ab", "a", 0, []string{"a\x00" + string(U64(1)), "a\x00" + string(U64(2)), "a\x00" + string(U64(256)), "ab"}},
		{"no match", "zz", 0, nil},
		{"nil prefix is everything", "", 0, []string{"a\x00" + string(U64(1)), "a\x00" + string(U64(2)), "a\x00" + string(U64(256)), "ab", "b\x00" + string(U64(10)), "c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var prefix []byte
			if tc.prefix != "" {
				prefix = []byte(tc.prefix)
			}
			require.NoError(t, db.View(func(tx *Tx) error {
				return tx.Scan(Trace, prefix, func(k, _ []byte) (bool, error) {
					got = append(got, string(k))
					return tc.limit == 0 || len(got) < tc.limit, nil
				})
			}))
			assert.Equal(t, tc.want, got)
		})
	}

	t.Run("error stops and is returned", func(t *testing.T) {
		boom := errors.New("boom")
		calls := 0
		err := db.View(func(tx *Tx) error {
			return tx.Scan(Trace, nil, func(_, _ []byte) (bool, error) { calls++; return true, boom })
		})
		assert.ErrorIs(t, err, boom)
		assert.Equal(t, 1, calls)
	})
}

func TestJSON(t *testing.T) {
	db := open(t, Options{NoSync: true})
	type rec struct {
		ID     string `json:"id"`
		Amount int64  `json:"amount"`
	}
	require.NoError(t, db.Update(func(tx *Tx) error {
		if err := tx.PutJSON(Txns, "t1", rec{ID: "t1", Amount: 12345}); err != nil {
			return err
		}
		return tx.Put(Txns, []byte("bad"), []byte("{not json"))
	}))
	tests := []struct {
		name    string
		key     string
		wantOK  bool
		wantErr string
		want    rec
	}{
		{"present", "t1", true, "", rec{ID: "t1", Amount: 12345}},
		{"absent", "t2", false, "", rec{}},
		{"corrupt", "bad", true, "store: decode txns/bad", rec{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, db.View(func(tx *Tx) error {
				var r rec
				ok, err := tx.GetJSON(Txns, tc.key, &r)
				assert.Equal(t, tc.wantOK, ok)
				if tc.wantErr != "" {
					assert.ErrorContains(t, err, tc.wantErr)
					return nil
				}
				assert.NoError(t, err)
				assert.Equal(t, tc.want, r)
				return nil
			}))
		})
	}
	err := db.Update(func(tx *Tx) error { return tx.PutJSON(Txns, "ch", make(chan int)) })
	assert.ErrorContains(t, err, "store: encode txns/ch")
}

func TestU64(t *testing.T) {
	for _, n := range []uint64{0, 1, 255, 256, 1 << 40, ^uint64(0)} {
		assert.Equal(t, n, ParseU64(U64(n)))
	}
	assert.Less(t, string(U64(255)), string(U64(256)), "big-endian keys sort numerically")
}

func benchUpdate(b *testing.B, o Options, parallel bool) {
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"), o)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var seq atomic.Uint64
	val := make([]byte, 200)
	update := func() {
		k := U64(seq.Add(1))
		if err := db.Update(func(tx *Tx) error { return tx.Put(Txns, k, val) }); err != nil {
			b.Error(err)
		}
	}
	b.ResetTimer()
	if parallel {
		// Many writers, as a node has under load (one per in-flight message).
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				update()
			}
		})
	} else {
		for b.Loop() {
			update()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

// BenchmarkUpdateSerial is one writer with fsync on: one fsync per update,
// the baseline group commit improves on.
func BenchmarkUpdateSerial(b *testing.B) { benchUpdate(b, Options{}, false) }

// BenchmarkUpdateParallel is many writers with fsync on: group commit shares
// one fsync among all updates queued during the previous one.
func BenchmarkUpdateParallel(b *testing.B) { benchUpdate(b, Options{}, true) }

// BenchmarkUpdateParallelNoSync is the same without fsync: the upper bound.
func BenchmarkUpdateParallelNoSync(b *testing.B) { benchUpdate(b, Options{NoSync: true}, true) }

func TestScanAfter(t *testing.T) {
	db := open(t, Options{NoSync: true})
	require.NoError(t, db.Update(func(tx *Tx) error {
		for _, k := range []string{"b", "d", "a", "c"} {
			if err := tx.Put(Txns, []byte(k), nil); err != nil {
				return err
			}
		}
		return nil
	}))
	for _, tc := range []struct{ after, want string }{
		{"", "abcd"}, {"a", "bcd"}, {"b", "cd"}, {"bb", "cd"}, {"d", ""}, {"z", ""}, {"0", "abcd"},
	} {
		var got string
		require.NoError(t, db.View(func(tx *Tx) error {
			return tx.ScanAfter(Txns, []byte(tc.after), func(k, _ []byte) (bool, error) {
				got += string(k)
				return true, nil
			})
		}))
		assert.Equal(t, tc.want, got, "after %q", tc.after)
	}
}

func TestCommittedIsToldEachCommit(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	db := open(t, Options{NoSync: true, Committed: func(batch int, took time.Duration) {
		assert.GreaterOrEqual(t, took, time.Duration(0))
		mu.Lock()
		batches = append(batches, batch)
		mu.Unlock()
	}})
	const updates = 50
	var wg sync.WaitGroup
	for i := range updates {
		wg.Go(func() {
			assert.NoError(t, db.Update(func(tx *Tx) error { return tx.Put(Meta, []byte(fmt.Sprint("k", i)), []byte("v")) }))
		})
	}
	wg.Wait()
	// A failed update is not committed: it is not counted.
	require.Error(t, db.Update(func(*Tx) error { return errors.New("no") }))
	mu.Lock()
	defer mu.Unlock()
	var sum int
	for _, b := range batches {
		assert.Positive(t, b)
		sum += b
	}
	assert.Equal(t, updates, sum, "every update committed is in one batch told")
}

// Get and Has share one cursor per bucket of a transaction: they see the
// transaction's own writes and deletes, find every key of a bucket that
// spans many pages (and none between or beyond them), and a lookup inside
// a Scan of the same bucket does not move the Scan.
func TestLookupsSeeWritesAndKeepScans(t *testing.T) {
	db := open(t, Options{})
	const n = 2000 // values of 100 bytes: many leaf pages, a branch level
	val := func(i int) []byte { return []byte(fmt.Sprintf("%0100d", i)) }
	require.NoError(t, db.Update(func(tx *Tx) error {
		for i := 0; i < n; i += 2 {
			if err := tx.Put(Trace, U64(uint64(i)), val(i)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Update(func(tx *Tx) error {
		for i := range n {
			if got, want := tx.Get(Trace, U64(uint64(i))), i%2 == 0; (got != nil) != want || (want && string(got) != string(val(i))) {
				return fmt.Errorf("key %d: got %q", i, got)
			}
		}
		assert.Nil(t, tx.Get(Trace, U64(n+10)), "beyond the last key")
		require.NoError(t, tx.Put(Trace, U64(1), val(1)))
		assert.Equal(t, val(1), tx.Get(Trace, U64(1)), "a write of this transaction")
		require.NoError(t, tx.Delete(Trace, U64(2)))
		assert.False(t, tx.Has(Trace, U64(2)), "a delete of this transaction")
		seen := 0
		err := tx.Scan(Trace, nil, func(k, _ []byte) (bool, error) {
			seen++
			i := ParseU64(k)
			assert.True(t, tx.Has(Trace, U64(i)))
			assert.False(t, tx.Has(Trace, U64(n+1)))
			return true, nil
		})
		assert.Equal(t, n/2, seen, "every key once: the even ones, 1 added, 2 deleted")
		return err
	}))
}
