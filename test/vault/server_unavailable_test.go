package vaulttest

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestServerLogsInAgainAfterMaxTTL runs the server with an AppRole whose tokens live 2s,
// renewable up to 4s, and a response-wrapped secret id (which can be unwrapped only once):
// past the max TTL the server has logged in again by itself, with the secret id it
// unwrapped at start, and a write still succeeds without needing a login of its own.
func TestServerLogsInAgainAfterMaxTTL(t *testing.T) {
	needGantry(t)
	t.Parallel()
	const maxTTL = 4 * time.Second
	c := NewCluster(t)
	creds := appRoleCreds(t, c, "short", map[string]any{"token_ttl": "2s", "token_max_ttl": "4s"}, true)
	g := startGantry(t, c, creds)
	start := time.Now()
	g.must(t, "POST", "/v1/secrets", `{"secret":{"name":"before","data":{"k":"v"}}}`, 201)

	time.Sleep(time.Until(start.Add(maxTTL + 2*time.Second)))
	logins := strings.Count(g.logText(), `msg="vault login"`)
	if logins < 2 {
		t.Errorf("%d vault logins in %s: the server did not log in again when its token reached its max TTL", logins, time.Since(start).Round(time.Millisecond))
	}
	rec := decode[struct{ Secret secretInfo }](t,
		g.must(t, "POST", "/v1/secrets", `{"secret":{"name":"after","data":{"k":"v"}}}`, 201)).Secret
	if rec.Version != 1 {
		t.Errorf("the secret written past the max TTL: %+v", rec)
	}
	if n := vaultCurrent(t, c, "secrets/after"); n != 1 {
		t.Errorf("vault's current_version of secrets/after is %d, want 1", n)
	}
	if log := g.logText(); strings.Contains(log, "vault refused the token") {
		t.Error("a write met an expired token: the server logged in again only when Vault refused it")
	}
	t.Logf("%d vault logins in %s", strings.Count(g.logText(), `msg="vault login"`), time.Since(start).Round(time.Millisecond))
}

