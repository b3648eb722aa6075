package vaulttest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/secrets"
	"github.com/hashicorp/vault/api"
)

// testLog is the backend's log in tests: shown with -v, or on failure.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// tokenConfig is a backend configuration for c with a token file holding token.
func tokenConfig(t *testing.T, c *Cluster, token string) secrets.VaultConfig {
	cfg := secrets.VaultConfig{Addr: c.Addr, CACertFile: c.CACertFile, Log: testLog(t),
		TokenFile: filepath.Join(t.TempDir(), "token")}
	writeFile(t, cfg.TokenFile, token)
	return cfg
}

// appRoleConfig is a backend configuration for c that logs in with roleID and secretID
// (plain or wrapped) in a file.
func appRoleConfig(t *testing.T, c *Cluster, roleID, secretID string) secrets.VaultConfig {
	cfg := secrets.VaultConfig{Addr: c.Addr, CACertFile: c.CACertFile, Log: testLog(t),
		RoleID: roleID, SecretIDFile: filepath.Join(t.TempDir(), "secret-id")}
	writeFile(t, cfg.SecretIDFile, secretID)
	return cfg
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newVault(t *testing.T, cfg secrets.VaultConfig) *secrets.Vault {
	t.Helper()
	v, err := secrets.NewVault(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewVault: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

// TestBackendKV checks the KV v2 operations against Vault, and that what Gantry writes is
// what an operator reads with Vault's own client.
func TestBackendKV(t *testing.T) {
	t.Parallel()
	c := NewCluster(t)
	ctx := context.Background()
	v := newVault(t, tokenConfig(t, c, c.Token(t, nil)))
	kv := c.Root.KVv2(Mount)
	pem := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"

	t.Run("a put is stored at <mount>/data/gantry/<path> as plain strings", func(t *testing.T) {
		n, err := v.Put(ctx, "ssh-keys/alice", map[string][]byte{"private_key": []byte(pem)})
		if err != nil || n != 1 {
			t.Fatalf("Put = %d, %v; want version 1", n, err)
		}
		raw, err := c.Root.Logical().Read(Mount + "/data/gantry/ssh-keys/alice")
		if err != nil || raw == nil {
			t.Fatalf("raw read: %v", err)
		}
		data := raw.Data["data"].(map[string]any)
		if data["private_key"] != pem {
			t.Errorf("vault holds %#v, want the PEM as a string", data["private_key"])
		}
	})
	t.Run("a second put is version 2 and version 1 stays readable", func(t *testing.T) {
		n, err := v.Put(ctx, "ssh-keys/alice", map[string][]byte{"private_key": []byte("second")})
		if err != nil || n != 2 {
			t.Fatalf("Put = %d, %v; want version 2", n, err)
		}
		for version, want := range map[int]string{0: "second", 2: "second", 1: pem} {
			d, err := v.Get(ctx, "ssh-keys/alice", version)
			if err != nil || string(d["private_key"]) != want {
				t.Errorf("Get version %d = %q, %v; want %q", version, d["private_key"], err, want)
			}
		}
		if n, err := v.Current(ctx, "ssh-keys/alice"); err != nil || n != 2 {
			t.Errorf("Current = %d, %v; want 2", n, err)
		}
	})
	t.Run("values that are not UTF-8 come back as they were written", func(t *testing.T) {
		bin := []byte{0, 0xff, 0xfe, 'a'}
		if _, err := v.Put(ctx, "secrets/bin", map[string][]byte{"blob": bin, "text": []byte("ok")}); err != nil {
			t.Fatal(err)
		}
		d, err := v.Get(ctx, "secrets/bin", 0)
		if err != nil || !bytes.Equal(d["blob"], bin) || string(d["text"]) != "ok" || len(d) != 2 {
			t.Errorf("Get = %q, %v", d, err)
		}
	})
	t.Run("a destroyed version is gone and the others stay", func(t *testing.T) {
		if err := v.Destroy(ctx, "ssh-keys/alice", []int{1, 9}); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Get(ctx, "ssh-keys/alice", 1); !errors.Is(err, secrets.ErrNotFound) {
			t.Errorf("Get of the destroyed version: %v, want ErrNotFound", err)
		}
		if s, err := kv.GetVersion(ctx, "gantry/ssh-keys/alice", 1); err != nil || s.Data != nil || !s.VersionMetadata.Destroyed {
			t.Errorf("vault's version 1: %v, %v; want destroyed", s, err)
		}
		if d, err := v.Get(ctx, "ssh-keys/alice", 2); err != nil || string(d["private_key"]) != "second" {
			t.Errorf("Get version 2 = %q, %v", d, err)
		}
		if n, _ := v.Current(ctx, "ssh-keys/alice"); n != 2 {
			t.Errorf("Current = %d, want 2", n)
		}
	})
	t.Run("a delete removes every version and the metadata", func(t *testing.T) {
		if err := v.Delete(ctx, "ssh-keys/alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.GetMetadata(ctx, "gantry/ssh-keys/alice"); !errors.Is(err, api.ErrSecretNotFound) {
			t.Errorf("metadata after Delete: %v, want none", err)
		}
		for _, version := range []int{0, 2} {
			if _, err := v.Get(ctx, "ssh-keys/alice", version); !errors.Is(err, secrets.ErrNotFound) {
				t.Errorf("Get version %d: %v, want ErrNotFound", version, err)
			}
		}
		if n, err := v.Current(ctx, "ssh-keys/alice"); n != 0 || err != nil {
			t.Errorf("Current = %d, %v; want 0", n, err)
		}
		if err := v.Delete(ctx, "ssh-keys/alice"); err != nil {
			t.Errorf("a second Delete: %v", err)
		}
		if n, err := v.Put(ctx, "ssh-keys/alice", map[string][]byte{"private_key": []byte("new")}); err != nil || n != 1 {
			t.Errorf("Put after Delete = %d, %v; want version 1", n, err)
		}
	})
	t.Run("nothing ever written is not found and version 0", func(t *testing.T) {
		if _, err := v.Get(ctx, "secrets/never", 0); !errors.Is(err, secrets.ErrNotFound) {
			t.Errorf("Get: %v", err)
		}
		if n, err := v.Current(ctx, "secrets/never"); n != 0 || err != nil {
			t.Errorf("Current = %d, %v", n, err)
		}
	})
	t.Run("a path the policy refuses is unavailable, saying so, without a new login", func(t *testing.T) {
		cfg := tokenConfig(t, c, c.Token(t, nil))
		cfg.Prefix = "elsewhere/"
		w := newVault(t, cfg)
		_, err := w.Put(ctx, "x", map[string][]byte{"k": []byte("v")})
		if !errors.Is(err, secrets.ErrUnavailable) || !strings.Contains(err.Error(), "policy") {
			t.Errorf("Put outside the policy: %v", err)
		}
		if w.Logins() != 1 {
			t.Errorf("logins %d, want 1: a valid token refused by policy needs no new login", w.Logins())
		}
	})
}

// TestTokenFile checks token auth from a file, and that a token Vault no longer accepts
// makes the backend read the file again.
func TestTokenFile(t *testing.T) {
	t.Parallel()
	c := NewCluster(t)
	ctx := context.Background()
	first := c.Token(t, map[string]any{"ttl": "1h"})
	cfg := tokenConfig(t, c, first)
	v := newVault(t, cfg)
	if _, err := v.Put(ctx, "secrets/a", map[string][]byte{"k": []byte("1")}); err != nil {
		t.Fatalf("Put with the token of the file: %v", err)
	}

	if err := c.Root.Auth().Token().RevokeOrphan(first); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg.TokenFile, c.Token(t, map[string]any{"ttl": "1h"}))
	if _, err := v.Put(ctx, "secrets/a", map[string][]byte{"k": []byte("2")}); err != nil {
		t.Fatalf("Put after the token was revoked and the file replaced: %v", err)
	}
	if v.Logins() != 2 {
		t.Errorf("logins %d, want 2 (the file read again)", v.Logins())
	}

	// Revoked, and the file not replaced: unavailable, saying why, the token not shown.
	tok, _ := os.ReadFile(cfg.TokenFile)
	if err := c.Root.Auth().Token().RevokeOrphan(string(bytes.TrimSpace(tok))); err != nil {
		t.Fatal(err)
	}
	_, err := v.Get(ctx, "secrets/a", 0)
	if !errors.Is(err, secrets.ErrUnavailable) || bytes.Contains([]byte(err.Error()), bytes.TrimSpace(tok)) {
		t.Errorf("err = %v, want ErrUnavailable without the token", err)
	}
	t.Logf("with a revoked token: %v", err)
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}
