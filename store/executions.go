package store

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// Execution statuses. An execution is QUEUED (async calls only) or RUNNING until it ends
// in one of the final statuses SUCCESS, FAILED or CANCELLED.
const (
	StatusQueued    = "QUEUED"
	StatusRunning   = "RUNNING"
	StatusSuccess   = "SUCCESS"
	StatusFailed    = "FAILED"
	StatusCancelled = "CANCELLED"
)

// Reasons say why an execution FAILED or was CANCELLED.
const (
	ReasonTimeout       = "timeout"        // the call ran past the route's timeout and its container was killed
	ReasonKilled        = "killed"         // the container was killed, e.g. out of memory
	ReasonBadExit       = "bad_exit"       // the function exited with a non-zero code
	ReasonClientRequest = "client_request" // the caller went away or asked to cancel
	ReasonError         = "error"          // Gantry or Docker failed
	ReasonBusy          = "busy"           // no container was free in time
)

// Container says whether an execution started a container or reused a hot one.
const (
	ContainerCold = "cold"
	ContainerHot  = "hot"
)

// Execution is the record of one function call.
type Execution struct {
	ID     string `json:"id"`
	App    string `json:"app"`
	AppID  string `json:"app_id,omitempty"` // the app's ID when the call was made
	Route  string `json:"route"`
	Type   string `json:"type"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// ExitCode is the function's exit code, nil when it did not exit on its own.
	ExitCode *int   `json:"exit_code,omitempty"`
	Error    string `json:"error,omitempty"`
	// Container is ContainerCold, ContainerHot or "" when no container ran.
	Container       string    `json:"container,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	StartedAt       time.Time `json:"started_at,omitzero"`
	CompletedAt     time.Time `json:"completed_at,omitzero"`
	Attempts        int       `json:"attempts,omitempty"` // runs started, for async calls
	OutputTruncated bool      `json:"output_truncated,omitempty"`
	LogTruncated    bool      `json:"log_truncated,omitempty"`
	// Output is the function's response body, kept for async calls whose caller is not waiting.
	Output []byte `json:"output,omitempty"`
}

// Duration is how long the function ran: CompletedAt - StartedAt, or 0 if either is unset.
func (e Execution) Duration() time.Duration {
	if e.StartedAt.IsZero() || e.CompletedAt.IsZero() {
		return 0
	}
	return e.CompletedAt.Sub(e.StartedAt)
}

// Done reports whether the execution reached a final status.
func (e Execution) Done() bool { return statusDone(e.Status) }

func statusDone(status string) bool {
	return status == StatusSuccess || status == StatusFailed || status == StatusCancelled
}

// ValidStatus reports whether s is one of the Status constants.
func ValidStatus(s string) bool {
	return s == StatusQueued || s == StatusRunning || statusDone(s)
}

func (e Execution) clone() Execution {
	if e.ExitCode != nil {
		code := *e.ExitCode
		e.ExitCode = &code
	}
	e.Output = bytes.Clone(e.Output)
	return e
}

// ExecutionFilter selects executions; empty fields match everything, set ones are combined with AND.
type ExecutionFilter struct {
	App    string
	Route  string
	Status string
	// Apps, when not nil, keeps only the executions of these apps, name to app ID (those a
	// developer owns): an execution of an earlier app of the same name has another ID.
	Apps map[string]string
}

func (f ExecutionFilter) match(app, appID, route, status string) bool {
	if f.Apps != nil {
		if id, ok := f.Apps[app]; !ok || id != appID {
			return false
		}
	}
	return (f.App == "" || f.App == app) && (f.Route == "" || f.Route == route) && (f.Status == "" || f.Status == status)
}

// Defaults of the execution retention options.
const (
	DefaultKeepExecutionsPerRoute = 1000
	DefaultPruneInterval          = time.Minute
)

const (
	// execQueueSize bounds the records waiting for the writer; RecordExecution blocks when it is full.
	execQueueSize = 4096
	// execMaxBatch bounds the records written in one transaction, to keep it short.
	execMaxBatch = 1024
	// execCommitInterval is how long the writer gathers records before it commits them.
	execCommitInterval = 100 * time.Millisecond
	// pruneChunk bounds the executions deleted in one transaction.
	pruneChunk = 1000
)

// ---- IDs ----

// idGen makes ULIDs that increase strictly within one DB, even within a millisecond
// and if the clock steps back.
type idGen struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
	lastMS  uint64
}

func newIDGen() *idGen {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // crypto/rand.Read never fails
	return &idGen{entropy: ulid.Monotonic(rand.NewChaCha8(seed), 0)}
}

