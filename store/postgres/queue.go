package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// The queue's rules (see store.Queue) are judged by the database's clock: one clock for
// every node, so a lease ends at the same moment for all of them. A transaction judges by
// now() (its start); a lease runs from clock_timestamp(), when it is granted or renewed, so
// that the time the granting transaction took is not taken from it.

const taskColumns = "id, priority, available_at, enqueued_at, attempts, lease_owner, lease_until, last_error, cancel_requested, body, task"

// scanTask reads taskColumns, then the columns of extra.
func scanTask(row pgx.Row, extra ...any) (store.Task, error) {
	var t store.Task
	var doc, body []byte
	var id, owner, lastErr string
	var prio int16
	var available, enqueued time.Time
	var until *time.Time
	var attempts int
	var cancel bool
	if err := row.Scan(append([]any{&id, &prio, &available, &enqueued, &attempts, &owner, &until, &lastErr, &cancel, &body, &doc}, extra...)...); err != nil {
		return t, err
	}
	if err := json.Unmarshal(doc, &t); err != nil {
		return t, fmt.Errorf("decode task %s: %w", id, err)
	}
	// The columns are the truth of what the queue changes.
	t.ID, t.Priority, t.AvailableAt, t.EnqueuedAt, t.Attempts = id, uint8(prio), available, enqueued, attempts //nolint:gosec // G115: stored from a uint8
	t.LeaseOwner, t.LeaseUntil, t.LastError, t.CancelRequested, t.Body = owner, timeOrZero(until), lastErr, cancel, body
	return t, nil
}

