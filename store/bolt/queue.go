package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketTasks     = []byte("tasks")
	bucketTaskQueue = []byte("task_queue")
)

// queueKey orders the queue: priority, then the time the task became available (its place
// in line), then ID (FIFO within a priority). A leased task stays at its place, passed over
// while its lease is in force, so a task whose worker died is available again, ahead of
// those accepted after it, with no one having to notice.
func queueKey(t store.Task) []byte {
	k := make([]byte, 0, 9+len(t.ID))
	k = append(k, t.Priority)
	k = binary.BigEndian.AppendUint64(k, uint64(t.AvailableAt.UnixNano()))
	return append(k, t.ID...)
}

func queueKeyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[1:9]))) //nolint:gosec // G115: written from an int64 (queueKey)
}

// putExecution writes an execution and its route index entry (and its log when log is not nil).
func putExecution(tx *bolt.Tx, ex store.Execution, log []byte) error {
	if err := putJSON(tx.Bucket(bucketExecutions), []byte(ex.ID), ex); err != nil {
		return err
	}
	if err := tx.Bucket(bucketExecByRoute).Put(execRouteKey(ex.App, ex.Route, ex.ID), nil); err != nil {
		return fmt.Errorf("index execution %s: %w", ex.ID, err)
	}
	if log != nil {
		if err := tx.Bucket(bucketExecLogs).Put([]byte(ex.ID), log); err != nil {
			return fmt.Errorf("store log of execution %s: %w", ex.ID, err)
		}
	}
	return nil
}

func getTask(tx *bolt.Tx, id string) (store.Task, bool, error) {
	var t store.Task
	found, err := getJSON(tx.Bucket(bucketTasks), []byte(id), &t)
	return t, found, err
}

func getExecutionTx(tx *bolt.Tx, id string) (store.Execution, error) {
	var ex store.Execution
	found, err := getJSON(tx.Bucket(bucketExecutions), []byte(id), &ex)
	if err == nil && !found {
		err = store.NotFound("execution", id)
	}
	return ex, err
}

// saveTask stores t, moving its queue entry from the key it had (old) to the one it has now.
func saveTask(tx *bolt.Tx, old []byte, t store.Task) error {
	q := tx.Bucket(bucketTaskQueue)
	if err := q.Delete(old); err != nil {
		return err
	}
	if err := putJSON(tx.Bucket(bucketTasks), []byte(t.ID), t); err != nil {
		return err
	}
	return q.Put(queueKey(t), nil)
}

// updateExecution applies fn to a stored execution, in tx, if store.CanTransition allows
// its change of status (ErrConflict otherwise).
func updateExecution(tx *bolt.Tx, id string, fn func(*store.Execution)) error {
	ex, err := getExecutionTx(tx, id)
	if err != nil {
		return err
	}
	from := ex.Status
	fn(&ex)
	if !store.CanTransition(from, ex.Status) {
		return store.TransitionError(id, from, ex.Status)
	}
	return putExecution(tx, ex, nil)
}

// dropTask removes a task and its queue entry k, in tx.
func dropTask(tx *bolt.Tx, k []byte, id string) error {
	if err := tx.Bucket(bucketTaskQueue).Delete(k); err != nil {
		return err
	}
	return tx.Bucket(bucketTasks).Delete([]byte(id))
}

// finishCancelled removes a task and ends its execution CANCELLED, in tx, and returns
// the changes to send (see taskDone).
func (s *DB) finishCancelled(tx *bolt.Tx, t store.Task) ([]store.Change, error) {
	if err := tx.Bucket(bucketTaskQueue).Delete(queueKey(t)); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketTasks).Delete([]byte(t.ID)); err != nil {
		return nil, err
	}
	if err := updateExecution(tx, t.ID, func(ex *store.Execution) {
		ex.Status, ex.Reason, ex.CompletedAt = store.StatusCancelled, store.ReasonClientRequest, s.now()
	}); err != nil {
		return nil, err
	}
	return s.taskDone(tx, t, store.StatusCancelled)
}

// EnqueueTask stores an accepted async call and its QUEUED execution in one transaction,
// on disk (fsync) before it returns: accepted work is never lost. Concurrent callers share
// commits (bbolt's Batch), which is what makes many accepts a second affordable.
func (s *DB) EnqueueTask(ctx context.Context, t store.Task, ex store.Execution) error {
	now := s.now()
	return s.batch(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		if err := enqueueTx(tx, t, ex, now); err != nil {
			return nil, err
		}
		return []store.Change{{Kind: store.ChangeTask, Name: t.ID}}, nil
	})
}

