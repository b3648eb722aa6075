package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

var bucketAPIs = []byte("apis") // name -> API JSON
// CreateAPI stores a new API; ErrExists if the name is taken, ErrConflict if it would
// answer the same requests as another.
func (s *DB) CreateAPI(ctx context.Context, a store.API) (store.API, error) {
	a.ApplyDefaults()
	if err := a.Validate(); err != nil {
		return store.API{}, err
	}
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketAPIs)
		if b.Get([]byte(a.Name)) != nil {
			return nil, store.Errorf(store.ErrExists, "API %q already exists", a.Name)
		}
		if err := checkAPIOverlap(b, &a); err != nil {
			return nil, err
		}
		a.CreatedAt = s.now()
		a.UpdatedAt = a.CreatedAt
		return apiChanged(a.Name), putJSON(b, []byte(a.Name), a)
	})
	return a, err
}

// UpdateAPI applies fn to the stored API in one transaction. fn may not rename it.
func (s *DB) UpdateAPI(ctx context.Context, name string, fn func(*store.API) error) (store.API, error) {
	var a store.API
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketAPIs)
		found, err := getJSON(b, []byte(name), &a)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, store.NotFound("API", name)
		}
		if err := fn(&a); err != nil {
			return nil, err
		}
		if a.Name != name {
			return nil, store.Invalid("name", "an API cannot be renamed (%q to %q)", name, a.Name)
		}
		a.ApplyDefaults()
		if err := a.Validate(); err != nil {
			return nil, err
		}
		if err := checkAPIOverlap(b, &a); err != nil {
			return nil, err
		}
		a.UpdatedAt = s.now()
		return apiChanged(name), putJSON(b, []byte(name), a)
	})
	return a, err
}

// checkAPIOverlap refuses, in the write, an API that store.APIConflict refuses beside
// another stored API.
func checkAPIOverlap(b *bolt.Bucket, a *store.API) error {
	return b.ForEach(func(k, v []byte) error {
		if string(k) == a.Name {
			return nil
		}
		var other store.API
		if err := json.Unmarshal(v, &other); err != nil {
			return fmt.Errorf("decode API %s: %w", k, err)
		}
		return store.APIConflict(a, &other)
	})
}

// GetAPI reads one API.
func (s *DB) GetAPI(ctx context.Context, name string) (store.API, error) {
	var a store.API
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketAPIs), []byte(name), &a)
		if err == nil && !found {
			err = store.NotFound("API", name)
		}
		return err
	})
	return a, err
}

// ListAPIs returns one page of the APIs that pass f, in name order.
func (s *DB) ListAPIs(ctx context.Context, f store.APIFilter, page store.Page) ([]store.API, string, error) {
	apis := []store.API{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		apis, next, err = listPage(tx.Bucket(bucketAPIs), nil, page, func(v []byte) (a store.API, kept bool, err error) {
			if err := json.Unmarshal(v, &a); err != nil {
				return a, false, fmt.Errorf("decode API: %w", err)
			}
			if f.Owner != "" && a.Owner != f.Owner {
				return a, false, nil
			}
			return a, true, nil
		})
		return err
	})
	return apis, next, err
}

// AllAPIs reads every API, for the gateway to compile its routing table.
func (s *DB) AllAPIs(ctx context.Context) ([]store.API, error) {
	var apis []store.API
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAPIs).ForEach(func(k, v []byte) error {
			var a store.API
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode API %s: %w", k, err)
			}
			apis = append(apis, a)
			return nil
		})
	})
	return apis, err
}

// DeleteAPI removes an API; guard, when set, vets its owner inside the transaction.
func (s *DB) DeleteAPI(ctx context.Context, name string, guard store.AppGuard) error {
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketAPIs)
		var a store.API
		found, err := getJSON(b, []byte(name), &a)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, store.NotFound("API", name)
		}
		if guard != nil {
			if err := guard(a.Owner); err != nil {
				return nil, err
			}
		}
		return apiChanged(name), b.Delete([]byte(name))
	})
}

func apiChanged(name string) []store.Change {
	return []store.Change{{Kind: store.ChangeAPI, Name: name}}
}
