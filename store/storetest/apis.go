package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func apiCases() []testCase {
	return []testCase{
		{
			name:   "an API is created with defaults, read, updated and deleted",
			covers: []string{"CreateAPI", "GetAPI", "UpdateAPI", "DeleteAPI", "AllAPIs"},
			run:    testAPILifecycle,
		},
		{
			name:   "APIs are listed in name order, a page at a time, filtered by owner",
			covers: []string{"ListAPIs", "AllAPIs"},
			run:    testAPIPagination,
		},
		{
			name:   "a certificate of an API with an IP address host is refused on create and on update",
			covers: []string{"CreateAPI", "UpdateAPI"},
			run:    testAPICertificateOnIPHost,
		},
		{
			name:   "an API names its TLS key's secret; a certificate without a key is refused",
			covers: []string{"CreateAPI", "UpdateAPI", "GetAPI"},
			run:    testAPITLSKeySecret,
		},
	}
}

// testAPI is a valid public API of owner on uri, changed by mod.
func testAPI(name, owner, uri string, mod func(*store.API)) store.API {
	a := store.API{Name: name, Owner: owner, App: "shop", Route: "/f", URIs: []string{uri}, Enabled: true}
	if mod != nil {
		mod(&a)
	}
	return a
}

func withHosts(hosts ...string) func(*store.API) { return func(a *store.API) { a.Hosts = hosts } }

