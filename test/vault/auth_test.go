package vaulttest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestAppRole checks AppRole logins with a plain and a response-wrapped secret id, the
// secret id kept in memory for later logins, the file read again when it no longer works,
// and a new login after the token's max TTL.
func TestAppRole(t *testing.T) {
	t.Parallel()
	c := NewCluster(t)
	ctx := context.Background()
	put := func(t *testing.T, v interface {
		Put(context.Context, string, map[string][]byte) (int, error)
	}, what string) {
		t.Helper()
		if _, err := v.Put(ctx, "secrets/approle", map[string][]byte{"k": []byte("v")}); err != nil {
			t.Fatalf("Put %s: %v", what, err)
		}
	}

	t.Run("a plain secret id logs in", func(t *testing.T) {
		v := newVault(t, appRoleConfig(t, c, c.AppRole(t, "plain", nil), c.SecretID(t, "plain")))
		put(t, v, "after an AppRole login")
		if v.Logins() != 1 {
			t.Errorf("logins %d, want 1", v.Logins())
		}
	})

	t.Run("a wrapped secret id is unwrapped once and kept for later logins", func(t *testing.T) {
		roleID := c.AppRole(t, "wrapped", nil)
		wrapped := c.WrappedSecretID(t, "wrapped")
		v := newVault(t, appRoleConfig(t, c, roleID, wrapped))
		put(t, v, "after a login with a wrapped secret id")
		if _, err := c.Root.Logical().Unwrap(wrapped); err == nil {
			t.Error("the wrapping token could be unwrapped a second time: the backend did not unwrap it")
		}
		// Vault no longer knows the token: the backend logs in again with the secret id it
		// unwrapped (the wrapping token in the file is used up).
		c.RevokeAppRoleTokens(t)
		put(t, v, "after its token was revoked")
		if v.Logins() != 2 {
			t.Errorf("logins %d, want 2", v.Logins())
		}
	})

	t.Run("operations that meet a revoked token together share one new login", func(t *testing.T) {
		v := newVault(t, appRoleConfig(t, c, c.AppRole(t, "shared", nil), c.SecretID(t, "shared")))
		put(t, v, "after the login")
		c.RevokeAppRoleTokens(t)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := v.Put(ctx, "secrets/approle", map[string][]byte{"k": []byte("v")}); err != nil {
					t.Errorf("a concurrent Put after the token was revoked: %v", err)
				}
			})
		}
		wg.Wait()
		if v.Logins() != 2 {
			t.Errorf("logins %d, want 2: one new login for all", v.Logins())
		}
	})

	t.Run("a secret id that no longer works makes the backend read the file again", func(t *testing.T) {
		roleID := c.AppRole(t, "rotated", nil)
		first := c.SecretID(t, "rotated")
		cfg := appRoleConfig(t, c, roleID, first)
		v := newVault(t, cfg)
		put(t, v, "with the first secret id")

		// The operator destroys the secret id in use and drops a new one, wrapped, in the
		// file; then the token dies.
		if _, err := c.Root.Logical().Write("auth/approle/role/rotated/secret-id/destroy", map[string]any{"secret_id": first}); err != nil {
			t.Fatal(err)
		}
		writeFile(t, cfg.SecretIDFile, c.WrappedSecretID(t, "rotated"))
		c.RevokeAppRoleTokens(t)
		put(t, v, "after the secret id was rotated")
		if v.Logins() != 2 {
			t.Errorf("logins %d, want 2", v.Logins())
		}
	})

	t.Run("after the token's max TTL the backend has logged in again by itself", func(t *testing.T) {
		const maxTTL = 4 * time.Second
		roleID := c.AppRole(t, "short", map[string]any{"token_ttl": "2s", "token_max_ttl": "4s"})
		start := time.Now()
		v := newVault(t, appRoleConfig(t, c, roleID, c.SecretID(t, "short")))
		put(t, v, "right after the login")
		// No operation in between: only the lifetime watcher can make this login, once
		// renewal cannot extend the token past its max TTL.
		if !waitFor(2*maxTTL, func() bool { return v.Logins() >= 2 }) {
			t.Fatalf("logins %d %s after the first: the backend did not log in again", v.Logins(), time.Since(start))
		}
		if d := time.Since(start); d > maxTTL+time.Second {
			t.Errorf("the second login came %s after the first, past the max TTL of %s", d, maxTTL)
		}
		time.Sleep(time.Until(start.Add(2*maxTTL + time.Second)))
		before := v.Logins()
		put(t, v, "twice the max TTL after the first login")
		if v.Logins() != before {
			t.Errorf("the Put needed a login of its own (%d, then %d): the token had expired", before, v.Logins())
		}
		t.Logf("%d logins in %s", v.Logins(), time.Since(start).Round(time.Millisecond))
	})
}