// enqueueTx stores an accepted async call, available at now, and its QUEUED execution, in
// tx: the body of EnqueueTask, shared with the writes that accept calls among other things
// (UpdateRun). The caller publishes the ChangeTask once tx committed.
func enqueueTx(tx *bolt.Tx, t store.Task, ex store.Execution, now time.Time) error {
	if t.ID == "" {
		return store.Invalid("id", "a task has an ID")
	}
	t.EnqueuedAt, t.AvailableAt = now, now
	ex.ID, ex.Status, ex.CreatedAt = t.ID, store.StatusQueued, now
	if err := putJSON(tx.Bucket(bucketTasks), []byte(t.ID), t); err != nil {
		return err
	}
	if err := tx.Bucket(bucketTaskQueue).Put(queueKey(t), nil); err != nil {
		return fmt.Errorf("queue task %s: %w", t.ID, err)
	}
	return putExecution(tx, ex, nil)
}

// taskDone is what every write that takes a task out of the queue for good does besides,
// in tx, whichever way the call ended (completed, cancelled, dropped), with its execution
// status: it ends the task's delivery (see store.Task.Delivery), and returns the change to
// send once tx committed, a ChangeChild naming its parent run if it has one (see
// store.Task.Parent).
func (s *DB) taskDone(tx *bolt.Tx, t store.Task, status string) ([]store.Change, error) {
	if err := s.deliveryDone(tx, t.Delivery, t.ID, status); err != nil {
		return nil, err
	}
	if t.Parent == "" {
		return nil, nil
	}
	return []store.Change{{Kind: store.ChangeChild, Name: t.Parent, Path: t.ID}}, nil
}

// LeaseTasks hands out up to n tasks available now, lowest priority value first and FIFO
// within a priority, each leased to owner for lease: no other consumer gets it until the
// lease expires. Their executions become RUNNING.
func (s *DB) LeaseTasks(ctx context.Context, n int, owner string, lease time.Duration) ([]store.Task, error) {
	return s.leaseTasks(ctx, n, owner, lease, false)
}

// LeaseTasksWithoutSecrets leases as LeaseTasks does, passing over the tasks that need
// secrets: they keep their place in line, untouched, for Gantry's own workers.
func (s *DB) LeaseTasksWithoutSecrets(ctx context.Context, n int, owner string, lease time.Duration) ([]store.Task, error) {
	return s.leaseTasks(ctx, n, owner, lease, true)
}

// dueTasks returns the queue keys of up to n tasks that may be leased at now, in line
// order: a leased task keeps its place in line, passed over while its lease is in force,
// as does one that needs secrets when the lease is without them (withoutSecrets).
func dueTasks(tx *bolt.Tx, n int, now time.Time, withoutSecrets bool) ([][]byte, error) {
	var due [][]byte
	c := tx.Bucket(bucketTaskQueue).Cursor()
	for k, _ := c.First(); k != nil && len(due) < n; {
		if queueKeyTime(k).After(now) { // the rest of this priority is not due: next priority
			if k[0] == 255 {
				break
			}
			k, _ = c.Seek([]byte{k[0] + 1})
			continue
		}
		t, found, err := getTask(tx, string(k[9:]))
		if err != nil {
			return nil, err
		}
		if passed := found && (t.Leased(now) || withoutSecrets && t.StaysHome()); !passed {
			due = append(due, bytes.Clone(k))
		}
		k, _ = c.Next()
	}
	return due, nil
}

