package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

// bucketSecretValues holds sealed values: path \x00 version (big-endian uint32) -> sealed.
// The versions of a path sort numerically after their path, and no other path's keys
// fall among them (a path holds no NUL byte, store.ValidateSecretPath).
var bucketSecretValues = []byte("secret_values")

// maxSecretVersion bounds versions alike on both backends (PostgreSQL's integer).
const maxSecretVersion = math.MaxInt32

// valuePrefix starts the keys of path's versions.
func valuePrefix(path string) []byte { return append([]byte(path), 0) }

func valueKey(path string, version int) []byte {
	return binary.BigEndian.AppendUint32(valuePrefix(path), uint32(version)) //nolint:gosec // G115: 1 <= version <= maxSecretVersion
}

// valueVersion is the version of a key of the bucket (0 for a key that is not one).
func valueVersion(prefix, k []byte) int {
	if len(k) != len(prefix)+4 || !bytes.HasPrefix(k, prefix) {
		return 0
	}
	return int(binary.BigEndian.Uint32(k[len(prefix):]))
}

// latestValue finds path's highest version (0 when it has none) and its value, which is
// bbolt's memory: valid only during tx.
func latestValue(b *bolt.Bucket, path string) (int, []byte) {
	prefix := valuePrefix(path)
	c := b.Cursor()
	// The first key after every version of path is path \x01: the latest is just before.
	var v []byte
	k, _ := c.Seek(append([]byte(path), 1))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	version := valueVersion(prefix, k)
	if version == 0 {
		return 0, nil
	}
	return version, v
}

// PutSecretValue stores sealed as the next version of path: one above its latest.
func (s *DB) PutSecretValue(ctx context.Context, path string, sealed []byte) (int, error) {
	if err := store.ValidateSecretPath(path); err != nil {
		return 0, err
	}
	var version int
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketSecretValues)
		latest, _ := latestValue(b, path)
		if latest >= maxSecretVersion {
			return nil, store.Errorf(store.ErrConflict, "secret value %q has no version left", path)
		}
		version = latest + 1
		// A copy: bbolt keeps the slice until the commit, and the caller may reuse it.
		return nil, b.Put(valueKey(path, version), bytes.Clone(sealed))
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

// GetSecretValue reads a version of path (0: its latest) and returns a copy of it.
func (s *DB) GetSecretValue(ctx context.Context, path string, version int) ([]byte, int, error) {
	if err := store.ValidateSecretPath(path); err != nil {
		return nil, 0, err
	}
	if version < 0 {
		return nil, 0, store.Invalid("version", "version %d is negative (0 reads the latest)", version)
	}
	var sealed []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSecretValues)
		if version == 0 {
			latest, v := latestValue(b, path)
			if latest == 0 {
				return store.NotFound("secret value", path)
			}
			version, sealed = latest, append([]byte{}, v...)
			return nil
		}
		if version <= maxSecretVersion {
			k, v := b.Cursor().Seek(valueKey(path, version))
			if bytes.Equal(k, valueKey(path, version)) {
				sealed = append([]byte{}, v...)
				return nil
			}
		}
		return store.Errorf(store.ErrNotFound, "version %d of secret value %q not found", version, path)
	})
	if err != nil {
		return nil, 0, err
	}
	return sealed, version, nil
}

// DestroySecretValues removes these versions of path; the missing ones are ignored.
func (s *DB) DestroySecretValues(ctx context.Context, path string, versions []int) error {
	if err := store.ValidateSecretPath(path); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketSecretValues)
		for _, v := range versions {
			if v < 1 || v > maxSecretVersion {
				continue // no such version
			}
			if err := b.Delete(valueKey(path, v)); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// DeleteSecretValues removes every version of path.
func (s *DB) DeleteSecretValues(ctx context.Context, path string) error {
	if err := store.ValidateSecretPath(path); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketSecretValues)
		prefix := valuePrefix(path)
		var keys [][]byte // collected first: deleting under a moving cursor may skip keys
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// RewriteSecretValues replaces every value by fn's result in one transaction: fn sees a
// copy of each value; when fn or the commit fails, nothing changed.
func (s *DB) RewriteSecretValues(ctx context.Context, fn func(path string, version int, sealed []byte) ([]byte, error)) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketSecretValues)
		type rewrite struct{ key, sealed []byte }
		var out []rewrite // put once the scan is over: writing under a cursor may move it
		err := b.ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			sep := len(k) - 5 // path \x00 version
			if sep < 1 || k[sep] != 0 {
				return fmt.Errorf("secret value key %q is not a path and a version", k)
			}
			sealed, err := fn(string(k[:sep]), valueVersion(k[:sep+1], k), bytes.Clone(v))
			if err != nil {
				return err
			}
			out = append(out, rewrite{bytes.Clone(k), bytes.Clone(sealed)})
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, r := range out {
			if err := b.Put(r.key, r.sealed); err != nil {
				return nil, err
			}
		}
		n = len(out)
		return nil, nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
