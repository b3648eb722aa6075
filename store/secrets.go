package store

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// Secret kinds: what a secret is for. Each kind has its own names, so that none can be
// taken for another.
const (
	// SecretKindSecret is a function secret (/v1/secrets), named by SecretNameRE.
	SecretKindSecret = "secret"
	// SecretKindSSHKey is a user's SSH key pair, named SSHKeySecretName(user).
	SecretKindSSHKey = "ssh-key"
	// SecretKindTLSKey is the TLS private key of a gateway API, named TLSKeySecretName(api).
	SecretKindTLSKey = "tls-key"
)

// Pending operations of a secret's record (Secret.Pending.Op).
const (
	SecretOpPut    = "put"
	SecretOpDelete = "delete"
)

// Bounds of secrets (mirrored in swagger/swagger.yml).
const (
	// MaxSecretValue caps one value of a secret (a file under /run/secrets).
	MaxSecretValue = 64 << 10
	// MaxSecretKeys caps the keys of a secret.
	MaxSecretKeys = 16
	// MaxRouteSecrets caps the secrets a route or a workflow step names.
	MaxRouteSecrets = 16
)

// SecretNameRE is the rule of the names of function secrets.
var SecretNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

var secretKeyRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$`)

// SSHKeyPrefix starts the names of SSH key secrets, as routes and steps name them:
// "ssh:<user>", or "ssh:@caller" in a workflow step (the user who triggered the run).
const SSHKeyPrefix = "ssh:"

// SSHCaller is the user of "ssh:@caller": the run's caller, known when a step runs.
const SSHCaller = "@caller"

// SSHKeyFile is the one key of an SSH key secret: the private key in OpenSSH PEM form.
const SSHKeyFile = "private_key"

// SSHKeySecretName is the name of the record of user's SSH key pair.
func SSHKeySecretName(user string) string { return SSHKeyPrefix + user }

// TLSKeyPrefix starts the names of the records of APIs' TLS private keys: "tls:<api>".
const TLSKeyPrefix = "tls:"

// TLSKeySecretName is the name of the record of an API's TLS private key.
func TLSKeySecretName(api string) string { return TLSKeyPrefix + api }

// Secret is the record of a secret: everything about it but its value, which a secret
// backend (Vault, or the store's own encrypted values) keeps, versioned, at Path. The
// record is written around the backend's write (see Pending), so that a crash between the
// two leaves a state that recovery can finish or undo.
type Secret struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Owner string `json:"owner"`
	// Path is where the backend keeps the value, under its prefix.
	Path string `json:"path"`
	// Keys are the keys of the current value, sorted (the files of /run/secrets/<name>/).
	Keys []string `json:"keys,omitempty"`
	// Version is the backend's version of the current value; 0 until the first write is
	// committed (such a record is not listed and reads as not found).
	Version int `json:"version"`
	// Versions are the versions the backend keeps, oldest first (KV v2 keeps earlier
	// values; the embedded store keeps them until the secret is deleted).
	Versions []int `json:"versions,omitempty"`
	// Pending is a write to the backend in progress: set in the store before the backend is
	// written, cleared after. A record left pending by a crash is finished or undone by
	// recovery.
	Pending *SecretPending `json:"pending,omitempty"`
	// SSH describes the key pair of an SSH key secret.
	SSH       *SSHKeyInfo `json:"ssh,omitempty"`
	CreatedBy string      `json:"created_by,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// SecretPending is a write to the backend that has begun.
type SecretPending struct {
	Op string `json:"op"` // SecretOpPut or SecretOpDelete
	// ID names this mark: whoever acts on a mark (its writer, or one settling it) first
	// checks, inside a store write, that it is still the record's, and takes it over with
	// a new ID of its own to settle it.
	ID    string    `json:"id,omitempty"`
	Since time.Time `json:"since"`
	// Keys and SSH are what the record holds once a put is committed.
	Keys []string    `json:"keys,omitempty"`
	SSH  *SSHKeyInfo `json:"ssh,omitempty"`
	By   string      `json:"by,omitempty"`
}

