package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketTokens = []byte("tokens") // ID -> Token JSON
	// keyBootstrapped marks that the first admin token was made, so it is made once.
	keyBootstrapped = []byte("admin_token_bootstrapped")
)

// CreateToken stores a new token; its ID must come from NewID.
func (s *DB) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	if err := t.Validate(); err != nil {
		return store.Token{}, err
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) { return nil, putToken(tx, t) })
	return t, err
}

func putToken(tx *bolt.Tx, t store.Token) error {
	b := tx.Bucket(bucketTokens)
	if b.Get([]byte(t.ID)) != nil {
		return store.Errorf(store.ErrExists, "token %s already exists", t.ID)
	}
	return putJSON(b, []byte(t.ID), t)
}

// Bootstrapped tells whether the first admin token was made (by BootstrapToken).
func (s *DB) Bootstrapped(ctx context.Context) (bool, error) {
	var done bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		done = tx.Bucket(bucketMeta).Get(keyBootstrapped) != nil
		return nil
	})
	return done, err
}

// BootstrapToken stores the first admin token and marks it made, in one transaction;
// ErrExists if a first token was made before.
func (s *DB) BootstrapToken(ctx context.Context, t store.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	t.CreatedAt = s.now()
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyBootstrapped) != nil {
			return nil, store.Errorf(store.ErrExists, "the first admin token was made before")
		}
		if err := putToken(tx, t); err != nil {
			return nil, err
		}
		return nil, meta.Put(keyBootstrapped, []byte(t.ID))
	})
}

// GetToken reads one token.
func (s *DB) GetToken(ctx context.Context, id string) (store.Token, error) {
	var t store.Token
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketTokens), []byte(id), &t)
		if err == nil && !found {
			err = store.NotFound("token", id)
		}
		return err
	})
	return t, err
}

// ListTokens returns one page of the tokens that pass f, newest first, and the cursor of
// the next page ("" on the last).
func (s *DB) ListTokens(ctx context.Context, f store.TokenFilter, page store.Page) ([]store.Token, string, error) {
	var before []byte
	if page.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(page.Cursor)
		if err != nil || len(raw) == 0 {
			return nil, "", store.Invalid("cursor", "cursor %q is not one this server gave out", page.Cursor)
		}
		before = raw
	}
	tokens := []store.Token{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTokens).Cursor()
		var k, v []byte
		if before == nil {
			k, v = c.Last()
		} else if k, v = c.Seek(before); k == nil || bytes.Compare(k, before) >= 0 {
			k, v = c.Prev()
		}
		for ; k != nil; k, v = c.Prev() {
			var t store.Token
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode token %s: %w", k, err)
			}
			if f.User != "" && t.User != f.User {
				continue
			}
			if len(tokens) == page.Size() {
				next = base64.RawURLEncoding.EncodeToString([]byte(tokens[len(tokens)-1].ID))
				return nil
			}
			tokens = append(tokens, t)
		}
		return nil
	})
	return tokens, next, err
}

// DeleteToken removes a token and the tokens it made, and theirs, with the sessions opened
// with any of them, in one transaction: they all stop working at once. It returns how many
// tokens went.
func (s *DB) DeleteToken(ctx context.Context, id string) (int, error) {
	var n int
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(id)) == nil {
			return nil, store.NotFound("token", id)
		}
		gone := map[string]bool{id: true}
		for grew := true; grew; { // until no token is left whose parent went
			grew = false
			err := b.ForEach(func(k, v []byte) error {
				var t store.Token
				if err := json.Unmarshal(v, &t); err != nil {
					return fmt.Errorf("decode token %s: %w", k, err)
				}
				if t.ParentID != "" && gone[t.ParentID] && !gone[t.ID] {
					gone[t.ID], grew = true, true
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		for k := range gone {
			if err := b.Delete([]byte(k)); err != nil {
				return nil, err
			}
		}
		if err := deleteTokenSessions(tx, gone); err != nil {
			return nil, err
		}
		n = len(gone)
		return nil, nil
	})
	return n, err
}