func (g *idGen) next(now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := max(ulid.Timestamp(now), g.lastMS)
	for {
		// ChaCha8 never fails to read, so the only error is that this millisecond's
		// monotonic entropy ran out: move on to the next millisecond.
		id, err := ulid.New(ms, g.entropy)
		if err == nil {
			g.lastMS = ms
			return id.String()
		}
		ms++
	}
}

// NewID returns a new execution ID: a ULID, so IDs sort by creation time, and every ID
// of this DB is greater than the ones it returned before.
func (s *DB) NewID() string { return s.ids.next(time.Now()) }

// ---- recording ----

// The hot path of a call must not wait for fsync, so RecordExecution only queues the record
// and a writer goroutine stores what is queued in one bbolt transaction per batch (group
// commit). Until a record is committed it stays in a pending map that every read consults,
// so readers never notice the delay.
//
// Durability: a crash (not Close) loses the records of sync calls still queued, at most
// the last few milliseconds. Accepted work of async calls must not depend on this path;
// it is stored synchronously elsewhere before the call is acknowledged.

// pendingExec is the latest recorded state of an execution not yet committed.
type pendingExec struct {
	ex     Execution
	log    []byte
	hasLog bool
	seq    uint64 // recorder.seq when it was last recorded
	dirty  bool   // in recorder.dirty
}

// logTail is output that reached an execution's log late; the writer appends it to the
// stored log, reading the record in its own transaction, so it never carries a stale copy.
type logTail struct {
	log       []byte
	truncated bool
}

// recorder holds the execution records not yet on disk. Recording appends to a dirty
// list under mu; the writer takes the list every execCommitInterval and commits it in one
// transaction. Nothing wakes the writer per record (a cross-thread wake-up per call is
// costly); it is signalled only for a full batch, a flush or close.
type recorder struct {
	mu      sync.Mutex // guards every field below
	pending map[string]*pendingExec
	seq     uint64
	dirty   []string            // IDs recorded since the writer last took the list
	tails   map[string]*logTail // late log output of executions not pending: appended at commit
	flushes []chan error
	closed  bool
	room    *sync.Cond // signalled when the writer takes the dirty list

	wake     chan struct{} // buffered(1): commit now
	finished chan struct{} // closed when the writer has stored everything and returned
}

func newRecorder() *recorder {
	r := &recorder{
		pending:  map[string]*pendingExec{},
		tails:    map[string]*logTail{},
		wake:     make(chan struct{}, 1),
		finished: make(chan struct{}),
	}
	r.room = sync.NewCond(&r.mu)
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
	r.room.Broadcast()
	r.mu.Unlock()
	r.signal()
	<-r.finished
}

