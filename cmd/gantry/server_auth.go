package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/store"
)

// adminTokenFile is where, in the data dir, the server writes the first admin token.
const adminTokenFile = "admin.token"

// authStore is what authentication needs of the store: the tokens, and the first one.
type authStore interface {
	auth.TokenStore
	Bootstrapped(ctx context.Context) (bool, error)
	BootstrapToken(ctx context.Context, t store.Token) error
	NewID() string
}

// setUpAuth builds the authenticator, or returns nil with --auth=none. On the first start
// with authentication on, it makes the admin token and writes it to the data dir.
// The configured identity source (nil without --oidc-issuer) is also the gateway's default.
func setUpAuth(ctx context.Context, cfg serverConfig, st authStore, log *slog.Logger) (handlers.Authenticator, *auth.OIDCConfig, error) {
	var idpConfig *auth.OIDCConfig
	if cfg.oidcIssuer != "" {
		idpConfig = &auth.OIDCConfig{
			Issuer: cfg.oidcIssuer, Audience: cfg.oidcAudience, UsernameClaim: cfg.oidcUsernameClaim,
			GroupsClaim: cfg.oidcGroupsClaim, AdminGroup: cfg.oidcAdminGroup, UserGroup: cfg.oidcUserGroup, UsernamePrefix: cfg.oidcUserPrefix, Log: log,
		}
	} else if cfg.oidcAudience != "" {
		return nil, nil, errors.New("--oidc-audience needs --oidc-issuer")
	}
	switch cfg.auth {
	case "none":
		log.Warn("AUTHENTICATION IS OFF (--auth=none): anyone who reaches this server is an admin of it")
		return nil, idpConfig, nil
	case "token":
	default:
		return nil, nil, fmt.Errorf("--auth %q: must be token or none", cfg.auth)
	}
	var idp *auth.OIDC
	if idpConfig != nil {
		var err error
		if idp, err = auth.NewOIDC(*idpConfig); err != nil {
			return nil, nil, fmt.Errorf("--oidc-issuer: %w", err)
		}
		if err := idp.Discover(ctx); err != nil {
			log.Warn("the OIDC identity source cannot be reached yet; its tokens get 503 until it can", "issuer", cfg.oidcIssuer, "err", err)
		}
		log.Info("OIDC tokens accepted", "issuer", cfg.oidcIssuer, "audience", cfg.oidcAudience)
	}
	path, made, err := bootstrapAdminToken(ctx, st, cfg.dataDir)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case made:
		log.Warn("first start: an admin API token was made; keep it secret", "file", path)
	case path == "":
		log.Info("authentication on; the first admin token was made by another node, whose data dir holds it")
	default:
		log.Info("authentication on", "admin_token_file", path)
	}
	return auth.NewAuthenticator(st, idp), idpConfig, nil
}

// bootstrapAdminToken makes the first admin token once per store: the token is written to
// <data-dir>/admin.token (mode 0600) before its hash is stored, so a crash in between leaves
// no token that nobody holds. Nodes that share a store and start at once may both find no
// token yet: the store takes the first one's (BootstrapToken refuses the others with
// ErrExists), and a node whose token was refused removes its file, which holds a token that
// nobody stored, and goes on: path is then "" (the token is in the other node's data dir).
func bootstrapAdminToken(ctx context.Context, st authStore, dataDir string) (path string, made bool, err error) {
	path = filepath.Join(dataDir, adminTokenFile)
	done, err := st.Bootstrapped(ctx)
	if err != nil || done {
		return path, false, err
	}
	id := st.NewID()
	secret, hash := auth.NewSecret(id)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return path, false, fmt.Errorf("write the admin token: %w", err)
	}
	if err := writeSecretFile(path, secret+"\n"); err != nil {
		return path, false, fmt.Errorf("write the admin token: %w", err)
	}
	err = st.BootstrapToken(ctx, store.Token{ID: id, Name: "first admin token", User: "admin", Role: auth.RoleAdmin, Hash: hash, CreatedBy: "gantry server"})
	if errors.Is(err, store.ErrExists) { // another node made it between our look and our write
		if rerr := os.Remove(path); rerr != nil {
			return path, false, fmt.Errorf("remove an admin token that was not stored: %w", rerr)
		}
		return "", false, nil
	}
	return path, err == nil, err
}

// writeSecretFile replaces path with content, readable by its owner only, atomically.
func writeSecretFile(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin.token-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = tmp.WriteString(content) // CreateTemp made it 0600
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
