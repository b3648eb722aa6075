package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

var bucketSessions = []byte("sessions") // ID -> store.Session JSON

// CreateSession stores a new session; ErrExists if its ID is taken.
func (s *DB) CreateSession(ctx context.Context, sess store.Session) error {
	if err := sess.Validate(); err != nil {
		return err
	}
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = s.now()
	}
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketSessions)
		if b.Get([]byte(sess.ID)) != nil {
			return nil, store.Errorf(store.ErrExists, "session already exists")
		}
		if sess.TokenID != "" && tx.Bucket(bucketTokens).Get([]byte(sess.TokenID)) == nil {
			return nil, store.Errorf(store.ErrNotFound, "token %s not found: revoked", sess.TokenID)
		}
		return nil, putJSON(b, []byte(sess.ID), sess)
	})
}

// GetSession reads a session; ErrNotFound when there is none or it expired at now.
func (s *DB) GetSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	var sess store.Session
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketSessions), []byte(id), &sess)
		if err == nil && (!found || !sess.ExpiresAt.After(now)) {
			err = store.Errorf(store.ErrNotFound, "session not found")
		}
		return err
	})
	if err != nil {
		return store.Session{}, err
	}
	return sess, nil
}

// DeleteSession ends a session; one that is not there is no error.
func (s *DB) DeleteSession(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		return nil, tx.Bucket(bucketSessions).Delete([]byte(id))
	})
}

// DeleteExpiredSessions removes the sessions expired at now, in one transaction, and
// tells how many.
func (s *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		n = 0
		gone, err := sessionsWhere(tx, func(sess store.Session) bool { return !sess.ExpiresAt.After(now) })
		if err != nil {
			return nil, err
		}
		n, err = deleteKeys(tx.Bucket(bucketSessions), gone)
		return nil, err
	})
	return n, err
}

// deleteTokenSessions deletes, inside tx, the sessions opened with one of these tokens.
func deleteTokenSessions(tx *bolt.Tx, tokens map[string]bool) error {
	gone, err := sessionsWhere(tx, func(sess store.Session) bool { return sess.TokenID != "" && tokens[sess.TokenID] })
	if err != nil {
		return err
	}
	_, err = deleteKeys(tx.Bucket(bucketSessions), gone)
	return err
}

// sessionsWhere returns the IDs of the sessions that match; bbolt forbids deleting
// during ForEach, so callers delete them afterwards.
func sessionsWhere(tx *bolt.Tx, match func(store.Session) bool) ([][]byte, error) {
	var ids [][]byte
	err := tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
		var sess store.Session
		if err := json.Unmarshal(v, &sess); err != nil {
			return fmt.Errorf("decode session: %w", err)
		}
		if match(sess) {
			ids = append(ids, append([]byte(nil), k...))
		}
		return nil
	})
	return ids, err
}

func deleteKeys(b *bolt.Bucket, keys [][]byte) (int, error) {
	for i, k := range keys {
		if err := b.Delete(k); err != nil {
			return i, err
		}
	}
	return len(keys), nil
}
