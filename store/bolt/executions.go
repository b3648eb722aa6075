package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

// ---- reads ----

func execRoutePrefix(app, route string) []byte {
	k := make([]byte, 0, len(app)+len(route)+2)
	return append(append(append(append(k, app...), 0), route...), 0)
}

func execRouteKey(app, route, id string) []byte { return append(execRoutePrefix(app, route), id...) }

// GetExecution reads one execution, including one recorded but not yet committed.
func (s *DB) GetExecution(ctx context.Context, id string) (store.Execution, error) {
	if err := ctx.Err(); err != nil {
		return store.Execution{}, err
	}
	if ex, _, _, ok := s.rec.Pending(id); ok {
		return ex, nil
	}
	var ex store.Execution
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketExecutions), []byte(id), &ex)
		if err == nil && !found {
			err = store.NotFound("execution", id)
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
	_, log, hasLog, pending := s.rec.Pending(id)
	if hasLog {
		return log, nil
	}
	log = []byte{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if !pending && tx.Bucket(bucketExecutions).Get([]byte(id)) == nil {
			return store.NotFound("execution", id)
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
func (s *DB) ListExecutions(ctx context.Context, f store.ExecutionFilter, page store.Page) ([]store.Execution, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	return s.rec.List(f, page, func(before string, pending []string, n int) ([]store.Execution, error) {
		skip := make(map[string]bool, len(pending))
		for _, id := range pending {
			skip[id] = true
		}
		var stored []store.Execution
		err := s.view(ctx, func(tx *bolt.Tx) error {
			var err error
			stored, err = scanExecutions(tx, f, before, skip, n)
			return err
		})
		return stored, err
	})
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
func scanExecutions(tx *bolt.Tx, f store.ExecutionFilter, before string, skip map[string]bool, n int) ([]store.Execution, error) {
	execs := tx.Bucket(bucketExecutions)
	out := []store.Execution{}
	since, _ := f.IDBounds() // Until is in before (store.Recorder.List)
	visit := func(id, v []byte) (bool, error) {
		if string(id) < since {
			return true, nil // older than the time window: so are all the next ones
		}
		if skip[string(id)] {
			return false, nil
		}
		var h execHead
		if err := json.Unmarshal(v, &h); err != nil {
			return false, fmt.Errorf("decode execution %s: %w", id, err)
		}
		if !f.Match(h.App, h.AppID, h.Route, h.Status) {
			return false, nil
		}
		var ex store.Execution
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

// RecoverExecutions ends the sync executions that a previous run of Gantry left RUNNING:
// it stopped or crashed during their call, whose caller got no answer. They become
// FAILED with reason error. Call it at start-up, before any call runs.
func (s *DB) RecoverExecutions(ctx context.Context) (int, error) {
	return s.failRunningSync(ctx, "gantry stopped during the call", func(store.Execution) bool { return true })
}

// failRunningSync ends FAILED, with reason error and why, the stored sync executions left
// RUNNING that match.
func (s *DB) failRunningSync(ctx context.Context, why string, match func(store.Execution) bool) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketExecutions)
		var stale []store.Execution
		if err := b.ForEach(func(_, v []byte) error {
			var ex store.Execution
			if err := json.Unmarshal(v, &ex); err != nil {
				return fmt.Errorf("decode execution: %w", err)
			}
			if ex.Status == store.StatusRunning && ex.Type == store.TypeSync && match(ex) {
				stale = append(stale, ex)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		for _, ex := range stale {
			ex.Status, ex.Reason, ex.Error, ex.CompletedAt = store.StatusFailed, store.ReasonError, why, s.now()
			if err := putJSON(b, []byte(ex.ID), ex); err != nil {
				return nil, err
			}
		}
		n = len(stale)
		return nil, nil
	})
	return n, err
}
