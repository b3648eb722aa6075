package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// Accepts share commits: concurrent EnqueueTask calls are stored together, in one
// transaction and one fsync, as bbolt's Batch does for the other backend. Each call still
// returns only once its task is committed.
const (
	acceptBatchMax = 128 // tasks in one transaction at most
	acceptWriters  = 2   // transactions in flight: one commits while the next gathers
	acceptTimeout  = 10 * time.Second
)

// acceptReq is one EnqueueTask waiting for its batch's commit.
type acceptReq struct {
	t    store.Task
	doc  []byte
	ex   store.Execution
	done chan error
}

// accepter gathers the accepts of concurrent callers into batches.
type accepter struct {
	reqs chan *acceptReq
	quit chan struct{}
	wg   sync.WaitGroup
}

func (s *DB) startAccepter() {
	a := &accepter{reqs: make(chan *acceptReq), quit: make(chan struct{})}
	s.acc = a
	for range acceptWriters {
		a.wg.Go(func() {
			for {
				select {
				case <-a.quit:
					return
				case first := <-a.reqs:
					s.acceptBatch(a.gather(first))
				}
			}
		})
	}
}

// gather takes first and whatever other accepts are waiting, up to acceptBatchMax.
func (a *accepter) gather(first *acceptReq) []*acceptReq {
	batch := []*acceptReq{first}
	for len(batch) < acceptBatchMax {
		select {
		case r := <-a.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

func (a *accepter) stop() {
	close(a.quit)
	a.wg.Wait()
}

// enqueue hands an accept to the writers and waits for its commit.
func (s *DB) enqueue(ctx context.Context, r *acceptReq) error {
	select {
	case s.acc.reqs <- r:
	case <-s.acc.quit:
		return errors.New("enqueue task: the store is closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.done // the batch's own timeout bounds the wait
}

// acceptBatch stores a batch in one transaction. A batch that fails for another reason
// than the database being away is stored again one accept at a time, so that one bad
// accept (a duplicate ID) fails alone.
func (s *DB) acceptBatch(batch []*acceptReq) {
	ctx, cancel := context.WithTimeout(context.Background(), acceptTimeout)
	defer cancel()
	err := s.storeAccepts(ctx, batch)
	if err != nil && len(batch) > 1 && !errors.Is(err, store.ErrUnavailable) {
		for _, r := range batch {
			r.done <- s.storeAccepts(ctx, []*acceptReq{r})
		}
		return
	}
	for _, r := range batch {
		r.done <- err
	}
}

func (s *DB) storeAccepts(ctx context.Context, batch []*acceptReq) error {
	// Unordered: accepts do not queue behind other writes' commits; the order of their
	// ChangeTask against other changes matters to nobody (a worker leases whatever is due).
	return s.writeTx(ctx, "enqueue task", false, func(tx pgx.Tx) ([]store.Change, error) {
		return storeTasks(ctx, tx, batch)
	})
}

// storeTasks stores accepted tasks and their QUEUED executions in tx, in one round trip,
// and returns their ChangeTasks. EnqueueTask's batches and UpdateRun's step calls both
// store their tasks with it.
func storeTasks(ctx context.Context, tx pgx.Tx, batch []*acceptReq) ([]store.Change, error) {
	b := &pgx.Batch{}
	for _, r := range batch {
		r.ex.ID, r.ex.Status = r.t.ID, store.StatusQueued
		b.Queue(`INSERT INTO tasks (id, priority, available_at, enqueued_at, attempts, body, task, needs_secrets)
			VALUES ($1, $2, now(), now(), $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING now()`,
			r.t.ID, int16(r.t.Priority), r.t.Attempts, r.t.Body, r.doc, r.t.StaysHome())
		values := execValues(r.ex)
		values[11] = nil // created_at: accepted now, the transaction's time, as the task
		b.Queue(`INSERT INTO executions (`+execColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12::timestamptz, now()), $13, $14, $15, $16, $17, $18, $19, $20, $21)`, values...)
	}
	res := tx.SendBatch(ctx, b)
	changes := make([]store.Change, 0, len(batch))
	for _, r := range batch {
		var created time.Time
		if err := res.QueryRow().Scan(&created); errors.Is(err, pgx.ErrNoRows) {
			_ = res.Close()
			return nil, store.Errorf(store.ErrExists, "task %q already exists", r.t.ID)
		} else if err != nil {
			_ = res.Close()
			return nil, err
		}
		if _, err := res.Exec(); err != nil {
			_ = res.Close()
			if isUniqueViolation(err) {
				return nil, store.Errorf(store.ErrExists, "execution %q already exists", r.t.ID)
			}
			return nil, err
		}
		changes = append(changes, store.Change{Kind: store.ChangeTask, Name: r.t.ID})
	}
	if err := res.Close(); err != nil {
		return nil, fmt.Errorf("enqueue tasks: %w", err)
	}
	return changes, nil
}