// sameAPI compares two APIs, their timestamps by the instant.
func sameAPI(a, b store.API) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.Equal(b.UpdatedAt) {
		return false
	}
	a.CreatedAt, a.UpdatedAt, b.CreatedAt, b.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func testAPILifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	created, err := s.CreateAPI(ctx, testAPI("shop-api", "ann", "/shop", func(a *store.API) {
		a.Hosts, a.Methods, a.MaxBodyBytes = []string{"Shop.Test."}, []string{"get"}, store.DefaultAPIMaxBody
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(created.Hosts, []string{"shop.test"}) || !slices.Equal(created.Methods, []string{"GET"}) ||
		!slices.Equal(created.Protocols, []string{store.ProtocolHTTP, store.ProtocolHTTPS}) || created.Auth != store.APIAuthPublic {
		t.Fatalf("defaults and normal forms: %+v", created)
	}
	if created.CreatedAt.IsZero() || !created.CreatedAt.Equal(created.UpdatedAt) {
		t.Fatalf("timestamps not set: %+v", created)
	}
	if got, err := s.GetAPI(ctx, "shop-api"); err != nil || !sameAPI(got, created) {
		t.Fatalf("get:\n got %+v %v\nwant %+v", got, err, created)
	}
	if _, err := s.CreateAPI(ctx, testAPI("shop-api", "ann", "/elsewhere", withHosts("other.test"))); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	if _, err := s.CreateAPI(ctx, testAPI("bad", "ann", "no-slash", nil)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("invalid uri: got %v, want ErrInvalid", err)
	}
	if _, err := s.GetAPI(ctx, "bad"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused API was stored: %v", err)
	}

	updated, err := s.UpdateAPI(ctx, "shop-api", func(a *store.API) error { a.URIs = []string{"/store"}; return nil })
	if err != nil || !slices.Equal(updated.URIs, []string{"/store"}) || !updated.CreatedAt.Equal(created.CreatedAt) || updated.UpdatedAt.Before(created.UpdatedAt) {
		t.Fatalf("update: %+v %v", updated, err)
	}
	if got, _ := s.GetAPI(ctx, "shop-api"); !sameAPI(got, updated) {
		t.Fatalf("get after update: %+v, want %+v", got, updated)
	}
	errStop := errors.New("stop")
	for _, bad := range []struct {
		name string
		fn   func(*store.API) error
		want error
	}{
		{"a rename", func(a *store.API) error { a.Name = "other"; return nil }, store.ErrInvalid},
		{"an invalid change", func(a *store.API) error { a.URIs = nil; return nil }, store.ErrInvalid},
		{"a change whose fn fails", func(a *store.API) error { a.URIs = []string{"/lost"}; return errStop }, errStop},
	} {
		if _, err := s.UpdateAPI(ctx, "shop-api", bad.fn); !errors.Is(err, bad.want) {
			t.Fatalf("%s: got %v, want %v", bad.name, err, bad.want)
		}
	}
	if got, _ := s.GetAPI(ctx, "shop-api"); !sameAPI(got, updated) {
		t.Fatalf("a refused update changed the API: %+v", got)
	}
	if _, err := s.UpdateAPI(ctx, "ghost", func(*store.API) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing API: got %v, want ErrNotFound", err)
	}

	if _, err := s.CreateAPI(ctx, testAPI("second", "ann", "/second", nil)); err != nil {
		t.Fatal(err)
	}
	all, err := s.AllAPIs(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("all APIs: %+v %v", all, err)
	}
	if err := s.DeleteAPI(ctx, "shop-api", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAPI(ctx, "shop-api"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get deleted: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteAPI(ctx, "shop-api", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: got %v, want ErrNotFound", err)
	}
	if all, err := s.AllAPIs(ctx); err != nil || len(all) != 1 || all[0].Name != "second" {
		t.Fatalf("all APIs after a delete: %+v %v", all, err)
	}
}

func testAPIPagination(t *testing.T, s store.Store) {
	ctx := t.Context()
	var anns, everyone []string
	for i := 9; i >= 0; i-- { // created out of order on purpose
		name := fmt.Sprintf("api-%d", i)
		a := testAPI(name, "ann", fmt.Sprintf("/p%d", i), nil)
		if i%3 == 0 {
			a = testAPI(name, "bob", fmt.Sprintf("/p%d", i), withHosts("bob.test"))
		}
		if _, err := s.CreateAPI(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		everyone = append(everyone, fmt.Sprintf("api-%d", i))
		if i%3 != 0 {
			anns = append(anns, fmt.Sprintf("api-%d", i))
		}
	}
	list := func(f store.APIFilter, limit int) []string {
		t.Helper()
		var names []string
		cursor := ""
		for {
			page, next, err := s.ListAPIs(ctx, f, store.Page{Cursor: cursor, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			checkPageAfterCursor(t, cursor, len(page))
			for _, a := range page {
				if f.Owner != "" && a.Owner != f.Owner {
					t.Fatalf("%s's list has %s of %q", f.Owner, a.Name, a.Owner)
				}
				names = append(names, a.Name)
			}
			if next == "" {
				return names
			}
			if len(page) != limit {
				t.Fatalf("a page of %d APIs before the last, want %d", len(page), limit)
			}
			cursor = next
		}
	}
	for _, limit := range []int{1, 3, 100} {
		if got := list(store.APIFilter{}, limit); !slices.Equal(got, everyone) {
			t.Fatalf("per page %d: %v, want %v", limit, got, everyone)
		}
		if got := list(store.APIFilter{Owner: "ann"}, limit); !slices.Equal(got, anns) {
			t.Fatalf("ann's, per page %d: %v, want %v", limit, got, anns)
		}
	}
	if _, _, err := s.ListAPIs(ctx, store.APIFilter{}, store.Page{Cursor: "!!"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad cursor: got %v, want ErrInvalid", err)
	}
	if all, err := s.AllAPIs(ctx); err != nil || len(all) != 10 {
		t.Fatalf("all APIs: %d %v", len(all), err)
	}
}

// testAPICertificateOnIPHost: clients send no server name (SNI) for an IP address, so a
// certificate of an API with an IP address host could never be chosen for it: refused
// (naming tls), on create and on update; an IP host without a certificate is fine.
func testAPICertificateOnIPHost(t *testing.T, s store.Store) {
	ctx := t.Context()
	withCert := func(a *store.API) { a.TLSCert, a.TLSKey = "certificate", "key" }
	both := func(mods ...func(*store.API)) func(*store.API) {
		return func(a *store.API) {
			for _, m := range mods {
				m(a)
			}
		}
	}
	for _, tt := range []struct {
		name string
		api  store.API
		ok   bool
	}{
		{"a certificate on an IPv4 host is refused", testAPI("ip", "ada", "/", both(withHosts("10.0.0.1"), withCert)), false},
		{"a certificate on names and an IP host is refused", testAPI("mixed", "ada", "/", both(withHosts("shop.test", "192.0.2.7"), withCert)), false},
		{"an IP host without a certificate is stored", testAPI("plain", "ada", "/", withHosts("10.0.0.2")), true},
		{"a certificate on a name is stored", testAPI("named", "ada", "/", both(withHosts("named.test"), withCert)), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateAPI(ctx, tt.api)
			var verr *store.ValidationError
			if tt.ok && err != nil || !tt.ok && (!errors.As(err, &verr) || verr.Field != "tls") {
				t.Fatalf("create %s: %v, want ok %v (else a validation error of tls)", tt.api.Name, err, tt.ok)
			}
		})
	}
	for _, tt := range []struct {
		name, api string
		change    func(*store.API)
	}{
		{"giving an IP host to an API with a certificate is refused", "named", withHosts("named.test", "10.0.0.3")},
		{"giving a certificate to an API with an IP host is refused", "plain", withCert},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateAPI(ctx, tt.api, func(a *store.API) error { tt.change(a); return nil })
			var verr *store.ValidationError
			if !errors.As(err, &verr) || verr.Field != "tls" {
				t.Fatalf("update: %v, want a validation error of tls", err)
			}
		})
	}
}

// testAPITLSKeySecret: the name of an API's TLS key secret is stored and read back; a
// record that would have a certificate without a key, or the key of another API, is
// refused (naming tls), on create and on update; a legacy key in the record is read back
// and replaced by the secret's name in one update.
func testAPITLSKeySecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	named := testAPI("named", "ada", "/", func(a *store.API) {
		a.Hosts, a.TLSCert, a.TLSKeySecret = []string{"named.test"}, "certificate", store.TLSKeySecretName("named")
	})
	if _, err := s.CreateAPI(ctx, named); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAPI(ctx, "named")
	if err != nil || got.TLSKeySecret != store.TLSKeySecretName("named") || got.TLSKey != "" || got.TLSCert != "certificate" {
		t.Fatalf("read back: %+v %v", got, err)
	}
	legacy := testAPI("legacy", "ada", "/", func(a *store.API) {
		a.Hosts, a.TLSCert, a.TLSKey = []string{"legacy.test"}, "certificate", "key"
	})
	if _, err := s.CreateAPI(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	moved, err := s.UpdateAPI(ctx, "legacy", func(a *store.API) error {
		a.TLSKey, a.TLSKeySecret = "", store.TLSKeySecretName(a.Name)
		return nil
	})
	if err != nil || moved.TLSKey != "" || moved.TLSKeySecret != store.TLSKeySecretName("legacy") {
		t.Fatalf("moved: %+v %v", moved, err)
	}
	refused := func(what string, err error) {
		t.Helper()
		var verr *store.ValidationError
		if !errors.As(err, &verr) || verr.Field != "tls" {
			t.Errorf("%s: %v, want a validation error of tls", what, err)
		}
	}
	_, err = s.CreateAPI(ctx, testAPI("nokey", "ada", "/", func(a *store.API) { a.Hosts, a.TLSCert = []string{"nokey.test"}, "certificate" }))
	refused("create a certificate without a key", err)
	_, err = s.CreateAPI(ctx, testAPI("stolen", "bob", "/", func(a *store.API) {
		a.Hosts, a.TLSCert, a.TLSKeySecret = []string{"stolen.test"}, "certificate", store.TLSKeySecretName("named")
	}))
	refused("create naming another API's key", err)
	_, err = s.UpdateAPI(ctx, "named", func(a *store.API) error { a.TLSKeySecret = ""; return nil })
	refused("update dropping the key of a certificate", err)
	if got, _ := s.GetAPI(ctx, "named"); got.TLSKeySecret == "" {
		t.Error("a refused update changed the record")
	}
}
