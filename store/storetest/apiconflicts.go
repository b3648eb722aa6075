package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// The rules are store.APIConflict's; these cases check that a backend applies them to
// every other stored API, inside the write, on create and on update.
func apiConflictCases() []testCase {
	return []testCase{
		{
			name:   "two APIs of one owner may not answer the same hosts, methods and uris",
			covers: []string{"CreateAPI", "DeleteAPI"},
			run:    testSameOwnerAPIsMayNotOverlap,
		},
		{
			name:   "a host, or a name under a wildcard host, belongs to one owner",
			covers: []string{"CreateAPI"},
			run:    testHostsBelongToOneOwner,
		},
		{
			name:   "APIs without hosts belong to one owner at a time",
			covers: []string{"CreateAPI", "UpdateAPI", "DeleteAPI"},
			run:    testHostlessAPIsBelongToOneOwner,
		},
		{
			name:   "an update that would make an API conflict with another is refused and changes nothing",
			covers: []string{"UpdateAPI", "GetAPI"},
			run:    testUpdateThatCreatesAnOverlap,
		},
	}
}

// conflictRow is an API to create beside those stored, and whether it may be.
type conflictRow struct {
	name string
	api  store.API
	ok   bool
}

// createEach creates each row's API and checks the verdict; an API that is refused must
// not be stored, and one that is not must not name another owner's API in its error.
func createEach(t *testing.T, s store.Store, rows []conflictRow, keep bool, othersNames ...string) {
	ctx := t.Context()
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateAPI(ctx, tt.api)
			if tt.ok && err != nil || !tt.ok && !errors.Is(err, store.ErrConflict) {
				t.Fatalf("create %s: %v, want ok %v (else ErrConflict)", tt.api.Name, err, tt.ok)
			}
			if !tt.ok {
				if _, err := s.GetAPI(ctx, tt.api.Name); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("a refused API was stored: %v", err)
				}
				for _, other := range othersNames {
					if strings.Contains(err.Error(), other) {
						t.Fatalf("the error %q names another owner's API %q", err, other)
					}
				}
			}
			if tt.ok && !keep {
				if err := s.DeleteAPI(ctx, tt.api.Name, nil); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func testSameOwnerAPIsMayNotOverlap(t *testing.T, s store.Store) {
	base := testAPI("base", "ada", "/users/:id", func(a *store.API) { a.Hosts, a.Methods = []string{"shop.test"}, []string{"GET"} })
	if _, err := s.CreateAPI(t.Context(), base); err != nil {
		t.Fatal(err)
	}
	like := func(name, uri string, mod func(*store.API)) store.API {
		a := testAPI(name, "ada", uri, func(a *store.API) { a.Hosts, a.Methods = []string{"shop.test"}, []string{"GET"} })
		if mod != nil {
			mod(&a)
		}
		return a
	}
	createEach(t, s, []conflictRow{
		{"the same host, method and uri is refused", like("same", "/users/:id", nil), false},
		{"a uri of the same shape is refused", like("shape", "/users/:name", nil), false},
		{"any method meets GET", like("any", "/users/:id", func(a *store.API) { a.Methods = nil }), false},
		{"one uri of several is enough to overlap", like("several", "/other", func(a *store.API) { a.URIs = append(a.URIs, "/users/:x") }), false},
		{"the host written otherwise is the same host", like("case", "/users/:id", withHosts("SHOP.test.")), false},
		{"another method does not overlap", like("post", "/users/:id", func(a *store.API) { a.Methods = []string{"POST"} }), true},
		{"another host does not overlap", like("admin", "/users/:id", withHosts("admin.test")), true},
		{"a longer uri does not overlap", like("posts", "/users/:id/posts", nil), true},
		{"an API without hosts does not overlap one with hosts", like("hostless", "/users/:id", withHosts()), true},
		{"a wildcard host is another host entry", like("wild", "/users/:id", withHosts("*.shop.test")), true},
	}, false)
}

func testHostsBelongToOneOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, a := range []store.API{
		testAPI("ada-shop", "ada", "/a", withHosts("shop.test")),
		testAPI("ada-wild", "ada", "/a", withHosts("*.ada.test")),
		testAPI("ada-named", "ada", "/a", withHosts("a.example.test")),
	} {
		if _, err := s.CreateAPI(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	createEach(t, s, []conflictRow{
		{"another owner's host on another path is refused", testAPI("b1", "bob", "/b", withHosts("shop.test")), false},
		{"another owner's host written otherwise is refused", testAPI("b2", "bob", "/b", withHosts("bob.test", "SHOP.TEST.")), false},
		{"a name under another owner's wildcard is refused", testAPI("b3", "bob", "/b", withHosts("api.ada.test")), false},
		{"a name deep under another owner's wildcard is refused", testAPI("b4", "bob", "/b", withHosts("x.y.ada.test")), false},
		{"a wildcard under another owner's wildcard is refused", testAPI("b5", "bob", "/b", withHosts("*.api.ada.test")), false},
		{"a wildcard over another owner's name is refused", testAPI("b6", "bob", "/b", withHosts("*.example.test")), false},
		{"a host of one's own is stored", testAPI("b7", "bob", "/a", withHosts("bob.test")), true},
		{"the owner may serve another path on its host", testAPI("a2", "ada", "/other", withHosts("shop.test")), true},
		{"the owner may name a host under its own wildcard", testAPI("a3", "ada", "/b", withHosts("api.ada.test")), true},
	}, true, "ada-shop", "ada-wild", "ada-named")
	if all, err := s.AllAPIs(ctx); err != nil || len(all) != 6 {
		t.Fatalf("%d APIs stored (%v), want the 3 first and the 3 allowed", len(all), err)
	}
}

// testHostlessAPIsBelongToOneOwner: APIs without hosts answer any host nobody claims, so
// only one owner at a time may have them; the others get ErrConflict, on create and on
// update (hosts removed, or the API given to another owner), until the holder has none.
func testHostlessAPIsBelongToOneOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.CreateAPI(ctx, testAPI("ada-root", "ada", "/", nil)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		api  store.API
		ok   bool
	}{
		{"another owner's API without hosts on another path is refused", testAPI("bob-catch", "bob", "/bcatch", nil), false},
		{"another owner's API without hosts on the same path is refused", testAPI("bob-root", "bob", "/", func(a *store.API) { a.Methods = []string{"POST"} }), false},
		{"a disabled one is refused too, as it keeps its paths", testAPI("bob-off", "bob", "/off", func(a *store.API) { a.Enabled = false }), false},
		{"the holder may add another", testAPI("ada-more", "ada", "/more", nil), true},
		{"another owner may name its own hosts", testAPI("bob-host", "bob", "/", withHosts("bob.test")), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateAPI(ctx, tt.api)
			if tt.ok && err != nil || !tt.ok && !errors.Is(err, store.ErrConflict) {
				t.Fatalf("create %s: %v, want ok %v (else ErrConflict)", tt.api.Name, err, tt.ok)
			}
		})
	}
	t.Run("removing another owner's hosts is refused", func(t *testing.T) {
		_, err := s.UpdateAPI(ctx, "bob-host", func(a *store.API) error { a.Hosts = nil; return nil })
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("update: %v, want ErrConflict", err)
		}
	})
	t.Run("giving a host-less API to another owner is refused while the holder keeps one", func(t *testing.T) {
		_, err := s.UpdateAPI(ctx, "ada-more", func(a *store.API) error { a.Owner = "bob"; return nil })
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("update: %v, want ErrConflict", err)
		}
	})
	t.Run("once the holder has none, another owner may take the tier", func(t *testing.T) {
		for _, name := range []string{"ada-root", "ada-more"} {
			if err := s.DeleteAPI(ctx, name, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.CreateAPI(ctx, testAPI("bob-catch", "bob", "/bcatch", nil)); err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, err := s.CreateAPI(ctx, testAPI("ada-root", "ada", "/", nil)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("the former holder: %v, want ErrConflict", err)
		}
	})
}

func testUpdateThatCreatesAnOverlap(t *testing.T, s store.Store) {
	ctx := t.Context()
	stored := map[string]store.API{}
	for _, a := range []store.API{
		testAPI("one", "ada", "/a", func(a *store.API) { a.Hosts, a.Methods = []string{"shop.test"}, []string{"GET"} }),
		testAPI("two", "ada", "/b", withHosts("shop.test")),
		testAPI("bobs", "bob", "/a", withHosts("bob.test")),
	} {
		got, err := s.CreateAPI(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		stored[a.Name] = got
	}
	for _, tt := range []struct {
		name, api string
		change    func(*store.API)
	}{
		{"moving an API onto a uri of another of its owner's on the same host is refused", "two", func(a *store.API) { a.URIs = []string{"/a"} }},
		{"widening an API's methods onto another's is refused", "two", func(a *store.API) { a.URIs = []string{"/a", "/b"}; a.Methods = nil }},
		{"taking another owner's host is refused", "bobs", func(a *store.API) { a.Hosts = []string{"bob.test", "shop.test"} }},
		{"giving an API to another owner while its host is the first owner's is refused", "one", func(a *store.API) { a.Owner = "bob" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateAPI(ctx, tt.api, func(a *store.API) error { tt.change(a); return nil })
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("update: %v, want ErrConflict", err)
			}
			if got, err := s.GetAPI(ctx, tt.api); err != nil || !sameAPI(got, stored[tt.api]) {
				t.Fatalf("a refused update changed %s: %+v %v", tt.api, got, err)
			}
		})
	}
	t.Run("an update that overlaps nothing but the API's own stored self is stored", func(t *testing.T) {
		got, err := s.UpdateAPI(ctx, "one", func(a *store.API) error { a.Enabled = false; return nil })
		if err != nil || got.Enabled {
			t.Fatalf("update: %+v %v", got, err)
		}
		got, err = s.UpdateAPI(ctx, "two", func(a *store.API) error { a.URIs, a.Methods = []string{"/a"}, []string{"POST"}; return nil })
		if err != nil || !slices.Equal(got.URIs, []string{"/a"}) {
			t.Fatalf("another method on the same uri: %+v %v", got, err)
		}
	})
}
