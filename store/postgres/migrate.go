package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one file of migrations/: NNNN_what.sql brings the schema from version
// NNNN-1 to NNNN. The list is append-only: never edit or renumber a file that shipped.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations reads the embedded files, in version order. Their names are checked by a
// test, so a malformed one never ships.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %s is not named NNNN_what.sql", e.Name())
		}
		sql, err := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(sql)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d (versions run 1, 2, 3, ... without gaps)", m.name, i+1)
		}
	}
	return out, nil
}

// SchemaVersion is the schema this build writes: the number of its migrations.
func SchemaVersion() int {
	m, err := migrations()
	if err != nil {
		return 0
	}
	return len(m)
}

// migrate brings the tables of the current schema to this build's version. It runs on a
// connection of its own holding a session advisory lock named after the schema, so that
// nodes starting together migrate once, one after the other, and stores in other schemas
// do not wait; closing that connection releases the lock whatever happened. Each
// migration runs in one transaction with the row that records it in gantry_schema.
func (s *DB) migrate(ctx context.Context, cc *pgx.ConnConfig) error {
	list, err := migrations()
	if err != nil {
		return fmt.Errorf("postgres store: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("postgres store: migrate: %w", dbError("connect", err))
	}
	defer func() { _ = conn.Close(context.Background()) }() // releases the lock, whatever happened
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey("gantry migrate", s.schema)); err != nil {
		return fmt.Errorf("postgres store: migrate: %w", dbError("lock the schema", err))
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS gantry_schema (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres store: migrate: %w", dbError("create gantry_schema", err))
	}
	var have int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM gantry_schema").Scan(&have); err != nil {
		return fmt.Errorf("postgres store: migrate: %w", dbError("read the schema version", err))
	}
	if have > len(list) {
		return fmt.Errorf("postgres store: the database schema is at version %d, newer than this gantry (%d): upgrade gantry", have, len(list))
	}
	for _, m := range list[have:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO gantry_schema (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres store: migrate schema %s to version %d (%s): %w", s.schema, m.version, m.name, dbError("apply", err))
		}
		s.log.Info("postgres store: schema migrated", "schema", s.schema, "version", m.version, "migration", m.name)
	}
	return nil
}
