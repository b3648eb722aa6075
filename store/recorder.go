package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// The hot path of a call must not wait for the disk or the database, so a backend's
// RecordExecution only queues the record here, and a writer goroutine hands what is queued
// to the backend in batches (group commit). Until a record is stored it stays in a pending
// map that every read of the backend consults (Pending, PendingList), so readers never
// notice the delay.
//
// Durability: a crash (not Close) loses the records of sync calls still queued, at most
// the last few hundred milliseconds. Accepted async work never depends on this path: the
// queue's methods write synchronously.

// PendingRecord is the latest recorded state of an execution not yet stored.
type PendingRecord struct {
	Ex     Execution
	Log    []byte
	HasLog bool // Log replaces the stored log (nil Log with HasLog: an empty one)
	// First is the status of the first record of this entry, not yet checked against the
	// stored one ("" once it was: when the entry outlived a store). Every later record was
	// checked against the one before it, in Record. The backend refuses the record when
	// CanTransition(stored status, First) does not hold.
	First string

	seq   uint64 // Recorder.seq when it was last recorded
	dirty bool   // in Recorder.dirty
}

// LogTail is output that reached an execution's log after its record was stored: the
// backend appends it to the stored log.
type LogTail struct {
	Log       []byte
	Truncated bool
}

// RecordWriter is what a Recorder needs of its backend.
type RecordWriter interface {
	// StoreRecords stores a batch (sorted by ID) in one transaction, refusing (by ID, and
	// storing the others) those whose First the stored status cannot move to.
	StoreRecords(batch []PendingRecord) (refused map[string]error, err error)
	// AppendLogs appends late output to the logs of stored executions; unknown ones are skipped.
	AppendLogs(tails map[string]*LogTail) error
}

// DefaultRecordQueue is how many records wait for a Recorder's writer at most, by default.
const DefaultRecordQueue = 4096

// RecorderOptions tune a Recorder.
type RecorderOptions struct {
	QueueSize int           // records waiting for the writer at most (default DefaultRecordQueue)
	MaxBatch  int           // records stored in one transaction at most (default 1024)
	Interval  time.Duration // how long the writer gathers records (default 100ms)
	// DropWhenFull: a new record that finds the queue full is dropped (logged) rather than
	// waiting for the writer: for a backend on the network, which may stop answering; a
	// local disk keeps up, and callers wait for it.
	DropWhenFull bool
	Log          *slog.Logger
}

// Recorder is the write-behind recorder of execution records that every backend's
// Executions uses: it keeps the records not yet stored, and its writer stores them.
type Recorder struct {
	w    RecordWriter
	opts RecorderOptions

	mu      sync.Mutex // guards every field below
	pending map[string]*PendingRecord
	seq     uint64
	dropped uint64              // records dropped because the queue was full
	dirty   []string            // IDs recorded since the writer last took the list
	tails   map[string]*LogTail // late log output of executions not pending
	flushes []chan error
	closed  bool
	room    *sync.Cond // signalled when the writer takes the dirty list

	wake     chan struct{} // buffered(1): store now
	finished chan struct{} // closed when the writer has stored everything and returned
}

// NewRecorder starts a recorder that stores through w; Close stops it.
func NewRecorder(w RecordWriter, opts RecorderOptions) *Recorder {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultRecordQueue
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.Interval <= 0 {
		opts.Interval = 100 * time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	r := &Recorder{w: w, opts: opts, pending: map[string]*PendingRecord{}, tails: map[string]*LogTail{},
		wake: make(chan struct{}, 1), finished: make(chan struct{})}
	r.room = sync.NewCond(&r.mu)
	go r.write()
	return r
}

func (r *Recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Close stops accepting records and waits until the writer has stored them all.
func (r *Recorder) Close() {
	r.mu.Lock()
	r.closed = true
	r.room.Broadcast()
	r.mu.Unlock()
	r.signal()
	<-r.finished
}

// Record is Executions.RecordExecution: it queues ex (and log, when not nil) and returns.
// A zero CreatedAt is set from the ID. Records with an invalid ID, refused by
// CanTransition against the record before, or made after Close, are dropped and logged.
func (r *Recorder) Record(ex Execution, log []byte) {
	made, ok := ValidID(ex.ID)
	if !ok {
		r.opts.Log.Error("execution record dropped: its ID is not a ULID from NewID", "id", ex.ID, "app", ex.App, "route", ex.Route)
		return
	}
	if ex.CreatedAt.IsZero() {
		ex.CreatedAt = made
	}
	ex = ex.Clone() // the caller may reuse its buffers
	r.mu.Lock()
	for len(r.dirty) >= r.opts.QueueSize && !r.closed {
		if r.opts.DropWhenFull && r.pending[ex.ID] == nil {
			// The writer is that far behind only while the database does not answer: a call
			// never waits on it (its record is lost, as in a crash of this node).
			r.dropped++
			dropped := r.dropped
			r.mu.Unlock()
			if dropped&(dropped-1) == 0 { // logged at 1, 2, 4, 8, ... drops
				r.opts.Log.Error("execution records dropped: the store is not keeping up", "id", ex.ID, "dropped_so_far", dropped)
			}
			return
		}
		if r.opts.DropWhenFull {
			break // a record of a pending execution replaces it: no room taken
		}
		r.room.Wait() // the writer is behind: wait for it, keeping memory bounded
	}
	if r.closed {
		r.mu.Unlock()
		r.opts.Log.Error("execution record dropped: the store is closed", "id", ex.ID)
		return
	}
	p := r.pending[ex.ID]
	if p == nil {
		p = &PendingRecord{First: ex.Status}
		r.pending[ex.ID] = p
	} else if !CanTransition(p.Ex.Status, ex.Status) {
		r.mu.Unlock()
		r.opts.Log.Error("execution record dropped", "id", ex.ID, "err", TransitionError(ex.ID, p.Ex.Status, ex.Status))
		return
	}
	r.seq++
	p.Ex, p.seq = ex, r.seq
	if log != nil {
		p.Log, p.HasLog = bytes.Clone(log), true
	}
	full := r.markDirty(p, ex.ID) >= r.opts.MaxBatch
	r.mu.Unlock()
	if full {
		r.signal()
	}
}

// markDirty puts p on the writer's list, under mu, and returns the list's length.
func (r *Recorder) markDirty(p *PendingRecord, id string) int {
	if !p.dirty {
		p.dirty = true
		r.dirty = append(r.dirty, id)
	}
	return len(r.dirty)
}

// AppendLog is Executions.AppendExecutionLog: output that reached a call's log after it
// answered. A pending execution gets it in memory; otherwise the tail alone waits for the
// writer (AppendLogs). Unknown executions are ignored by the backend.
func (r *Recorder) AppendLog(id string, tail []byte, truncated bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if p := r.pending[id]; p != nil {
		p.Log, p.HasLog = append(p.Log, tail...), true
		p.Ex.LogTruncated = p.Ex.LogTruncated || truncated
		r.seq++
		p.seq = r.seq
		r.markDirty(p, id)
		return
	}
	t := r.tails[id]
	if t == nil {
		t = &LogTail{}
		r.tails[id] = t
	}
	t.Log = append(t.Log, tail...)
	t.Truncated = t.Truncated || truncated
}

// Flush is Executions.FlushExecutions: it waits until every record made before the call
// is stored, and fails if storing one failed since the previous flush.
func (r *Recorder) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errors.New("flush executions: the store is closed")
	}
	r.flushes = append(r.flushes, done)
	r.mu.Unlock()
	r.signal()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("flush executions: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flush executions: %w", ctx.Err())
	}
}

