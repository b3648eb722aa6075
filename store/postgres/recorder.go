package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

const (
	// execQueueSize bounds the records waiting for the writer; past it RecordExecution drops
	// (logged) rather than make calls wait on a database that does not answer.
	execQueueSize = 4096
	// execMaxBatch bounds the records written in one transaction (one INSERT), to keep it short.
	execMaxBatch = 1024
	// execCommitInterval is how long the writer gathers records before it stores them.
	execCommitInterval = 100 * time.Millisecond
	// execWriteTimeout bounds one batch's transaction: a database that stops answering
	// keeps the writer no longer than this from its queue.
	execWriteTimeout = 5 * time.Second
)

// The hot path of a call must not wait for the database, so RecordExecution only queues
// the record and a writer goroutine stores what is queued, one INSERT ... ON CONFLICT per
// batch, as bbolt's recorder does. Until a record is stored it stays in a pending map that
// every read consults, so readers never notice the delay.
//
// Durability: a crash (not Close) loses the records of sync calls still queued, at most
// the last few hundred milliseconds. Accepted async work never depends on this path:
// EnqueueTask and the queue's methods write synchronously.

// pendingExec is the latest recorded state of an execution not yet stored.
type pendingExec struct {
	ex     store.Execution
	log    []byte
	hasLog bool
	seq    uint64 // recorder.seq when it was last recorded
	dirty  bool   // in recorder.dirty
	// first is the status of the first record of this entry, not yet checked against the
	// stored one ("" once it was: when the entry outlived a commit). Every later record was
	// checked against the one before it, in RecordExecution.
	first string
}

// logTail is output that reached an execution's log late; the writer appends it to the
// stored log in SQL, never carrying a copy of the rest of the record.
type logTail struct {
	log       []byte
	truncated bool
}

// recorder holds the execution records not yet stored (see bbolt's, which it follows).
type recorder struct {
	mu      sync.Mutex // guards every field below
	pending map[string]*pendingExec
	seq     uint64
	dropped uint64              // records dropped because the queue was full
	dirty   []string            // IDs recorded since the writer last took the list
	tails   map[string]*logTail // late log output of executions not pending
	flushes []chan error
	closed  bool

	wake     chan struct{} // buffered(1): store now
	finished chan struct{} // closed when the writer has stored everything and returned
}

func newRecorder() *recorder {
	r := &recorder{
		pending:  map[string]*pendingExec{},
		tails:    map[string]*logTail{},
		wake:     make(chan struct{}, 1),
		finished: make(chan struct{}),
	}
	return r
}

func (r *recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// close stops accepting records and waits until the writer has stored them all.
func (r *recorder) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.signal()
	<-r.finished
}

// RecordExecution stores ex, replacing any earlier record with its ID, and its stderr log
// when log is not nil (a nil log keeps the one recorded before). It returns without waiting
// for the database; reads see the record at once. A new record that finds the write queue
// full (the database has not answered for a while) is dropped and logged. A zero CreatedAt is set from the ID. Records with an invalid ID, refused by
// store.CanTransition, or made after Close, are dropped and logged.
func (s *DB) RecordExecution(ex store.Execution, log []byte) {
	made, ok := store.ValidID(ex.ID)
	if !ok {
		s.log.Error("execution record dropped: its ID is not a ULID from NewID", "id", ex.ID, "app", ex.App, "route", ex.Route)
		return
	}
	if ex.CreatedAt.IsZero() {
		ex.CreatedAt = made
	}
	ex = ex.Clone() // the caller may reuse its buffers
	r := s.rec
	r.mu.Lock()
	if len(r.dirty) >= execQueueSize && !r.closed && r.pending[ex.ID] == nil {
		// The writer is that far behind only while the database does not answer: a call
		// never waits on it (its record is lost, as in a crash of this node).
		r.dropped++
		dropped := r.dropped
		r.mu.Unlock()
		if dropped&(dropped-1) == 0 { // logged at 1, 2, 4, 8, ... drops
			s.log.Error("execution records dropped: the database is not keeping up", "id", ex.ID, "dropped_so_far", dropped)
		}
		return
	}
	if r.closed {
		r.mu.Unlock()
		s.log.Error("execution record dropped: the store is closed", "id", ex.ID)
		return
	}
	p := r.pending[ex.ID]
	if p == nil {
		p = &pendingExec{first: ex.Status}
		r.pending[ex.ID] = p
	} else if !store.CanTransition(p.ex.Status, ex.Status) {
		r.mu.Unlock()
		s.log.Error("execution record dropped", "id", ex.ID, "err", store.TransitionError(ex.ID, p.ex.Status, ex.Status))
		return
	}
	r.seq++
	p.ex, p.seq = ex, r.seq
	if log != nil {
		p.log, p.hasLog = bytes.Clone(log), true
	}
	if !p.dirty {
		p.dirty = true
		r.dirty = append(r.dirty, ex.ID)
	}
	full := len(r.dirty) >= execMaxBatch
	r.mu.Unlock()
	if full {
		r.signal()
	}
}

