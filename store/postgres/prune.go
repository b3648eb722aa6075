package postgres

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// pruneChunk bounds the executions deleted in one statement, to keep transactions short.
const pruneChunk = 1000

// pruneSQL deletes up to $3 final executions that are not among the newest $1 of their
// route; $2 are the final statuses. The window runs on executions_by_route (app, route,
// id DESC), the order it needs, and stops at the chunk's last victim; the victims are then
// deleted by primary key (= ANY(ARRAY(...)), not IN, which would scan the table). An
// execution's log is a column of its row: it goes with it. A final execution never changes
// status, so a victim is still final when it is deleted.
const pruneSQL = `DELETE FROM executions WHERE id = ANY (ARRAY(
	SELECT id FROM (
		SELECT id, status, row_number() OVER (PARTITION BY app, route ORDER BY id DESC) AS n FROM executions
	) ranked WHERE n > $1 AND status = ANY($2) LIMIT $3))`

// PruneExecutions keeps the newest keepPerRoute executions of each (app, route) and deletes
// the older ones, with their logs, pruneChunk at a time. Executions that are not final are
// never deleted (they count among the newest all the same). It returns how many it deleted.
func (s *DB) PruneExecutions(ctx context.Context, keepPerRoute int) (int, error) {
	if keepPerRoute < 0 {
		return 0, store.Invalid("keep", "the number of executions to keep per route must not be negative, got %d", keepPerRoute)
	}
	final := []string{store.StatusSuccess, store.StatusFailed, store.StatusCancelled}
	deleted := 0
	for {
		tag, err := s.pool.Exec(ctx, pruneSQL, keepPerRoute, final, pruneChunk)
		if err != nil {
			return deleted, dbError("prune executions", err)
		}
		deleted += int(tag.RowsAffected())
		if tag.RowsAffected() < pruneChunk {
			return deleted, nil
		}
	}
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