// GetTask reads a task; ErrNotFound once it is gone.
func (s *DB) GetTask(ctx context.Context, id string) (store.Task, error) {
	if err := ctx.Err(); err != nil {
		return store.Task{}, err
	}
	t, err := scanTask(s.pool.QueryRow(ctx, "SELECT "+taskColumns+" FROM tasks WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Task{}, store.Errorf(store.ErrNotFound, "task %q not found", id)
	}
	return t, dbError("get task", err)
}

// taskDoc is the task column of t: the call it carries, without what has a column.
func taskDoc(t store.Task) ([]byte, error) {
	t.Body, t.Priority, t.Attempts, t.EnqueuedAt, t.AvailableAt = nil, 0, 0, time.Time{}, time.Time{}
	t.LeaseOwner, t.LeaseUntil, t.LastError, t.CancelRequested = "", time.Time{}, "", false
	return jsonValue(t)
}

// EnqueueTask stores an accepted async call and its QUEUED execution in one transaction,
// committed (durable) before it returns, and tells every node's workers (ChangeTask).
// Concurrent accepts share transactions (accept.go).
func (s *DB) EnqueueTask(ctx context.Context, t store.Task, ex store.Execution) error {
	req, err := newAccept(t, ex)
	if err != nil {
		return err
	}
	req.done = make(chan error, 1)
	return s.enqueue(ctx, req)
}

// newAccept is the accept of task t and its execution ex, for storeTasks.
func newAccept(t store.Task, ex store.Execution) (*acceptReq, error) {
	doc, err := taskDoc(t)
	if err != nil {
		return nil, err
	}
	return &acceptReq{t: t, doc: doc, ex: ex}, nil
}

// LeaseTasks hands out up to n tasks available now, lowest priority value first and FIFO
// within a priority, each leased to owner for lease: no other consumer, on any node, gets
// it until the lease ends (FOR UPDATE SKIP LOCKED: concurrent leasers pass over the rows
// another holds). A leased task keeps its place in line. Their executions become RUNNING.
// A task whose execution is final or gone is dropped; one cancelled while leased, whose
// lease ended, ends CANCELLED.
func (s *DB) LeaseTasks(ctx context.Context, n int, owner string, lease time.Duration) ([]store.Task, error) {
	return s.leaseTasks(ctx, n, owner, lease, false)
}

// LeaseTasksWithoutSecrets leases as LeaseTasks does, passing over the tasks that need
// secrets or run an image by name (needs_secrets: Task.StaysHome): they keep their place
// in line, untouched, for Gantry's own workers.
func (s *DB) LeaseTasksWithoutSecrets(ctx context.Context, n int, owner string, lease time.Duration) ([]store.Task, error) {
	return s.leaseTasks(ctx, n, owner, lease, true)
}

// leaseTasks is LeaseTasks, and LeaseTasksWithoutSecrets when withoutSecrets is set.
func (s *DB) leaseTasks(ctx context.Context, n int, owner string, lease time.Duration, withoutSecrets bool) ([]store.Task, error) {
	var leased []store.Task
	err := s.writeTx(ctx, "lease tasks", false, func(tx pgx.Tx) ([]store.Change, error) {
		leased = leased[:0]
		var changes []store.Change // of the workflow steps' calls that ended instead
		for len(leased) < n {
			took, ended, skipped, err := s.leaseSome(ctx, tx, n-len(leased), owner, lease, withoutSecrets)
			if err != nil {
				return nil, err
			}
			leased = append(leased, took...)
			changes = append(changes, ended...)
			if skipped == 0 { // the queue has no more due now, or n were taken
				break
			}
		}
		return changes, nil
	})
	if err != nil {
		return nil, err
	}
	return leased, nil
}

// The due tasks in line, for leaseSome; dueForRunners is the line of external runners,
// without the tasks that need secrets (the filter is written out, not a parameter, so that
// every plan may read the partial index tasks_in_line_without_secrets).
const (
	dueInLine = `SELECT t.id, t.cancel_requested, e.status FROM tasks t LEFT JOIN executions e ON e.id = t.id
		WHERE t.available_at <= now() AND (t.lease_until IS NULL OR t.lease_until <= now())
		ORDER BY t.priority, t.available_at, t.id LIMIT $1 FOR UPDATE OF t SKIP LOCKED`
	dueForRunners = `SELECT t.id, t.cancel_requested, e.status FROM tasks t LEFT JOIN executions e ON e.id = t.id
		WHERE NOT t.needs_secrets AND t.available_at <= now() AND (t.lease_until IS NULL OR t.lease_until <= now())
		ORDER BY t.priority, t.available_at, t.id LIMIT $1 FOR UPDATE OF t SKIP LOCKED`
)

// leaseSome leases up to n due tasks in tx (only those without secrets when withoutSecrets
// is set); skipped counts those it dropped or ended instead, whose places the caller may
// fill with others.
func (s *DB) leaseSome(ctx context.Context, tx pgx.Tx, n int, owner string, lease time.Duration, withoutSecrets bool) (took []store.Task, ended []store.Change, skipped int, err error) {
	query := dueInLine
	if withoutSecrets {
		query = dueForRunners
	}
	rows, err := tx.Query(ctx, query, n)
	if err != nil {
		return nil, nil, 0, err
	}
	type due struct {
		id     string
		cancel bool
		status *string
	}
	var dues []due
	var d due
	if _, err := pgx.ForEachRow(rows, []any{&d.id, &d.cancel, &d.status}, func() error { dues = append(dues, d); return nil }); err != nil {
		return nil, nil, 0, err
	}
	var take []string
	for _, d := range dues {
		switch {
		case d.status == nil || store.StatusFinal(*d.status):
			// Its execution is gone (pruned) or ended already: a task left behind, which must
			// not run again, nor stop the queue behind it.
			status := "gone"
			if d.status != nil {
				status = *d.status
			}
			s.log.Error("task dropped from the queue: its execution is final or gone", "id", d.id, "status", status)
			final := store.StatusFailed // gone: what became of the call is unknown
			if d.status != nil {
				final = *d.status
			}
			child, err := removeTask(ctx, tx, d.id, final)
			if err != nil {
				return nil, nil, 0, err
			}
			ended = append(ended, child...)
			skipped++
		case d.cancel: // cancelled while leased, and the lease ended: it never runs again
			child, err := finishCancelled(ctx, tx, d.id)
			if err != nil {
				return nil, nil, 0, err
			}
			ended = append(ended, child...)
			skipped++
		default:
			take = append(take, d.id)
		}
	}
	if len(take) == 0 {
		return nil, ended, skipped, nil
	}
	rows, err = tx.Query(ctx, `UPDATE tasks SET attempts = attempts + 1, lease_owner = $2, lease_until = clock_timestamp() + $3 * interval '1 microsecond'
		WHERE id = ANY($1) RETURNING `+taskColumns, take, owner, lease.Microseconds())
	if err != nil {
		return nil, nil, 0, err
	}
	took, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Task, error) { return scanTask(row) })
	if err != nil {
		return nil, nil, 0, err
	}
	slices.SortFunc(took, func(a, b store.Task) int { // the order of the line, which RETURNING does not keep
		if a.Priority != b.Priority {
			return int(a.Priority) - int(b.Priority)
		}
		if c := a.AvailableAt.Compare(b.AvailableAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	// A new run: nothing of the last one's end (a retry's cause, a shutdown's, its output,
	// the image digest it ran) shows while it runs.
	tag, err := tx.Exec(ctx, `UPDATE executions e SET status = $2, started_at = now(), attempts = t.attempts, node = $5,
		reason = '', error = '', exit_code = NULL, completed_at = NULL,
		output = NULL, output_truncated = false, log_truncated = false, image_digest = ''
		FROM tasks t WHERE t.id = e.id AND e.id = ANY($1) AND e.status IN ($3, $4)`,
		take, store.StatusRunning, store.StatusQueued, store.StatusRunning, s.node)
	if err != nil {
		return nil, nil, 0, err
	}
	if int(tag.RowsAffected()) != len(take) {
		return nil, nil, 0, store.Errorf(store.ErrConflict, "lease tasks: an execution changed status while its task was leased")
	}
	return took, ended, skipped, nil
}

// finishCancelled removes a task and ends its execution CANCELLED, in tx; it returns the
// ChangeChild to send if the task is a workflow step's call.
func finishCancelled(ctx context.Context, tx pgx.Tx, id string) ([]store.Change, error) {
	changes, err := removeTask(ctx, tx, id, store.StatusCancelled)
	if err != nil {
		return nil, err
	}
	return changes, moveExecution(ctx, tx, id, store.StatusCancelled, ", reason = $3, completed_at = now()", store.ReasonClientRequest)
}

// removeTask deletes a task that leaves the queue for good in tx: its call reached the
// final status final, or it was dropped (final is then its execution's status, FAILED when
// the execution is gone). It ends the event delivery the call makes, if any (Task.Delivery,
// see endDelivery), and returns the ChangeChild that tells its workflow run, if it is a
// step's call (Task.Parent); both are kept in the task column. Every path out of the queue
// goes through it.
func removeTask(ctx context.Context, tx pgx.Tx, id, final string) ([]store.Change, error) {
	var parent, delivery string
	err := tx.QueryRow(ctx, "DELETE FROM tasks WHERE id = $1 RETURNING coalesce(task->>'parent', ''), coalesce(task->>'delivery', '')", id).Scan(&parent, &delivery)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := endDelivery(ctx, tx, delivery, id, final); err != nil {
		return nil, err
	}
	return childDone(parent, id), nil
}

// childDone is the ChangeChild of call id ending, if it has a parent run.
func childDone(parent, id string) []store.Change {
	if parent == "" {
		return nil
	}
	return []store.Change{{Kind: store.ChangeChild, Name: parent, Path: id}}
}

// moveExecution sets the status of a stored execution to to, and the columns of set (SQL
// from $3 on, with args), if store.CanTransition allows it: ErrConflict otherwise,
// ErrNotFound without the execution.
func moveExecution(ctx context.Context, tx pgx.Tx, id, to, set string, args ...any) error {
	var from string
	err := tx.QueryRow(ctx, "SELECT status FROM executions WHERE id = $1 FOR UPDATE", id).Scan(&from)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.NotFound("execution", id)
	}
	if err != nil {
		return err
	}
	if !store.CanTransition(from, to) {
		return store.TransitionError(id, from, to)
	}
	_, err = tx.Exec(ctx, "UPDATE executions SET status = $2"+set+" WHERE id = $1", append([]any{id, to}, args...)...)
	return err
}

// holdsLease locks the task and returns it if owner leases it now.
func holdsLease(ctx context.Context, tx pgx.Tx, id, owner string) (store.Task, error) {
	var leasedNow bool
	t, err := scanTask(tx.QueryRow(ctx, "SELECT "+taskColumns+", coalesce(lease_until > now(), false) FROM tasks WHERE id = $1 FOR UPDATE", id), &leasedNow)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return t, store.Errorf(store.ErrNotFound, "task %q not found: it finished or was cancelled", id)
	case err != nil:
		return t, err
	case t.LeaseOwner != owner || !leasedNow:
		return t, store.Errorf(store.ErrConflict, "task %q is not leased to %q (the lease expired and the task went back to the queue)", id, owner)
	}
	return t, nil
}
