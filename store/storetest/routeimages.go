package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func routeImageCases() []testCase {
	return []testCase{
		{
			name: "a route write that names an image that does not exist is refused inside the write (ErrInvalid on field image) " +
				"and writes nothing, so an image made later under that name by anyone is never run by an old route",
			covers: []string{"CreateRoute", "PutRoute", "UpdateRoute", "GetRoute", "ImageUsers", "CreateImage", "DeleteImage"},
			run:    testRouteNamesMissingImage,
		},
	}
}

// wantImageMissing checks that err is the ValidationError of a route naming ref, an image
// that does not exist.
func wantImageMissing(t *testing.T, what string, err error, ref string) {
	t.Helper()
	var verr *store.ValidationError
	if !errors.Is(err, store.ErrInvalid) || !errors.As(err, &verr) || verr.Field != "image" ||
		verr.Message != "image "+ref+" does not exist" {
		t.Fatalf("%s naming %s: %v, want the ValidationError of field image %q", what, ref, err, "image "+ref+" does not exist")
	}
}

func testRouteNamesMissingImage(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustApp(t, s, "shop", "ann")
	wantUsers := func(name string, want ...store.ImageUser) {
		t.Helper()
		got, err := s.ImageUsers(ctx, name, 0)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("ImageUsers(%s) = %+v %v, want %+v", name, got, err, want)
		}
	}
	wantRoute := func(path, image string) {
		t.Helper()
		r, err := s.GetRoute(ctx, "shop", path)
		if err != nil || r.Image != image {
			t.Fatalf("route shop%s: %+v %v, want image %q", path, r, err, image)
		}
	}
	wantNoRoute := func(path string) {
		t.Helper()
		if r, err := s.GetRoute(ctx, "shop", path); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused write left route shop%s: %+v %v", path, r, err)
		}
	}

	// No image "web" yet: every write that would name it is refused and writes nothing.
	_, err := s.CreateRoute(ctx, store.Route{App: "shop", Path: "/new", Image: "@web"}, nil)
	wantImageMissing(t, "CreateRoute", err, "@web")
	wantNoRoute("/new")
	_, _, err = s.PutRoute(ctx, store.Route{App: "shop", Path: "/put", Image: "@web"}, nil)
	wantImageMissing(t, "PutRoute creating a route", err, "@web")
	wantNoRoute("/put")
	if _, err := s.CreateRoute(ctx, store.Route{App: "shop", Path: "/plain", Image: "busybox"}, nil); err != nil {
		t.Fatalf("a route of a Docker reference: %v", err)
	}
	_, _, err = s.PutRoute(ctx, store.Route{App: "shop", Path: "/plain", Image: "@web"}, nil)
	wantImageMissing(t, "PutRoute replacing a route", err, "@web")
	wantRoute("/plain", "busybox")
	_, err = s.UpdateRoute(ctx, "shop", "/plain", func(r *store.Route) error { r.Image = "@web"; return nil }, nil)
	wantImageMissing(t, "UpdateRoute", err, "@web")
	wantRoute("/plain", "busybox")
	wantUsers("web")

	// Once the image exists, the same writes go through.
	mustImage(t, s, "web", "ann", store.ImageKindFunction, "")
	if _, err := s.CreateRoute(ctx, store.Route{App: "shop", Path: "/new", Image: "@web"}, nil); err != nil {
		t.Fatalf("CreateRoute naming an existing image: %v", err)
	}
	if _, created, err := s.PutRoute(ctx, store.Route{App: "shop", Path: "/put", Image: "@web"}, nil); err != nil || !created {
		t.Fatalf("PutRoute naming an existing image: created %v, %v", created, err)
	}
	if _, err := s.UpdateRoute(ctx, "shop", "/plain", func(r *store.Route) error { r.Image = "@web"; return nil }, nil); err != nil {
		t.Fatalf("UpdateRoute naming an existing image: %v", err)
	}
	wantUsers("web", store.ImageUser{App: "shop", Path: "/new"}, store.ImageUser{App: "shop", Path: "/plain"}, store.ImageUser{App: "shop", Path: "/put"})

	// The routes stop naming it, it is deleted: writes naming it are refused again, so a
	// route cannot come to run whatever image is made next under that name.
	for _, p := range []string{"/new", "/put"} {
		if err := s.DeleteRoute(ctx, "shop", p, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.PutRoute(ctx, store.Route{App: "shop", Path: "/plain", Image: "busybox"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteImage(ctx, "web", nil, nil); err != nil {
		t.Fatalf("delete image web, no longer used: %v", err)
	}
	_, err = s.CreateRoute(ctx, store.Route{App: "shop", Path: "/new", Image: "@web"}, nil)
	wantImageMissing(t, "CreateRoute after the image was deleted", err, "@web")
	wantNoRoute("/new")
	_, _, err = s.PutRoute(ctx, store.Route{App: "shop", Path: "/plain", Image: "@web"}, nil)
	wantImageMissing(t, "PutRoute after the image was deleted", err, "@web")
	_, err = s.UpdateRoute(ctx, "shop", "/plain", func(r *store.Route) error { r.Image = "@web"; return nil }, nil)
	wantImageMissing(t, "UpdateRoute after the image was deleted", err, "@web")
	wantRoute("/plain", "busybox")
	wantUsers("web")
}
