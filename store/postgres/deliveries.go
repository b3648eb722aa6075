package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

const deliveryColumns = "id, event, subscription, subscription_id, owner, execution, executions, workflow, status, dead_letter, created_at, updated_at"

func scanDelivery(row pgx.Row) (store.Delivery, error) {
	var d store.Delivery
	err := row.Scan(&d.ID, &d.Event, &d.Subscription, &d.SubscriptionID, &d.Owner, &d.Execution, &d.Executions, &d.Workflow, &d.Status,
		&d.DeadLetter, &d.CreatedAt, &d.UpdatedAt)
	return d, err
}

// endDelivery ends delivery id, in tx, because its call or run execution ended with the
// execution status final: its status becomes store.DeliveryDone(final, its dead-letter
// policy). A delivery whose current execution is another (it was redelivered since), or
// that is final already or gone, is left as it is; id "" (a call or run that delivers
// nothing) does nothing. Every path by which a call leaves the queue (removeTask) and a run
// becomes final (UpdateRun) calls it, in the transaction of that change.
func endDelivery(ctx context.Context, tx pgx.Tx, id, execution, final string) error {
	if id == "" {
		return nil
	}
	var policy string
	err := tx.QueryRow(ctx, "SELECT dead_letter FROM deliveries WHERE id = $1 AND execution = $2 AND status = $3 FOR UPDATE",
		id, execution, store.DeliveryQueued).Scan(&policy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "UPDATE deliveries SET status = $2, updated_at = now() WHERE id = $1", id, store.DeliveryDone(final, policy))
	return err
}

// GetDelivery reads one delivery.
func (s *DB) GetDelivery(ctx context.Context, id string) (store.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Delivery{}, store.NotFound("delivery", id)
	}
	return d, dbError("get delivery", err)
}

// ListDeliveries returns one page of the deliveries that match f, oldest first (by ID),
// and the cursor of the next page. Only the filters set are in the query, so that the
// planner picks the index that serves them in ID order (deliveries_by_event,
// _by_subscription, _by_subscription_id with a status, _by_status, or the primary key;
// other combinations filter one of these).
func (s *DB) ListDeliveries(ctx context.Context, f store.DeliveryFilter, page store.Page) ([]store.Delivery, string, error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	if _, ok := store.ValidID(after); after != "" && !ok {
		return nil, "", store.Invalid("cursor", "cursor %q is not one this server gave out", page.Cursor)
	}
	var where []string
	args := []any{page.Size() + 1}
	for _, c := range []struct{ col, v string }{{"id >", after}, {"event =", f.Event}, {"subscription =", f.Subscription}, {"subscription_id =", f.SubscriptionID}, {"status =", f.Status}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, c.col+" $"+strconv.Itoa(len(args)))
		}
	}
	q := "SELECT " + deliveryColumns + " FROM deliveries"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY id LIMIT $1", args...)
	if err != nil {
		return nil, "", dbError("list deliveries", err)
	}
	out, next, err := collectPage(rows, page.Size(), scanDelivery, func(d store.Delivery) string { return d.ID })
	return out, next, dbError("list deliveries", err)
}