// RecordExecution stores ex, replacing any earlier record with its ID, and its stderr log when
// log is not nil (a nil log keeps the one recorded before). It returns without waiting for
// the disk, blocking only while the write queue is full; reads see the record at once.
// ex.ID must come from NewID, and an execution keeps its App and Route. A zero CreatedAt
// is set from the ID. Records with an invalid ID, or made after Close, are dropped and logged.
//
// Records are durable once FlushExecutions or Close returns. A crash loses the records still
// queued, at most the last few milliseconds of sync calls; accepted async work is stored
// synchronously elsewhere, never only through this queue.
func (s *DB) RecordExecution(ex Execution, log []byte) {
	id, err := ulid.ParseStrict(ex.ID)
	if err != nil || id.String() != ex.ID {
		s.log.Error("execution record dropped: its ID is not a ULID from NewID", "id", ex.ID, "app", ex.App, "route", ex.Route)
		return
	}
	if ex.CreatedAt.IsZero() {
		ex.CreatedAt = ulid.Time(id.Time()).UTC()
	}
	ex = ex.clone() // the caller may reuse its buffers
	r := s.rec
	r.mu.Lock()
	for len(r.dirty) >= execQueueSize && !r.closed {
		r.room.Wait() // the writer is behind: wait for it, keeping memory bounded
	}
	if r.closed {
		r.mu.Unlock()
		s.log.Error("execution record dropped: the store is closed", "id", ex.ID)
		return
	}
	p := r.pending[ex.ID]
	if p == nil {
		p = &pendingExec{}
		r.pending[ex.ID] = p
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

// FlushExecutions waits until every record made before the call is committed to disk.
// It returns an error if writing a record failed since the previous flush.
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
// takes the dirty list and commits it, execMaxBatch records a transaction, then answers
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
		r.room.Broadcast()
		r.mu.Unlock()
		for len(ids) > 0 {
			n := min(len(ids), execMaxBatch)
			if err := s.commitExecutions(ids[:n]); err != nil {
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

// commitExecutions writes the latest pending state of ids in one transaction, then drops
// from the pending map the entries not recorded again meanwhile. On failure the entries
// are dropped too: keeping them would grow the map without bound while the disk fails.
func (s *DB) commitExecutions(ids []string) error {
	r := s.rec
	batch := make([]pendingExec, 0, len(ids))
	r.mu.Lock()
	for _, id := range ids {
		if p := r.pending[id]; p != nil { // nil: an earlier batch already wrote its latest state
			batch = append(batch, *p)
		}
	}
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, p := range batch {
			var log []byte // nil keeps the stored log
			if p.hasLog {
				log = p.log
				if log == nil {
					log = []byte{}
				}
			}
			if err := putExecution(tx, p.ex, log); err != nil {
				return err
			}
		}
		return nil
	})
	r.mu.Lock()
	for _, p := range batch {
		if cur := r.pending[p.ex.ID]; cur != nil && cur.seq == p.seq {
			delete(r.pending, p.ex.ID)
		}
	}
	r.mu.Unlock()
	return err
}

// ---- reads ----

func execRoutePrefix(app, route string) []byte {
	k := make([]byte, 0, len(app)+len(route)+2)
	return append(append(append(append(k, app...), 0), route...), 0)
}

func execRouteKey(app, route, id string) []byte { return append(execRoutePrefix(app, route), id...) }

// pendingExecution returns a copy of the pending record of id.
func (s *DB) pendingExecution(id string) (Execution, []byte, bool, bool) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	p := s.rec.pending[id]
	if p == nil {
		return Execution{}, nil, false, false
	}
	return p.ex.clone(), bytes.Clone(p.log), p.hasLog, true
}

// GetExecution reads one execution, including one recorded but not yet committed.
func (s *DB) GetExecution(ctx context.Context, id string) (Execution, error) {
	if err := ctx.Err(); err != nil {
		return Execution{}, err
	}
	if ex, _, _, ok := s.pendingExecution(id); ok {
		return ex, nil
	}
	var ex Execution
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketExecutions), []byte(id), &ex)
		if err == nil && !found {
			err = NotFound("execution", id)
		}
		return err
	})
	return ex, err
}

// GetExecutionLog reads the stderr log of an execution: empty if it has none, ErrNotFound
// if the execution does not exist.
func (s *DB) GetExecutionLog(ctx context.Context, id string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	_, log, hasLog, pending := s.pendingExecution(id)
	if hasLog {
		return log, nil
	}
	log = []byte{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if !pending && tx.Bucket(bucketExecutions).Get([]byte(id)) == nil {
			return NotFound("execution", id)
		}
		log = append(log, tx.Bucket(bucketExecLogs).Get([]byte(id))...) // copied out of the transaction
		return nil
	})
	return log, err
}

// ListExecutions returns one page of the executions that match f, newest first, and the
// cursor of the next page ("" on the last). Executions outlive their app and route, so
// filtering on a deleted one is not an error. With App and Route set it reads only that
// route's index; otherwise it scans executions from the newest.
func (s *DB) ListExecutions(ctx context.Context, f ExecutionFilter, page Page) ([]Execution, string, error) {
	if f.Status != "" && !ValidStatus(f.Status) {
		return nil, "", invalid("status", "status %q must be one of %s", f.Status,
			strings.Join([]string{StatusQueued, StatusRunning, StatusSuccess, StatusFailed, StatusCancelled}, ", "))
	}
	before := ""
	if page.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(page.Cursor)
		id, perr := ulid.ParseStrict(string(raw))
		if err != nil || perr != nil {
			return nil, "", invalid("cursor", "cursor %q is not one this server gave out", page.Cursor)
		}
		before = id.String()
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	limit := page.limit()

	// The pending snapshot is taken before the transaction begins: a record committed in
	// between is then in both (and the pending copy wins), never in neither.
	var fromPending []Execution
	skip := map[string]bool{}
	s.rec.mu.Lock()
	for id, p := range s.rec.pending {
		skip[id] = true
		if (before == "" || id < before) && f.match(p.ex.App, p.ex.AppID, p.ex.Route, p.ex.Status) {
			fromPending = append(fromPending, p.ex.clone())
		}
	}
	s.rec.mu.Unlock()
	slices.SortFunc(fromPending, func(a, b Execution) int { return strings.Compare(b.ID, a.ID) })

	var fromDB []Execution
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		fromDB, err = scanExecutions(tx, f, before, skip, limit+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}

	out := make([]Execution, 0, min(limit+1, len(fromPending)+len(fromDB)))
	for i, j := 0, 0; len(out) <= limit && (i < len(fromPending) || j < len(fromDB)); {
		if j == len(fromDB) || i < len(fromPending) && fromPending[i].ID > fromDB[j].ID {
			out = append(out, fromPending[i])
			i++
		} else {
			out = append(out, fromDB[j])
			j++
		}
	}
	if len(out) > limit {
		out = out[:limit]
		return out, base64.RawURLEncoding.EncodeToString([]byte(out[limit-1].ID)), nil
	}
	return out, "", nil
}