// write is the writer goroutine: every Interval, or when signalled, it takes the dirty
// list and stores it, MaxBatch records a transaction, then answers the flushes waiting.
// It returns once the recorder is closed and everything is stored.
func (r *Recorder) write() {
	defer close(r.finished)
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	var failed error // write errors since the last answered flush
	for {
		select {
		case <-tick.C:
		case <-r.wake:
		}
		r.mu.Lock()
		ids, flushes, closed := r.dirty, r.flushes, r.closed
		r.dirty, r.flushes = nil, nil
		var tails map[string]*LogTail // taken whole, never shared with AppendLog
		if len(r.tails) > 0 {
			tails, r.tails = r.tails, map[string]*LogTail{}
		}
		for _, id := range ids {
			if p := r.pending[id]; p != nil {
				p.dirty = false
			}
		}
		r.room.Broadcast()
		r.mu.Unlock()
		for len(ids) > 0 {
			n := min(len(ids), r.opts.MaxBatch)
			if kept, err := r.store(ids[:n]); err != nil && kept {
				r.opts.Log.Warn("execution records kept for the next write: the store is unavailable", "count", n, "err", err)
				failed = errors.Join(failed, err)
			} else if err != nil {
				r.opts.Log.Error("execution records lost", "count", n, "err", err)
				failed = errors.Join(failed, err)
			}
			ids = ids[n:]
		}
		if len(tails) > 0 {
			if err := r.w.AppendLogs(tails); err != nil {
				r.opts.Log.Error("late log output lost", "count", len(tails), "err", err)
				failed = errors.Join(failed, err)
			}
		}
		for _, f := range flushes {
			f <- failed
			failed = nil
		}
		if closed {
			return
		}
	}
}

// store stores the latest pending state of ids in one transaction, then drops from the
// pending map the entries not recorded again meanwhile. When the store is unavailable
// (ErrUnavailable) they are kept for the next write (kept), as long as the queue is less
// than half full; on any other failure, or past that, they are dropped: keeping them would
// grow the map without bound, or block calls, while the store fails.
func (r *Recorder) store(ids []string) (kept bool, err error) {
	batch := make([]PendingRecord, 0, len(ids))
	r.mu.Lock()
	for _, id := range ids {
		if p := r.pending[id]; p != nil { // nil: an earlier batch already stored its latest state
			batch = append(batch, *p)
		}
	}
	r.mu.Unlock()
	if len(batch) == 0 {
		return false, nil
	}
	// Rows are locked in ID order by every writer of several executions: no deadlock.
	slices.SortFunc(batch, func(a, b PendingRecord) int { return strings.Compare(a.Ex.ID, b.Ex.ID) })
	refused, err := r.w.StoreRecords(batch)
	r.mu.Lock()
	kept = errors.Is(err, ErrUnavailable) && len(r.dirty)+len(batch) < r.opts.QueueSize/2
	for _, p := range batch {
		switch cur := r.pending[p.Ex.ID]; {
		case cur == nil:
		case cur.seq == p.seq && kept:
			r.markDirty(cur, p.Ex.ID)
		case cur.seq == p.seq:
			delete(r.pending, p.Ex.ID)
		case err == nil && refused[p.Ex.ID] == nil:
			// Recorded again meanwhile: its first record was checked against the stored one.
			// (A refused one keeps its first, checked again at the next store.)
			cur.First = ""
		}
	}
	r.mu.Unlock()
	for _, e := range refused {
		r.opts.Log.Error("execution record dropped", "err", e)
	}
	return kept, err
}
