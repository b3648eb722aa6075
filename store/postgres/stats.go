package postgres

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// The figures of the console's overview (GET /v1/stats).

// CountApps counts the apps of owner ("": every app) and their routes, from the route index.
func (s *DB) CountApps(owner string) (apps, routes int) { return s.index.CountApps(owner) }

// CountExecutions counts the executions created since f.Since that pass f (see
// store.Executions), in one aggregate over the range of the primary key (IDs sort by time)
// that the window covers.
func (s *DB) CountExecutions(ctx context.Context, f store.ExecutionCountFilter) (store.ExecutionCounts, error) {
	if err := ctx.Err(); err != nil {
		return store.ExecutionCounts{}, err
	}
	counts, skip := s.rec.PendingCounts(f)
	if f.Apps != nil && len(f.Apps) == 0 {
		return counts, nil // no app: nothing stored matches
	}
	names, ids := appPairs(f.Apps)
	var calls, failed, finished int
	err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = $4),
			count(*) FILTER (WHERE status = ANY($5::text[]))
		FROM executions
		WHERE id >= $1 AND id <> ALL($6::text[])
			AND ($2::text[] IS NULL OR (app, app_id) IN (SELECT * FROM unnest($2::text[], $3::text[])))`,
		store.IDFloor(f.Since), names, ids, store.StatusFailed,
		[]string{store.StatusSuccess, store.StatusFailed, store.StatusCancelled}, nonNil(skip)).
		Scan(&calls, &failed, &finished)
	if err != nil {
		return store.ExecutionCounts{}, dbError("count executions", err)
	}
	counts.Calls, counts.Failed, counts.Finished = counts.Calls+calls, counts.Failed+failed, counts.Finished+finished
	return counts, nil
}

// TaskStatsOf counts the tasks of apps (name to app ID; nil: every task), as TaskStats.
func (s *DB) TaskStatsOf(ctx context.Context, apps map[string]string) (store.TaskStats, error) {
	if apps == nil {
		return s.TaskStats(ctx)
	}
	var st store.TaskStats
	if len(apps) == 0 {
		return st, nil
	}
	names, ids := appPairs(apps)
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE leased), count(*) FILTER (WHERE NOT leased),
			count(*) FILTER (WHERE NOT leased AND available_at > now()), min(enqueued_at) FILTER (WHERE NOT leased)
		FROM (SELECT available_at, enqueued_at, coalesce(lease_owner <> '' AND lease_until > now(), false) AS leased FROM tasks
			WHERE (task->'route'->>'app', coalesce(task->>'app_id', '')) IN (SELECT * FROM unnest($1::text[], $2::text[]))) t`,
		names, ids).
		Scan(&st.Running, &st.Queued, &st.Delayed, &oldest)
	st.OldestAt = timeOrZero(oldest)
	return st, dbError("task stats", err)
}

// appPairs splits a set of apps (name to ID) into two parallel arrays for unnest; nil
// arrays (SQL NULL: no filter) for nil.
func appPairs(apps map[string]string) (names, ids []string) {
	if apps == nil {
		return nil, nil
	}
	names, ids = make([]string, 0, len(apps)), make([]string, 0, len(apps))
	for name, id := range apps {
		names, ids = append(names, name), append(ids, id)
	}
	return names, ids
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