// SSHKeyInfo is what may be known of an SSH key pair: never key material.
type SSHKeyInfo struct {
	ID          string            `json:"id"`   // of this key pair (each rotation makes a new one)
	Type        string            `json:"type"` // "ed25519" or "rsa"
	Bits        int               `json:"bits,omitempty"`
	Fingerprint string            `json:"fingerprint"` // SHA256:...
	Comment     string            `json:"comment,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// Committed reports whether a value of the secret was ever stored.
func (s *Secret) Committed() bool { return s.Version > 0 }

// ValidateSecretName checks the name of a function secret.
func ValidateSecretName(name string) error {
	if !SecretNameRE.MatchString(name) {
		return Invalid("name", "secret name %q must match %s", name, SecretNameRE)
	}
	return nil
}

// ValidateSecretData checks the value of a function secret: 1 to MaxSecretKeys keys, each
// a file name, each value at most MaxSecretValue bytes.
func ValidateSecretData(data map[string][]byte) error {
	if len(data) == 0 {
		return Invalid("data", "a secret needs at least one key")
	}
	if len(data) > MaxSecretKeys {
		return Invalid("data", "a secret has at most %d keys", MaxSecretKeys)
	}
	for k, v := range data {
		if !secretKeyRE.MatchString(k) || strings.Trim(k, ".") == "" {
			return Invalid("data", "key %q must match %s (it becomes a file name)", k, secretKeyRE)
		}
		if len(v) > MaxSecretValue {
			return Invalid("data."+k, "a value is at most %d bytes (%d given)", MaxSecretValue, len(v))
		}
	}
	return nil
}

// ValidateSecretRefs checks the secrets a route or a workflow step names: function secret
// names, "ssh:<user>", and (steps only, when caller is true) "ssh:@caller"; no duplicates.
func ValidateSecretRefs(field string, refs []string, caller bool) error {
	if len(refs) > MaxRouteSecrets {
		return Invalid(field, "at most %d secrets", MaxRouteSecrets)
	}
	seen := make(map[string]bool, len(refs))
	for _, ref := range refs {
		if seen[ref] {
			return Invalid(field, "secret %q is named twice", ref)
		}
		seen[ref] = true
		user, ssh := strings.CutPrefix(ref, SSHKeyPrefix)
		switch {
		case ssh && user == SSHCaller && caller:
		case ssh && user == SSHCaller:
			return Invalid(field, "%q names the caller of a workflow run: only workflow steps have one", ref)
		case ssh:
			if err := ValidateSSHUser(user); err != nil {
				return Invalid(field, "secret %q: %s", ref, err.(*ValidationError).Message)
			}
		default:
			if !SecretNameRE.MatchString(ref) {
				return Invalid(field, "secret %q must be a secret name (%s) or ssh:<user>", ref, SecretNameRE)
			}
		}
	}
	return nil
}

// ValidateSSHUser checks a user id that may have an SSH key: a user name that is usable as
// one segment of a path ("." and ".." are not), and not SSHCaller, which workflow steps
// use to name the key of their run's caller.
func ValidateSSHUser(user string) error {
	if err := ValidateUserName(user); err != nil {
		return err
	}
	if strings.Trim(user, ".") == "" || user == SSHCaller {
		return Invalid("user", "user name %q cannot have an SSH key", user)
	}
	return nil
}

// SecretFilter selects secrets in ListSecrets.
type SecretFilter struct {
	Owner string // "" : every owner
	Kind  string // "" : every kind
}

// SecretGuard vets the owner of an existing secret inside the write that touches it.
type SecretGuard func(owner string) error

// Secrets are the records of secrets (never their values). Names are unique across kinds.
// Writes validate the record they store (Secret.Validate); the store sets CreatedAt (at
// CreateSecret) and UpdatedAt (at every write).
// Properties every backend keeps (storetest):
//   - A record whose Version is 0 (its first write not committed) is not listed and is
//     returned only by GetSecret and PendingSecrets.
//   - Every committed write sends a ChangeSecret naming the secret to every subscriber on
//     every node (hot containers that hold it are drained), on the writing node before the
//     write returns.
//   - Guards run inside the write, against the record stored at that moment.
type Secrets interface {
	// CreateSecret stores a new record; ErrExists if the name is taken.
	CreateSecret(ctx context.Context, s Secret) (Secret, error)
	// UpdateSecret applies fn to the stored record in one write; ErrNotFound without it.
	// guard, if set, vets its owner first. fn may not rename it (ErrInvalid) nor change its
	// CreatedAt; when guard or fn fails, its error is returned and nothing is written.
	UpdateSecret(ctx context.Context, name string, fn func(*Secret) error, guard SecretGuard) (Secret, error)
	// GetSecret reads a record, committed or not; ErrNotFound without it.
	GetSecret(ctx context.Context, name string) (Secret, error)
	// ListSecrets returns a page of the committed records that pass f, in name order, and
	// the cursor of the next page ("" on the last).
	ListSecrets(ctx context.Context, f SecretFilter, page Page) ([]Secret, string, error)
	// PendingSecrets returns every record with a pending write (for recovery), in name order.
	PendingSecrets(ctx context.Context) ([]Secret, error)
	// DeleteSecret removes a record; ErrNotFound without it. guard, if set, vets it first
	// (inside the write). The values at its Path are the secret backend's to delete.
	DeleteSecret(ctx context.Context, name string, guard func(Secret) error) error
}

// SecretValues are the sealed (encrypted) values of the embedded secret backend, versioned
// per path (a path is not empty and holds no NUL byte: ErrInvalid). The store never sees a
// value in clear: the backend seals before and opens after. The versions of a path are
// numbered from 1; a path's latest version is the highest it keeps.
type SecretValues interface {
	// PutSecretValue stores a sealed value as the next version of path, one above its
	// latest (1 for the first, and again after DeleteSecretValues; a destroyed latest
	// version's number is given again), and returns that version. Concurrent puts on one
	// path, from any nodes, get distinct versions.
	PutSecretValue(ctx context.Context, path string, sealed []byte) (int, error)
	// GetSecretValue reads a version of path; version 0 reads the latest. ErrNotFound
	// without it. It returns the version read.
	GetSecretValue(ctx context.Context, path string, version int) ([]byte, int, error)
	// DestroySecretValues removes these versions of path (the missing ones are ignored);
	// the others keep their numbers. Once the latest is destroyed, the highest left is.
	DestroySecretValues(ctx context.Context, path string, versions []int) error
	// DeleteSecretValues removes every version of path; nothing to remove is not an error.
	DeleteSecretValues(ctx context.Context, path string) error
	// RewriteSecretValues replaces every stored value by fn's result in one write: all of
	// them or (fn or the write failed) none. Values put meanwhile wait for it (none is
	// left out). It returns how many it rewrote. fn may be called again for a value when
	// the write is retried.
	RewriteSecretValues(ctx context.Context, fn func(path string, version int, sealed []byte) ([]byte, error)) (int, error)
}
