package secrets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"
)

// VaultConfig configures the HashiCorp Vault backend. Authentication is either a token
// read from TokenFile or AppRole (RoleID or RoleIDFile, with SecretIDFile). Gantry sets the
// address, CA, namespace, timeout and retries itself: Vault's VAULT_* environment variables
// do not override them.
type VaultConfig struct {
	// Addr is Vault's address, e.g. "https://vault.example:8200". Required.
	Addr string
	// Mount is the path of the KV version 2 secrets engine (default "secret").
	Mount string
	// Prefix is put before every path the backend is given (default "gantry/"): the value
	// of "ssh-keys/alice" is at <Mount>/data/gantry/ssh-keys/alice.
	Prefix string
	// CACertFile is a PEM file of the CA(s) that Vault's certificate must chain to; empty:
	// the system's roots. Certificates are always verified.
	CACertFile string
	// Namespace is the Vault Enterprise namespace of every request; empty: none.
	Namespace string
	// TokenFile holds a Vault token. It is read again whenever the token stops working
	// (renewal ends, or Vault refuses it), so that a tool may replace it.
	TokenFile string
	// RoleID, or RoleIDFile holding it, is the AppRole role id.
	RoleID, RoleIDFile string
	// SecretIDFile holds the AppRole secret id, plain or response-wrapped (a wrapping token
	// whose response holds a secret id, as `vault write -wrap-ttl=... -f
	// auth/approle/role/NAME/secret-id` returns): the backend asks Vault
	// (sys/wrapping/lookup) which of the two it is, unwraps a wrapped one, and keeps the
	// secret id in memory. The file is read again when a login with that secret id fails.
	SecretIDFile string
	// AppRoleMount is the path of the AppRole auth method (default "approle").
	AppRoleMount string
	// Timeout bounds each request to Vault (default 10s).
	Timeout time.Duration
	// Log receives logins, renewals and failures to log in; never a token or a value.
	Log *slog.Logger
}

// Defaults of VaultConfig.
const (
	DefaultVaultMount        = "secret"
	DefaultVaultPrefix       = "gantry/"
	DefaultVaultAppRoleMount = "approle"
	DefaultVaultTimeout      = 10 * time.Second
)

// vaultBase64Key is the key under which a value stored in Vault lists the keys whose values
// are base64 (they are not UTF-8, and Vault keeps strings). No key of a secret can be named
// so ("@" does not start a secret key).
const vaultBase64Key = "@base64"

