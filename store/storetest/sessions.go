package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func sessionCases() []testCase {
	return []testCase{
		{
			name:   "a session is read back as it was stored, until it expires",
			covers: []string{"CreateSession", "GetSession"},
			run:    testSessionRoundTrip,
		},
		{
			name:   "a session ID is taken once, and an invalid session is refused",
			covers: []string{"CreateSession", "GetSession"},
			run:    testSessionExistsAndInvalid,
		},
		{
			name:   "a deleted session is gone, and deleting one that is not there is no error",
			covers: []string{"DeleteSession", "CreateSession", "GetSession"},
			run:    testDeleteSession,
		},
		{
			name:   "deleting a token ends its sessions and those of the tokens it made, and no others",
			covers: []string{"DeleteToken", "CreateToken", "CreateSession", "GetSession"},
			run:    testDeleteTokenEndsItsSessions,
		},
		{
			name:   "a session of a token that is gone is refused: a sign-in never outlives a revoke",
			covers: []string{"CreateSession", "DeleteToken", "GetSession"},
			run:    testSessionOfARevokedToken,
		},
		{
			name:   "the expired sessions are deleted and counted, the others kept",
			covers: []string{"DeleteExpiredSessions", "CreateSession", "GetSession"},
			run:    testDeleteExpiredSessions,
		},
	}
}

// newSessionID is a session ID as the console makes them: the hex SHA-256 of a random secret.
func newSessionID(t *testing.T) string {
	t.Helper()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}

// testToken stores a token for sessions to name and returns its ID.
func testToken(t *testing.T, s store.Store) string {
	t.Helper()
	tk, err := s.CreateToken(t.Context(), store.Token{ID: s.NewID(), Name: "console", User: "ann", Role: "developer", Hash: []byte{1}})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	return tk.ID
}

// newSession is a valid session of a token (tokenID "" for an OIDC one) that expires at expires.
func newSession(t *testing.T, tokenID string, expires time.Time) store.Session {
	t.Helper()
	sess := store.Session{ID: newSessionID(t), Name: "ann", Role: "developer", Kind: "token", TokenID: tokenID,
		CSRF: "0123456789abcdef0123", CreatedAt: expires.Add(-time.Hour), ExpiresAt: expires}
	if tokenID == "" {
		sess.Kind, sess.Groups = "oidc", []string{"ops"}
	}
	return sess
}

func mustSession(t *testing.T, s store.Store, sess store.Session) store.Session {
	t.Helper()
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("create session: %v", err)
	}
	return sess
}

// wantSession checks that the session id is there (true) or not (false) at now.
func wantSession(t *testing.T, s store.Store, id string, now time.Time, there bool) {
	t.Helper()
	_, err := s.GetSession(t.Context(), id, now)
	switch {
	case there && err != nil:
		t.Fatalf("get session %s…: %v, want it", id[:8], err)
	case !there && !errors.Is(err, store.ErrNotFound):
		t.Fatalf("get session %s…: %v, want ErrNotFound", id[:8], err)
	}
}

func sameSession(a, b store.Session) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) || !a.ExpiresAt.Equal(b.ExpiresAt) {
		return false
	}
	if (a.CredentialExpiresAt == nil) != (b.CredentialExpiresAt == nil) ||
		(a.CredentialExpiresAt != nil && !a.CredentialExpiresAt.Equal(*b.CredentialExpiresAt)) {
		return false
	}
	a.CreatedAt, a.ExpiresAt, b.CreatedAt, b.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	a.CredentialExpiresAt, b.CredentialExpiresAt = nil, nil
	return reflect.DeepEqual(a, b)
}

func testSessionRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	expires := now.Add(time.Hour)
	credExpires := now.Add(30 * 24 * time.Hour)
	full := store.Session{ID: newSessionID(t), Name: "ann@example.com", Role: "admin", Kind: "token",
		Groups: []string{"ops", "dev"}, TokenID: testToken(t, s), CSRF: "csrf-secret-0123456789",
		CreatedAt: now.Add(-time.Minute), ExpiresAt: expires, CredentialExpiresAt: &credExpires}
	bare := store.Session{ID: newSessionID(t), Name: "bob", Role: "viewer", Kind: "oidc",
		CSRF: "another-csrf-secret", CreatedAt: now, ExpiresAt: expires}
	for _, in := range []store.Session{full, bare} {
		mustSession(t, s, in)
		got, err := s.GetSession(ctx, in.ID, now)
		if err != nil || !sameSession(got, in) {
			t.Fatalf("get session:\n got %+v %v\nwant %+v", got, err, in)
		}
		// Just before its expiry it is there; at it, and after, it is not.
		wantSession(t, s, in.ID, expires.Add(-time.Millisecond), true)
		wantSession(t, s, in.ID, expires, false)
		wantSession(t, s, in.ID, expires.Add(time.Second), false)
	}
	expired := mustSession(t, s, newSession(t, "", now.Add(-time.Second)))
	wantSession(t, s, expired.ID, now, false)
	wantSession(t, s, expired.ID, now.Add(-2*time.Second), true) // stored all the same
	wantSession(t, s, newSessionID(t), now, false)
}

func testSessionExistsAndInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	tok1 := testToken(t, s)
	first := mustSession(t, s, newSession(t, tok1, now.Add(time.Hour)))
	dup := newSession(t, testToken(t, s), now.Add(2*time.Hour))
	dup.ID, dup.Name = first.ID, "mallory"
	if err := s.CreateSession(ctx, dup); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a taken ID: %v, want ErrExists", err)
	}
	if got, err := s.GetSession(ctx, first.ID, now); err != nil || !sameSession(got, first) {
		t.Fatalf("after a refused duplicate: %+v %v, want the first as it was", got, err)
	}
	for name, change := range map[string]func(*store.Session){
		"an ID that is not a hex SHA-256": func(x *store.Session) { x.ID = "not-a-hash" },
		"an upper-case ID":                func(x *store.Session) { x.ID = "AB" + x.ID[2:] },
		"no name":                         func(x *store.Session) { x.Name = " " },
		"no role":                         func(x *store.Session) { x.Role = "" },
		"no kind":                         func(x *store.Session) { x.Kind = "" },
		"a short CSRF secret":             func(x *store.Session) { x.CSRF = "short" },
		"no expiry":                       func(x *store.Session) { x.ExpiresAt = time.Time{} },
	} {
		bad := newSession(t, tok1, now.Add(time.Hour))
		change(&bad)
		if err := s.CreateSession(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
		if _, err := s.GetSession(ctx, bad.ID, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: refused, yet read back (%v)", name, err)
		}
	}
}

func testDeleteSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	tok := testToken(t, s)
	gone := mustSession(t, s, newSession(t, tok, now.Add(time.Hour)))
	kept := mustSession(t, s, newSession(t, tok, now.Add(time.Hour)))
	if err := s.DeleteSession(ctx, gone.ID); err != nil {
		t.Fatalf("delete session: %v", err)
	}
	wantSession(t, s, gone.ID, now, false)
	wantSession(t, s, kept.ID, now, true)
	if err := s.DeleteSession(ctx, gone.ID); err != nil {
		t.Fatalf("delete a deleted session: %v, want nil", err)
	}
	if err := s.DeleteSession(ctx, newSessionID(t)); err != nil {
		t.Fatalf("delete a session that never was: %v, want nil", err)
	}
	if err := s.CreateSession(ctx, gone); err != nil {
		t.Fatalf("create a session again under a deleted ID: %v", err)
	}
	wantSession(t, s, gone.ID, now, true)
}

func testDeleteTokenEndsItsSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	mk := func(name, parent string) store.Token {
		t.Helper()
		tk, err := s.CreateToken(ctx, store.Token{ID: s.NewID(), Name: name, User: "ann", Role: "developer", Hash: []byte{1}, ParentID: parent})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	parent := mk("parent", "")
	child := mk("child", parent.ID)
	grandchild := mk("grandchild", child.ID)
	other := mk("other", "")
	later := now.Add(time.Hour)
	ended := []store.Session{
		mustSession(t, s, newSession(t, parent.ID, later)),
		mustSession(t, s, newSession(t, parent.ID, later)),
		mustSession(t, s, newSession(t, child.ID, later)),
		mustSession(t, s, newSession(t, grandchild.ID, later)),
	}
	survivors := []store.Session{
		mustSession(t, s, newSession(t, other.ID, later)),
		mustSession(t, s, newSession(t, "", later)), // OIDC, no token
	}
	n, err := s.DeleteToken(ctx, parent.ID)
	if err != nil || n != 3 {
		t.Fatalf("delete token: %d %v, want 3 tokens", n, err)
	}
	for _, sess := range ended {
		wantSession(t, s, sess.ID, now, false)
	}
	for _, sess := range survivors {
		wantSession(t, s, sess.ID, now, true)
	}
	if _, err := s.DeleteToken(ctx, parent.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete a deleted token: %v, want ErrNotFound", err)
	}
	if n, err := s.DeleteToken(ctx, other.ID); err != nil || n != 1 {
		t.Fatalf("delete the other token: %d %v", n, err)
	}
	wantSession(t, s, survivors[0].ID, now, false)
	wantSession(t, s, survivors[1].ID, now, true)
}

func testDeleteExpiredSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if n, err := s.DeleteExpiredSessions(ctx, now); err != nil || n != 0 {
		t.Fatalf("on an empty store: %d %v, want 0", n, err)
	}
	tok := testToken(t, s)
	expired := []store.Session{
		mustSession(t, s, newSession(t, tok, now.Add(-time.Hour))),
		mustSession(t, s, newSession(t, "", now.Add(-time.Millisecond))),
		mustSession(t, s, newSession(t, tok, now)), // expires at now: expired
	}
	live := []store.Session{
		mustSession(t, s, newSession(t, tok, now.Add(time.Millisecond))),
		mustSession(t, s, newSession(t, "", now.Add(time.Hour))),
	}
	n, err := s.DeleteExpiredSessions(ctx, now)
	if err != nil || n != len(expired) {
		t.Fatalf("delete expired sessions: %d %v, want %d", n, err, len(expired))
	}
	past := now.Add(-2 * time.Hour) // when every one of them was valid
	for _, sess := range expired {
		wantSession(t, s, sess.ID, past, false)
	}
	for _, sess := range live {
		wantSession(t, s, sess.ID, past, true)
		wantSession(t, s, sess.ID, now, true)
	}
	if n, err := s.DeleteExpiredSessions(ctx, now); err != nil || n != 0 {
		t.Fatalf("a second time: %d %v, want 0", n, err)
	}
}

func testSessionOfARevokedToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	tok := testToken(t, s)
	if _, err := s.DeleteToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{"a revoked token": tok, "a token never made": s.NewID()} {
		sess := newSession(t, id, now.Add(time.Hour))
		if err := s.CreateSession(ctx, sess); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
		wantSession(t, s, sess.ID, now, false)
	}
}