// leaseTasks is LeaseTasks, and LeaseTasksWithoutSecrets when withoutSecrets is set.
func (s *DB) leaseTasks(ctx context.Context, n int, owner string, lease time.Duration, withoutSecrets bool) ([]store.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Idle workers look often: a look that finds nothing due writes nothing.
	var due [][]byte
	if err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		due, err = dueTasks(tx, 1, s.now(), withoutSecrets)
		return err
	}); err != nil || len(due) == 0 {
		return nil, err
	}
	var leased []store.Task
	// Workers woken together lease together: their leases share commits (batch).
	err := s.batch(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		leased = leased[:0]
		var changes []store.Change // of the tasks that leave the queue final
		now := s.now()
		q := tx.Bucket(bucketTaskQueue)
		due, err := dueTasks(tx, n, now, withoutSecrets)
		if err != nil {
			return nil, err
		}
		for _, k := range due {
			id := string(k[9:])
			t, found, err := getTask(tx, id)
			if err != nil {
				return nil, err
			}
			if !found || !bytes.Equal(k, queueKey(t)) {
				if err := q.Delete(k); err != nil { // a stale queue entry
					return nil, err
				}
				continue
			}
			ex, err := getExecutionTx(tx, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			if err != nil || ex.Done() {
				// Its execution is gone (pruned) or ended already: a task left behind, which
				// must not run again, nor stop the queue behind it (the transition table
				// refuses to move a final execution).
				s.log.Error("task dropped from the queue: its execution is final or gone", "id", id, "status", ex.Status)
				status := ex.Status
				if err != nil { // gone: how the call ended is not known, but it did not succeed
					status = store.StatusFailed
				}
				if err := dropTask(tx, k, id); err != nil {
					return nil, err
				}
				done, err := s.taskDone(tx, t, status)
				if err != nil {
					return nil, err
				}
				changes = append(changes, done...)
				continue
			}
			if t.CancelRequested { // cancelled while leased, and the lease ended: it never runs again
				done, err := s.finishCancelled(tx, t)
				if err != nil {
					return nil, err
				}
				changes = append(changes, done...)
				continue
			}
			t.Attempts++
			t.LeaseOwner, t.LeaseUntil = owner, now.Add(lease)
			if err := putJSON(tx.Bucket(bucketTasks), []byte(id), t); err != nil { // same place in line
				return nil, err
			}
			from := ex.Status
			ex.Status, ex.StartedAt, ex.Attempts, ex.Node = store.StatusRunning, now, t.Attempts, s.instance
			// A new run: nothing of the last one's end (a retry's cause, a shutdown's, its
			// output, the image digest it ran) shows while it runs.
			ex.Reason, ex.Error, ex.ExitCode, ex.CompletedAt = "", "", nil, time.Time{}
			ex.Output, ex.OutputTruncated, ex.LogTruncated, ex.ImageDigest = nil, false, false, ""
			if !store.CanTransition(from, ex.Status) {
				return nil, store.TransitionError(id, from, ex.Status)
			}
			if err := putExecution(tx, ex, nil); err != nil {
				return nil, err
			}
			leased = append(leased, t)
		}
		return changes, nil
	})
	return leased, err
}

// holdsLease returns the task if owner leases it now.
func (s *DB) holdsLease(tx *bolt.Tx, id, owner string) (store.Task, error) {
	t, found, err := getTask(tx, id)
	switch {
	case err != nil:
		return t, err
	case !found:
		return t, store.Errorf(store.ErrNotFound, "task %q not found: it finished or was cancelled", id)
	case t.LeaseOwner != owner || !t.Leased(s.now()):
		return t, store.Errorf(store.ErrConflict, "task %q is not leased to %q (the lease expired and the task went back to the queue)", id, owner)
	}
	return t, nil
}

// CompleteTask ends a task that owner leases: it deletes the task and stores the final
// execution and its log in one transaction. ErrConflict if owner no longer holds the lease.
func (s *DB) CompleteTask(ctx context.Context, id, owner string, ex store.Execution, log []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !ex.Done() {
		return store.Invalid("status", "a task ends with a final status (%s, %s or %s), not %q", store.StatusSuccess, store.StatusFailed, store.StatusCancelled, ex.Status)
	}
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		t, err := s.holdsLease(tx, id, owner)
		if err != nil {
			return nil, err
		}
		if err := tx.Bucket(bucketTaskQueue).Delete(queueKey(t)); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bucketTasks).Delete([]byte(id)); err != nil {
			return nil, err
		}
		old, err := getExecutionTx(tx, id)
		if err != nil {
			return nil, err
		}
		if !store.CanTransition(old.Status, ex.Status) {
			return nil, store.TransitionError(id, old.Status, ex.Status)
		}
		ex.ID, ex.App, ex.AppID, ex.Route, ex.Type, ex.CreatedAt, ex.Attempts = old.ID, old.App, old.AppID, old.Route, old.Type, old.CreatedAt, t.Attempts
		ex.Parent, ex.Step = old.Parent, old.Step // a workflow step's call stays one
		if ex.StartedAt.IsZero() {
			ex.StartedAt = old.StartedAt
		}
		if ex.Node == "" { // an external runner's result: the node that leased it stays
			ex.Node = old.Node
		}
		if ex.CompletedAt.IsZero() {
			ex.CompletedAt = s.now()
		}
		if err := putExecution(tx, ex, log); err != nil {
			return nil, err
		}
		return s.taskDone(tx, t, ex.Status)
	})
}

// RetryTask returns a task that owner leases to the queue, available again after delay,
// noting why; its execution goes back to QUEUED.
func (s *DB) RetryTask(ctx context.Context, id, owner string, delay time.Duration, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		t, err := s.holdsLease(tx, id, owner)
		if err != nil {
			return nil, err
		}
		if t.CancelRequested {
			return s.finishCancelled(tx, t)
		}
		old := queueKey(t)
		t.LeaseOwner, t.LeaseUntil, t.LastError = "", time.Time{}, reason
		if delay > 0 { // without one, it keeps its place in line
			t.AvailableAt = s.now().Add(delay)
		}
		if err := saveTask(tx, old, t); err != nil {
			return nil, err
		}
		return nil, updateExecution(tx, id, func(ex *store.Execution) { ex.Status, ex.Error = store.StatusQueued, reason })
	})
}

