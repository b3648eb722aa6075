package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// completeExecution writes the final state of a task's execution (execValues, then its
// log): a NULL completed_at is now, a NULL log keeps the stored one.
const completeExecution = `UPDATE executions SET app = $2, app_id = $3, route = $4, type = $5, status = $6, reason = $7,
	exit_code = $8, error = $9, container = $10, node = coalesce(nullif($11, ''), node), created_at = $12, started_at = $13,
	completed_at = coalesce($14, now()), attempts = $15, output_truncated = $16, log_truncated = $17, output = $18,
	parent = $19, step = $20, image_digest = $21, log = coalesce($22, log)
	WHERE id = $1`

// CompleteTask ends a task that owner leases: it deletes the task and stores the final
// execution and its log in one transaction. ErrConflict if owner no longer holds the lease.
func (s *DB) CompleteTask(ctx context.Context, id, owner string, ex store.Execution, log []byte) error {
	if !ex.Done() {
		return store.Invalid("status", "a task ends with a final status (%s, %s or %s), not %q", store.StatusSuccess, store.StatusFailed, store.StatusCancelled, ex.Status)
	}
	in := ex
	return s.writeTx(ctx, "complete task", false, func(tx pgx.Tx) ([]store.Change, error) {
		ex := in
		t, err := holdsLease(ctx, tx, id, owner)
		if err != nil {
			return nil, err
		}
		changes, err := removeTask(ctx, tx, id, ex.Status)
		if err != nil {
			return nil, err
		}
		old, err := scanExecution(tx.QueryRow(ctx, "SELECT "+execColumns+" FROM executions WHERE id = $1 FOR UPDATE", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("execution", id)
		}
		if err != nil {
			return nil, err
		}
		if !store.CanTransition(old.Status, ex.Status) {
			return nil, store.TransitionError(id, old.Status, ex.Status)
		}
		ex.ID, ex.App, ex.AppID, ex.Route, ex.Type, ex.CreatedAt, ex.Attempts = old.ID, old.App, old.AppID, old.Route, old.Type, old.CreatedAt, t.Attempts
		ex.Parent, ex.Step = old.Parent, old.Step
		if ex.StartedAt.IsZero() {
			ex.StartedAt = old.StartedAt
		}
		_, err = tx.Exec(ctx, completeExecution, append(execValues(ex), log)...)
		return changes, err
	})
}

// RetryTask returns a task that owner leases to the queue, available again after delay,
// noting why; its execution goes back to QUEUED. A task cancelled while leased ends
// CANCELLED instead.
func (s *DB) RetryTask(ctx context.Context, id, owner string, delay time.Duration, reason string) error {
	return s.writeTx(ctx, "retry task", false, func(tx pgx.Tx) ([]store.Change, error) {
		t, err := holdsLease(ctx, tx, id, owner)
		if err != nil {
			return nil, err
		}
		if t.CancelRequested {
			return finishCancelled(ctx, tx, id)
		}
		// Without a delay it keeps its place in line (a call handed back by a node that stops).
		if _, err := tx.Exec(ctx, `UPDATE tasks SET lease_owner = '', lease_until = NULL, last_error = $2,
			available_at = CASE WHEN $3::bigint > 0 THEN now() + $3::bigint * interval '1 microsecond' ELSE available_at END
			WHERE id = $1`, id, text(reason), delay.Microseconds()); err != nil {
			return nil, err
		}
		return nil, moveExecution(ctx, tx, id, store.StatusQueued, ", error = $3", text(reason))
	})
}

// CancelTask cancels a task. A queued one never runs: its execution is CANCELLED with
// reason client_request. A leased one is marked so that it is never run again, every node
// hears a ChangeCancel (the one running it stops it), and CancelTask returns its lease's
// owner with ErrTaskRunning. ErrNotFound if there is no such task.
func (s *DB) CancelTask(ctx context.Context, id string) (owner string, err error) {
	err = s.write(ctx, "cancel task", func(tx pgx.Tx) ([]store.Change, error) {
		owner = ""
		var leaseOwner string
		var leased bool
		err := tx.QueryRow(ctx, `SELECT lease_owner, coalesce(lease_owner <> '' AND lease_until > now(), false)
			FROM tasks WHERE id = $1 FOR UPDATE`, id).Scan(&leaseOwner, &leased)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil, store.Errorf(store.ErrNotFound, "task %q not found", id)
		case err != nil:
			return nil, err
		case leased:
			owner = leaseOwner
			_, err := tx.Exec(ctx, "UPDATE tasks SET cancel_requested = true WHERE id = $1", id)
			return []store.Change{{Kind: store.ChangeCancel, Name: id}}, err
		}
		return finishCancelled(ctx, tx, id)
	})
	if err == nil && owner != "" {
		err = store.Errorf(store.ErrTaskRunning, "execution %q is running", id)
	}
	return owner, err
}

