package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// maxImageUsers bounds the users an ImageInUseError lists.
const maxImageUsers = 20

const imageColumns = "name, id, owner, image, created_at, updated_at"

// scanImage reads imageColumns: the document, then the columns, which are the truth of
// what they hold.
func scanImage(row pgx.Row) (store.Image, error) {
	var img store.Image
	var name, id, owner string
	var doc []byte
	var created, updated time.Time
	if err := row.Scan(&name, &id, &owner, &doc, &created, &updated); err != nil {
		return img, err
	}
	if err := json.Unmarshal(doc, &img); err != nil {
		return img, fmt.Errorf("decode image %s: %w", name, err)
	}
	img.Name, img.ID, img.Owner, img.CreatedAt, img.UpdatedAt = name, id, owner, created, updated
	return img, nil
}

func imageChanged(name string) []store.Change {
	return []store.Change{{Kind: store.ChangeImage, Name: name}}
}

// lockNamedImage locks FOR SHARE the image that ref names ("@name"; nothing for another
// reference, nor for an image that does not exist): a write that makes ref a user of the
// image takes it, so that DeleteImage, which locks the image FOR UPDATE before it looks
// for users, either waits for the write to commit and sees its user, or deletes first.
func lockNamedImage(ctx context.Context, tx pgx.Tx, ref string) error {
	_, err := lockImageRef(ctx, tx, ref)
	return err
}