// execHead is the part of a stored execution that filters look at; decoding only it skips
// allocating the rest of records that do not match.
type execHead struct {
	App    string `json:"app"`
	AppID  string `json:"app_id"`
	Route  string `json:"route"`
	Status string `json:"status"`
}

// scanExecutions reads up to n committed executions that match f, with IDs below before
// ("" for no bound) and not in skip, newest first.
func scanExecutions(tx *bolt.Tx, f ExecutionFilter, before string, skip map[string]bool, n int) ([]Execution, error) {
	execs := tx.Bucket(bucketExecutions)
	out := []Execution{}
	visit := func(id, v []byte) (bool, error) {
		if skip[string(id)] {
			return false, nil
		}
		var h execHead
		if err := json.Unmarshal(v, &h); err != nil {
			return false, fmt.Errorf("decode execution %s: %w", id, err)
		}
		if !f.match(h.App, h.AppID, h.Route, h.Status) {
			return false, nil
		}
		var ex Execution
		if err := json.Unmarshal(v, &ex); err != nil {
			return false, fmt.Errorf("decode execution %s: %w", id, err)
		}
		out = append(out, ex)
		return len(out) == n, nil
	}

	if f.App != "" && f.Route != "" {
		prefix := execRoutePrefix(f.App, f.Route)
		c := tx.Bucket(bucketExecByRoute).Cursor()
		var upper []byte
		if before != "" {
			upper = append(bytes.Clone(prefix), before...)
		} else {
			upper = bytes.Clone(prefix)
			upper[len(upper)-1]++ // just past every key with this prefix
		}
		for k := seekBefore(c, upper); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			id := k[len(prefix):]
			v := execs.Get(id)
			if v == nil {
				continue // not written: the writer and the pruner change both buckets in one transaction
			}
			if full, err := visit(id, v); err != nil || full {
				return out, err
			}
		}
		return out, nil
	}

	c := execs.Cursor()
	var k, v []byte
	if before == "" {
		k, v = c.Last()
	} else {
		k = seekBefore(c, []byte(before))
		if k != nil {
			v = execs.Get(k)
		}
	}
	for ; k != nil; k, v = c.Prev() {
		if full, err := visit(k, v); err != nil || full {
			return out, err
		}
	}
	return out, nil
}

// seekBefore positions c on the last key below upper and returns it (nil if there is none).
func seekBefore(c *bolt.Cursor, upper []byte) []byte {
	k, _ := c.Seek(upper)
	if k == nil {
		k, _ = c.Last()
		return k
	}
	k, _ = c.Prev()
	return k
}

// ---- retention ----

// PruneExecutions keeps the newest keepPerRoute executions of each (app, route) and deletes
// the older ones, with their logs and index entries, in transactions of at most pruneChunk
// executions. Executions that are not Done are never deleted. It returns how many it deleted.
func (s *DB) PruneExecutions(ctx context.Context, keepPerRoute int) (int, error) {
	if keepPerRoute < 0 {
		return 0, invalid("keep", "the number of executions to keep per route must not be negative, got %d", keepPerRoute)
	}
	deleted := 0
	var (
		upper []byte // scan index keys below this; nil: from the end
		group []byte // app \x00 route \x00 of the route being counted
		count int    // executions of group seen so far, newest first
	)
	for {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		var victims [][]byte // index keys
		reachedStart := true
		err := s.view(ctx, func(tx *bolt.Tx) error {
			execs := tx.Bucket(bucketExecutions)
			c := tx.Bucket(bucketExecByRoute).Cursor()
			var k []byte
			if upper == nil {
				k, _ = c.Last()
			} else {
				k = seekBefore(c, upper)
			}
			for ; k != nil; k, _ = c.Prev() {
				sep := bytes.LastIndexByte(k, 0)
				if sep < 0 {
					continue // not an index key
				}
				if !bytes.Equal(k[:sep+1], group) {
					group, count = bytes.Clone(k[:sep+1]), 0
				}
				count++
				if count <= keepPerRoute {
					continue
				}
				done, err := storedDone(execs.Get(k[sep+1:]))
				if err != nil {
					return err
				}
				if done {
					victims = append(victims, bytes.Clone(k))
					if len(victims) == pruneChunk {
						upper, reachedStart = victims[len(victims)-1], false
						return nil
					}
				}
			}
			return nil
		})
		if err != nil {
			return deleted, fmt.Errorf("prune executions: %w", err)
		}
		if len(victims) > 0 {
			n, err := s.deleteExecutions(ctx, victims)
			deleted += n
			if err != nil {
				return deleted, fmt.Errorf("prune executions: %w", err)
			}
		}
		if reachedStart {
			return deleted, nil
		}
	}
}

