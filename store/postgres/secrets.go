package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

const secretColumns = "secret, created_at, updated_at"

func scanSecret(row pgx.Row) (store.Secret, error) {
	var sec store.Secret
	var doc []byte
	var created, updated time.Time
	if err := row.Scan(&doc, &created, &updated); err != nil {
		return sec, err
	}
	if err := json.Unmarshal(doc, &sec); err != nil {
		return sec, fmt.Errorf("decode secret: %w", err)
	}
	sec.CreatedAt, sec.UpdatedAt = created, updated // the columns are the truth
	return sec, nil
}

// CreateSecret stores a new secret's record; ErrExists if the name is taken.
func (s *DB) CreateSecret(ctx context.Context, sec store.Secret) (store.Secret, error) {
	if err := sec.Validate(); err != nil {
		return store.Secret{}, err
	}
	doc, err := jsonValue(sec)
	if err != nil {
		return store.Secret{}, err
	}
	err = s.write(ctx, "create secret", func(tx pgx.Tx) ([]store.Change, error) {
		err := tx.QueryRow(ctx, `INSERT INTO secrets (name, kind, owner, version, pending, secret, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, now(), now()) ON CONFLICT (name) DO NOTHING RETURNING created_at, updated_at`,
			sec.Name, sec.Kind, sec.Owner, sec.Version, sec.Pending != nil, doc).Scan(&sec.CreatedAt, &sec.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.Errorf(store.ErrExists, "secret %q already exists", sec.Name)
		}
		return secretChanged(sec.Name), err
	})
	if err != nil {
		return store.Secret{}, err
	}
	return sec, nil
}

// UpdateSecret applies fn to the stored record, its row locked, after guard (when set)
// vetted its owner. fn may not rename it; its CreatedAt stays.
func (s *DB) UpdateSecret(ctx context.Context, name string, fn func(*store.Secret) error, guard store.SecretGuard) (store.Secret, error) {
	var sec store.Secret
	err := s.write(ctx, "update secret", func(tx pgx.Tx) ([]store.Change, error) {
		var err error
		sec, err = scanSecret(tx.QueryRow(ctx, "SELECT "+secretColumns+" FROM secrets WHERE name = $1 FOR UPDATE", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("secret", name)
		}
		if err != nil {
			return nil, err
		}
		if guard != nil {
			if err := guard(sec.Owner); err != nil {
				return nil, err
			}
		}
		created := sec.CreatedAt
		if err := fn(&sec); err != nil {
			return nil, err
		}
		if sec.Name != name {
			return nil, store.Invalid("name", "a secret cannot be renamed (%q to %q)", name, sec.Name)
		}
		if err := sec.Validate(); err != nil {
			return nil, err
		}
		sec.CreatedAt = created
		doc, err := jsonValue(sec)
		if err != nil {
			return nil, err
		}
		err = tx.QueryRow(ctx, `UPDATE secrets SET kind = $2, owner = $3, version = $4, pending = $5, secret = $6, updated_at = now()
			WHERE name = $1 RETURNING updated_at`, name, sec.Kind, sec.Owner, sec.Version, sec.Pending != nil, doc).Scan(&sec.UpdatedAt)
		return secretChanged(name), err
	})
	if err != nil {
		return store.Secret{}, err
	}
	return sec, nil
}

// GetSecret reads a secret's record, committed or not.
func (s *DB) GetSecret(ctx context.Context, name string) (store.Secret, error) {
	sec, err := scanSecret(s.pool.QueryRow(ctx, "SELECT "+secretColumns+" FROM secrets WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Secret{}, store.NotFound("secret", name)
	}
	if err != nil {
		return store.Secret{}, dbError("get secret", err)
	}
	return sec, nil
}

// ListSecrets returns one page of the committed records that pass f, in name order (the
// primary key, or the index of the owner or the kind), and the cursor of the next page.
func (s *DB) ListSecrets(ctx context.Context, f store.SecretFilter, page store.Page) ([]store.Secret, string, error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	where := []string{"version > 0", "name > $1"}
	args := []any{after, page.Size() + 1}
	if f.Owner != "" {
		args = append(args, f.Owner)
		where = append(where, fmt.Sprintf("owner = $%d", len(args)))
	}
	if f.Kind != "" {
		args = append(args, f.Kind)
		where = append(where, fmt.Sprintf("kind = $%d", len(args)))
	}
	rows, err := s.pool.Query(ctx, "SELECT "+secretColumns+" FROM secrets WHERE "+strings.Join(where, " AND ")+" ORDER BY name LIMIT $2", args...)
	if err != nil {
		return nil, "", dbError("list secrets", err)
	}
	out, next, err := collectPage(rows, page.Size(), scanSecret, func(sec store.Secret) string { return sec.Name })
	if err != nil {
		return nil, "", dbError("list secrets", err)
	}
	return out, next, nil
}

// PendingSecrets returns every record with a pending write, in name order.
func (s *DB) PendingSecrets(ctx context.Context) ([]store.Secret, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+secretColumns+" FROM secrets WHERE pending ORDER BY name")
	if err != nil {
		return nil, dbError("read pending secrets", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Secret, error) { return scanSecret(row) })
	if err != nil {
		return nil, dbError("read pending secrets", err)
	}
	return out, nil
}

// DeleteSecret removes a secret's record; guard, when set, vets it, its row locked.
func (s *DB) DeleteSecret(ctx context.Context, name string, guard func(store.Secret) error) error {
	return s.write(ctx, "delete secret", func(tx pgx.Tx) ([]store.Change, error) {
		sec, err := scanSecret(tx.QueryRow(ctx, "SELECT "+secretColumns+" FROM secrets WHERE name = $1 FOR UPDATE", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("secret", name)
		}
		if err != nil {
			return nil, err
		}
		if guard != nil {
			if err := guard(sec); err != nil {
				return nil, err
			}
		}
		_, err = tx.Exec(ctx, "DELETE FROM secrets WHERE name = $1", name)
		return secretChanged(name), err
	})
}

func secretChanged(name string) []store.Change {
	return []store.Change{{Kind: store.ChangeSecret, Name: name}}
}
