package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// Store is what the service needs of the store: the secrets' records and its change feed.
type Store interface {
	CreateSecret(ctx context.Context, s store.Secret) (store.Secret, error)
	UpdateSecret(ctx context.Context, name string, fn func(*store.Secret) error, guard store.SecretGuard) (store.Secret, error)
	GetSecret(ctx context.Context, name string) (store.Secret, error)
	ListSecrets(ctx context.Context, f store.SecretFilter, page store.Page) ([]store.Secret, string, error)
	PendingSecrets(ctx context.Context) ([]store.Secret, error)
	DeleteSecret(ctx context.Context, name string, guard func(store.Secret) error) error
	NewID() string
	Subscribe(fn func(store.Change)) (unsubscribe func())
}

// Options tune a Service.
type Options struct {
	// PendingGrace is how long a write may stay pending before Recover takes it for one a
	// crash interrupted (default 2 minutes; a backend call is bounded well below it).
	PendingGrace time.Duration
	// RecoverInterval is how often Run recovers pending writes (default 1 minute).
	RecoverInterval time.Duration
	Log             *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Service keeps secrets: their values in a Backend, their records in the store.
type Service struct {
	store   Store
	backend Backend
	opts    Options
	log     *slog.Logger

	mu       sync.Mutex
	versions map[string]cachedSecret // committed records, a cache of the store
	gen      uint64                  // counts the changes observed: a read older than one is not cached
	unsub    func()
}

// New returns a service over st and b. Close it to stop following the store.
func New(st Store, b Backend, opts Options) *Service {
	if opts.PendingGrace <= 0 {
		opts.PendingGrace = 2 * time.Minute
	}
	if opts.RecoverInterval <= 0 {
		opts.RecoverInterval = time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{store: st, backend: b, opts: opts, log: opts.Log, versions: map[string]cachedSecret{}}
	s.unsub = st.Subscribe(s.observe)
	return s
}

// Close stops following the store.
func (s *Service) Close() { s.unsub() }

// Backend names the backend: "vault" or "embedded".
func (s *Service) Backend() string { return s.backend.Name() }

// observe forgets what the store says changed: the next Version reads it again.
func (s *Service) observe(c store.Change) {
	switch c.Kind {
	case store.ChangeSecret:
		s.mu.Lock()
		delete(s.versions, c.Name)
		s.gen++
		s.mu.Unlock()
	case store.ChangeReset:
		s.mu.Lock()
		clear(s.versions)
		s.gen++
		s.mu.Unlock()
	}
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// Paths of the values of each kind, under the backend's prefix.
func secretPath(name string) string { return "secrets/" + name }
func sshKeyPath(user string) string { return "ssh-keys/" + user }
func tlsKeyPath(api string) string  { return "tls-keys/" + api }

// Get returns the record of a committed secret (ErrNotFound otherwise); never its value.
func (s *Service) Get(ctx context.Context, name string) (store.Secret, error) {
	rec, err := s.store.GetSecret(ctx, name)
	if err != nil {
		return store.Secret{}, err
	}
	if !rec.Committed() {
		return store.Secret{}, store.NotFound("secret", name)
	}
	return rec, nil
}

// List returns a page of committed records.
func (s *Service) List(ctx context.Context, f store.SecretFilter, page store.Page) ([]store.Secret, string, error) {
	return s.store.ListSecrets(ctx, f, page)
}

// PutSecret stores data as the new value of the function secret name (a new version; the
// record is created, owned by owner, when there is none). guard vets the owner of an
// existing one. created tells which.
func (s *Service) PutSecret(ctx context.Context, name, owner, by string, data map[string][]byte, guard store.SecretGuard) (rec store.Secret, created bool, err error) {
	if err := store.ValidateSecretName(name); err != nil {
		return store.Secret{}, false, err
	}
	if err := store.ValidateSecretData(data); err != nil {
		return store.Secret{}, false, err
	}
	rec = store.Secret{Name: name, Kind: store.SecretKindSecret, Owner: owner, Path: secretPath(name)}
	return s.write(ctx, rec, data, &store.SecretPending{Keys: sortedKeys(data), By: by}, guard)
}

// SSHKey is a generated key pair as the API shows it once: the public key, never again.
type SSHKey struct {
	PublicKey string
	Record    store.Secret
}

// GenerateSSHKey makes a new SSH key pair for user and stores its private key: the first,
// or a rotation (the backend keeps the previous version). Only the returned value ever
// holds the public key.
func (s *Service) GenerateSSHKey(ctx context.Context, user, by string, o KeyOptions) (SSHKey, error) {
	if err := store.ValidateSSHUser(user); err != nil {
		return SSHKey{}, err
	}
	if err := o.Validate(user); err != nil {
		return SSHKey{}, err
	}
	kp, err := generateKeyPair(o)
	if err != nil {
		return SSHKey{}, err
	}
	info := &store.SSHKeyInfo{ID: s.store.NewID(), Type: o.Type, Bits: o.Bits, Fingerprint: kp.fingerprint, Comment: o.Comment, Metadata: o.Metadata}
	rec := store.Secret{Name: store.SSHKeySecretName(user), Kind: store.SecretKindSSHKey, Owner: user, Path: sshKeyPath(user)}
	data := map[string][]byte{store.SSHKeyFile: kp.private}
	rec, _, err = s.write(ctx, rec, data, &store.SecretPending{Keys: []string{store.SSHKeyFile}, SSH: info, By: by}, nil)
	if err != nil {
		return SSHKey{}, err
	}
	return SSHKey{PublicKey: kp.public, Record: rec}, nil
}

// SSHKeyRecord returns the record of user's SSH key.
func (s *Service) SSHKeyRecord(ctx context.Context, user string) (store.Secret, error) {
	rec, err := s.Get(ctx, store.SSHKeySecretName(user))
	if errors.Is(err, store.ErrNotFound) {
		return store.Secret{}, store.NotFound("SSH key of user", user)
	}
	return rec, err
}

// PutTLSKey stores the TLS private key of a gateway API.
func (s *Service) PutTLSKey(ctx context.Context, api, owner string, key []byte) error {
	rec := store.Secret{Name: store.TLSKeySecretName(api), Kind: store.SecretKindTLSKey, Owner: owner, Path: tlsKeyPath(api)}
	_, _, err := s.write(ctx, rec, map[string][]byte{"key": key}, &store.SecretPending{Keys: []string{"key"}, By: owner}, nil)
	return err
}

// TLSKey reads the TLS private key of a gateway API.
func (s *Service) TLSKey(ctx context.Context, api string) ([]byte, error) {
	files, err := s.read(ctx, store.TLSKeySecretName(api))
	if err != nil {
		return nil, err
	}
	return files["key"], nil
}

// Delete removes a secret of kind and every version of its value. guard vets the record
// inside the write that marks it.
func (s *Service) Delete(ctx context.Context, name, kind string, guard store.SecretGuard) error {
	rec, err := s.store.UpdateSecret(ctx, name, func(r *store.Secret) error {
		if r.Kind != kind || !r.Committed() && (r.Pending == nil || r.Pending.Op != store.SecretOpDelete) {
			return store.NotFound("secret", name)
		}
		if r.Pending != nil && r.Pending.Op == store.SecretOpPut && !s.stale(r.Pending) {
			return store.Errorf(store.ErrConflict, "secret %q is being written; try again", name)
		}
		r.Pending = &store.SecretPending{Op: store.SecretOpDelete, ID: s.store.NewID(), Since: s.now()}
		return nil
	}, guard)
	if err != nil {
		return err
	}
	if err := s.finishDelete(ctx, rec); err != nil {
		s.abandon(context.WithoutCancel(ctx), rec)
		return err
	}
	return nil
}

// finishDelete removes the value then the record of a secret marked for deletion. It is
// resumable: a crash or an unavailable backend leaves the mark, and the next Delete or
// Recover goes on from it.
func (s *Service) finishDelete(ctx context.Context, rec store.Secret) error {
	if err := s.backend.Delete(ctx, rec.Path); err != nil {
		return fmt.Errorf("delete secret %q: %w", rec.Name, err)
	}
	err := s.store.DeleteSecret(ctx, rec.Name, func(r store.Secret) error {
		if !samePending(r.Pending, rec.Pending) {
			return errMoved
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, errMoved) {
		return nil // another node finished it, or took the mark over to finish it
	}
	return err
}

// Files returns the values of refs for one container: ref → key → value. refs name secrets
// as routes do, "ssh:@caller" resolved. A ref without a committed secret fails with
// store.ErrConflict naming it.
func (s *Service) Files(ctx context.Context, refs []string) (map[string]map[string][]byte, error) {
	out := make(map[string]map[string][]byte, len(refs))
	for _, ref := range refs {
		files, err := s.read(ctx, ref)
		if err != nil {
			return nil, err
		}
		out[ref] = files
	}
	return out, nil
}

// read opens the committed value of a secret.
func (s *Service) read(ctx context.Context, name string) (map[string][]byte, error) {
	rec, err := s.store.GetSecret(ctx, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && !rec.Committed() {
		return nil, missing(name)
	}
	if err != nil {
		return nil, err
	}
	data, err := s.backend.Get(ctx, rec.Path, rec.Version)
	if errors.Is(err, ErrNotFound) {
		return nil, store.Errorf(store.ErrConflict, "the value of secret %q is missing from the %s secret store", name, s.backend.Name())
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %q: %w", name, err)
	}
	return data, nil
}

func missing(name string) error {
	return store.Errorf(store.ErrConflict, "secret %q does not exist", name)
}

// Version is when the newest of refs last changed: the pool key of hot containers. Each
// ref must be owner's to give a function: a function secret owner owns, or owner's own SSH
// key; or the SSH key of lent (a workflow run's caller, who lent it to the run; "" for
// none). A ref that does not exist, or is not theirs (an app that changed hands, a name
// deleted and taken by another), fails with store.ErrConflict naming it. It reads the
// store only for records it has not cached since they last changed.
func (s *Service) Version(owner, lent string, refs []string) (time.Time, error) {
	var newest time.Time
	for _, ref := range refs {
		c, err := s.cached(ref)
		if err != nil {
			return time.Time{}, err
		}
		switch {
		case c.kind == store.SecretKindSSHKey && lent != "" && c.owner == lent:
		case c.kind == store.SecretKindSecret, c.kind == store.SecretKindSSHKey:
			if c.owner != owner {
				return time.Time{}, store.Errorf(store.ErrConflict, "secret %q is not %q's: a function gets only its owner's secrets", ref, owner)
			}
		default:
			return time.Time{}, missing(ref)
		}
		if c.updated.After(newest) {
			newest = c.updated
		}
	}
	return newest, nil
}

// cachedSecret is what Version needs of a record.
type cachedSecret struct {
	kind, owner string
	updated     time.Time
}

// cached returns the cached record of name, reading the store on a miss.
func (s *Service) cached(name string) (cachedSecret, error) {
	s.mu.Lock()
	c, ok := s.versions[name]
	gen := s.gen
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec, err := s.store.GetSecret(ctx, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && !rec.Committed() {
		return cachedSecret{}, missing(name)
	}
	if err != nil {
		return cachedSecret{}, err
	}
	c = cachedSecret{kind: rec.Kind, owner: rec.Owner, updated: rec.UpdatedAt}
	s.mu.Lock()
	if s.gen == gen {
		s.versions[name] = c
	}
	s.mu.Unlock()
	return c, nil
}
