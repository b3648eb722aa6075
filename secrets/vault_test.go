package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Vault backend against a real Vault is tested in the module test/vault. These tests
// cover what needs no Vault: configuration, paths, the encoding of values, and the mapping
// of Vault's answers to errors, with a fake Vault on httptest.

func TestVaultConfigDefaultsAndChecks(t *testing.T) {
	tests := []struct {
		name    string
		cfg     VaultConfig
		wantErr string
		check   func(t *testing.T, c VaultConfig)
	}{
		{name: "a token file gets the default mount, prefix and timeout",
			cfg: VaultConfig{Addr: "https://v:8200", TokenFile: "/t"},
			check: func(t *testing.T, c VaultConfig) {
				if c.Mount != "secret" || c.Prefix != "gantry/" || c.AppRoleMount != "approle" || c.Timeout != 10*time.Second || c.Log == nil {
					t.Errorf("defaults: %+v", c)
				}
			}},
		{name: "slashes around the mount and prefix are dropped, the prefix ends with one",
			cfg: VaultConfig{Addr: "https://v:8200", TokenFile: "/t", Mount: "/kv/", Prefix: "/apps/gantry"},
			check: func(t *testing.T, c VaultConfig) {
				if c.Mount != "kv" || c.Prefix != "apps/gantry/" {
					t.Errorf("mount %q prefix %q", c.Mount, c.Prefix)
				}
			}},
		{name: "AppRole with a role id and a secret id file is accepted",
			cfg: VaultConfig{Addr: "https://v:8200", RoleID: "r", SecretIDFile: "/s"}},
		{name: "AppRole with a role id file is accepted",
			cfg: VaultConfig{Addr: "https://v:8200", RoleIDFile: "/r", SecretIDFile: "/s"}},
		{name: "an address is required", cfg: VaultConfig{TokenFile: "/t"}, wantErr: "address"},
		{name: "some credentials are required", cfg: VaultConfig{Addr: "https://v:8200"}, wantErr: "token file or AppRole"},
		{name: "a token file and AppRole are exclusive",
			cfg: VaultConfig{Addr: "https://v:8200", TokenFile: "/t", RoleID: "r", SecretIDFile: "/s"}, wantErr: "not both"},
		{name: "AppRole needs a secret id file", cfg: VaultConfig{Addr: "https://v:8200", RoleID: "r"}, wantErr: "secret id file"},
		{name: "AppRole needs a role id", cfg: VaultConfig{Addr: "https://v:8200", SecretIDFile: "/s"}, wantErr: "role id"},
		{name: "a role id and a role id file are exclusive",
			cfg: VaultConfig{Addr: "https://v:8200", RoleID: "r", RoleIDFile: "/r", SecretIDFile: "/s"}, wantErr: "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.cfg.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestVaultFullPath(t *testing.T) {
	v := &Vault{cfg: VaultConfig{Prefix: "gantry/"}}
	for _, tt := range []struct{ in, want string }{
		{"ssh-keys/alice", "gantry/ssh-keys/alice"},
		{"secrets/db-password", "gantry/secrets/db-password"},
		{"one", "gantry/one"},
		{"", ""}, {"/abs", ""}, {"trailing/", ""}, {"a//b", ""}, {"a/../b", ""}, {"./a", ""}, {"..", ""},
	} {
		t.Run("path "+tt.in, func(t *testing.T) {
			got, err := v.fullPath(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("%q gave %q, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("%q gave %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestVaultDataEncoding(t *testing.T) {
	in := map[string][]byte{"pem": []byte("-----BEGIN KEY-----\nabc\n"), "bin": {0xff, 0x00, 0xfe}, "empty": {}}
	m, err := encodeVaultData(in)
	if err != nil {
		t.Fatal(err)
	}
	if m["pem"] != "-----BEGIN KEY-----\nabc\n" {
		t.Errorf("a UTF-8 value is stored as %#v, want the string itself", m["pem"])
	}
	// Through JSON, as Vault stores and returns it.
	b, _ := json.Marshal(m)
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	out, err := decodeVaultData(back)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("keys %v, want those of %v", out, in)
	}
	for k, want := range in {
		if !bytes.Equal(out[k], want) {
			t.Errorf("key %s: %q, want %q", k, out[k], want)
		}
	}
	if _, err := encodeVaultData(map[string][]byte{vaultBase64Key: nil}); err == nil {
		t.Error("the reserved key was accepted")
	}
	out, _ = decodeVaultData(map[string]any{"n": json.Number("3"), "list": []any{"a"}})
	if string(out["n"]) != "3" || string(out["list"]) != `["a"]` {
		t.Errorf("values written by hand as JSON read as %q", out)
	}
}

// fakeVault answers like a Vault server, enough for the backend: token lookup, the mount
// check and KV v2 data, with switches for sealed, refused tokens and slowness.
type fakeVault struct {
	t  *testing.T
	mu sync.Mutex
	// valid tokens; a request with another gets 403.
	valid map[string]bool
	// sealed answers 503 "Vault is sealed" to everything.
	sealed bool
	// policyDenied answers 403 to KV requests of valid tokens.
	policyDenied bool
	// delay holds KV answers.
	delay    time.Duration
	kvCalls  int
	kvSecret map[string]any // the latest value written
	srv      *httptest.Server
}

func newFakeVault(t *testing.T, tokens ...string) *fakeVault {
	f := &fakeVault{t: t, valid: map[string]bool{}}
	for _, tok := range tokens {
		f.valid[tok] = true
	}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	sealed, valid, denied, delay := f.sealed, f.valid[r.Header.Get("X-Vault-Token")], f.policyDenied, f.delay
	f.mu.Unlock()
	reply := func(code int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	}
	switch {
	case sealed:
		reply(503, map[string]any{"errors": []string{"Vault is sealed"}})
	case !valid:
		reply(403, map[string]any{"errors": []string{"permission denied"}})
	case r.URL.Path == "/v1/auth/token/lookup-self":
		reply(200, map[string]any{"data": map[string]any{"ttl": 0, "renewable": false}})
	case r.URL.Path == "/v1/sys/internal/ui/mounts/secret":
		reply(200, map[string]any{"data": map[string]any{"type": "kv", "options": map[string]any{"version": "2"}}})
	case r.URL.Path == "/v1/sys/internal/ui/mounts/kv1":
		reply(200, map[string]any{"data": map[string]any{"type": "kv", "options": map[string]any{"version": "1"}}})
	case strings.HasPrefix(r.URL.Path, "/v1/secret/"):
		f.mu.Lock()
		f.kvCalls++
		f.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case denied:
			reply(403, map[string]any{"errors": []string{"1 error occurred:\n\t* permission denied\n\n"}})
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/secret/data/gantry/there"):
			reply(200, map[string]any{"data": map[string]any{"data": map[string]any{"k": "v"}, "metadata": map[string]any{"version": 1}}})
		case r.Method == http.MethodGet:
			reply(404, map[string]any{"errors": []string{}})
		case r.Method == http.MethodDelete:
			w.WriteHeader(204)
		default:
			var body struct{ Data map[string]any }
			_ = json.NewDecoder(r.Body).Decode(&body)
			f.mu.Lock()
			f.kvSecret = body.Data
			f.mu.Unlock()
			reply(200, map[string]any{"data": map[string]any{"version": 7}})
		}
	default:
		reply(404, map[string]any{"errors": []string{"no handler for route " + r.URL.Path}})
	}
}

func (f *fakeVault) set(fn func(*fakeVault)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// config is a VaultConfig for f, with its CA and a token file holding token.
func (f *fakeVault) config(t *testing.T, token string) VaultConfig {
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	cfg := VaultConfig{Addr: f.srv.URL, CACertFile: filepath.Join(dir, "ca.pem"), TokenFile: filepath.Join(dir, "token")}
	if err := os.WriteFile(cfg.CACertFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.TokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestVaultAgainstAFakeVault(t *testing.T) {
	ctx := context.Background()
	f := newFakeVault(t, "tok-1")
	v, err := NewVault(ctx, f.config(t, "tok-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	t.Run("a write sends plain strings and returns Vault's version", func(t *testing.T) {
		n, err := v.Put(ctx, "secrets/db", map[string][]byte{"password": []byte("hunter2")})
		if err != nil || n != 7 {
			t.Fatalf("Put = %d, %v", n, err)
		}
		if f.kvSecret["password"] != "hunter2" {
			t.Errorf("Vault received %v", f.kvSecret)
		}
	})
	t.Run("a 404 is not found, no metadata is version 0, deleting nothing succeeds", func(t *testing.T) {
		if _, err := v.Get(ctx, "secrets/missing", 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get: %v", err)
		}
		if n, err := v.Current(ctx, "secrets/missing"); n != 0 || err != nil {
			t.Errorf("Current = %d, %v", n, err)
		}
		if err := v.Delete(ctx, "secrets/missing"); err != nil {
			t.Errorf("Delete: %v", err)
		}
		if d, err := v.Get(ctx, "there", 1); err != nil || string(d["k"]) != "v" {
			t.Errorf("Get of a value = %q, %v", d, err)
		}
	})
	t.Run("a sealed Vault makes every operation unavailable, saying so", func(t *testing.T) {
		f.set(func(f *fakeVault) { f.sealed = true })
		defer f.set(func(f *fakeVault) { f.sealed = false })
		for _, err := range allVaultOps(ctx, v) {
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "is sealed") {
				t.Errorf("err = %v, want ErrUnavailable saying sealed", err)
			}
			if strings.Contains(err.Error(), "tok-1") {
				t.Errorf("the error shows the token: %v", err)
			}
		}
	})
	t.Run("a token Vault refuses makes the backend read the token file again and retry", func(t *testing.T) {
		if err := os.WriteFile(v.cfg.TokenFile, []byte("tok-2"), 0o600); err != nil {
			t.Fatal(err)
		}
		f.set(func(f *fakeVault) { f.valid = map[string]bool{"tok-2": true} })
		before := v.Logins()
		if _, err := v.Put(ctx, "secrets/db", map[string][]byte{"password": []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if v.Logins() != before+1 {
			t.Errorf("logins %d, want %d", v.Logins(), before+1)
		}
	})
	t.Run("a refusal of a valid token is the policy's: no new login, an error that says so", func(t *testing.T) {
		f.set(func(f *fakeVault) { f.policyDenied = true })
		defer f.set(func(f *fakeVault) { f.policyDenied = false })
		before := v.Logins()
		_, err := v.Get(ctx, "secrets/db", 0)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "policy does not allow it") ||
			!strings.Contains(err.Error(), "(permission denied)") {
			t.Errorf("err = %v", err)
		}
		if v.Logins() != before {
			t.Errorf("logged in again for a policy refusal")
		}
	})
	t.Run("the caller's deadline is its own error, not unavailability", func(t *testing.T) {
		f.set(func(f *fakeVault) { f.delay = time.Second })
		defer f.set(func(f *fakeVault) { f.delay = 0 })
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := v.Get(cctx, "secrets/db", 0)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
			t.Errorf("with the caller's deadline: %v", err)
		}
	})
	t.Run("a Vault that is gone is unavailable", func(t *testing.T) {
		f.srv.Close()
		for _, err := range allVaultOps(ctx, v) {
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "cannot reach vault") {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
		}
	})
}

func TestVaultTimeout(t *testing.T) {
	f := newFakeVault(t, "tok")
	f.delay = 2 * time.Second
	cfg := f.config(t, "tok")
	cfg.Timeout = 200 * time.Millisecond
	v, err := NewVault(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	start := time.Now()
	_, err = v.Get(context.Background(), "secrets/db", 0)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "did not answer within 200ms") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s", d)
	}
}

func TestNewVaultFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("a sealed Vault is unavailable at start", func(t *testing.T) {
		f := newFakeVault(t, "tok")
		f.sealed = true
		_, err := NewVault(ctx, f.config(t, "tok"))
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "is sealed") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a token Vault refuses is unavailable, and not shown", func(t *testing.T) {
		f := newFakeVault(t, "tok")
		_, err := NewVault(ctx, f.config(t, "wrong-token"))
		if !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "wrong-token") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a server whose certificate the CA file does not sign is unavailable", func(t *testing.T) {
		f := newFakeVault(t, "tok")
		cfg := f.config(t, "tok")
		cfg.CACertFile = ""
		_, err := NewVault(ctx, cfg)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a mount that is not KV version 2 is refused", func(t *testing.T) {
		f := newFakeVault(t, "tok")
		cfg := f.config(t, "tok")
		cfg.Mount = "kv1"
		_, err := NewVault(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "Gantry needs KV version 2") {
			t.Errorf("err = %v", err)
		}
	})
}

// allVaultOps runs every operation of the backend once and returns their errors.
func allVaultOps(ctx context.Context, v *Vault) []error {
	_, e1 := v.Put(ctx, "secrets/db", map[string][]byte{"k": []byte("v")})
	_, e2 := v.Get(ctx, "secrets/db", 0)
	_, e3 := v.Current(ctx, "secrets/db")
	e4 := v.Destroy(ctx, "secrets/db", []int{1})
	e5 := v.Delete(ctx, "secrets/db")
	return []error{e1, e2, e3, e4, e5}
}
