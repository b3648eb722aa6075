package vaulttest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/secrets"
)

// TestSealedAndStopped checks that a sealed or stopped Vault makes every operation fail
// promptly with ErrUnavailable, and that an unsealed Vault serves again.
func TestSealedAndStopped(t *testing.T) {
	t.Parallel()
	c := NewCluster(t)
	ctx := context.Background()
	roleID := c.AppRole(t, "gantry", nil)
	v := newVault(t, appRoleConfig(t, c, roleID, c.SecretID(t, "gantry")))
	if _, err := v.Put(ctx, "secrets/db", map[string][]byte{"password": []byte("before")}); err != nil {
		t.Fatal(err)
	}

	allFail := func(t *testing.T, want string) {
		t.Helper()
		start := time.Now()
		for name, err := range allOps(ctx, v) {
			if !errors.Is(err, secrets.ErrUnavailable) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v; want ErrUnavailable saying %q", name, err, want)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the five operations took %s to fail", d)
		}
	}

	t.Run("sealed, every operation is unavailable, and so is a new login", func(t *testing.T) {
		secretID := c.SecretID(t, "gantry")
		c.Seal(t)
		allFail(t, "is sealed")
		_, err := secrets.NewVault(ctx, appRoleConfig(t, c, roleID, secretID))
		if !errors.Is(err, secrets.ErrUnavailable) || !strings.Contains(err.Error(), "is sealed") {
			t.Errorf("NewVault on a sealed Vault: %v", err)
		}
		t.Logf("NewVault on a sealed Vault: %v", err)
	})
	t.Run("unsealed, it serves again", func(t *testing.T) {
		c.Unseal(t)
		if _, err := v.Put(ctx, "secrets/db", map[string][]byte{"password": []byte("after")}); err != nil {
			t.Fatalf("Put after unseal: %v", err)
		}
		if d, err := v.Get(ctx, "secrets/db", 1); err != nil || string(d["password"]) != "before" {
			t.Errorf("Get version 1 after unseal = %q, %v", d, err)
		}
	})
	t.Run("stopped, every operation is unavailable", func(t *testing.T) {
		c.Stop()
		allFail(t, "cannot reach vault")
	})
}

// allOps runs every operation of the backend once.
func allOps(ctx context.Context, v *secrets.Vault) map[string]error {
	_, put := v.Put(ctx, "secrets/db", map[string][]byte{"k": []byte("v")})
	_, get := v.Get(ctx, "secrets/db", 0)
	_, cur := v.Current(ctx, "secrets/db")
	return map[string]error{
		"Put": put, "Get": get, "Current": cur,
		"Destroy": v.Destroy(ctx, "secrets/db", []int{1}),
		"Delete":  v.Delete(ctx, "secrets/db"),
	}
}
