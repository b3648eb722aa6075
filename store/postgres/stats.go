package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// The figures of the console's overview (GET /v1/stats).

// CountApps counts the apps of owner ("": every app) and their routes, from the route index.
func (s *DB) CountApps(owner string) (apps, routes int) { return s.index.CountApps(owner) }

// CountExecutions counts the executions created since f.Since that pass f (see
// store.Executions): one aggregate over the range of the primary key (IDs sort by time)
// that the window covers, by app and app ID, whose groups f's apps keep. Only the filters
// set are in the query, so that the planner sees what it serves.
func (s *DB) CountExecutions(ctx context.Context, f store.ExecutionCountFilter) (store.ExecutionCounts, error) {
	if err := ctx.Err(); err != nil {
		return store.ExecutionCounts{}, err
	}
	counts, skip := s.rec.PendingCounts(f)
	if f.Apps != nil && len(f.Apps) == 0 {
		return counts, nil // no app: nothing stored matches
	}
	args := []any{store.IDFloor(f.Since), store.StatusFailed, []string{store.StatusSuccess, store.StatusFailed, store.StatusCancelled}}
	q := `SELECT app, app_id, count(*), count(*) FILTER (WHERE status = $2), count(*) FILTER (WHERE status = ANY($3::text[]))
		FROM executions WHERE id >= $1`
	if f.Apps != nil {
		names := make([]string, 0, len(f.Apps))
		for name := range f.Apps {
			names = append(names, name)
		}
		args = append(args, names)
		q += " AND app = ANY($" + strconv.Itoa(len(args)) + "::text[])"
	}
	if len(skip) > 0 {
		args = append(args, skip)
		q += " AND id <> ALL($" + strconv.Itoa(len(args)) + "::text[])"
	}
	rows, err := s.pool.Query(ctx, q+" GROUP BY app, app_id", args...)
	if err != nil {
		return store.ExecutionCounts{}, dbError("count executions", err)
	}
	defer rows.Close()
	for rows.Next() {
		var app, appID string
		var calls, failed, finished int
		if err := rows.Scan(&app, &appID, &calls, &failed, &finished); err != nil {
			return store.ExecutionCounts{}, dbError("count executions", err)
		}
		if f.Match(app, appID) {
			counts.Calls, counts.Failed, counts.Finished = counts.Calls+calls, counts.Failed+failed, counts.Finished+finished
		}
	}
	if err := rows.Err(); err != nil {
		return store.ExecutionCounts{}, dbError("count executions", err)
	}
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
