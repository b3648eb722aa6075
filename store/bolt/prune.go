package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

// ---- retention ----

// PruneExecutions keeps the newest keepPerRoute executions of each (app, route) and deletes
// the older ones, with their logs and index entries, in transactions of at most pruneChunk
// executions. Executions that are not Done are never deleted. It returns how many it deleted.
func (s *DB) PruneExecutions(ctx context.Context, keepPerRoute int) (int, error) {
	if keepPerRoute < 0 {
		return 0, store.Invalid("keep", "the number of executions to keep per route must not be negative, got %d", keepPerRoute)
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
	return store.StatusFinal(h.Status), nil
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

// prune runs PruneExecutions and DeleteExpiredSessions every interval until ctx is
// cancelled.
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
			n, err = s.DeleteExpiredSessions(ctx, time.Now())
			switch {
			case err != nil && ctx.Err() == nil:
				s.log.Error("deleting expired sessions failed", "err", err)
			case n > 0:
				s.log.Debug("deleted expired sessions", "deleted", n)
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
