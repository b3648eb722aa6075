package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// runActive is the condition of the runs not final: the predicate of the partial index
// runs_active, written the same way so that the planner uses it.
const runActive = "status IN ('QUEUED', 'RUNNING')"

const runColumns = "id, workflow, owner, triggered_by, idempotency_key, status, created_at, run"

// scanRun reads runColumns: the run document, then the columns, which are the truth of what
// they hold.
func scanRun(row pgx.Row) (store.Run, error) {
	var r store.Run
	var id, workflow, owner, by, key, status string
	var created time.Time
	var doc []byte
	if err := row.Scan(&id, &workflow, &owner, &by, &key, &status, &created, &doc); err != nil {
		return r, err
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		return r, fmt.Errorf("decode run %s: %w", id, err)
	}
	r.ID, r.Workflow, r.Owner, r.TriggeredBy, r.IdempotencyKey, r.Status, r.CreatedAt = id, workflow, owner, by, key, status, created
	return r, nil
}

// numberEvents numbers events after the run's last (r.Events), counts them in r.Events,
// and gives those without a time the transaction's (now), the clock of every node.
func numberEvents(r *store.Run, events []store.RunEvent, now time.Time) []store.RunEvent {
	out := make([]store.RunEvent, len(events))
	for i, e := range events {
		r.Events++
		e.Seq = r.Events
		if e.Time.IsZero() {
			e.Time = now
		}
		out[i] = e
	}
	return out
}

// insertEvents appends numbered events to the log of run id, in tx.
func insertEvents(ctx context.Context, tx pgx.Tx, id string, events []store.RunEvent) error {
	if len(events) == 0 {
		return nil
	}
	seqs, docs := make([]int64, len(events)), make([][]byte, len(events))
	for i, e := range events {
		doc, err := jsonValue(e)
		if err != nil {
			return err
		}
		seqs[i], docs[i] = e.Seq, doc
	}
	_, err := tx.Exec(ctx, "INSERT INTO run_events (run_id, seq, event) SELECT $1, * FROM unnest($2::bigint[], $3::json[])", id, seqs, docs)
	return err
}

// CreateRun stores a new run, QUEUED, with its first events (numbered from 1), and tells
// the subscribers (ChangeRun). An empty ID gets a new one. Its workflow's row, if there is
// one, is locked to share: DeleteWorkflow, which locks it to update, cannot pass this run
// unseen. With an IdempotencyKey already used by the same TriggeredBy it stores nothing
// and returns that run, created false; two creating at once, one stores its run and the
// other gets it (the unique index on the key decides).
func (s *DB) CreateRun(ctx context.Context, r store.Run, events []store.RunEvent) (stored store.Run, created bool, err error) {
	if !store.CanRunTransition("", r.Status) {
		return store.Run{}, false, store.Invalid("status", "a run starts %s, not %q", store.StatusQueued, r.Status)
	}
	if r.ID == "" {
		r.ID = s.NewID()
	}
	in := r
	err = s.write(ctx, "create run", func(tx pgx.Tx) ([]store.Change, error) {
		r = in
		var err error
		if created, err = s.insertRun(ctx, tx, &r, events); err != nil || !created {
			return nil, err
		}
		return []store.Change{{Kind: store.ChangeRun, Name: r.ID}}, nil
	})
	if err != nil {
		return store.Run{}, false, err
	}
	return r, created, nil
}

