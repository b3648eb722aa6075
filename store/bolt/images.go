package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketImages      = []byte("images")       // name -> store.Image JSON
	bucketImageLogs   = []byte("image_logs")   // name -> the log of its current (or last) build
	bucketImageRoutes = []byte("image_routes") // image name \x00 app \x00 path -> empty: the routes that name "@name"
)

// maxImageUsers bounds the users an ImageInUseError lists.
const maxImageUsers = 20

func imageChanged(name string) []store.Change {
	return []store.Change{{Kind: store.ChangeImage, Name: name}}
}

func imageRoutePrefix(name string) []byte { return append([]byte(name), 0) }

func imageRouteKey(name, app, path string) []byte {
	return append(append(append(imageRoutePrefix(name), app...), 0), path...)
}

// indexRouteImage keeps bucketImageRoutes in step with a route write in tx: old is the
// route stored before it (nil when it is new), r the one stored after (nil when deleted).
func indexRouteImage(tx *bolt.Tx, old, r *store.Route) error {
	b := tx.Bucket(bucketImageRoutes)
	if old != nil {
		if name, ok := store.ImageName(old.Image); ok && (r == nil || r.Image != old.Image) {
			if err := b.Delete(imageRouteKey(name, old.App, old.Path)); err != nil {
				return err
			}
		}
	}
	if r != nil {
		if name, ok := store.ImageName(r.Image); ok {
			return b.Put(imageRouteKey(name, r.App, r.Path), nil)
		}
	}
	return nil
}

// checkRouteImage refuses, inside the write tx, a route whose Image names an image that
// does not exist (store.ImageMissing): bbolt writes one at a time, so a DeleteImage either
// ran before (and the image is gone) or runs after and sees the route.
func checkRouteImage(tx *bolt.Tx, r store.Route) error {
	if name, ok := store.ImageName(r.Image); ok && tx.Bucket(bucketImages).Get([]byte(name)) == nil {
		return store.ImageMissing(r.Image)
	}
	return nil
}

// indexRouteImages builds bucketImageRoutes from the stored routes (migration 10: routes
// stored before it may already name "@name").
func indexRouteImages(tx *bolt.Tx) error {
	return tx.Bucket(bucketRoutes).ForEach(func(k, v []byte) error {
		var r store.Route
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode route %q: %w", k, err)
		}
		return indexRouteImage(tx, nil, &r)
	})
}

// getImageTx reads an image; found is false without it.
func getImageTx(tx *bolt.Tx, name string) (store.Image, bool, error) {
	var img store.Image
	found, err := getJSON(tx.Bucket(bucketImages), []byte(name), &img)
	return img, found, err
}

// CreateImage stores a new image with a new ID, CreatedAt and UpdatedAt now (defaults
// applied, validated); ErrExists if the name is taken.
func (s *DB) CreateImage(ctx context.Context, img store.Image) (store.Image, error) {
	img.ApplyDefaults()
	if err := img.Validate(); err != nil {
		return store.Image{}, err
	}
	img.ID = s.NewID()
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		img.CreatedAt = s.now()
		img.UpdatedAt = img.CreatedAt
		return imageChanged(img.Name), putNew(tx.Bucket(bucketImages), "image", img.Name, img)
	})
	if err != nil {
		return store.Image{}, err
	}
	return img, nil
}

// UpdateImage applies fn to the stored image in one write, after guard vetted its stored
// owner; fn may not rename it nor change its ID or Owner (ErrInvalid). CreatedAt is kept,
// UpdatedAt moves (now, or past the one stored when the clock did not move).
func (s *DB) UpdateImage(ctx context.Context, name string, fn func(*store.Image) error, guard store.AppGuard) (store.Image, error) {
	var out store.Image
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		img, found, err := getImageTx(tx, name)
		switch {
		case err != nil:
			return nil, err
		case !found:
			return nil, store.NotFound("image", name)
		}
		if guard != nil {
			if err := guard(img.Owner); err != nil {
				return nil, err
			}
		}
		old := img
		if err := fn(&img); err != nil {
			return nil, err
		}
		if err := checkImageUpdate(old, &img); err != nil {
			return nil, err
		}
		img.CreatedAt, img.UpdatedAt = old.CreatedAt, s.now()
		if !img.UpdatedAt.After(old.UpdatedAt) {
			img.UpdatedAt = old.UpdatedAt.Add(time.Millisecond)
		}
		out = img
		return imageChanged(name), putJSON(tx.Bucket(bucketImages), []byte(name), img)
	})
	if err != nil {
		return store.Image{}, err
	}
	return out, nil
}

// checkImageUpdate refuses what an UpdateImage's fn may not change, and an image it left invalid.
func checkImageUpdate(old store.Image, img *store.Image) error {
	switch {
	case img.Name != old.Name:
		return store.Invalid("name", "an image cannot be renamed (%q to %q)", old.Name, img.Name)
	case img.ID != old.ID:
		return store.Invalid("id", "image %q keeps its ID", old.Name)
	case img.Owner != old.Owner:
		return store.Invalid("owner", "image %q keeps its owner", old.Name)
	}
	img.ApplyDefaults()
	return img.Validate()
}

// GetImage reads one image.
func (s *DB) GetImage(ctx context.Context, name string) (store.Image, error) {
	var img store.Image
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var found bool
		var err error
		img, found, err = getImageTx(tx, name)
		if err == nil && !found {
			err = store.NotFound("image", name)
		}
		return err
	})
	return img, err
}