// storedDone reports whether a stored execution (nil: missing) may be pruned.
func storedDone(v []byte) (bool, error) {
	if v == nil {
		return true, nil // a dangling index entry
	}
	var h execHead
	if err := json.Unmarshal(v, &h); err != nil {
		return false, fmt.Errorf("decode execution: %w", err)
	}
	return statusDone(h.Status), nil
}

// deleteExecutions deletes the executions of these index keys in one transaction,
// checking again that each is still Done.
func (s *DB) deleteExecutions(ctx context.Context, keys [][]byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		execs, byRoute, logs := tx.Bucket(bucketExecutions), tx.Bucket(bucketExecByRoute), tx.Bucket(bucketExecLogs)
		n = 0
		for _, k := range keys {
			id := k[bytes.LastIndexByte(k, 0)+1:]
			if done, err := storedDone(execs.Get(id)); err != nil || !done {
				if err != nil {
					return err
				}
				continue
			}
			for _, del := range []func() error{
				func() error { return execs.Delete(id) },
				func() error { return logs.Delete(id) },
				func() error { return byRoute.Delete(k) },
			} {
				if err := del(); err != nil {
					return err
				}
			}
			n++
		}
		return nil
	})
	return n, err
}

// prune runs PruneExecutions every interval until ctx is cancelled.
func (s *DB) prune(ctx context.Context, keep int, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.PruneExecutions(ctx, keep)
			switch {
			case err != nil && ctx.Err() == nil:
				s.log.Error("pruning executions failed", "err", err)
			case n > 0:
				s.log.Debug("pruned executions", "deleted", n, "kept_per_route", keep)
			}
		}
	}
}

// AppendExecutionLog adds to a call's log output that reached Gantry after the call
// answered: a hot container's stderr may trail its response, Docker reading stdout and
// stderr from separate pipes. An execution still pending gets it in memory; otherwise the
// tail alone waits for the writer, which appends it to the stored log in its transaction,
// never touching the rest of the record (an async call's state belongs to its task's
// transactions). Unknown executions are ignored.
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

// commitTails appends late log output to stored executions, in one transaction.
func (s *DB) commitTails(tails map[string]*logTail) error {
	if len(tails) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		logs := tx.Bucket(bucketExecLogs)
		for id, t := range tails {
			ex, err := getExecutionTx(tx, id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			log := append(bytes.Clone(logs.Get([]byte(id))), t.log...)
			if err := logs.Put([]byte(id), log); err != nil {
				return err
			}
			if t.truncated && !ex.LogTruncated {
				ex.LogTruncated = true
				if err := putJSON(tx.Bucket(bucketExecutions), []byte(id), ex); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// RecoverExecutions ends the sync executions that a previous run of Gantry left RUNNING:
// it stopped or crashed during their call, whose caller got no answer. They become
// FAILED with reason error. Call it at start-up, before any call runs.
func (s *DB) RecoverExecutions(ctx context.Context) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *bolt.Tx) (func(), error) {
		b := tx.Bucket(bucketExecutions)
		var stale []Execution
		if err := b.ForEach(func(_, v []byte) error {
			var ex Execution
			if err := json.Unmarshal(v, &ex); err != nil {
				return fmt.Errorf("decode execution: %w", err)
			}
			if ex.Status == StatusRunning && ex.Type == TypeSync {
				stale = append(stale, ex)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		for _, ex := range stale {
			ex.Status, ex.Reason, ex.Error, ex.CompletedAt = StatusFailed, ReasonError, "gantry stopped during the call", s.now()
			if err := putJSON(b, []byte(ex.ID), ex); err != nil {
				return nil, err
			}
		}
		n = len(stale)
		return nil, nil
	})
	return n, err
}
