package secrets

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
)

// vaultAuth logs in to Vault and keeps a working token: it renews the token while Vault
// allows (api.LifetimeWatcher), logs in again when it no longer can (max TTL reached,
// renewal failing until expiry), and when an operation meets a 403 (recover). Operations
// never wait on it, except for the one login that a 403 makes them share.
type vaultAuth struct {
	cfg  VaultConfig
	log  *slog.Logger
	base *api.Client // without a token: unauthenticated calls, and the source of sessions

	cur    atomic.Pointer[vaultSession]
	logins atomic.Int64

	mu          sync.Mutex // serialises logins; guards the fields below
	watcher     *api.LifetimeWatcher
	secretID    string // AppRole: the secret id, unwrapped, kept for later logins
	secretIDRaw string // what SecretIDFile held when secretID was read from it

	ctx    context.Context // ends on close: the background logins stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// vaultSession is a client with one login's token. Each login makes a new one (gen + 1),
// so that an operation knows which token Vault refused.
type vaultSession struct {
	client *api.Client
	kv     *api.KVv2
	token  string
	gen    uint64
}

// errVaultTokenUnchanged: the token file still holds the token whose renewal ended.
var errVaultTokenUnchanged = errors.New("the token file still holds the token whose renewal ended")

func newVaultAuth(cfg VaultConfig) (*vaultAuth, error) {
	conf := api.DefaultConfig()
	if conf.Error != nil {
		return nil, fmt.Errorf("vault: client: %w", conf.Error)
	}
	conf.Address = cfg.Addr
	conf.AgentAddress = ""
	conf.Timeout = cfg.Timeout
	// No retries of the client's own: a write retried after a lost answer would make a
	// second version, and callers answer "unavailable" promptly. Re-logins are ours.
	conf.MaxRetries = 0
	conf.SRVLookup = false
	conf.CloneHeaders = true
	// TLS as configured here only: VAULT_CACERT, VAULT_SKIP_VERIFY and the like, read from
	// the environment by DefaultConfig, are dropped. Certificates are always verified.
	transport, ok := conf.HttpClient.Transport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("vault: unexpected client transport %T", conf.HttpClient.Transport)
	}
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACertFile != "" {
		if err := conf.ConfigureTLS(&api.TLSConfig{CACert: cfg.CACertFile}); err != nil {
			return nil, fmt.Errorf("vault: CA certificate %s: %w", cfg.CACertFile, err)
		}
	}
	base, err := api.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("vault: client: %w", err)
	}
	base.ClearToken() // NewClient takes VAULT_TOKEN from the environment
	base.ClearNamespace()
	if cfg.Namespace != "" {
		base.SetNamespace(cfg.Namespace)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &vaultAuth{cfg: cfg, log: cfg.Log, base: base, ctx: ctx, cancel: cancel}, nil
}

// start makes the first login.
func (a *vaultAuth) start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.loginLocked(ctx, false)
}

// close stops the renewal and the background logins, and waits for them.
func (a *vaultAuth) close() {
	a.cancel()
	a.mu.Lock()
	if a.watcher != nil {
		a.watcher.Stop()
		a.watcher = nil
	}
	a.mu.Unlock()
	a.wg.Wait()
}

func (a *vaultAuth) session() *vaultSession { return a.cur.Load() }

// recover follows a 403 that the token of session gen met: nil when the caller should try
// again (another operation logged in meanwhile, or this one did), errVaultPolicy when the
// token is still valid (Vault's policy refuses the path), or why the login failed.
func (a *vaultAuth) recover(ctx context.Context, gen uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.cur.Load()
	if s.gen != gen {
		return nil
	}
	if _, err := s.client.Auth().Token().LookupSelfWithContext(ctx); err == nil {
		return errVaultPolicy
	}
	a.log.Info("vault refused the token: logging in again")
	return a.loginLocked(ctx, false)
}

