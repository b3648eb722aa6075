package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

const tokenColumns = "id, name, user_name, role, hash, created_by, parent_id, created_at, expires_at" //nolint:gosec // G101: column names, no credential

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	err := row.Scan(&t.ID, &t.Name, &t.User, &t.Role, &t.Hash, &t.CreatedBy, &t.ParentID, &t.CreatedAt, &t.ExpiresAt)
	return t, err
}

// CreateToken stores a new token; its ID must come from NewID. A zero CreatedAt is now.
func (s *DB) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	if err := t.Validate(); err != nil {
		return store.Token{}, err
	}
	err := s.write(ctx, "create token", func(tx pgx.Tx) ([]store.Change, error) {
		return nil, insertToken(ctx, tx, &t)
	})
	return t, err
}

// insertToken stores t, its CreatedAt from the database's clock when it has none.
func insertToken(ctx context.Context, tx pgx.Tx, t *store.Token) error {
	err := tx.QueryRow(ctx, `INSERT INTO tokens (`+tokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), $9) ON CONFLICT (id) DO NOTHING
		RETURNING created_at`, t.ID, t.Name, t.User, t.Role, t.Hash, t.CreatedBy, t.ParentID, optionalTime(t.CreatedAt), t.ExpiresAt).
		Scan(&t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Errorf(store.ErrExists, "token %s already exists", t.ID)
	}
	return err
}

// Bootstrapped tells whether the first admin token was made (by BootstrapToken).
func (s *DB) Bootstrapped(ctx context.Context) (bool, error) {
	var done bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM bootstrap)").Scan(&done)
	return done, dbError("read bootstrap", err)
}

// BootstrapToken stores the first admin token and marks it made, in one transaction;
// ErrExists if a first token was made before, even one deleted since (the mark stays).
func (s *DB) BootstrapToken(ctx context.Context, t store.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	t.CreatedAt = time.Time{} // now, by the database's clock
	return s.write(ctx, "bootstrap token", func(tx pgx.Tx) ([]store.Change, error) {
		tag, err := tx.Exec(ctx, "INSERT INTO bootstrap (token_id) VALUES ($1) ON CONFLICT DO NOTHING", t.ID)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 0 {
			return nil, store.Errorf(store.ErrExists, "the first admin token was made before")
		}
		return nil, insertToken(ctx, tx, &t)
	})
}

// GetToken reads one token.
func (s *DB) GetToken(ctx context.Context, id string) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Token{}, store.NotFound("token", id)
	}
	return t, dbError("get token", err)
}

// ListTokens returns one page of the tokens that pass f, newest first, and the cursor of
// the next page ("" on the last). A cursor stays good when its token is deleted.
func (s *DB) ListTokens(ctx context.Context, f store.TokenFilter, page store.Page) ([]store.Token, string, error) {
	before, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	where, args := "TRUE", []any{page.Size() + 1}
	if before != "" {
		args = append(args, before)
		where += " AND id < $2"
	}
	if f.User != "" {
		args = append(args, f.User)
		where += " AND user_name = $" + strconv.Itoa(len(args))
	}
	rows, err := s.pool.Query(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE "+where+" ORDER BY id DESC LIMIT $1", args...)
	if err != nil {
		return nil, "", dbError("list tokens", err)
	}
	tokens, next, err := collectPage(rows, page.Size(), scanToken, func(t store.Token) string { return t.ID })
	return tokens, next, dbError("list tokens", err)
}

// DeleteToken removes a token and the tokens it made, and theirs, with the sessions opened
// with any of them, in one statement: they all stop working at once. It returns how many
// tokens went.
func (s *DB) DeleteToken(ctx context.Context, id string) (int, error) {
	var n int
	err := s.write(ctx, "delete token", func(tx pgx.Tx) ([]store.Change, error) {
		err := tx.QueryRow(ctx, `WITH RECURSIVE tree (id) AS (
				SELECT id FROM tokens WHERE id = $1
				UNION SELECT t.id FROM tokens t JOIN tree ON t.parent_id = tree.id),
			gone AS (DELETE FROM tokens WHERE id IN (SELECT id FROM tree) RETURNING id),
			ended AS (DELETE FROM sessions WHERE token_id IN (SELECT id FROM gone))
			SELECT count(*) FROM gone`, id).Scan(&n)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, store.NotFound("token", id)
		}
		return nil, nil
	})
	return n, err
}