// Redeliver makes a final delivery QUEUED again with next's call or run, in one
// transaction: the delivery's row is locked, its new execution appended to its
// executions, its dead-letter policy next's when set, the call accepted (as EnqueueTask
// does) or the run created (as CreateRun does); then a ChangeTask or a ChangeRun.
// ErrConflict while it is QUEUED, ErrNotFound without it.
func (s *DB) Redeliver(ctx context.Context, id string, next store.NewDelivery) (store.Delivery, error) {
	policy := next.Delivery.DeadLetter
	if err := s.prepareDelivery(id, &next); err != nil {
		return store.Delivery{}, err
	}
	var d store.Delivery
	err := s.write(ctx, "redeliver", func(tx pgx.Tx) ([]store.Change, error) {
		var err error
		d, err = scanDelivery(tx.QueryRow(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE id = $1 FOR UPDATE", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("delivery", id)
		}
		if err != nil {
			return nil, err
		}
		if !d.Done() {
			return nil, store.Errorf(store.ErrConflict, "delivery %q is %s: only a final delivery is redelivered", id, d.Status)
		}
		nd := next.Delivery
		if policy == "" {
			policy = d.DeadLetter
		}
		err = tx.QueryRow(ctx, `UPDATE deliveries SET execution = $2, executions = array_append(executions, $2), workflow = $3,
			status = $4, dead_letter = $5, updated_at = now() WHERE id = $1 RETURNING `+deliveryColumns,
			id, nd.Execution, nd.Workflow, store.DeliveryQueued, policy).Scan(&d.ID, &d.Event, &d.Subscription, &d.SubscriptionID, &d.Owner,
			&d.Execution, &d.Executions, &d.Workflow, &d.Status, &d.DeadLetter, &d.CreatedAt, &d.UpdatedAt)
		if err != nil {
			return nil, err
		}
		return s.startDeliveries(ctx, tx, []store.NewDelivery{next})
	})
	if err != nil {
		return store.Delivery{}, err
	}
	return d, nil
}

// prepareDelivery readies nd, a delivery of ID id, to store: its Call's task (or its
// Run) names the delivery, the run gets an ID when it has none, and the delivery's
// Execution, Executions and Workflow name that call or run. ErrInvalid unless exactly
// one of Call and Run is set.
func (s *DB) prepareDelivery(id string, nd *store.NewDelivery) error {
	d := &nd.Delivery
	d.ID = id
	switch {
	case (nd.Call == nil) == (nd.Run == nil):
		return store.Invalid("deliveries", "delivery %q needs either a call or a workflow run", id)
	case nd.Call != nil:
		if nd.Call.Task.ID == "" {
			return store.Invalid("deliveries", "the call of delivery %q has no ID", id)
		}
		call := *nd.Call
		call.Task.Delivery = id
		nd.Call = &call
		d.Execution, d.Workflow = call.Task.ID, false
	default:
		run := *nd.Run
		if !store.CanRunTransition("", run.Status) {
			return store.Invalid("status", "a run starts %s, not %q", store.StatusQueued, run.Status)
		}
		if run.ID == "" {
			run.ID = s.NewID()
		}
		run.Delivery = id
		nd.Run = &run
		d.Execution, d.Workflow = run.ID, true
	}
	d.Executions = []string{d.Execution}
	d.Status = store.DeliveryQueued
	return nil
}

// startDeliveries accepts the calls (as EnqueueTask does, in one round trip) and creates
// the runs (as CreateRun does) of deliveries readied by prepareDelivery, in tx, and returns
// their changes: a ChangeTask per call, a ChangeRun per run.
func (s *DB) startDeliveries(ctx context.Context, tx pgx.Tx, nds []store.NewDelivery) ([]store.Change, error) {
	var accepts []*acceptReq
	var changes []store.Change
	for _, nd := range nds {
		if nd.Call == nil {
			run := *nd.Run
			created, err := s.insertRun(ctx, tx, &run, nd.RunEvents)
			if err != nil {
				return nil, err
			}
			if !created {
				return nil, store.Errorf(store.ErrConflict, "the run of delivery %q: run %q exists already (idempotency key %q)", nd.Delivery.ID, run.ID, nd.Run.IdempotencyKey)
			}
			changes = append(changes, store.Change{Kind: store.ChangeRun, Name: run.ID})
			continue
		}
		req, err := newAccept(nd.Call.Task, nd.Call.Execution)
		if err != nil {
			return nil, err
		}
		accepts = append(accepts, req)
	}
	if len(accepts) == 0 {
		return changes, nil
	}
	tasks, err := storeTasks(ctx, tx, accepts)
	if err != nil {
		return nil, err
	}
	return append(tasks, changes...), nil
}
