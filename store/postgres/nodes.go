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
	_, err := s.pool.Exec(ctx, `INSERT INTO nodes AS n (id, run, version, addr, started_at, heartbeat, running, hot)
		VALUES ($1, $2, $3, $4, now(), now(), $5, $6)
		ON CONFLICT (id) DO UPDATE SET run = EXCLUDED.run, version = EXCLUDED.version, addr = EXCLUDED.addr,
			heartbeat = now(), running = EXCLUDED.running, hot = EXCLUDED.hot,
			started_at = CASE WHEN n.run = EXCLUDED.run THEN n.started_at ELSE now() END`,
		n.ID, n.Run, n.Version, n.Addr, n.Running, n.Hot)
	return dbError("heartbeat", err)
}

// ListNodes returns the nodes heard from after since, in ID order.
func (s *DB) ListNodes(ctx context.Context, since time.Time) ([]store.NodeInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, run, version, addr, started_at, heartbeat, running, hot
		FROM nodes WHERE heartbeat > $1 ORDER BY id`, since)
	if err != nil {
		return nil, dbError("list nodes", err)
	}
	nodes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.NodeInfo, error) {
		var n store.NodeInfo
		err := row.Scan(&n.ID, &n.Run, &n.Version, &n.Addr, &n.StartedAt, &n.Heartbeat, &n.Running, &n.Hot)
		return n, err
	})
	return nodes, dbError("list nodes", err)
}
