package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// TokenPrefix starts every Gantry API token, so that a token is told from a JWT (and found
// by secret scanners) at a glance.
const TokenPrefix = "gantry_"

// A token reads TokenPrefix + ID + "_" + 43 characters of base64url (256 random bits).
// The ID, a 26-character ULID, finds the stored record; the whole token's SHA-256 is
// compared with the stored hash in constant time. A fast hash suits 256-bit random secrets:
// there is nothing to guess a dictionary from, and verifying stays cheap on every request.
const (
	idLen     = 26
	secretLen = 32
)

// NewSecret makes the secret of token id and the hash to store for it.
func NewSecret(id string) (secret string, hash []byte) {
	var b [secretLen]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	secret = TokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashSecret(secret)
}

// HashSecret is the hash stored for a token's secret.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// tokenID returns the ID inside a token, if it has the shape of one.
func tokenID(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, TokenPrefix)
	if !ok || len(rest) != idLen+1+base64.RawURLEncoding.EncodedLen(secretLen) || rest[idLen] != '_' {
		return "", false
	}
	return rest[:idLen], true
}

// TokenStore is what token verification needs of persistence.
type TokenStore interface {
	GetToken(ctx context.Context, id string) (store.Token, error)
}

// dummyHash is compared when a token's ID is unknown, so that a miss costs what a wrong
// secret costs.
var dummyHash = HashSecret(TokenPrefix)

// verifyToken returns the identity of a Gantry API token; ErrUnauthenticated when it is
// malformed, unknown (or revoked: revoking deletes it), wrong or expired; the store's own
// error (store.ErrUnavailable when it cannot be reached) when it cannot be looked up.
// compare is subtle.ConstantTimeCompare (tests watch it through this parameter).
func verifyToken(ctx context.Context, tokens TokenStore, secret string, now time.Time, compare func(x, y []byte) int) (Identity, error) {
	id, ok := tokenID(secret)
	if !ok {
		return Identity{}, Unauthenticated("malformed API token")
	}
	t, err := tokens.GetToken(ctx, id)
	want := t.Hash
	switch {
	case errors.Is(err, store.ErrNotFound):
		want = dummyHash
	case err != nil:
		// The store could not say (store.ErrUnavailable: its database is down): the token
		// may well be valid, so this is no "unknown token" (401) but the store's failure
		// (503, try again), never an answer about the credential.
		return Identity{}, fmt.Errorf("check API token: %w", err)
	}
	if compare(HashSecret(secret), want) != 1 || err != nil {
		return Identity{}, Unauthenticated("unknown or revoked API token")
	}
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return Identity{}, Unauthenticated("API token expired")
	}
	return Identity{Name: t.User, Role: t.Role, Kind: KindToken, TokenID: t.ID, ExpiresAt: t.ExpiresAt}, nil
}