// CancelTask cancels a task. A queued one never runs: its execution is CANCELLED with
// reason client_request. A leased one is marked so that it is never run again, and
// CancelTask returns its lease's owner with ErrTaskRunning: the caller stops the running
// call if it can. ErrNotFound if there is no such task (it finished, or never existed).
func (s *DB) CancelTask(ctx context.Context, id string) (owner string, err error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	err = s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		owner = ""
		t, found, err := getTask(tx, id)
		switch {
		case err != nil:
			return nil, err
		case !found:
			return nil, store.Errorf(store.ErrNotFound, "task %q not found", id)
		case t.Leased(s.now()):
			owner = t.LeaseOwner
			t.CancelRequested = true // committed: returning an error here would roll it back
			return []store.Change{{Kind: store.ChangeCancel, Name: id}}, putJSON(tx.Bucket(bucketTasks), []byte(id), t)
		}
		return s.finishCancelled(tx, t)
	})
	if err == nil && owner != "" {
		err = store.Errorf(store.ErrTaskRunning, "execution %q is running", id)
	}
	return owner, err
}

// GetTask reads a task; ErrNotFound once it is gone.
func (s *DB) GetTask(ctx context.Context, id string) (store.Task, error) {
	var t store.Task
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var found bool
		var err error
		if t, found, err = getTask(tx, id); err == nil && !found {
			err = store.Errorf(store.ErrNotFound, "task %q not found", id)
		}
		return err
	})
	return t, err
}

// TaskStats counts the tasks; it reads every task, so it is for status pages, not loops.
func (s *DB) TaskStats(ctx context.Context) (store.TaskStats, error) { return s.TaskStatsOf(ctx, nil) }

// ReleaseLeases returns to the queue, in their place in line, the tasks leased to owners
// whose name starts with prefix but not with keep: the workers of a previous run of this
// server, dead since (one server owns a data dir), whose leases need not be waited out.
// Leases of external runners (other prefixes) stand.
func (s *DB) ReleaseLeases(ctx context.Context, prefix, keep string) (int, error) {
	n := 0
	err := s.eachLease(ctx, prefix, keep, func(tx *bolt.Tx, t store.Task) error {
		t.LeaseOwner, t.LeaseUntil = "", time.Time{}
		if err := putJSON(tx.Bucket(bucketTasks), []byte(t.ID), t); err != nil {
			return err
		}
		n++
		ex, err := getExecutionTx(tx, t.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil || ex.Status != store.StatusRunning {
			return err
		}
		ex.Status = store.StatusQueued
		return putExecution(tx, ex, nil)
	})
	return n, err
}

// RenewLeases extends to now+lease each held lease still in force, and tells which of
// them were cancelled (see store.Queue).
func (s *DB) RenewLeases(ctx context.Context, held []store.Lease, lease time.Duration) (renewed int, cancelled []string, err error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		renewed, cancelled = 0, nil
		now := s.now()
		for _, l := range held {
			t, found, err := getTask(tx, l.ID)
			if err != nil {
				return err
			}
			if !found || t.LeaseOwner != l.Owner || !t.Leased(now) {
				continue
			}
			t.LeaseUntil = now.Add(lease)
			if err := putJSON(tx.Bucket(bucketTasks), []byte(t.ID), t); err != nil { // same place in line
				return err
			}
			renewed++
			if t.CancelRequested {
				cancelled = append(cancelled, t.ID)
			}
		}
		return nil
	})
	return renewed, cancelled, err
}

// eachLease calls fn, in one write transaction, with each task under a lease in force whose
// owner starts with prefix (and not with keep, when set). Leasing never moves a task in
// the queue, so fn may rewrite the task under its key.
func (s *DB) eachLease(ctx context.Context, prefix, keep string, fn func(tx *bolt.Tx, t store.Task) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		now := s.now()
		var leased []store.Task
		if err := tx.Bucket(bucketTasks).ForEach(func(_, v []byte) error {
			var t store.Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode task: %w", err)
			}
			if t.Leased(now) && strings.HasPrefix(t.LeaseOwner, prefix) && (keep == "" || !strings.HasPrefix(t.LeaseOwner, keep)) {
				leased = append(leased, t)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, t := range leased {
			if err := fn(tx, t); err != nil {
				return err
			}
		}
		return nil
	})
}
