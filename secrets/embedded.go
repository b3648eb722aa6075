package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gantry-dev/gantry/store"
)

// KeySize is the size of the embedded backend's key: AES-256.
const KeySize = 32

// keyCheckPath holds a value sealed with the key its store's values are sealed with: a node
// given another key cannot open it and refuses to start. Backend paths never start with ".".
const keyCheckPath = ".key-check"

var keyCheckPlain = []byte("gantry secret key check v1")

// Values is what the embedded backend needs of the store: its sealed values.
type Values interface {
	PutSecretValue(ctx context.Context, path string, sealed []byte) (int, error)
	GetSecretValue(ctx context.Context, path string, version int) ([]byte, int, error)
	DestroySecretValues(ctx context.Context, path string, versions []int) error
	DeleteSecretValues(ctx context.Context, path string) error
	RewriteSecretValues(ctx context.Context, fn func(path string, version int, sealed []byte) ([]byte, error)) (int, error)
}

// Embedded is the default backend when no Vault is configured: values sealed with
// AES-256-GCM (a random nonce per value, the path as additional data, so that a sealed
// value moved to another path does not open) in the store itself, bbolt or PostgreSQL.
// The key never enters the store: it is a file every node must be given.
type Embedded struct {
	values Values
	aead   cipher.AEAD
}

// OpenEmbedded opens the embedded backend over values with key. The first node to open a
// store leaves a check value sealed with its key; a node with another key fails with
// ErrWrongKey rather than serve values it cannot open.
func OpenEmbedded(ctx context.Context, values Values, key []byte) (*Embedded, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	e := &Embedded{values: values, aead: aead}
	if err := e.checkKey(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key: %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return cipher.NewGCM(block)
}

// checkKey opens the store's first key check value, writing it if there is none. Two
// nodes that start at once with different keys both write one; the first written
// (version 1) is the store's, and the other node fails.
func (e *Embedded) checkKey(ctx context.Context) error {
	sealed, _, err := e.values.GetSecretValue(ctx, keyCheckPath, 1)
	if errors.Is(err, store.ErrNotFound) {
		s, err := seal(e.aead, keyCheckPath, keyCheckPlain)
		if err != nil {
			return err
		}
		if _, err := e.values.PutSecretValue(ctx, keyCheckPath, s); err != nil {
			return fmt.Errorf("store the secret key check: %w", err)
		}
		sealed, _, err = e.values.GetSecretValue(ctx, keyCheckPath, 1)
		if err != nil {
			return fmt.Errorf("read the secret key check: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read the secret key check: %w", err)
	}
	if _, err := open(e.aead, keyCheckPath, sealed); err != nil {
		return fmt.Errorf("%w: the secrets of this store were sealed with another key (give every node the same --secret-key-file)", ErrWrongKey)
	}
	return nil
}

// Name is "embedded".
func (e *Embedded) Name() string { return "embedded" }

// Put seals data and stores it as the next version of path.
func (e *Embedded) Put(ctx context.Context, path string, data map[string][]byte) (int, error) {
	plain, err := json.Marshal(data)
	if err != nil {
		return 0, err
	}
	sealed, err := seal(e.aead, path, plain)
	if err != nil {
		return 0, err
	}
	v, err := e.values.PutSecretValue(ctx, path, sealed)
	return v, storeErr(err)
}

// Get opens a version of path (0: the latest).
func (e *Embedded) Get(ctx context.Context, path string, version int) (map[string][]byte, error) {
	sealed, _, err := e.values.GetSecretValue(ctx, path, version)
	if err != nil {
		return nil, storeErr(err)
	}
	plain, err := open(e.aead, path, sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: the value at %s does not open with this key", ErrWrongKey, path)
	}
	var data map[string][]byte
	if err := json.Unmarshal(plain, &data); err != nil {
		return nil, fmt.Errorf("value at %s: %w", path, err)
	}
	return data, nil
}

// Current is the latest version kept at path (0: none).
func (e *Embedded) Current(ctx context.Context, path string) (int, error) {
	_, v, err := e.values.GetSecretValue(ctx, path, 0)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	return v, storeErr(err)
}

// Destroy removes versions of path.
func (e *Embedded) Destroy(ctx context.Context, path string, versions []int) error {
	return storeErr(e.values.DestroySecretValues(ctx, path, versions))
}

// Delete removes every version of path.
func (e *Embedded) Delete(ctx context.Context, path string) error {
	return storeErr(e.values.DeleteSecretValues(ctx, path))
}

// storeErr maps the store's kinds onto the backend's: a missing value is ErrNotFound, a
// store that cannot be reached is ErrUnavailable.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, store.ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func seal(aead cipher.AEAD, path string, plain []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, []byte(path)), nil
}

func open(aead cipher.AEAD, path string, sealed []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	return aead.Open(nil, sealed[:n], sealed[n:], []byte(path))
}

// RotateKey re-seals every value of the store (the key check included) from oldKey to
// newKey in one write: all of them, or none if any fails to open.
func RotateKey(ctx context.Context, values Values, oldKey, newKey []byte) (int, error) {
	if _, err := OpenEmbedded(ctx, values, oldKey); err != nil {
		return 0, err
	}
	from, err := newAEAD(oldKey)
	if err != nil {
		return 0, err
	}
	to, err := newAEAD(newKey)
	if err != nil {
		return 0, err
	}
	return values.RewriteSecretValues(ctx, func(path string, version int, sealed []byte) ([]byte, error) {
		plain, err := open(from, path, sealed)
		if err != nil {
			return nil, fmt.Errorf("%w: version %d of %s does not open with the current key", ErrWrongKey, version, path)
		}
		return seal(to, path, plain)
	})
}

// LoadKey reads a key file: the base64 of KeySize random bytes. A file that others than
// its owner may read is refused. With create, a missing file is made (mode 0600) with a
// new random key.
func LoadKey(path string, create bool) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret key file %s: mode %#o lets others read it; make it 0600", path, info.Mode().Perm())
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("secret key file %s: want the base64 of %d bytes (as `gantry server` writes it)", path, KeySize)
	}
	return key, nil
}

func createKey(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("secret key file: %w", errors.Join(err, os.Remove(path)))
	}
	return key, nil
}