// loginLocked logs in (AppRole) or reads the token file, makes the new session current and
// watches its token's lifetime. With needNew, a token file that still holds the current
// token is errVaultTokenUnchanged. The caller holds mu.
func (a *vaultAuth) loginLocked(ctx context.Context, needNew bool) error {
	var auth *api.SecretAuth
	var err error
	method := "approle"
	if a.cfg.TokenFile != "" {
		method = "token file"
		auth, err = a.readTokenFile(ctx, needNew)
	} else {
		auth, err = a.loginAppRole(ctx)
	}
	if err != nil {
		return err
	}
	c, err := a.base.Clone()
	if err != nil {
		return fmt.Errorf("vault: client: %w", err)
	}
	c.SetToken(auth.ClientToken)
	var gen uint64
	if prev := a.cur.Load(); prev != nil {
		gen = prev.gen + 1
	}
	s := &vaultSession{client: c, kv: c.KVv2(a.cfg.Mount), token: auth.ClientToken, gen: gen}
	a.cur.Store(s)
	a.logins.Add(1)
	ttl := time.Duration(auth.LeaseDuration) * time.Second
	a.log.Info("vault login", "addr", a.cfg.Addr, "method", method, "ttl", ttl, "renewable", auth.Renewable)

	if a.watcher != nil {
		a.watcher.Stop()
		a.watcher = nil
	}
	if auth.LeaseDuration <= 0 || a.ctx.Err() != nil {
		return nil // a token that does not expire (a root token, say), or closing
	}
	w, err := c.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: &api.Secret{Auth: auth}})
	if err != nil {
		return fmt.Errorf("vault: token watcher: %w", err)
	}
	a.watcher = w
	go w.Start()
	a.wg.Add(1)
	go a.watch(w, gen)
	return nil
}

// watch follows the lifetime watcher of session gen: it logs renewals and, when the token
// can no longer be renewed, logs in again (until it succeeds, another login supersedes
// gen, or close).
func (a *vaultAuth) watch(w *api.LifetimeWatcher, gen uint64) {
	defer a.wg.Done()
	for {
		select {
		case <-a.ctx.Done():
			return
		case r := <-w.RenewCh():
			if r.Secret != nil && r.Secret.Auth != nil {
				a.log.Debug("vault token renewed", "ttl", time.Duration(r.Secret.Auth.LeaseDuration)*time.Second)
			}
		case err := <-w.DoneCh():
			if a.ctx.Err() != nil || a.cur.Load().gen != gen {
				return // stopped: closed, or another login replaced this token
			}
			if err != nil {
				a.log.Warn("vault token renewal failed: logging in again", "error", err)
			} else {
				a.log.Info("vault token can no longer be renewed: logging in again")
			}
			a.reloginLoop(gen)
			return
		}
	}
}

// reloginLoop logs in again in place of session gen, retrying with backoff.
func (a *vaultAuth) reloginLoop(gen uint64) {
	delay := time.Second
	for {
		err := a.relogin(gen)
		if err == nil || a.ctx.Err() != nil {
			return
		}
		a.log.Warn("vault login failed: trying again", "in", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-a.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, 30*time.Second)
	}
}

func (a *vaultAuth) relogin(gen uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx.Err() != nil || a.cur.Load().gen != gen {
		return nil
	}
	return a.loginLocked(a.ctx, true)
}

// readTokenFile reads the token file and asks Vault about the token (lookup-self: valid?
// renewable? TTL?).
func (a *vaultAuth) readTokenFile(ctx context.Context, needNew bool) (*api.SecretAuth, error) {
	token, err := readVaultFile(a.cfg.TokenFile, "token")
	if err != nil {
		return nil, err
	}
	if cur := a.cur.Load(); needNew && cur != nil && cur.token == token {
		return nil, errVaultTokenUnchanged
	}
	c, err := a.base.Clone()
	if err != nil {
		return nil, fmt.Errorf("vault: client: %w", err)
	}
	c.SetToken(token)
	sec, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, a.loginError(ctx, "lookup of the token in "+a.cfg.TokenFile, err)
	}
	ttl, _ := sec.TokenTTL()
	renewable, _ := sec.TokenIsRenewable()
	return &api.SecretAuth{ClientToken: token, LeaseDuration: int(ttl.Seconds()), Renewable: renewable}, nil
}

// loginAppRole logs in with the role id and the secret id kept in memory, read (and
// unwrapped) from SecretIDFile first if there is none yet, or again if the login fails and
// the file has changed since.
func (a *vaultAuth) loginAppRole(ctx context.Context) (*api.SecretAuth, error) {
	roleID := a.cfg.RoleID
	if a.cfg.RoleIDFile != "" {
		var err error
		if roleID, err = readVaultFile(a.cfg.RoleIDFile, "AppRole role id"); err != nil {
			return nil, err
		}
	}
	if a.secretID == "" {
		if _, err := a.loadSecretID(ctx, false); err != nil {
			return nil, err
		}
	}
	auth, err := a.appRoleWrite(ctx, roleID)
	if err != nil && isVaultClientError(err) && ctx.Err() == nil {
		// The secret id was perhaps rotated, or expired: take the file's, if it is new.
		changed, lerr := a.loadSecretID(ctx, true)
		if lerr != nil {
			return nil, lerr
		}
		if changed {
			auth, err = a.appRoleWrite(ctx, roleID)
		}
	}
	if err != nil {
		what := "AppRole login at auth/" + a.cfg.AppRoleMount
		if a.secretID == a.secretIDRaw && looksLikeVaultToken(a.secretIDRaw) {
			what += " (" + a.cfg.SecretIDFile + " holds a token, perhaps a wrapping token already" +
				" unwrapped: it can be unwrapped once, so give a new one after a restart)"
		}
		return nil, a.loginError(ctx, what, err)
	}
	return auth, nil
}

