// Package vaulttest tests Gantry against a real HashiCorp Vault: Vault's own in-process
// test cluster (github.com/hashicorp/vault/vault), serving TLS under a CA of its own, with
// KV version 2 at secret/ and AppRole at approle/. It is a module of its own
// (test/vault/go.mod) so that the main module never depends on Vault's server; run it with
// `make test-vault`.
//
// Cluster is the fixture for every test of the module: start one with NewCluster, give
// Gantry its Addr, CACertFile and credentials (a token file, or an AppRole role id and a
// secret id file), and seal, unseal or stop it to see what Gantry does. The backend tests
// drive secrets.Vault directly; the server tests (server_test.go) run the whole `gantry
// server`, built by TestMain, against a cluster, and need a Docker daemon as the server does.
package vaulttest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/builtin/credential/approle"
	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/vault"
)

// Mount is where the cluster's KV version 2 engine is mounted.
const Mount = "secret"

// GantryPolicy is the policy that NewCluster writes for Gantry: the KV v2 paths under
// secret/*/gantry/, nothing else (the default policy adds token lookup and renewal).
const GantryPolicy = "gantry"

const gantryPolicyHCL = `
path "secret/data/gantry/*"     { capabilities = ["create", "read", "update", "delete"] }
path "secret/metadata/gantry/*" { capabilities = ["read", "delete", "list"] }
path "secret/destroy/gantry/*"  { capabilities = ["update"] }
path "secret/delete/gantry/*"   { capabilities = ["update"] }
`

// Cluster is a Vault of one core on a loopback port.
type Cluster struct {
	// Addr is Vault's https address.
	Addr string
	// CACertFile is the PEM file of the CA that signed Vault's certificate.
	CACertFile string
	// RootToken is the root token; Root is a client that uses it.
	RootToken string
	Root      *api.Client

	tc   *vault.TestCluster
	dir  string
	stop sync.Once
}

// NewCluster starts a Vault, unsealed, with KV v2 at secret/, AppRole at approle/ and the
// policy GantryPolicy. It is stopped when the test ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	start := time.Now()
	level := hclog.Error
	if os.Getenv("VAULT_TEST_LOG") != "" {
		level = hclog.Trace
	}
	tc := vault.NewTestCluster(t, &vault.CoreConfig{
		CredentialBackends: map[string]logical.Factory{"approle": approle.Factory},
	}, &vault.TestClusterOptions{
		HandlerFunc: vaulthttp.Handler,
		NumCores:    1,
		Logger:      hclog.New(&hclog.LoggerOptions{Name: "vault", Level: level, Output: os.Stderr}),
	})
	c := &Cluster{tc: tc, CACertFile: tc.CACertPEMFile, RootToken: tc.RootToken, Root: tc.Cores[0].Client, dir: t.TempDir()}
	c.Addr = c.Root.Address()
	t.Cleanup(c.Stop)

	sys := c.Root.Sys()
	// The test cluster mounts KV version 1 at secret/; Gantry needs version 2.
	if err := sys.Unmount(Mount); err != nil {
		t.Fatalf("unmount %s: %v", Mount, err)
	}
	if err := sys.Mount(Mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount %s as KV v2: %v", Mount, err)
	}
	if err := sys.EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatalf("enable approle: %v", err)
	}
	if err := sys.PutPolicy(GantryPolicy, gantryPolicyHCL); err != nil {
		t.Fatalf("policy: %v", err)
	}
	t.Logf("vault at %s started in %s", c.Addr, time.Since(start).Round(time.Millisecond))
	return c
}

// Stop stops Vault as if its process ended: the listener and every open connection close,
// then the core shuts down. Stopping twice is stopping once.
func (c *Cluster) Stop() {
	c.stop.Do(func() {
		for _, core := range c.tc.Cores {
			if core.Server != nil {
				_ = core.Server.Close()
			}
		}
		c.tc.Cleanup()
	})
}

// Seal seals Vault: every request but a few of sys/ gets 503 "Vault is sealed".
func (c *Cluster) Seal(t testing.TB) {
	t.Helper()
	c.tc.Cores[0].Seal(t)
	if !c.tc.Cores[0].Sealed() {
		t.Fatal("vault is not sealed")
	}
}

// Unseal unseals Vault with its keys and waits until it serves again.
func (c *Cluster) Unseal(t testing.TB) {
	t.Helper()
	c.tc.UnsealCore(t, c.tc.Cores[0])
	vault.TestWaitActive(t, c.tc.Cores[0].Core)
}

// AppRole creates (or updates) the AppRole role name with GantryPolicy and the given role
// parameters (token_ttl, token_max_ttl, ...), and returns its role id.
func (c *Cluster) AppRole(t testing.TB, name string, params map[string]any) string {
	t.Helper()
	body := map[string]any{"token_policies": GantryPolicy}
	for k, v := range params {
		body[k] = v
	}
	if _, err := c.Root.Logical().Write("auth/approle/role/"+name, body); err != nil {
		t.Fatalf("approle role %s: %v", name, err)
	}
	s, err := c.Root.Logical().Read("auth/approle/role/" + name + "/role-id")
	if err != nil || s == nil {
		t.Fatalf("role id of %s: %v", name, err)
	}
	return s.Data["role_id"].(string)
}

// SecretID makes a secret id of role name.
func (c *Cluster) SecretID(t testing.TB, name string) string {
	t.Helper()
	s, err := c.Root.Logical().Write("auth/approle/role/"+name+"/secret-id", nil)
	if err != nil || s == nil {
		t.Fatalf("secret id of %s: %v", name, err)
	}
	return s.Data["secret_id"].(string)
}

// WrappedSecretID makes a secret id of role name, response-wrapped: what it returns is the
// wrapping token (valid for 5 minutes, unwrapped once), as `vault write -wrap-ttl=5m -f
// auth/approle/role/NAME/secret-id` prints.
func (c *Cluster) WrappedSecretID(t testing.TB, name string) string {
	t.Helper()
	w, err := c.Root.Clone()
	if err != nil {
		t.Fatal(err)
	}
	w.SetToken(c.RootToken)
	w.SetWrappingLookupFunc(func(string, string) string { return "5m" })
	s, err := w.Logical().Write("auth/approle/role/"+name+"/secret-id", nil)
	if err != nil || s == nil || s.WrapInfo == nil {
		t.Fatalf("wrapped secret id of %s: %v", name, err)
	}
	return s.WrapInfo.Token
}

// Token creates a token with GantryPolicy and the given parameters of auth/token/create
// (ttl, renewable, period, ...).
func (c *Cluster) Token(t testing.TB, params map[string]any) string {
	t.Helper()
	body := map[string]any{"policies": []string{GantryPolicy}}
	for k, v := range params {
		body[k] = v
	}
	s, err := c.Root.Logical().Write("auth/token/create", body)
	if err != nil || s == nil || s.Auth == nil {
		t.Fatalf("create token: %v", err)
	}
	return s.Auth.ClientToken
}

// RevokeAppRoleTokens revokes every token that a login with AppRole gave.
func (c *Cluster) RevokeAppRoleTokens(t testing.TB) {
	t.Helper()
	if err := c.Root.Sys().RevokePrefix("auth/approle/login"); err != nil {
		t.Fatalf("revoke approle tokens: %v", err)
	}
}

// WriteFile writes content to a file of the cluster's directory and returns its path.
func (c *Cluster) WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