// ListImages returns one page of the images that pass f, in name order, and the cursor of
// the next page ("" on the last).
func (s *DB) ListImages(ctx context.Context, f store.ImageFilter, page store.Page) ([]store.Image, string, error) {
	out := []store.Image{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, next, err = listPage(tx.Bucket(bucketImages), nil, page, func(v []byte) (img store.Image, kept bool, err error) {
			if err := json.Unmarshal(v, &img); err != nil {
				return img, false, fmt.Errorf("decode image: %w", err)
			}
			if (f.Kind != "" && img.Kind != f.Kind) || (f.Visible != nil && !f.Visible(img)) {
				return img, false, nil
			}
			return img, true, nil
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// DeleteImage removes an image and its log in one write: guard vets the stored owner,
// check the stored image, then the image's users (routes by the index route writes keep,
// images by their Base) refuse it with an ImageInUseError.
func (s *DB) DeleteImage(ctx context.Context, name string, guard store.AppGuard, check func(store.Image) error) error {
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		img, found, err := getImageTx(tx, name)
		switch {
		case err != nil:
			return nil, err
		case !found:
			return nil, store.NotFound("image", name)
		}
		if guard != nil {
			if err := guard(img.Owner); err != nil {
				return nil, err
			}
		}
		if check != nil {
			if err := check(img); err != nil {
				return nil, err
			}
		}
		users, err := imageUsersTx(tx, name, maxImageUsers)
		if err != nil {
			return nil, err
		}
		if len(users) > 0 {
			return nil, &store.ImageInUseError{Image: name, Users: users}
		}
		if err := tx.Bucket(bucketImageLogs).Delete([]byte(name)); err != nil {
			return nil, err
		}
		return imageChanged(name), tx.Bucket(bucketImages).Delete([]byte(name))
	})
}

// ImageUsers lists (at most limit; all when limit <= 0) the routes that name image name
// ("@name"), in app then path order, then the images whose Base it is, in name order.
// An image that does not exist may still have users: ErrNotFound is never returned.
func (s *DB) ImageUsers(ctx context.Context, name string, limit int) ([]store.ImageUser, error) {
	var users []store.ImageUser
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		users, err = imageUsersTx(tx, name, limit)
		return err
	})
	return users, err
}

func imageUsersTx(tx *bolt.Tx, name string, limit int) ([]store.ImageUser, error) {
	users := []store.ImageUser{}
	full := func() bool { return limit > 0 && len(users) >= limit }
	prefix := imageRoutePrefix(name)
	c := tx.Bucket(bucketImageRoutes).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && !full(); k, _ = c.Next() {
		app, path, ok := bytes.Cut(k[len(prefix):], []byte{0})
		if !ok {
			return nil, fmt.Errorf("image route index key %q is corrupt", k)
		}
		users = append(users, store.ImageUser{App: string(app), Path: string(path)})
	}
	ref := store.ImageRefPrefix + name
	c = tx.Bucket(bucketImages).Cursor()
	for k, v := c.First(); k != nil && !full(); k, v = c.Next() {
		var img store.Image
		if err := json.Unmarshal(v, &img); err != nil {
			return nil, fmt.Errorf("decode image %q: %w", k, err)
		}
		if img.Base == ref {
			users = append(users, store.ImageUser{Image: img.Name})
		}
	}
	return users, nil
}

// SetImageLog replaces the log of the image's build build, only while that is still its
// Build (ErrConflict otherwise), keeping its last MaxImageLog bytes. It sends no change.
func (s *DB) SetImageLog(ctx context.Context, name, build string, log []byte) error {
	if len(log) > store.MaxImageLog {
		log = log[len(log)-store.MaxImageLog:]
	}
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		img, found, err := getImageTx(tx, name)
		switch {
		case err != nil:
			return nil, err
		case !found:
			return nil, store.NotFound("image", name)
		case img.Build != build:
			return nil, store.Errorf(store.ErrConflict, "image %q is on build %s, not %s", name, img.Build, build)
		}
		return nil, tx.Bucket(bucketImageLogs).Put([]byte(name), log)
	})
}

// GetImageLog reads an image's log: empty if none, ErrNotFound without the image.
func (s *DB) GetImageLog(ctx context.Context, name string) ([]byte, error) {
	out := []byte{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketImages).Get([]byte(name)) == nil {
			return store.NotFound("image", name)
		}
		out = append(out, tx.Bucket(bucketImageLogs).Get([]byte(name))...) // copied out of bbolt's memory
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListAllRoutes returns one page of the routes of every app that passes f, in app then
// path order (their keys' order), and the cursor of the next page.
func (s *DB) ListAllRoutes(ctx context.Context, f store.RouteFilter, page store.Page) ([]store.Route, string, error) {
	routes := []store.Route{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		owners := map[string]string{} // app -> owner, read once per app
		apps := tx.Bucket(bucketApps)
		var err error
		routes, next, err = listPage(tx.Bucket(bucketRoutes), nil, page, func(v []byte) (r store.Route, kept bool, err error) {
			if err := json.Unmarshal(v, &r); err != nil {
				return r, false, fmt.Errorf("decode route: %w", err)
			}
			if f.Owner == "" {
				return r, true, nil
			}
			owner, ok := owners[r.App]
			if !ok {
				var a store.App
				if _, err := getJSON(apps, []byte(r.App), &a); err != nil {
					return r, false, err
				}
				owner = a.Owner
				owners[r.App] = owner
			}
			return r, owner == f.Owner, nil
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return routes, next, nil
}