// AppendExecutionLog adds to a call's log output that reached Gantry after the call
// answered. An execution still pending gets it in memory; otherwise the tail alone waits
// for the writer, which appends it to the stored log in SQL, never touching the rest of the
// record. Unknown executions are ignored.
func (s *DB) AppendExecutionLog(id string, tail []byte, truncated bool) {
	r := s.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if p := r.pending[id]; p != nil {
		p.log, p.hasLog = append(p.log, tail...), true
		p.ex.LogTruncated = p.ex.LogTruncated || truncated
		r.seq++
		p.seq = r.seq
		if !p.dirty {
			p.dirty = true
			r.dirty = append(r.dirty, id)
		}
		return
	}
	t := r.tails[id]
	if t == nil {
		t = &logTail{}
		r.tails[id] = t
	}
	t.log = append(t.log, tail...)
	t.truncated = t.truncated || truncated
}

// FlushExecutions waits until every record made before the call is stored. It returns an
// error if storing a record failed since the previous flush.
func (s *DB) FlushExecutions(ctx context.Context) error {
	done := make(chan error, 1)
	r := s.rec
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

// writeExecutions is the writer goroutine: every execCommitInterval, or when signalled, it
// takes the dirty list and stores it, execMaxBatch records a transaction, then answers
// the flushes waiting. It returns once the recorder is closed and everything is stored.
func (s *DB) writeExecutions() {
	r := s.rec
	defer close(r.finished)
	tick := time.NewTicker(execCommitInterval)
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
		var tails map[string]*logTail // taken whole, never shared with AppendExecutionLog
		if len(r.tails) > 0 {
			tails, r.tails = r.tails, map[string]*logTail{}
		}
		for _, id := range ids {
			if p := r.pending[id]; p != nil {
				p.dirty = false
			}
		}
		r.mu.Unlock()
		for len(ids) > 0 {
			n := min(len(ids), execMaxBatch)
			if kept, err := s.commitExecutions(ids[:n]); err != nil && kept {
				s.log.Warn("execution records kept for the next write: the database is unavailable", "count", n, "err", err)
				failed = errors.Join(failed, err)
			} else if err != nil {
				s.log.Error("execution records lost", "count", n, "err", err)
				failed = errors.Join(failed, err)
			}
			ids = ids[n:]
		}
		if err := s.commitTails(tails); err != nil {
			s.log.Error("late log output lost", "count", len(tails), "err", err)
			failed = errors.Join(failed, err)
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

// commitExecutions stores the latest pending state of ids in one transaction, then drops
// from the pending map the entries not recorded again meanwhile. When the database is
// unavailable they are kept for the next write (kept), as long as the queue is less than
// half full; on any other failure, or past that, they are dropped: keeping them would grow
// the map without bound, or block calls, while the database fails.
func (s *DB) commitExecutions(ids []string) (kept bool, err error) {
	r := s.rec
	batch := make([]pendingExec, 0, len(ids))
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
	slices.SortFunc(batch, func(a, b pendingExec) int { return strings.Compare(a.ex.ID, b.ex.ID) })
	ctx, cancel := context.WithTimeout(context.Background(), execWriteTimeout)
	defer cancel()
	var refused map[string]error
	err = s.write(ctx, "store executions", func(tx pgx.Tx) ([]store.Change, error) {
		var err error
		refused, err = storeExecutions(ctx, tx, batch)
		return nil, err
	})
	r.mu.Lock()
	// Through an outage the records stay pending (and readable) for the next write, while
	// the queue has room; past half of it they go, so that sync calls never wait on it.
	kept = errors.Is(err, store.ErrUnavailable) && len(r.dirty)+len(batch) < execQueueSize/2
	for _, p := range batch {
		switch cur := r.pending[p.ex.ID]; {
		case cur == nil:
		case cur.seq == p.seq && kept:
			if !cur.dirty {
				cur.dirty = true
				r.dirty = append(r.dirty, p.ex.ID)
			}
		case cur.seq == p.seq:
			delete(r.pending, p.ex.ID)
		case err == nil && refused[p.ex.ID] == nil:
			// Recorded again meanwhile: its first record was checked against the stored one.
			// (A refused one keeps its first, checked again at the next commit.)
			cur.first = ""
		}
	}
	r.mu.Unlock()
	for _, e := range refused {
		s.log.Error("execution record dropped", "err", e)
	}
	return kept, err
}