func (a *vaultAuth) appRoleWrite(ctx context.Context, roleID string) (*api.SecretAuth, error) {
	sec, err := a.base.Logical().WriteWithContext(ctx, "auth/"+a.cfg.AppRoleMount+"/login",
		map[string]any{"role_id": roleID, "secret_id": a.secretID})
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, errors.New("vault answered the login without a token")
	}
	return sec.Auth, nil
}

// loadSecretID reads SecretIDFile and keeps its secret id, unwrapped if the file holds a
// wrapping token. With onlyIfChanged, a file that holds what it held at the last read is
// left alone (false, nil). It asks Vault's sys/wrapping/lookup which of the two the file
// holds: a wrapping token is looked up without being used up, and a wrong guess does not
// count as a failed login (AppRole locks a role out after repeated ones).
func (a *vaultAuth) loadSecretID(ctx context.Context, onlyIfChanged bool) (bool, error) {
	raw, err := readVaultFile(a.cfg.SecretIDFile, "AppRole secret id")
	if err != nil {
		return false, err
	}
	if onlyIfChanged && raw == a.secretIDRaw {
		return false, nil
	}
	c, err := a.base.Clone()
	if err != nil {
		return false, fmt.Errorf("vault: client: %w", err)
	}
	c.ClearToken()
	info, err := c.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": raw})
	switch {
	case err != nil && isVaultClientError(err):
		a.secretID, a.secretIDRaw = raw, raw // not a wrapping token: the secret id itself
		return true, nil
	case err != nil:
		return false, a.loginError(ctx, "wrapping lookup of the secret id in "+a.cfg.SecretIDFile, err)
	}
	creation := ""
	if info != nil {
		creation, _ = info.Data["creation_path"].(string)
	}
	if !strings.HasSuffix(creation, "/secret-id") {
		return false, fmt.Errorf("vault: %s holds a wrapping token of %q, not of an AppRole secret id: %w",
			a.cfg.SecretIDFile, creation, ErrUnavailable)
	}
	c.SetToken(raw)
	sec, err := c.Logical().UnwrapWithContext(ctx, raw)
	if err != nil {
		return false, a.loginError(ctx, "unwrap of the secret id in "+a.cfg.SecretIDFile, err)
	}
	id := ""
	if sec != nil {
		id, _ = sec.Data["secret_id"].(string)
	}
	if id == "" {
		return false, fmt.Errorf("vault: the wrapped response in %s holds no secret_id: %w", a.cfg.SecretIDFile, ErrUnavailable)
	}
	a.secretID, a.secretIDRaw = id, raw
	a.log.Info("vault: unwrapped the AppRole secret id", "file", a.cfg.SecretIDFile)
	return true, nil
}

// loginError says what failed to log in and why, as ErrUnavailable (or the caller's
// cancellation).
func (a *vaultAuth) loginError(ctx context.Context, what string, err error) error {
	err = classifyVaultError(ctx, a.cfg.Addr, a.cfg.Timeout.String(), err)
	if errors.Is(err, ErrNotFound) || (!errors.Is(err, ErrUnavailable) && ctx.Err() == nil) {
		err = fmt.Errorf("%w: %w", err, ErrUnavailable)
	}
	return fmt.Errorf("vault: %s failed: %w", what, err)
}

// looksLikeVaultToken reports the prefix of Vault's service tokens (wrapping tokens are
// some); only to word an error.
func looksLikeVaultToken(s string) bool {
	return strings.HasPrefix(s, "hvs.") || strings.HasPrefix(s, "s.")
}

// readVaultFile reads a credential from a file, without its surrounding space.
func readVaultFile(path, what string) (string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: the operator names the file
	if err != nil {
		return "", fmt.Errorf("vault: read the %s: %w: %w", what, err, ErrUnavailable)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("vault: the %s file %s is empty: %w", what, path, ErrUnavailable)
	}
	return s, nil
}
