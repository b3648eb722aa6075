package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
)

// A write that makes something a user of an image (a route naming "@web", an image built on
// it) waits while another node's DeleteImage holds the image between its check and its
// commit: the delete never misses a user committed in between. Without the FOR SHARE lock
// such writes take, the write would return while the delete is paused. Once the delete
// commits, a route write fails (the image it names is gone: store.ImageMissing) rather
// than leave a route naming an image that another owner could make again.
func TestImageUsersWaitForADeleteInProgress(t *testing.T) {
	dsn := pgtest.Schema(t)
	a, b := openTest(t, dsn, "node-a"), openTest(t, dsn, "node-b")
	ctx := t.Context()
	mustCreate := func(name string) {
		t.Helper()
		if _, err := a.CreateImage(ctx, store.Image{Name: name, Source: store.ImageSourceLoad, Status: store.ImageReady, Build: "b1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.CreateApp(ctx, store.App{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		write     func() error
		routeGone bool // the write is a route's, refused once the image is gone
	}{
		{"a route created naming it", func() error {
			_, err := b.CreateRoute(ctx, store.Route{App: "shop", Path: "/new", Image: "@web"}, nil)
			return err
		}, true},
		{"a route put naming it", func() error {
			_, _, err := b.PutRoute(ctx, store.Route{App: "shop", Path: "/put", Image: "@web"}, nil)
			return err
		}, true},
		{"a route updated to name it", func() error {
			if _, _, err := b.PutRoute(ctx, store.Route{App: "shop", Path: "/upd", Image: "busybox"}, nil); err != nil {
				return err
			}
			_, err := b.UpdateRoute(ctx, "shop", "/upd", func(r *store.Route) error { r.Image = "@web"; return nil }, nil)
			return err
		}, true},
		{"an image built on it", func() error {
			_, err := b.CreateImage(ctx, store.Image{Name: "child", Source: store.ImageSourceBuild, Base: "@web", Status: store.ImageCreating, Build: "b1"})
			return err
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			mustCreate("web")
			entered, release := make(chan struct{}), make(chan struct{})
			deleted := make(chan error, 1)
			go func() {
				deleted <- a.DeleteImage(ctx, "web", nil, func(store.Image) error {
					close(entered)
					<-release
					return nil
				})
			}()
			<-entered
			wrote := make(chan error, 1)
			go func() { wrote <- c.write() }()
			select {
			case err := <-wrote:
				close(release)
				t.Fatalf("the write returned (%v) while a delete of the image held it", err)
			case <-time.After(300 * time.Millisecond):
			}
			close(release)
			if err := <-deleted; err != nil {
				t.Fatalf("the delete, its users checked before the write: %v", err)
			}
			err := <-wrote
			var verr *store.ValidationError
			switch {
			case c.routeGone && (!errors.As(err, &verr) || verr.Field != "image" || verr.Message != "image @web does not exist"):
				t.Fatalf("the route write, once the delete committed: %v, want image @web does not exist", err)
			case !c.routeGone && err != nil:
				t.Fatalf("the write, once the delete committed: %v", err)
			}
			for _, p := range []string{"/new", "/put", "/upd"} {
				if r, err := b.GetRoute(ctx, "shop", p); err == nil && r.Image == "@web" {
					t.Fatalf("route shop%s names the deleted image", p)
				}
			}
			// Clean up for the next case: what the write made goes.
			for _, p := range []string{"/new", "/put", "/upd"} {
				if err := b.DeleteRoute(context.Background(), "shop", p, nil); err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Fatal(err)
				}
			}
			if err := b.DeleteImage(context.Background(), "child", nil, nil); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
		})
	}
}
