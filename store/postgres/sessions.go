package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const sessionColumns = "id, name, role, kind, groups, coalesce(token_id, ''), csrf, created_at, expires_at, credential_expires_at"

// CreateSession stores a new session; ErrExists if its ID is taken. A zero CreatedAt is
// now, by the database's clock.
func (s *DB) CreateSession(ctx context.Context, sess store.Session) error {
	if err := sess.Validate(); err != nil {
		return err
	}
	groups := sess.Groups
	if groups == nil {
		groups = []string{}
	}
	return s.write(ctx, "create session", func(tx pgx.Tx) ([]store.Change, error) {
		tag, err := tx.Exec(ctx, `INSERT INTO sessions (id, name, role, kind, groups, token_id, csrf, created_at, expires_at, credential_expires_at)
			VALUES ($1, $2, $3, $4, $5, nullif($6, ''), $7, coalesce($8, now()), $9, $10) ON CONFLICT (id) DO NOTHING`,
			sess.ID, sess.Name, sess.Role, sess.Kind, groups, sess.TokenID, sess.CSRF, optionalTime(sess.CreatedAt), sess.ExpiresAt, sess.CredentialExpiresAt)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == codeForeignKeyViolation {
			return nil, store.Errorf(store.ErrNotFound, "token %s not found: revoked", sess.TokenID)
		}
		if err == nil && tag.RowsAffected() == 0 {
			err = store.Errorf(store.ErrExists, "session already exists")
		}
		return nil, err
	})
}

// GetSession reads a session; ErrNotFound when there is none or it expired at now.
func (s *DB) GetSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	var sess store.Session
	err := s.pool.QueryRow(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = $1 AND expires_at > $2", id, now).
		Scan(&sess.ID, &sess.Name, &sess.Role, &sess.Kind, &sess.Groups, &sess.TokenID, &sess.CSRF, &sess.CreatedAt, &sess.ExpiresAt, &sess.CredentialExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Session{}, store.Errorf(store.ErrNotFound, "session not found")
	}
	if err != nil {
		return store.Session{}, dbError("get session", err)
	}
	if len(sess.Groups) == 0 {
		sess.Groups = nil
	}
	return sess, nil
}

// DeleteSession ends a session; one that is not there is no error.
func (s *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE id = $1", id)
	return dbError("delete session", err)
}

// DeleteExpiredSessions removes the sessions expired at now and tells how many.
func (s *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE expires_at <= $1", now)
	if err != nil {
		return 0, dbError("delete expired sessions", err)
	}
	return int(tag.RowsAffected()), nil
}
