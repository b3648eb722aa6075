package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
)

// secretsConfig is where secret values are kept: HashiCorp Vault when vaultAddr is set,
// else the embedded backend (sealed values in the store, under a key file).
type secretsConfig struct {
	keyFile   string // --secret-key-file; "" : <data-dir>/secret.key, created on first start
	rotateKey string // --rotate-secret-key NEWFILE: re-seal every value under it, then exit
	filesDir  string // --secrets-dir: the tmpfs where containers' secret files are written

	vaultAddr, vaultMount, vaultPrefix, vaultCACert, vaultNamespace string
	vaultTokenFile, vaultRoleID, vaultSecretIDFile                  string
}

func (c *secretsConfig) flags(f *pflag.FlagSet) {
	f.StringVar(&c.keyFile, "secret-key-file", "", "key file of the embedded secret store (no Vault): base64 of 32 bytes, mode 0600; every node of a shared store needs the same one (default <data-dir>/secret.key, created on first start)")
	f.StringVar(&c.rotateKey, "rotate-secret-key", "", "re-seal every secret of the embedded store under the key in this file (created if missing), then exit; every node stopped first (refused while one of a shared store lives), and started again with --secret-key-file set to it")
	f.StringVar(&c.filesDir, "secrets-dir", "", "tmpfs directory under which the secret files of function containers are written and bind-mounted from, one directory per node (default /dev/shm/gantry-secrets)")
	f.StringVar(&c.vaultAddr, "vault-addr", "", "keep secrets in HashiCorp Vault at this address (KV v2) instead of the embedded store")
	f.StringVar(&c.vaultMount, "vault-mount", "secret", "mount path of Vault's KV v2 secrets engine")
	f.StringVar(&c.vaultPrefix, "vault-prefix", "gantry/", "path prefix of Gantry's secrets in the Vault mount")
	f.StringVar(&c.vaultCACert, "vault-ca-cert", "", "PEM CA certificate to verify Vault's TLS certificate with")
	f.StringVar(&c.vaultNamespace, "vault-namespace", "", "Vault namespace (Vault Enterprise)")
	f.StringVar(&c.vaultTokenFile, "vault-token-file", "", "file holding a Vault token (re-read when the token can no longer be renewed)")
	f.StringVar(&c.vaultRoleID, "vault-role-id", "", "AppRole role ID to log in to Vault with (with --vault-secret-id-file)")
	f.StringVar(&c.vaultSecretIDFile, "vault-secret-id-file", "", "file holding the AppRole secret ID, plain or response-wrapped")
}

// containerDir is the directory of the secret files of node's containers: one per node
// under --secrets-dir, so that nodes on one host never clear each other's ("": the runner's
// default, /dev/shm/gantry-secrets/<node>).
func (c secretsConfig) containerDir(node string) string {
	if c.filesDir == "" {
		return ""
	}
	return filepath.Join(c.filesDir, filepath.Base(runner.DefaultSecretsDir(node))) // the node's name, made a safe segment
}

// secretStore is what the secret service and a key rotation need of the store.
type secretStore interface {
	secrets.Store
	secrets.Values
}

// openSecrets builds the secret service on the configured backend. The returned function
// stops it (and logs out of nothing: Vault tokens simply expire).
func openSecrets(ctx context.Context, cfg secretsConfig, dataDir string, st secretStore, log *slog.Logger) (*secrets.Service, func(), error) {
	backend, closeBackend, err := openSecretBackend(ctx, cfg, dataDir, st, log)
	if err != nil {
		return nil, nil, err
	}
	svc := secrets.New(st, backend, secrets.Options{Log: log})
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(runCtx) }()
	return svc, func() {
		cancel()
		<-done
		svc.Close()
		closeBackend()
	}, nil
}

func openSecretBackend(ctx context.Context, cfg secretsConfig, dataDir string, st secretStore, log *slog.Logger) (secrets.Backend, func(), error) {
	if cfg.vaultAddr != "" {
		return openVault(ctx, cfg, log)
	}
	key, err := loadSecretKey(cfg, dataDir)
	if err != nil {
		return nil, nil, err
	}
	e, err := secrets.OpenEmbedded(ctx, st, key)
	if err != nil {
		return nil, nil, fmt.Errorf("secret key file %s: %w", keyPath(cfg, dataDir), err)
	}
	log.Info("secrets are kept in the store, sealed with the key file (use --vault-addr for production)", "key_file", keyPath(cfg, dataDir))
	return e, func() {}, nil
}