// lockImageRef is lockNamedImage that tells whether the image exists (true for a ref that
// names none).
func lockImageRef(ctx context.Context, tx pgx.Tx, ref string) (bool, error) {
	name, ok := store.ImageName(ref)
	if !ok {
		return true, nil
	}
	tag, err := tx.Exec(ctx, "SELECT 1 FROM images WHERE name = $1 FOR SHARE", name)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// lockRouteImage is lockNamedImage for a route's Image: a route may not name an image that
// does not exist (store.ImageMissing), checked under the lock, so that a DeleteImage that
// won the race makes the route write fail rather than leave it naming nothing.
func lockRouteImage(ctx context.Context, tx pgx.Tx, ref string) error {
	found, err := lockImageRef(ctx, tx, ref)
	if err == nil && !found {
		err = store.ImageMissing(ref)
	}
	return err
}

// CreateImage stores a new image with a new ID, created and updated now (defaults applied,
// validated); ErrExists if the name is taken (the primary key decides between two nodes).
func (s *DB) CreateImage(ctx context.Context, img store.Image) (store.Image, error) {
	img.ApplyDefaults()
	if err := img.Validate(); err != nil {
		return store.Image{}, err
	}
	img.ID = s.NewID()
	doc, err := jsonValue(img)
	if err != nil {
		return store.Image{}, err
	}
	err = s.write(ctx, "create image", func(tx pgx.Tx) ([]store.Change, error) {
		if err := lockNamedImage(ctx, tx, img.Base); err != nil {
			return nil, err
		}
		err := tx.QueryRow(ctx, `INSERT INTO images (name, id, owner, kind, base, image, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, now(), now()) ON CONFLICT (name) DO NOTHING RETURNING created_at, updated_at`,
			img.Name, img.ID, img.Owner, img.Kind, img.Base, doc).Scan(&img.CreatedAt, &img.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.Errorf(store.ErrExists, "image %q already exists", img.Name)
		}
		return imageChanged(img.Name), err
	})
	if err != nil {
		return store.Image{}, err
	}
	return img, nil
}

// UpdateImage applies fn to the stored image in one transaction, its row locked: guard
// vets the stored owner first. fn may not rename it nor change its ID or Owner
// (ErrInvalid); CreatedAt is kept and UpdatedAt becomes now (or a microsecond past the one
// stored). fn runs again, on the image read again, when the transaction failed because
// of another (a deadlock).
func (s *DB) UpdateImage(ctx context.Context, name string, fn func(*store.Image) error, guard store.AppGuard) (store.Image, error) {
	var img store.Image
	err := s.write(ctx, "update image", func(tx pgx.Tx) ([]store.Change, error) {
		old, err := scanImage(tx.QueryRow(ctx, "SELECT "+imageColumns+" FROM images WHERE name = $1 FOR UPDATE", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("image", name)
		}
		if err != nil {
			return nil, err
		}
		if guard != nil {
			if err := guard(old.Owner); err != nil {
				return nil, err
			}
		}
		img = old
		if err := fn(&img); err != nil {
			return nil, err
		}
		switch {
		case img.Name != old.Name:
			return nil, store.Invalid("name", "an image cannot be renamed (%q to %q)", old.Name, img.Name)
		case img.ID != old.ID:
			return nil, store.Invalid("id", "image %q keeps its ID", old.Name)
		case img.Owner != old.Owner:
			return nil, store.Invalid("owner", "image %q keeps its owner", old.Name)
		}
		img.ApplyDefaults()
		if err := img.Validate(); err != nil {
			return nil, err
		}
		img.CreatedAt = old.CreatedAt
		if img.Base != old.Base {
			if err := lockNamedImage(ctx, tx, img.Base); err != nil {
				return nil, err
			}
		}
		doc, err := jsonValue(img)
		if err != nil {
			return nil, err
		}
		err = tx.QueryRow(ctx, `UPDATE images SET kind = $2, base = $3, image = $4,
			updated_at = greatest(now(), updated_at + interval '1 microsecond') WHERE name = $1 RETURNING updated_at`,
			name, img.Kind, img.Base, doc).Scan(&img.UpdatedAt)
		return imageChanged(name), err
	})
	if err != nil {
		return store.Image{}, err
	}
	return img, nil
}

// GetImage reads one image.
func (s *DB) GetImage(ctx context.Context, name string) (store.Image, error) {
	img, err := scanImage(s.pool.QueryRow(ctx, "SELECT "+imageColumns+" FROM images WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Image{}, store.NotFound("image", name)
	}
	return img, dbError("get image", err)
}

// ListImages returns one page of the images that pass f, in name order, and the cursor of
// the next page; f.Kind is a condition of the query, f.Visible is applied as rows are read.
func (s *DB) ListImages(ctx context.Context, f store.ImageFilter, page store.Page) ([]store.Image, string, error) {
	read := func(after string, n int) ([]store.Image, error) {
		rows, err := s.pool.Query(ctx, "SELECT "+imageColumns+` FROM images WHERE name > $1 AND ($2 = '' OR kind = $2)
			ORDER BY name LIMIT $3`, after, f.Kind, n)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Image, error) { return scanImage(row) })
	}
	imgs, next, err := visiblePage(page, f.Visible, func(i store.Image) string { return i.Name }, read)
	return imgs, next, dbError("list images", err)
}

// DeleteImage removes an image and its log in one transaction: the image's row is locked
// FOR UPDATE, guard vets its owner and check the stored image, then the routes and images
// that name it (each such write locks the row FOR SHARE, so none is committed meanwhile)
// refuse it with an ImageInUseError.
func (s *DB) DeleteImage(ctx context.Context, name string, guard store.AppGuard, check func(store.Image) error) error {
	return s.write(ctx, "delete image", func(tx pgx.Tx) ([]store.Change, error) {
		img, err := scanImage(tx.QueryRow(ctx, "SELECT "+imageColumns+" FROM images WHERE name = $1 FOR UPDATE", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("image", name)
		}
		if err != nil {
			return nil, err
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
		users, err := imageUsers(ctx, tx, name, maxImageUsers)
		if err != nil {
			return nil, err
		}
		if len(users) > 0 {
			return nil, &store.ImageInUseError{Image: name, Users: users}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM images WHERE name = $1", name); err != nil { // its log goes with it (ON DELETE CASCADE)
			return nil, err
		}
		return imageChanged(name), nil
	})
}

// ImageUsers lists (at most limit; all when limit <= 0) the routes that name image name
// ("@name"), in app then path order, then the images whose Base it is, in name order. An
// image that does not exist may still have users: ErrNotFound is never returned.
func (s *DB) ImageUsers(ctx context.Context, name string, limit int) ([]store.ImageUser, error) {
	users, err := imageUsers(ctx, s.pool, name, limit)
	return users, dbError("read image users", err)
}

// querier is what imageUsers reads with: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func imageUsers(ctx context.Context, tx querier, name string, limit int) ([]store.ImageUser, error) {
	var lim *int // NULL: no limit
	if limit > 0 {
		lim = &limit
	}
	ref := store.ImageRefPrefix + name
	rows, err := tx.Query(ctx, "SELECT app, path FROM routes WHERE image = $1 ORDER BY app, path LIMIT $2", ref, lim)
	if err != nil {
		return nil, err
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.ImageUser, error) {
		var u store.ImageUser
		return u, row.Scan(&u.App, &u.Path)
	})
	if err != nil {
		return nil, err
	}
	if limit > 0 {
		if len(users) >= limit {
			return users, nil
		}
		left := limit - len(users)
		lim = &left
	}
	rows, err = tx.Query(ctx, "SELECT name FROM images WHERE base = $1 ORDER BY name LIMIT $2", ref, lim)
	if err != nil {
		return nil, err
	}
	images, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.ImageUser, error) {
		var u store.ImageUser
		return u, row.Scan(&u.Image)
	})
	if err != nil {
		return nil, err
	}
	return append(append([]store.ImageUser{}, users...), images...), nil
}

