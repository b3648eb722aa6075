package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

var bucketSecrets = []byte("secrets") // name -> store.Secret JSON

// CreateSecret stores a new secret's record; ErrExists if the name is taken.
func (s *DB) CreateSecret(ctx context.Context, sec store.Secret) (store.Secret, error) {
	if err := sec.Validate(); err != nil {
		return store.Secret{}, err
	}
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketSecrets)
		if b.Get([]byte(sec.Name)) != nil {
			return nil, store.Errorf(store.ErrExists, "secret %q already exists", sec.Name)
		}
		sec.CreatedAt = s.now()
		sec.UpdatedAt = sec.CreatedAt
		return secretChanged(sec.Name), putJSON(b, []byte(sec.Name), sec)
	})
	if err != nil {
		return store.Secret{}, err
	}
	return sec, nil
}

// UpdateSecret applies fn to the stored record in one transaction, after guard (when set)
// vetted its owner. fn may not rename it; its CreatedAt stays.
func (s *DB) UpdateSecret(ctx context.Context, name string, fn func(*store.Secret) error, guard store.SecretGuard) (store.Secret, error) {
	var sec store.Secret
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketSecrets)
		found, err := getJSON(b, []byte(name), &sec)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, store.NotFound("secret", name)
		}
		if guard != nil {
			if err := guard(sec.Owner); err != nil {
				return nil, err
			}
		}
		created := sec.CreatedAt
		if err := fn(&sec); err != nil {
			return nil, err
		}
		if sec.Name != name {
			return nil, store.Invalid("name", "a secret cannot be renamed (%q to %q)", name, sec.Name)
		}
		if err := sec.Validate(); err != nil {
			return nil, err
		}
		sec.CreatedAt, sec.UpdatedAt = created, s.now()
		return secretChanged(name), putJSON(b, []byte(name), sec)
	})
	if err != nil {
		return store.Secret{}, err
	}
	return sec, nil
}

// GetSecret reads a secret's record, committed or not.
func (s *DB) GetSecret(ctx context.Context, name string) (store.Secret, error) {
	var sec store.Secret
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketSecrets), []byte(name), &sec)
		if err == nil && !found {
			err = store.NotFound("secret", name)
		}
		return err
	})
	if err != nil {
		return store.Secret{}, err
	}
	return sec, nil
}

// ListSecrets returns one page of the committed records that pass f, in name order (the
// order of the bucket's keys), and the cursor of the next page ("" on the last).
func (s *DB) ListSecrets(ctx context.Context, f store.SecretFilter, page store.Page) ([]store.Secret, string, error) {
	out := []store.Secret{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, next, err = listPage(tx.Bucket(bucketSecrets), nil, page, func(v []byte) (sec store.Secret, kept bool, err error) {
			if err := json.Unmarshal(v, &sec); err != nil {
				return sec, false, fmt.Errorf("decode secret: %w", err)
			}
			if !sec.Committed() || f.Owner != "" && sec.Owner != f.Owner || f.Kind != "" && sec.Kind != f.Kind {
				return sec, false, nil
			}
			return sec, true, nil
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// PendingSecrets returns every record with a pending write, in name order. Secrets are a
// few thousand at most: it reads them all.
func (s *DB) PendingSecrets(ctx context.Context) ([]store.Secret, error) {
	out := []store.Secret{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSecrets).ForEach(func(k, v []byte) error {
			var sec store.Secret
			if err := json.Unmarshal(v, &sec); err != nil {
				return fmt.Errorf("decode secret %s: %w", k, err)
			}
			if sec.Pending != nil {
				out = append(out, sec)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteSecret removes a secret's record; guard, when set, vets it inside the transaction.
func (s *DB) DeleteSecret(ctx context.Context, name string, guard func(store.Secret) error) error {
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketSecrets)
		var sec store.Secret
		found, err := getJSON(b, []byte(name), &sec)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, store.NotFound("secret", name)
		}
		if guard != nil {
			if err := guard(sec); err != nil {
				return nil, err
			}
		}
		return secretChanged(name), b.Delete([]byte(name))
	})
}

func secretChanged(name string) []store.Change {
	return []store.Change{{Kind: store.ChangeSecret, Name: name}}
}