func keyPath(cfg secretsConfig, dataDir string) string {
	if cfg.keyFile != "" {
		return cfg.keyFile
	}
	return filepath.Join(dataDir, "secret.key")
}

// loadSecretKey reads the key file; only the default one is created when missing: a key
// file named by a flag is one the operator made, and a typo must not make a new key.
func loadSecretKey(cfg secretsConfig, dataDir string) ([]byte, error) {
	return secrets.LoadKey(keyPath(cfg, dataDir), cfg.keyFile == "")
}

// rotationStore is what a key rotation needs of the store.
type rotationStore interface {
	secrets.Values
	ListNodes(ctx context.Context, since time.Time) ([]store.NodeInfo, error)
}

// rotateWhenSilentFor is how long every node of a shared store must have been silent
// before the key is rotated: a node heartbeats every store.DefaultLeaseRenew, so one silent
// that long (six beats) has stopped.
const rotateWhenSilentFor = 2 * store.DefaultLease

// rotateSecretKey re-seals every value of the embedded store under the key of
// cfg.rotateKey (made when missing) and reports what the operator does next. On a shared
// store it refuses while any node lives (this process is none: it does not heartbeat): a
// node keeps the old key in memory, so its reads would fail, and what it wrote would be
// sealed with the old key, lost at its next start. A bolt store needs no such check: its
// file is locked by the server that uses it, so none does now.
func rotateSecretKey(ctx context.Context, cfg secretsConfig, dataDir string, st rotationStore, shared bool, log *slog.Logger) error {
	if cfg.vaultAddr != "" {
		return errors.New("--rotate-secret-key rotates the key of the embedded secret store; with --vault-addr, Vault seals the secrets")
	}
	if shared {
		if err := noLiveNodes(ctx, st, time.Now()); err != nil {
			return err
		}
	}
	oldKey, err := secrets.LoadKey(keyPath(cfg, dataDir), false)
	if err != nil {
		return err
	}
	newKey, err := secrets.LoadKey(cfg.rotateKey, true)
	if err != nil {
		return err
	}
	n, err := secrets.RotateKey(ctx, st, oldKey, newKey)
	if err != nil {
		return fmt.Errorf("rotate the secret key: %w", err)
	}
	log.Info("secret key rotated: every value is sealed with the new key", "values", n, "new_key_file", cfg.rotateKey)
	fmt.Fprintf(os.Stderr, "rotated %d secret values; start every node with --secret-key-file %s (the old key no longer opens them)\n", n, cfg.rotateKey)
	return nil
}

// noLiveNodes fails when a node of the store sent a heartbeat within rotateWhenSilentFor
// of now, naming each one and how long ago it was seen.
func noLiveNodes(ctx context.Context, st rotationStore, now time.Time) error {
	live, err := st.ListNodes(ctx, now.Add(-rotateWhenSilentFor))
	if err != nil {
		return fmt.Errorf("list the nodes of the store: %w", err)
	}
	if len(live) == 0 {
		return nil
	}
	seen := make([]string, len(live))
	for i, n := range live {
		seen[i] = fmt.Sprintf("node %s was seen %ds ago", n.ID, int(max(now.Sub(n.Heartbeat), 0).Round(time.Second)/time.Second))
	}
	return fmt.Errorf("--rotate-secret-key: stop every node first: %s (a node silent for %s is taken for stopped)", strings.Join(seen, ", "), rotateWhenSilentFor)
}

// openVault logs in to Vault; its token is watched and renewed, and renewed by a new login
// when it can no longer be.
func openVault(ctx context.Context, cfg secretsConfig, log *slog.Logger) (secrets.Backend, func(), error) {
	v, err := secrets.NewVault(ctx, secrets.VaultConfig{
		Addr: cfg.vaultAddr, Mount: cfg.vaultMount, Prefix: cfg.vaultPrefix, CACertFile: cfg.vaultCACert,
		Namespace: cfg.vaultNamespace, TokenFile: cfg.vaultTokenFile, RoleID: cfg.vaultRoleID,
		SecretIDFile: cfg.vaultSecretIDFile, Log: log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("vault: %w", err)
	}
	log.Info("secrets are kept in HashiCorp Vault", "addr", cfg.vaultAddr, "mount", cfg.vaultMount, "prefix", cfg.vaultPrefix)
	return v, v.Close, nil
}

var _ secretStore = store.Store(nil)
