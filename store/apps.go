package store

import (
	"regexp"
	"strings"
	"time"
)

var appNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// App groups routes and carries configuration shared by them.
type App struct {
	// ID tells this app from an earlier one of the same name: executions carry it, so a
	// name deleted and made again does not show the old app's calls to the new owner.
	ID     string            `json:"id,omitempty"`
	Name   string            `json:"name"`
	Config map[string]string `json:"config,omitempty"`
	// Owner is the identity that created the app, or the one an admin gave it to. Apps made
	// before authentication existed have none: only admins see them.
	Owner     string    `json:"owner,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks the app's fields.
func (a *App) Validate() error {
	if !appNameRE.MatchString(a.Name) {
		return Invalid("name", "app name %q must match %s", a.Name, appNameRE)
	}
	if len(a.Owner) > maxOwnerLen || strings.ContainsFunc(a.Owner, isControl) {
		return Invalid("owner", "owner must be at most %d characters, without control characters", maxOwnerLen)
	}
	return validateConfig("config", a.Config)
}

// AppFilter narrows a list of apps.
type AppFilter struct {
	Owner string // only the apps of this owner; "" for all
}

func validateConfig(field string, cfg map[string]string) error {
	if len(cfg) > maxConfigKeys {
		return Invalid(field, "at most %d config keys", maxConfigKeys)
	}
	size := 0
	for k, v := range cfg {
		size += len(k) + len(v) + 2 // "K=V" and its NUL in the environment
	}
	if size > MaxConfigBytes {
		return Invalid(field, "config is %d bytes; at most %d bytes of keys and values", size, MaxConfigBytes)
	}
	for k, v := range cfg {
		if !configKeyRE.MatchString(k) {
			return Invalid(field, "config key %q must be an environment variable name (%s)", k, configKeyRE)
		}
		if strings.ContainsRune(v, 0) {
			return Invalid(field, "the value of config key %q contains a NUL byte", k)
		}
	}
	return nil
}

// isControl reports the characters a header value may not hold (tab is allowed).
func isControl(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }

// AppGuard vets the owner of the app a write touches, inside the write's transaction, so
// that the owner cannot change between the check and the write. Nil lets every write pass.
type AppGuard func(owner string) error