// TestServerVaultSealed seals Vault under a running server: writes of a secret and of an
// SSH key answer 503 with Retry-After, and leave nothing half-written (no record shown, no
// value in Vault, the old key in place); once Vault is unsealed the same writes succeed,
// as if the failed ones never happened.
func TestServerVaultSealed(t *testing.T) {
	needGantry(t)
	t.Parallel()
	c := NewCluster(t)
	g := startGantry(t, c, appRoleCreds(t, c, "gantry", nil, false))
	ctx := context.Background()
	old, _ := createSSHKey(t, g, "admin")
	oldPEM := vaultPrivateKey(t, c, "admin", 0)
	g.must(t, "POST", "/v1/secrets", `{"secret":{"name":"kept","data":{"k":"v1"}}}`, 201)
	value := "sealed-" + rand.Text()
	create := `{"secret":{"name":"fresh","data":{"password":"` + value + `"}}}`

	c.Seal(t)
	t.Run("sealed, writes of a secret and of an SSH key answer 503 with Retry-After", func(t *testing.T) {
		g.unavailable(t, "POST", "/v1/secrets", create)
		g.unavailable(t, "PUT", "/v1/secrets/kept", `{"secret":{"data":{"k":"v2"}}}`)
		g.unavailable(t, "POST", "/v1/users/admin/ssh-key", "")
		g.unavailable(t, "POST", "/v1/users/bob/ssh-key", "")
		if log := g.logText(); !strings.Contains(log, "is sealed") {
			t.Errorf("the server log does not say Vault is sealed:\n%s", log)
		}
	})
	t.Run("sealed, nothing is half-written: the new secret does not exist and the old key is in place", func(t *testing.T) {
		g.must(t, "GET", "/v1/secrets/fresh", "", 404)
		g.must(t, "GET", "/v1/users/bob/ssh-key", "", 404)
		if names := secretNames(t, g); !slices.Equal(names, []string{"kept"}) {
			t.Errorf("the list of secrets shows %v, want [kept]", names)
		}
		kept := decode[struct{ Secret secretInfo }](t, g.must(t, "GET", "/v1/secrets/kept", "", 200)).Secret
		if kept.Version != 1 || !slices.Equal(kept.Versions, []int{1}) {
			t.Errorf("kept after a failed update: %+v; want version 1 only", kept)
		}
		info := decode[sshKeyInfo](t, g.must(t, "GET", "/v1/users/admin/ssh-key", "", 200)).SSHKey
		if info.Fingerprint != old.Fingerprint || info.Version != 1 || !slices.Equal(info.Versions, []int{1}) {
			t.Errorf("the key after a failed rotation: %+v; want version 1, fingerprint %s", info, old.Fingerprint)
		}
	})

	c.Unseal(t)
	t.Run("unsealed, vault holds nothing of the failed writes", func(t *testing.T) {
		for rel, want := range map[string]int{"secrets/fresh": 0, "ssh-keys/bob": 0, "secrets/kept": 1, "ssh-keys/admin": 1} {
			if n := vaultCurrent(t, c, rel); n != want {
				t.Errorf("vault's current_version of %s is %d, want %d", rel, n, want)
			}
		}
		if pem := vaultPrivateKey(t, c, "admin", 0); pem != oldPEM {
			t.Error("admin's private key in vault is no longer the old one")
		}
	})
	t.Run("unsealed, the same writes succeed as if the failed ones never happened", func(t *testing.T) {
		rec := decode[struct{ Secret secretInfo }](t, g.must(t, "POST", "/v1/secrets", create, 201)).Secret
		if rec.Version != 1 || !slices.Equal(rec.Versions, []int{1}) {
			t.Errorf("the secret created after the unseal: %+v; want version 1", rec)
		}
		s, err := c.Root.KVv2(Mount).Get(ctx, "gantry/secrets/fresh")
		if err != nil || s.Data["password"] != value || s.VersionMetadata.Version != 1 {
			t.Errorf("vault's gantry/secrets/fresh after the unseal: %v", err)
		}
		kept := decode[struct{ Secret secretInfo }](t, g.must(t, "PUT", "/v1/secrets/kept", `{"secret":{"data":{"k":"v2"}}}`, 200)).Secret
		if kept.Version != 2 || !slices.Equal(kept.Versions, []int{1, 2}) {
			t.Errorf("kept updated after the unseal: %+v; want version 2 of [1 2]", kept)
		}
		rotated, _ := createSSHKey(t, g, "admin")
		info := decode[sshKeyInfo](t, g.must(t, "GET", "/v1/users/admin/ssh-key", "", 200)).SSHKey
		if info.Fingerprint != rotated.Fingerprint || info.Version != 2 || !slices.Equal(info.Versions, []int{1, 2}) {
			t.Errorf("the key rotated after the unseal: %+v; want version 2 of [1 2], fingerprint %s", info, rotated.Fingerprint)
		}
		signerOf(t, vaultPrivateKey(t, c, "admin", 2), rotated)
		if v1 := vaultPrivateKey(t, c, "admin", 1); v1 != oldPEM {
			t.Error("version 1 of admin's key is not the old private key")
		}
		createSSHKey(t, g, "bob")
		if n := vaultCurrent(t, c, "ssh-keys/bob"); n != 1 {
			t.Errorf("vault's current_version of ssh-keys/bob is %d, want 1", n)
		}
	})
	t.Run("no answer or log holds the value", func(t *testing.T) {
		g.stop(t)
		for _, leak := range g.leaks(t, map[string]string{"the secret's value": value}) {
			t.Error(leak)
		}
	})
}

// TestServerVaultStopped stops Vault under a running server: writes answer 503 with
// Retry-After, and leave nothing behind; the server still shuts down cleanly.
func TestServerVaultStopped(t *testing.T) {
	needGantry(t)
	t.Parallel()
	c := NewCluster(t)
	g := startGantry(t, c, tokenCreds(t, c))
	g.must(t, "POST", "/v1/secrets", `{"secret":{"name":"before","data":{"k":"v"}}}`, 201)
	createSSHKey(t, g, "admin")
	old := decode[sshKeyInfo](t, g.must(t, "GET", "/v1/users/admin/ssh-key", "", 200)).SSHKey

	c.Stop()
	g.unavailable(t, "POST", "/v1/secrets", `{"secret":{"name":"after","data":{"k":"v"}}}`)
	g.unavailable(t, "POST", "/v1/users/admin/ssh-key", "")
	if log := g.logText(); !strings.Contains(log, "cannot reach vault") {
		t.Errorf("the server log does not say Vault cannot be reached:\n%s", log)
	}
	g.must(t, "GET", "/v1/secrets/after", "", 404)
	if names := secretNames(t, g); !slices.Equal(names, []string{"before"}) {
		t.Errorf("the list of secrets shows %v, want [before]", names)
	}
	info := decode[sshKeyInfo](t, g.must(t, "GET", "/v1/users/admin/ssh-key", "", 200)).SSHKey
	if info.Fingerprint != old.Fingerprint || info.Version != 1 {
		t.Errorf("the key after a failed rotation: %+v; want %+v", info, old)
	}
}
