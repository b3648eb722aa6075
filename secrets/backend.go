package secrets

import (
	"context"
	"errors"
)

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrUnavailable: the backend cannot be reached or cannot serve now (Vault down, sealed,
	// or refusing Gantry's credentials); the same request may succeed later (503 with
	// Retry-After). Nothing was left half-written.
	ErrUnavailable = errors.New("secret store unavailable")
	// ErrNotFound: no value at that path or version.
	ErrNotFound = errors.New("secret value not found")
	// ErrWrongKey: the embedded backend's key is not the one its values were sealed with.
	ErrWrongKey = errors.New("wrong secret key")
)

// Backend keeps secret values, versioned, at paths relative to its own prefix
// ("secrets/db-password", "ssh-keys/alice"). Every write makes a new version; versions
// are numbered from 1 and earlier ones are kept until destroyed or the path is deleted.
// Errors are ErrUnavailable when the backend cannot answer now, ErrNotFound when it
// answered that there is nothing there.
type Backend interface {
	// Name is the backend's kind, for logs and the version endpoint: "vault" or "embedded".
	Name() string
	// Put stores data as the next version of path and returns that version.
	Put(ctx context.Context, path string, data map[string][]byte) (int, error)
	// Get reads a version of path (0: the latest).
	Get(ctx context.Context, path string, version int) (map[string][]byte, error)
	// Current is the latest version written at path, destroyed or not; 0 when nothing
	// was ever written there (or the path was deleted).
	Current(ctx context.Context, path string) (int, error)
	// Destroy removes these versions of path for good; missing ones are ignored.
	Destroy(ctx context.Context, path string, versions []int) error
	// Delete removes path with every version; a path already gone is not an error.
	Delete(ctx context.Context, path string) error
}
