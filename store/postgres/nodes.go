package postgres

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// Heartbeat records that node n is alive now, by the database's clock (see store.Nodes):
// the first heartbeat of a node, or one of another run, also sets StartedAt.
func (s *DB) Heartbeat(ctx context.Context, n store.NodeInfo) error {
	if n.ID == "" {
		return store.Invalid("id", "a node has an ID")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO nodes AS n (id, run, version, addr, started_at, heartbeat, running, hot, hot_routes)
		VALUES ($1, $2, $3, $4, now(), now(), $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET run = EXCLUDED.run, version = EXCLUDED.version, addr = EXCLUDED.addr,
			heartbeat = now(), running = EXCLUDED.running, hot = EXCLUDED.hot, hot_routes = EXCLUDED.hot_routes,
			started_at = CASE WHEN n.run = EXCLUDED.run THEN n.started_at ELSE now() END`,
		n.ID, n.Run, n.Version, n.Addr, n.Running, n.Hot, hotRoutes(n.HotRoutes))
	return dbError("heartbeat", err)
}

// RecoverDeadNodes ends FAILED the sync executions that nodes silent for silentFor left
// RUNNING (see store.Nodes).
func (s *DB) RecoverDeadNodes(ctx context.Context, silentFor time.Duration) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE executions e SET status = $1, reason = $2, error = $3, completed_at = now()
		WHERE status = $4 AND type = $5 AND node IN (SELECT id FROM nodes WHERE heartbeat < now() - $6 * interval '1 microsecond')
			AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = e.id)`,
		store.StatusFailed, store.ReasonError, "its node stopped during the call", store.StatusRunning, store.TypeSync, silentFor.Microseconds())
	if err != nil {
		return 0, dbError("recover the executions of dead nodes", err)
	}
	return int(tag.RowsAffected()), nil
}

// ListNodes returns the nodes heard from after since, in ID order.
func (s *DB) ListNodes(ctx context.Context, since time.Time) ([]store.NodeInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, run, version, addr, started_at, heartbeat, running, hot, hot_routes
		FROM nodes WHERE heartbeat > $1 ORDER BY id`, since)
	if err != nil {
		return nil, dbError("list nodes", err)
	}
	nodes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.NodeInfo, error) {
		var n store.NodeInfo
		err := row.Scan(&n.ID, &n.Run, &n.Version, &n.Addr, &n.StartedAt, &n.Heartbeat, &n.Running, &n.Hot, &n.HotRoutes)
		return n, err
	})
	return nodes, dbError("list nodes", err)
}

// hotRoutes is the hot_routes column of a node: NULL when it keeps none.
func hotRoutes(list []store.RouteHot) any {
	if len(list) == 0 {
		return nil
	}
	return list
}
