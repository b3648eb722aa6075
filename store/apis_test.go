package store

import (
	"context"
	"errors"
	"testing"
)

// testAPI is a valid public API of owner on uri, changed by mod.
func testAPI(name, owner, uri string, mod func(*API)) API {
	a := API{Name: name, Owner: owner, App: "shop", Route: "/f", URIs: []string{uri}, Enabled: true}
	if mod != nil {
		mod(&a)
	}
	return a
}

// TestHostlessAPIsBelongToOneOwner: APIs without hosts answer any host nobody claims, so
// only one owner at a time may have them; the others get ErrConflict, on create and on
// update (hosts removed, or the API given to another owner), until the holder has none.
func TestHostlessAPIsBelongToOneOwner(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if _, err := s.CreateAPI(ctx, testAPI("ada-root", "ada", "/", nil)); err != nil {
		t.Fatal(err)
	}
	withHosts := func(hosts ...string) func(*API) { return func(a *API) { a.Hosts = hosts } }
	for _, tt := range []struct {
		name string
		api  API
		ok   bool
	}{
		{"another owner's API without hosts on another path is refused", testAPI("bob-catch", "bob", "/bcatch", nil), false},
		{"another owner's API without hosts on the same path is refused", testAPI("bob-root", "bob", "/", func(a *API) { a.Methods = []string{"POST"} }), false},
		{"a disabled one is refused too, as it keeps its paths", testAPI("bob-off", "bob", "/off", func(a *API) { a.Enabled = false }), false},
		{"the holder may add another", testAPI("ada-more", "ada", "/more", nil), true},
		{"another owner may name its own hosts", testAPI("bob-host", "bob", "/", withHosts("bob.test")), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateAPI(ctx, tt.api)
			if tt.ok && err != nil || !tt.ok && !errors.Is(err, ErrConflict) {
				t.Fatalf("create %s: %v, want ok %v (else ErrConflict)", tt.api.Name, err, tt.ok)
			}
		})
	}
	t.Run("removing another owner's hosts is refused", func(t *testing.T) {
		_, err := s.UpdateAPI(ctx, "bob-host", func(a *API) error { a.Hosts = nil; return nil })
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("update: %v, want ErrConflict", err)
		}
	})
	t.Run("giving a host-less API to another owner is refused while the holder keeps one", func(t *testing.T) {
		_, err := s.UpdateAPI(ctx, "ada-more", func(a *API) error { a.Owner = "bob"; return nil })
		if !errors.Is(err, ErrConflict) {
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
		if _, err := s.CreateAPI(ctx, testAPI("ada-root", "ada", "/", nil)); !errors.Is(err, ErrConflict) {
			t.Fatalf("the former holder: %v, want ErrConflict", err)
		}
	})
}

// TestAPICertificateOnIPHost: clients send no server name (SNI) for an IP address, so a
// certificate of an API with an IP address host could never be chosen for it: refused
// (naming tls), on create and on update; an IP host without a certificate is fine.
func TestAPICertificateOnIPHost(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	withCert := func(a *API) { a.TLSCert, a.TLSKey = "certificate", "key" }
	hosts := func(h ...string) func(*API) { return func(a *API) { a.Hosts = h } }
	both := func(mods ...func(*API)) func(*API) {
		return func(a *API) {
			for _, m := range mods {
				m(a)
			}
		}
	}
	for _, tt := range []struct {
		name string
		api  API
		ok   bool
	}{
		{"a certificate on an IPv4 host is refused", testAPI("ip", "ada", "/", both(hosts("10.0.0.1"), withCert)), false},
		{"a certificate on names and an IP host is refused", testAPI("mixed", "ada", "/", both(hosts("shop.test", "192.0.2.7"), withCert)), false},
		{"an IP host without a certificate is stored", testAPI("plain", "ada", "/", hosts("10.0.0.2")), true},
		{"a certificate on a name is stored", testAPI("named", "ada", "/", both(hosts("named.test"), withCert)), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateAPI(ctx, tt.api)
			var verr *ValidationError
			if tt.ok && err != nil || !tt.ok && (!errors.As(err, &verr) || verr.Field != "tls") {
				t.Fatalf("create %s: %v, want ok %v (else a validation error of tls)", tt.api.Name, err, tt.ok)
			}
		})
	}
	for _, tt := range []struct {
		name, api string
		change    func(*API)
	}{
		{"giving an IP host to an API with a certificate is refused", "named", hosts("named.test", "10.0.0.3")},
		{"giving a certificate to an API with an IP host is refused", "plain", withCert},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateAPI(ctx, tt.api, func(a *API) error { tt.change(a); return nil })
			var verr *ValidationError
			if !errors.As(err, &verr) || verr.Field != "tls" {
				t.Fatalf("update: %v, want a validation error of tls", err)
			}
		})
	}
}