// insertRun stores run r, which has an ID, and its first events in tx, as CreateRun does
// (CreateRun, PublishEvents and Redeliver create runs with it): r becomes the stored run.
// With an IdempotencyKey already used by the same TriggeredBy it stores nothing, sets r to
// that run and returns false. The caller sends the ChangeRun of a run created.
func (s *DB) insertRun(ctx context.Context, tx pgx.Tx, r *store.Run, events []store.RunEvent) (created bool, err error) {
	if _, err := tx.Exec(ctx, "SELECT FROM workflows WHERE name = $1 FOR SHARE", r.Workflow); err != nil {
		return false, err
	}
	var now time.Time
	if err := tx.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
		return false, err
	}
	if r.IdempotencyKey != "" {
		old, err := s.runByKey(ctx, tx, r.TriggeredBy, r.IdempotencyKey)
		if err == nil {
			*r = old
			return false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return false, err
		}
	}
	r.CreatedAt, r.Events = now, 0
	numbered := numberEvents(r, events, now)
	doc, err := jsonValue(r)
	if err != nil {
		return false, err
	}
	// DO NOTHING on any conflict: a run of the same key committed meanwhile (the unique
	// index waits for it), or a run of the same ID.
	tag, err := tx.Exec(ctx, `INSERT INTO runs (`+runColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT DO NOTHING`, r.ID, r.Workflow, r.Owner, r.TriggeredBy, r.IdempotencyKey, r.Status, r.CreatedAt, doc)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		if r.IdempotencyKey != "" {
			old, err := s.runByKey(ctx, tx, r.TriggeredBy, r.IdempotencyKey)
			if err == nil {
				*r = old
				return false, nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return false, err
			}
		}
		return false, store.Errorf(store.ErrExists, "run %q already exists", r.ID)
	}
	return true, insertEvents(ctx, tx, r.ID, numbered)
}

// runByKey reads the run that by triggered with key; pgx.ErrNoRows without one. Each
// statement of a READ COMMITTED transaction sees what was committed before it started, so
// this sees a run whose insert made ours do nothing.
func (s *DB) runByKey(ctx context.Context, tx pgx.Tx, by, key string) (store.Run, error) {
	return scanRun(tx.QueryRow(ctx, "SELECT "+runColumns+" FROM runs WHERE triggered_by = $1 AND idempotency_key = $2 AND idempotency_key <> ''", by, key))
}

// GetRun reads one run.
func (s *DB) GetRun(ctx context.Context, id string) (store.Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, "SELECT "+runColumns+" FROM runs WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Run{}, store.NotFound("run", id)
	}
	return r, dbError("get run", err)
}

// ListRuns returns one page of the runs that match f, newest first (by ID), and the cursor
// of the next page. Only the filters set are in the query, so that the planner picks the
// index that serves them (runs_by_workflow, runs_by_status, the viewer's two or-ed).
func (s *DB) ListRuns(ctx context.Context, f store.RunFilter, page store.Page) ([]store.Run, string, error) {
	before, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	if f.Status != "" && !store.ValidStatus(f.Status) {
		return nil, "", store.Invalid("status", "status %q must be one of %s, %s, %s, %s, %s", f.Status,
			store.StatusQueued, store.StatusRunning, store.StatusSuccess, store.StatusFailed, store.StatusCancelled)
	}
	var where []string
	args := []any{page.Size() + 1}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	for _, c := range []struct{ col, v string }{{"id <", before}, {"workflow =", f.Workflow}, {"status =", f.Status}} {
		if c.v != "" {
			where = append(where, c.col+" "+arg(c.v))
		}
	}
	if f.Viewer != "" {
		v := arg(f.Viewer)
		where = append(where, "(owner = "+v+" OR triggered_by = "+v+")")
	}
	q := "SELECT " + runColumns + " FROM runs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY id DESC LIMIT $1", args...)
	if err != nil {
		return nil, "", dbError("list runs", err)
	}
	runs, next, err := collectPage(rows, page.Size(), scanRun, func(r store.Run) string { return r.ID })
	return runs, next, dbError("list runs", err)
}

// ActiveRuns returns the IDs of the runs not final, oldest first (the runs_active index).
func (s *DB) ActiveRuns(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT id FROM runs WHERE "+runActive+" ORDER BY id")
	if err != nil {
		return nil, dbError("active runs", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if ids == nil {
		ids = []string{}
	}
	return ids, dbError("active runs", err)
}

// defaultRunEvents is how many events ListRunEvents returns when limit is not positive.
const defaultRunEvents = 1000

// ListRunEvents returns up to limit events of run id with Seq > after, in order (1000 when
// limit <= 0); ErrNotFound without the run.
func (s *DB) ListRunEvents(ctx context.Context, id string, after int64, limit int) ([]store.RunEvent, error) {
	if limit <= 0 {
		limit = defaultRunEvents
	}
	// One statement, one snapshot: the run's existence and its events agree.
	rows, err := s.pool.Query(ctx, `SELECT e.event FROM runs r LEFT JOIN LATERAL (
			SELECT event, seq FROM run_events WHERE run_id = r.id AND seq > $2 ORDER BY seq LIMIT $3) e ON true
		WHERE r.id = $1 ORDER BY e.seq`, id, after, limit)
	if err != nil {
		return nil, dbError("list run events", err)
	}
	found := false
	events := []store.RunEvent{}
	var doc []byte
	_, err = pgx.ForEachRow(rows, []any{&doc}, func() error {
		found = true
		if doc == nil { // the run without events after after
			return nil
		}
		var e store.RunEvent
		if err := json.Unmarshal(doc, &e); err != nil {
			return fmt.Errorf("decode an event of run %s: %w", id, err)
		}
		events = append(events, e)
		return nil
	})
	if err != nil {
		return nil, dbError("list run events", err)
	}
	if !found {
		return nil, store.NotFound("run", id)
	}
	return events, nil
}

// UpdateRun changes run id in one transaction (see store.Runs): the run's row is locked
// (SELECT ... FOR UPDATE), so updates of a run are serialized on every node and fn sees
// the last stored run; fn runs once, and its error is returned unchanged with nothing
// written. The run, its new events (numbered after its last) and its step calls (each a
// task and its QUEUED execution, stored as EnqueueTask stores them) are committed together;
// then a ChangeRun naming the run, and a ChangeTask per call, reach the subscribers of
// every node. A run that reaches a final status ends its event delivery in the same
// transaction (Run.Delivery, see endDelivery). ErrConflict when store.CanRunTransition refuses the run's new status.
func (s *DB) UpdateRun(ctx context.Context, id string, fn func(r *store.Run) (store.RunUpdate, error)) (store.Run, error) {
	var r store.Run
	var fnErr error
	err := s.writeOnce(ctx, "update run", func(tx pgx.Tx) ([]store.Change, error) {
		var now time.Time
		old, err := scanRun(tx.QueryRow(ctx, "SELECT "+runColumns+" FROM runs WHERE id = $1 FOR UPDATE", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("run", id)
		}
		if err != nil {
			return nil, err
		}
		if err := tx.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
			return nil, err
		}
		r = old.Clone()
		upd, err := fn(&r)
		if err != nil {
			fnErr = err
			return nil, err
		}
		if err := runKept(old, r); err != nil {
			return nil, err
		}
		if !store.CanRunTransition(old.Status, r.Status) {
			return nil, store.Errorf(store.ErrConflict, "run %q is %s: it cannot become %s", id, old.Status, r.Status)
		}
		r.Events, r.CreatedAt = old.Events, old.CreatedAt // the store's to keep
		events := numberEvents(&r, upd.Events, now)
		calls, err := stepCalls(id, upd.Calls)
		if err != nil {
			return nil, err
		}
		doc, err := jsonValue(r)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, "UPDATE runs SET status = $2, run = $3 WHERE id = $1", id, r.Status, doc); err != nil {
			return nil, err
		}
		if err := insertEvents(ctx, tx, id, events); err != nil {
			return nil, err
		}
		if r.Done() && !old.Done() {
			if err := endDelivery(ctx, tx, old.Delivery, id, r.Status); err != nil {
				return nil, err
			}
		}
		changes := []store.Change{{Kind: store.ChangeRun, Name: id}}
		if len(calls) > 0 {
			tasks, err := storeTasks(ctx, tx, calls)
			if err != nil {
				return nil, err
			}
			changes = append(changes, tasks...)
		}
		return changes, nil
	})
	if fnErr != nil {
		return store.Run{}, fnErr
	}
	if err != nil {
		return store.Run{}, err
	}
	return r, nil
}

// runKept refuses an update that changes what a run is rather than where it is: its ID,
// workflow, owner or trigger (columns that lists filter on).
func runKept(old, r store.Run) error {
	switch {
	case r.ID != old.ID:
		return store.Invalid("id", "run %q cannot change its ID (to %q)", old.ID, r.ID)
	case r.Workflow != old.Workflow || r.Owner != old.Owner || r.TriggeredBy != old.TriggeredBy || r.IdempotencyKey != old.IdempotencyKey:
		return store.Invalid("run", "run %q cannot change its workflow, owner, trigger or idempotency key", old.ID)
	}
	return nil
}

// stepCalls are the accepts of a run's step calls: their task and execution name the run
// as their parent when the caller left it out (so that their end is told to the run).
func stepCalls(run string, calls []store.StepCall) ([]*acceptReq, error) {
	reqs := make([]*acceptReq, len(calls))
	for i, c := range calls {
		if c.Task.ID == "" {
			return nil, store.Invalid("calls", "a step call of run %q has no ID", run)
		}
		if c.Task.Parent == "" {
			c.Task.Parent = run
		}
		if c.Execution.Parent == "" {
			c.Execution.Parent = c.Task.Parent
		}
		req, err := newAccept(c.Task, c.Execution)
		if err != nil {
			return nil, err
		}
		reqs[i] = req
	}
	return reqs, nil
}