// TaskStats counts the tasks, in one aggregate query.
func (s *DB) TaskStats(ctx context.Context) (store.TaskStats, error) {
	var st store.TaskStats
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE leased), count(*) FILTER (WHERE NOT leased),
			count(*) FILTER (WHERE NOT leased AND available_at > now()), min(enqueued_at) FILTER (WHERE NOT leased)
		FROM (SELECT available_at, enqueued_at, coalesce(lease_owner <> '' AND lease_until > now(), false) AS leased FROM tasks) t`).
		Scan(&st.Running, &st.Queued, &st.Delayed, &oldest)
	st.OldestAt = timeOrZero(oldest)
	return st, dbError("task stats", err)
}

// ReleaseLeases returns to the queue, in their place in line, the tasks leased to owners
// whose name starts with prefix but not with keep: the workers of a previous run of this
// node, dead since, whose leases need not be waited out. Other leases stand.
func (s *DB) ReleaseLeases(ctx context.Context, prefix, keep string) (int, error) {
	n := 0
	err := s.writeTx(ctx, "release leases", false, func(tx pgx.Tx) ([]store.Change, error) {
		rows, err := tx.Query(ctx, `UPDATE tasks SET lease_owner = '', lease_until = NULL
			WHERE lease_owner <> '' AND lease_until > now() AND left(lease_owner, length($1)) = $1
				AND ($2 = '' OR left(lease_owner, length($2)) <> $2) RETURNING id`, prefix, keep)
		if err != nil {
			return nil, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		n = len(ids)
		_, err = tx.Exec(ctx, "UPDATE executions SET status = $2 WHERE id = ANY($1) AND status = $3", ids, store.StatusQueued, store.StatusRunning)
		return nil, err
	})
	return n, err
}

// RenewLeases extends to now+lease each held lease still in force, and returns how many,
// with the IDs among them whose cancel was asked for (see store.Queue).
func (s *DB) RenewLeases(ctx context.Context, held []store.Lease, lease time.Duration) (int, []string, error) {
	if len(held) == 0 {
		return 0, nil, ctx.Err()
	}
	ids, owners := make([]string, len(held)), make([]string, len(held))
	for i, l := range held {
		ids[i], owners[i] = l.ID, l.Owner
	}
	rows, err := s.pool.Query(ctx, `UPDATE tasks t SET lease_until = clock_timestamp() + $3 * interval '1 microsecond'
		FROM unnest($1::text[], $2::text[]) AS h(id, owner)
		WHERE t.id = h.id AND t.lease_owner = h.owner AND t.lease_until > now()
		RETURNING t.id, t.cancel_requested`, ids, owners, lease.Microseconds())
	if err != nil {
		return 0, nil, dbError("renew leases", err)
	}
	renewed, cancelled := 0, []string(nil)
	var id string
	var cancel bool
	_, err = pgx.ForEachRow(rows, []any{&id, &cancel}, func() error {
		renewed++
		if cancel {
			cancelled = append(cancelled, id)
		}
		return nil
	})
	return renewed, cancelled, dbError("renew leases", err)
}