// withDefaults returns cfg with its defaults filled in, or why it cannot work.
func (cfg VaultConfig) withDefaults() (VaultConfig, error) {
	if cfg.Addr == "" {
		return cfg, errors.New("vault: an address is required")
	}
	if cfg.Mount = strings.Trim(cfg.Mount, "/"); cfg.Mount == "" {
		cfg.Mount = DefaultVaultMount
	}
	if cfg.Prefix = strings.Trim(cfg.Prefix, "/"); cfg.Prefix == "" {
		cfg.Prefix = DefaultVaultPrefix
	} else {
		cfg.Prefix += "/"
	}
	if cfg.AppRoleMount = strings.Trim(cfg.AppRoleMount, "/"); cfg.AppRoleMount == "" {
		cfg.AppRoleMount = DefaultVaultAppRoleMount
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultVaultTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	approle := cfg.RoleID != "" || cfg.RoleIDFile != "" || cfg.SecretIDFile != ""
	switch {
	case cfg.TokenFile != "" && approle:
		return cfg, errors.New("vault: give a token file or AppRole credentials, not both")
	case cfg.TokenFile != "":
	case !approle:
		return cfg, errors.New("vault: a token file or AppRole credentials (role id and secret id file) are required")
	case cfg.RoleID != "" && cfg.RoleIDFile != "":
		return cfg, errors.New("vault: give the AppRole role id or a file holding it, not both")
	case cfg.RoleID == "" && cfg.RoleIDFile == "":
		return cfg, errors.New("vault: AppRole needs a role id (or a role id file)")
	case cfg.SecretIDFile == "":
		return cfg, errors.New("vault: AppRole needs a secret id file")
	}
	return cfg, nil
}

// Vault is the Backend on HashiCorp Vault's KV version 2 secrets engine. Values are stored
// as strings, so that `vault kv get` shows them as they are (a PEM key reads as PEM). It
// logs in at start, keeps its token renewed, and logs in again when the token can no
// longer be renewed or Vault refuses it. Safe for concurrent use; Close stops it.
type Vault struct {
	cfg  VaultConfig
	auth *vaultAuth
}

var _ Backend = (*Vault)(nil)

// NewVault connects to Vault, logs in, checks that Mount is a KV version 2 engine, and
// starts renewing the token. A Vault that cannot be reached, is sealed or refuses the
// credentials gives an error that wraps ErrUnavailable.
func NewVault(ctx context.Context, cfg VaultConfig) (*Vault, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	auth, err := newVaultAuth(cfg)
	if err != nil {
		return nil, err
	}
	v := &Vault{cfg: cfg, auth: auth}
	if err := auth.start(ctx); err != nil {
		auth.close()
		return nil, err
	}
	if err := v.checkMount(ctx); err != nil {
		auth.close()
		return nil, err
	}
	return v, nil
}

// Close stops renewing the token. The token is left to expire.
func (v *Vault) Close() { v.auth.close() }

// Name is "vault".
func (v *Vault) Name() string { return "vault" }

// Logins is how many times the backend logged in (with a token file: read a working token
// from it), the first login included; for tests and diagnostics.
func (v *Vault) Logins() int64 { return v.auth.logins.Load() }

// Put stores data as the next version of path.
func (v *Vault) Put(ctx context.Context, path string, data map[string][]byte) (int, error) {
	full, err := v.fullPath(path)
	if err != nil {
		return 0, err
	}
	m, err := encodeVaultData(data)
	if err != nil {
		return 0, fmt.Errorf("vault put %s: %w", full, err)
	}
	var version int
	err = v.do(ctx, "put", full, func(kv *api.KVv2) error {
		s, err := kv.Put(ctx, full, m)
		if err != nil {
			return err
		}
		if s.VersionMetadata == nil || s.VersionMetadata.Version < 1 {
			return errors.New("vault answered the write without a version")
		}
		version = s.VersionMetadata.Version
		return nil
	})
	return version, err
}

// Get reads a version of path (0: the latest). A deleted or destroyed version is
// ErrNotFound.
func (v *Vault) Get(ctx context.Context, path string, version int) (map[string][]byte, error) {
	full, err := v.fullPath(path)
	if err != nil {
		return nil, err
	}
	if version < 0 {
		return nil, fmt.Errorf("vault get %s: version %d: %w", full, version, ErrNotFound)
	}
	var data map[string][]byte
	err = v.do(ctx, "get", full, func(kv *api.KVv2) error {
		var s *api.KVSecret
		var err error
		if version == 0 {
			s, err = kv.Get(ctx, full)
		} else {
			s, err = kv.GetVersion(ctx, full, version)
		}
		if err != nil {
			return err
		}
		if s.Data == nil {
			return api.ErrSecretNotFound // deleted or destroyed: only metadata is left
		}
		data, err = decodeVaultData(s.Data)
		return err
	})
	return data, err
}

// Current is the metadata's current_version of path; 0 when path has no metadata.
func (v *Vault) Current(ctx context.Context, path string) (int, error) {
	full, err := v.fullPath(path)
	if err != nil {
		return 0, err
	}
	var current int
	err = v.do(ctx, "read metadata of", full, func(kv *api.KVv2) error {
		md, err := kv.GetMetadata(ctx, full)
		if errors.Is(err, api.ErrSecretNotFound) {
			current = 0
			return nil
		}
		if err != nil {
			return err
		}
		current = md.CurrentVersion
		return nil
	})
	return current, err
}

// Destroy removes these versions of path for good; Vault ignores missing ones.
func (v *Vault) Destroy(ctx context.Context, path string, versions []int) error {
	full, err := v.fullPath(path)
	if err != nil {
		return err
	}
	if len(versions) == 0 {
		return nil
	}
	return v.do(ctx, "destroy versions of", full, func(kv *api.KVv2) error {
		return kv.Destroy(ctx, full, versions)
	})
}

// Delete removes path's metadata and every version; a path already gone is not an error.
func (v *Vault) Delete(ctx context.Context, path string) error {
	full, err := v.fullPath(path)
	if err != nil {
		return err
	}
	err = v.do(ctx, "delete", full, func(kv *api.KVv2) error {
		return kv.DeleteMetadata(ctx, full)
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// do runs fn with the current token. When Vault refuses the token (403), it logs in again
// (once, shared with the operations that met the same refusal) and runs fn once more.
func (v *Vault) do(ctx context.Context, op, path string, fn func(*api.KVv2) error) error {
	s := v.auth.session()
	err := fn(s.kv)
	if isVaultDenied(err) && ctx.Err() == nil {
		switch rerr := v.auth.recover(ctx, s.gen); {
		case rerr == nil:
			err = fn(v.auth.session().kv)
		case errors.Is(rerr, errVaultPolicy):
			// The token is valid: Vault's policy refuses this path.
			return fmt.Errorf("vault %s %s: the token's policy does not allow it: %w", op, path, v.classify(ctx, err))
		default:
			return fmt.Errorf("vault %s %s: %w", op, path, rerr)
		}
	}
	if err == nil {
		return nil
	}
	return fmt.Errorf("vault %s %s: %w", op, path, v.classify(ctx, err))
}

// fullPath is rel under Prefix, once rel is checked to be a relative path of plain
// segments.
func (v *Vault) fullPath(rel string) (string, error) {
	if rel == "" || strings.HasPrefix(rel, "/") || strings.HasSuffix(rel, "/") {
		return "", fmt.Errorf("vault: invalid secret path %q", rel)
	}
	for seg := range strings.SplitSeq(rel, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("vault: invalid secret path %q", rel)
		}
	}
	return v.cfg.Prefix + rel, nil
}

// checkMount makes sure Mount is a KV version 2 engine that the token can use, the way the
// vault CLI does (sys/internal/ui/mounts answers any token with a capability under it).
func (v *Vault) checkMount(ctx context.Context) error {
	s := v.auth.session()
	sec, err := s.client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+v.cfg.Mount)
	if err != nil {
		return fmt.Errorf("vault: check mount %s/: %w", v.cfg.Mount, v.classify(ctx, err))
	}
	if sec == nil || sec.Data == nil {
		return fmt.Errorf("vault: no secrets engine at %s/ (or the token may not use it)", v.cfg.Mount)
	}
	typ, _ := sec.Data["type"].(string)
	var version string
	if opts, ok := sec.Data["options"].(map[string]any); ok {
		version, _ = opts["version"].(string)
	}
	if typ != "kv" || version != "2" {
		return fmt.Errorf("vault: %s/ is a %q engine (version %q): Gantry needs KV version 2", v.cfg.Mount, typ, version)
	}
	return nil
}

// encodeVaultData turns a value into Vault's data: UTF-8 values as they are, others as
// base64 listed under vaultBase64Key.
func encodeVaultData(data map[string][]byte) (map[string]any, error) {
	m := make(map[string]any, len(data)+1)
	var encoded []string
	for k, val := range data {
		if k == vaultBase64Key {
			return nil, fmt.Errorf("key %q is reserved", k)
		}
		if utf8.Valid(val) {
			m[k] = string(val)
			continue
		}
		m[k] = base64.StdEncoding.EncodeToString(val)
		encoded = append(encoded, k)
	}
	if len(encoded) > 0 {
		sort.Strings(encoded)
		m[vaultBase64Key] = encoded
	}
	return m, nil
}

// decodeVaultData is encodeVaultData's inverse. A value that is not a string (written by
// hand as JSON) is returned as its JSON.
func decodeVaultData(m map[string]any) (map[string][]byte, error) {
	var encoded []string
	if list, ok := m[vaultBase64Key].([]any); ok {
		for _, k := range list {
			if s, ok := k.(string); ok {
				encoded = append(encoded, s)
			}
		}
	}
	data := make(map[string][]byte, len(m))
	for k, val := range m {
		if k == vaultBase64Key {
			continue
		}
		s, ok := val.(string)
		switch {
		case ok && slices.Contains(encoded, k):
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("key %s: invalid base64 in vault", k)
			}
			data[k] = b
		case ok:
			data[k] = []byte(s)
		default:
			b, err := json.Marshal(val)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", k, err)
			}
			data[k] = b
		}
	}
	return data, nil
}
