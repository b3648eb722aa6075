package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketTokens = []byte("tokens") // ID -> Token JSON
	// keyBootstrapped marks that the first admin token was made, so it is made once.
	keyBootstrapped = []byte("admin_token_bootstrapped")
)

var userNameRE = regexp.MustCompile(`^[A-Za-z0-9_.@+:-]{1,255}$`)

// ValidateUserName is the one rule of user names, whatever their source: the user of an API
// token, the name an OIDC token maps to (its prefix included), the owner an admin gives an
// app or an API. A name that breaks it could own things yet never get a token of its own, or
// carry a path, a newline or a space into logs and URLs.
func ValidateUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return invalid("user", "user name %q must match %s", name, userNameRE)
	}
	return nil
}

// UserNameRule describes the rule of ValidateUserName, for messages.
func UserNameRule() string { return userNameRE.String() }

// Token is an API token. Only a hash of its secret is kept: the secret is shown once, when
// the token is made, and checked by hashing what a caller presents.
type Token struct {
	ID        string `json:"id"` // a ULID from NewID; also part of the secret
	Name      string `json:"name"`
	User      string `json:"user"` // the identity the token acts as
	Role      string `json:"role"`
	Hash      []byte `json:"hash"`
	CreatedBy string `json:"created_by,omitempty"`
	// ParentID is the token that made this one, if a token did: revoking it revokes this one.
	ParentID  string     `json:"parent_id,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Validate checks the token's fields; roles are the auth package's to check.
func (t *Token) Validate() error {
	if strings.TrimSpace(t.Name) == "" || len(t.Name) > 255 || strings.ContainsFunc(t.Name, isControl) {
		return invalid("name", "name is required: 1 to 255 characters, without control characters")
	}
	if err := ValidateUserName(t.User); err != nil {
		return err
	}
	switch {
	case t.Role == "":
		return invalid("role", "role is required")
	case len(t.Hash) == 0:
		return invalid("hash", "a token needs the hash of its secret")
	}
	return nil
}

// TokenFilter narrows a list of tokens.
type TokenFilter struct {
	User string // only this user's tokens; "" for all
}

// CreateToken stores a new token; its ID must come from NewID.
func (s *DB) CreateToken(ctx context.Context, t Token) (Token, error) {
	if err := t.Validate(); err != nil {
		return Token{}, err
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	err := s.update(ctx, func(tx *bolt.Tx) (func(), error) { return nil, putToken(tx, t) })
	return t, err
}

func putToken(tx *bolt.Tx, t Token) error {
	b := tx.Bucket(bucketTokens)
	if b.Get([]byte(t.ID)) != nil {
		return errorf(ErrExists, "token %s already exists", t.ID)
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
func (s *DB) BootstrapToken(ctx context.Context, t Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	t.CreatedAt = s.now()
	return s.update(ctx, func(tx *bolt.Tx) (func(), error) {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyBootstrapped) != nil {
			return nil, errorf(ErrExists, "the first admin token was made before")
		}
		if err := putToken(tx, t); err != nil {
			return nil, err
		}
		return nil, meta.Put(keyBootstrapped, []byte(t.ID))
	})
}

// GetToken reads one token.
func (s *DB) GetToken(ctx context.Context, id string) (Token, error) {
	var t Token
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketTokens), []byte(id), &t)
		if err == nil && !found {
			err = NotFound("token", id)
		}
		return err
	})
	return t, err
}

// ListTokens returns one page of the tokens that pass f, newest first, and the cursor of
// the next page ("" on the last).
func (s *DB) ListTokens(ctx context.Context, f TokenFilter, page Page) ([]Token, string, error) {
	var before []byte
	if page.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(page.Cursor)
		if err != nil || len(raw) == 0 {
			return nil, "", invalid("cursor", "cursor %q is not one this server gave out", page.Cursor)
		}
		before = raw
	}
	tokens := []Token{}
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
			var t Token
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode token %s: %w", k, err)
			}
			if f.User != "" && t.User != f.User {
				continue
			}
			if len(tokens) == page.limit() {
				next = base64.RawURLEncoding.EncodeToString([]byte(tokens[len(tokens)-1].ID))
				return nil
			}
			tokens = append(tokens, t)
		}
		return nil
	})
	return tokens, next, err
}

// DeleteToken removes a token and the tokens it made, and theirs, in one transaction:
// they all stop working at once. It returns how many went.
func (s *DB) DeleteToken(ctx context.Context, id string) (int, error) {
	var n int
	err := s.update(ctx, func(tx *bolt.Tx) (func(), error) {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(id)) == nil {
			return nil, NotFound("token", id)
		}
		gone := map[string]bool{id: true}
		for grew := true; grew; { // until no token is left whose parent went
			grew = false
			err := b.ForEach(func(k, v []byte) error {
				var t Token
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
		n = len(gone)
		return nil, nil
	})
	return n, err
}