// SetImageLog replaces the log of the image's build build, only while that is still its
// Build (ErrConflict otherwise: the image's row is locked FOR SHARE, so its Build does not
// change meanwhile), keeping its last MaxImageLog bytes. It sends no change.
func (s *DB) SetImageLog(ctx context.Context, name, build string, log []byte) error {
	if len(log) > store.MaxImageLog {
		log = log[len(log)-store.MaxImageLog:]
	}
	if log == nil {
		log = []byte{}
	}
	return s.write(ctx, "set image log", func(tx pgx.Tx) ([]store.Change, error) {
		var current string
		err := tx.QueryRow(ctx, "SELECT coalesce(image->>'build', '') FROM images WHERE name = $1 FOR SHARE", name).Scan(&current)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("image", name)
		}
		if err != nil {
			return nil, err
		}
		if current != build {
			return nil, store.Errorf(store.ErrConflict, "image %q is on build %s, not %s", name, current, build)
		}
		_, err = tx.Exec(ctx, `INSERT INTO image_logs (name, log) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET log = EXCLUDED.log`, name, log)
		return nil, err
	})
}

// GetImageLog reads an image's log: empty if none, ErrNotFound without the image.
func (s *DB) GetImageLog(ctx context.Context, name string) ([]byte, error) {
	var log []byte
	err := s.pool.QueryRow(ctx, `SELECT coalesce(l.log, ''::bytea) FROM images i LEFT JOIN image_logs l ON l.name = i.name
		WHERE i.name = $1`, name).Scan(&log)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.NotFound("image", name)
	}
	if err != nil {
		return nil, dbError("get image log", err)
	}
	if log == nil {
		log = []byte{}
	}
	return log, nil
}

// ListAllRoutes returns one page of the routes of every app that passes f, in app then
// path order (the primary key's), and the cursor of the next page: its key is the last
// route's app, a NUL byte (in no app's name), and its path.
func (s *DB) ListAllRoutes(ctx context.Context, f store.RouteFilter, page store.Page) ([]store.Route, string, error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	var afterApp, afterPath string
	if after != "" {
		var ok bool
		if afterApp, afterPath, ok = strings.Cut(after, "\x00"); !ok {
			return nil, "", store.Invalid("cursor", "cursor %q is not one this server gave out", page.Cursor)
		}
	}
	q := "SELECT r.route, r.created_at, r.updated_at FROM routes r"
	args := []any{afterApp, afterPath, page.Size() + 1}
	if f.Owner != "" {
		q += " JOIN apps a ON a.name = r.app AND a.owner = $4"
		args = append(args, f.Owner)
	}
	q += " WHERE (r.app, r.path) > ($1, $2) ORDER BY r.app, r.path LIMIT $3"
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", dbError("list all routes", err)
	}
	routes, next, err := collectPage(rows, page.Size(), scanRoute, func(r store.Route) string { return r.App + "\x00" + r.Path })
	return routes, next, dbError("list all routes", err)
}
