package postgres

import (
	"context"
	"errors"
	"math"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// PutSecretValue stores sealed as the next version of path: one above its latest. Puts on
// one path take turns on an advisory lock of the path, held until their commit, so that
// each reads the version of the one before it.
func (s *DB) PutSecretValue(ctx context.Context, path string, sealed []byte) (int, error) {
	if err := store.ValidateSecretPath(path); err != nil {
		return 0, err
	}
	if sealed == nil {
		sealed = []byte{} // nil would be NULL
	}
	var version int
	err := s.write(ctx, "put secret value", func(tx pgx.Tx) ([]store.Change, error) {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("gantry secret value "+path, s.schema)); err != nil {
			return nil, err
		}
		// The statement's snapshot is taken after the lock: it sees the previous put's row.
		err := tx.QueryRow(ctx, `INSERT INTO secret_values (path, version, sealed)
			SELECT $1, coalesce(max(version), 0) + 1, $2 FROM secret_values WHERE path = $1
			RETURNING version`, path, sealed).Scan(&version)
		return nil, err
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

// GetSecretValue reads a version of path (0: its latest).
func (s *DB) GetSecretValue(ctx context.Context, path string, version int) ([]byte, int, error) {
	if err := store.ValidateSecretPath(path); err != nil {
		return nil, 0, err
	}
	var row pgx.Row
	switch {
	case version < 0:
		return nil, 0, store.Invalid("version", "version %d is negative (0 reads the latest)", version)
	case version == 0:
		row = s.pool.QueryRow(ctx, "SELECT sealed, version FROM secret_values WHERE path = $1 ORDER BY version DESC LIMIT 1", path)
	case version <= math.MaxInt32:
		row = s.pool.QueryRow(ctx, "SELECT sealed, version FROM secret_values WHERE path = $1 AND version = $2", path, version)
	}
	var sealed []byte
	var read int
	err := pgx.ErrNoRows
	if row != nil {
		err = row.Scan(&sealed, &read)
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows) && version == 0:
		return nil, 0, store.NotFound("secret value", path)
	case errors.Is(err, pgx.ErrNoRows):
		return nil, 0, store.Errorf(store.ErrNotFound, "version %d of secret value %q not found", version, path)
	case err != nil:
		return nil, 0, dbError("get secret value", err)
	}
	return sealed, read, nil
}

// DestroySecretValues removes these versions of path; the missing ones are ignored.
func (s *DB) DestroySecretValues(ctx context.Context, path string, versions []int) error {
	if err := store.ValidateSecretPath(path); err != nil {
		return err
	}
	var some []int32
	for _, v := range versions {
		if v >= 1 && v <= math.MaxInt32 {
			some = append(some, int32(v))
		}
	}
	if len(some) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, "DELETE FROM secret_values WHERE path = $1 AND version = ANY($2)", path, some)
	return dbError("destroy secret values", err)
}

// DeleteSecretValues removes every version of path.
func (s *DB) DeleteSecretValues(ctx context.Context, path string) error {
	if err := store.ValidateSecretPath(path); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, "DELETE FROM secret_values WHERE path = $1", path)
	return dbError("delete secret values", err)
}

// RewriteSecretValues replaces every value by fn's result in one transaction. It locks
// the table against writes first (reads go on), so that no value is put, destroyed or
// deleted meanwhile: none is left out, none is brought back.
func (s *DB) RewriteSecretValues(ctx context.Context, fn func(path string, version int, sealed []byte) ([]byte, error)) (int, error) {
	n := 0
	err := s.write(ctx, "rewrite secret values", func(tx pgx.Tx) ([]store.Change, error) {
		n = 0
		if _, err := tx.Exec(ctx, "LOCK TABLE secret_values IN EXCLUSIVE MODE"); err != nil {
			return nil, err
		}
		rows, err := tx.Query(ctx, "SELECT path, version, sealed FROM secret_values ORDER BY path, version")
		if err != nil {
			return nil, err
		}
		var paths []string
		var versions []int32
		var sealed [][]byte
		var path string
		var version int32
		var value []byte
		_, err = pgx.ForEachRow(rows, []any{&path, &version, &value}, func() error {
			out, err := fn(path, int(version), value)
			if err != nil {
				return err
			}
			if out == nil {
				out = []byte{}
			}
			paths, versions, sealed = append(paths, path), append(versions, version), append(sealed, out)
			value = nil // a new slice for the next row: fn may keep this one
			return nil
		})
		if err != nil || len(paths) == 0 {
			return nil, err
		}
		_, err = tx.Exec(ctx, `UPDATE secret_values AS v SET sealed = u.sealed
			FROM unnest($1::text[], $2::integer[], $3::bytea[]) AS u(path, version, sealed)
			WHERE v.path = u.path AND v.version = u.version`, paths, versions, sealed)
		n = len(paths)
		return nil, err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
