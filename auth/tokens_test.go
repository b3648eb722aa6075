package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

func openStore(t testing.TB) *bolt.DB {
	t.Helper()
	s, err := bolt.Open(context.Background(), t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addToken(t testing.TB, s *bolt.DB, user, role string, expires *time.Time) (secret, id string) {
	t.Helper()
	id = s.NewID()
	secret, hash := NewSecret(id)
	if _, err := s.CreateToken(context.Background(), store.Token{ID: id, Name: "t", User: user, Role: role, Hash: hash, ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	return secret, id
}

func TestSecretsAreUniqueAndCarryTheirID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		secret, hash := NewSecret("01ARZ3NDEKTSV4RRFFQ69G5FAV")
		if seen[secret] || len(hash) != 32 {
			t.Fatalf("secret %q repeated or hash %d bytes", secret, len(hash))
		}
		seen[secret] = true
		if id, ok := tokenID(secret); !ok || id != "01ARZ3NDEKTSV4RRFFQ69G5FAV" {
			t.Fatalf("tokenID(%q) = %q %v", secret, id, ok)
		}
	}
}

func TestAuthenticateAPITokens(t *testing.T) {
	s := openStore(t)
	a := NewAuthenticator(s, nil)
	good, goodID := addToken(t, s, "alice", RoleDeveloper, nil)
	past := time.Now().Add(-time.Second)
	expired, _ := addToken(t, s, "carol", RoleDeveloper, &past)
	revoked, revokedID := addToken(t, s, "dave", RoleAdmin, nil)
	if _, err := s.DeleteToken(context.Background(), revokedID); err != nil {
		t.Fatal(err)
	}
	other, _ := NewSecret(goodID) // the right ID, another secret

	id, err := a.Authenticate(context.Background(), "Bearer "+good)
	if err != nil || !reflect.DeepEqual(id, Identity{Name: "alice", Role: RoleDeveloper, Kind: KindToken, TokenID: goodID}) {
		t.Fatalf("good token: %+v %v", id, err)
	}
	if _, err := a.Authenticate(context.Background(), "bearer  "+good+" "); err != nil {
		t.Fatalf("scheme is case-insensitive, spaces trimmed: %v", err)
	}
	for name, header := range map[string]string{
		"empty":        "",
		"no scheme":    good,
		"basic":        "Basic " + good,
		"no token":     "Bearer ",
		"wrong secret": "Bearer " + other,
		"expired":      "Bearer " + expired,
		"revoked":      "Bearer " + revoked,
		"truncated":    "Bearer " + good[:len(good)-1],
		"extended":     "Bearer " + good + "x",
		"unknown id":   "Bearer gantry_01ARZ3NDEKTSV4RRFFQ69G5FAV_" + strings.Repeat("A", 43),
		"jwt, no oidc": "Bearer a.b.c",
	} {
		_, err := a.Authenticate(context.Background(), header)
		if !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
			continue
		}
		if strings.Contains(err.Error(), "gantry_") {
			t.Errorf("%s: the message repeats the credential: %v", name, err)
		}
	}
}

// BenchmarkVerifyToken compares the cost of a right secret, secrets wrong in their first or
// last byte, and an unknown ID: with hashing and a constant-time compare they cost the same,
// so timing tells an attacker nothing about how much of a secret was right.
func BenchmarkVerifyToken(b *testing.B) {
	s := openStore(b)
	good, _ := addToken(b, s, "alice", RoleDeveloper, nil)
	flip := func(i int) string {
		c := []byte(good)
		c[i] ^= 1
		return string(c)
	}
	prefix := len(TokenPrefix) + idLen + 1
	for name, secret := range map[string]string{
		"valid":           good,
		"wrong-first":     flip(prefix),
		"wrong-last":      flip(len(good) - 1),
		"unknown-id":      "gantry_01ARZ3NDEKTSV4RRFFQ69G5FAV_" + good[prefix:],
		"malformed-short": good[:20],
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_, _ = verifyToken(context.Background(), s, secret, time.Now(), subtle.ConstantTimeCompare)
			}
		})
	}
}

// TestTokenComparisonIsConstantTime: every well-formed token, right, wrong or of an unknown
// ID, costs exactly one constant-time comparison of two 32-byte hashes, so the time taken
// tells nothing about how much of a secret was right or whether its ID exists.
func TestTokenComparisonIsConstantTime(t *testing.T) {
	s := openStore(t)
	a := NewAuthenticator(s, nil)
	var calls int
	a.compare = func(x, y []byte) int {
		calls++
		if len(x) != 32 || len(y) != 32 {
			t.Errorf("compared %d and %d bytes, want two SHA-256 hashes", len(x), len(y))
		}
		return subtle.ConstantTimeCompare(x, y)
	}
	good, id := addToken(t, s, "alice", RoleDeveloper, nil)
	wrong, _ := NewSecret(id)
	unknown, _ := NewSecret("01ARZ3NDEKTSV4RRFFQ69G5FAV")
	for name, secret := range map[string]string{"right": good, "wrong secret": wrong, "unknown id": unknown} {
		calls = 0
		_, _ = a.Authenticate(context.Background(), "Bearer "+secret)
		if calls != 1 {
			t.Errorf("%s: %d constant-time comparisons, want 1", name, calls)
		}
	}
}

// failingTokens is a token store that cannot be reached (its database is down).
type failingTokens struct{ err error }

func (f failingTokens) GetToken(context.Context, string) (store.Token, error) {
	return store.Token{}, f.err
}

// TestAStoreOutageIsNoBadToken: a token that cannot be looked up is not called unknown
// (401, which would make clients drop a good token): the store's error comes back, so the
// caller answers 503 and the client tries again.
func TestAStoreOutageIsNoBadToken(t *testing.T) {
	good, _ := NewSecret("01ARZ3NDEKTSV4RRFFQ69G5FAV")
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"a store that cannot be reached", fmt.Errorf("get token: %w", store.ErrUnavailable)},
		{"a store that answers too late", context.DeadlineExceeded},
	} {
		t.Run(tt.name+" leaves the token undecided", func(t *testing.T) {
			a := NewAuthenticator(failingTokens{tt.err}, nil)
			_, err := a.Authenticate(context.Background(), "Bearer "+good)
			if errors.Is(err, ErrUnauthenticated) || !errors.Is(err, tt.err) {
				t.Fatalf("Authenticate: %v, want the store's error and no ErrUnauthenticated", err)
			}
			if strings.Contains(err.Error(), good) {
				t.Fatalf("the error repeats the credential: %v", err)
			}
		})
	}
	t.Run("a malformed token is still refused without asking the store", func(t *testing.T) {
		a := NewAuthenticator(failingTokens{store.ErrUnavailable}, nil)
		if _, err := a.Authenticate(context.Background(), "Bearer gantry_short"); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("Authenticate: %v, want ErrUnauthenticated", err)
		}
	})
}
