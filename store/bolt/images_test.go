package bolt

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

// A data file of schema 9 whose routes already name images ("@name") gains the image
// buckets on open, and its routes are in the index that DeleteImage and ImageUsers read.
func TestMigrationToImagesIndexesRoutes(t *testing.T) {
	dir := t.TempDir()
	old, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = old.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		for _, m := range migrations[:9] {
			if err := m(tx); err != nil {
				return err
			}
		}
		if err := putJSON(tx.Bucket(bucketApps), []byte("shop"), store.App{Name: "shop", ID: "app1"}); err != nil {
			return err
		}
		for _, r := range []store.Route{{App: "shop", Path: "/a", Image: "@web"}, {App: "shop", Path: "/b", Image: "busybox"}} {
			if err := putJSON(tx.Bucket(bucketRoutes), routeKey(r.App, r.Path), r); err != nil {
				return err
			}
		}
		return meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, 9))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, dir)
	ctx := t.Context()
	if _, err := s.CreateImage(ctx, store.Image{Name: "web", Source: store.ImageSourceLoad, Status: store.ImageReady, Build: "b"}); err != nil {
		t.Fatal(err)
	}
	users, err := s.ImageUsers(ctx, "web", 0)
	if want := []store.ImageUser{{App: "shop", Path: "/a"}}; err != nil || !slices.Equal(users, want) {
		t.Fatalf("users after migration: %+v %v, want %+v", users, err, want)
	}
	if err := s.DeleteImage(ctx, "web", nil, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete an image a route stored before the migration names: %v, want ErrConflict", err)
	}
}
