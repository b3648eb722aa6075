package store

import (
	"errors"
	"strings"
	"testing"
)

// TestAPIConflict checks the rules of APIConflict on pairs of APIs; storetest checks that
// every backend applies them inside its writes.
func TestAPIConflict(t *testing.T) {
	api := func(name, owner string, hosts, methods []string, uris ...string) *API {
		a := &API{Name: name, Owner: owner, App: "shop", Route: "/f", Hosts: hosts, Methods: methods, URIs: uris}
		a.ApplyDefaults()
		return a
	}
	h := func(hosts ...string) []string { return hosts }
	for _, tt := range []struct {
		name     string
		a, other *API
		conflict bool
	}{
		{"an API beside itself (an update) is no conflict", api("x", "ada", nil, nil, "/"), api("x", "bob", nil, nil, "/"), false},
		{"one owner's APIs on the same host, method and uri conflict",
			api("a", "ada", h("shop.test"), h("GET"), "/u/:id"), api("b", "ada", h("shop.test"), h("GET"), "/u/:id"), true},
		{"uris of the same shape conflict", api("a", "ada", h("shop.test"), nil, "/u/:id"), api("b", "ada", h("shop.test"), nil, "/u/:name"), true},
		{"any method meets every method", api("a", "ada", h("shop.test"), nil, "/u"), api("b", "ada", h("shop.test"), h("POST"), "/u"), true},
		{"other methods do not conflict", api("a", "ada", h("shop.test"), h("GET"), "/u"), api("b", "ada", h("shop.test"), h("POST"), "/u"), false},
		{"other uris do not conflict", api("a", "ada", h("shop.test"), nil, "/u"), api("b", "ada", h("shop.test"), nil, "/v"), false},
		{"other hosts of one owner do not conflict", api("a", "ada", h("a.test"), nil, "/u"), api("b", "ada", h("b.test"), nil, "/u"), false},
		{"one owner's APIs without hosts on the same uri conflict", api("a", "ada", nil, nil, "/u"), api("b", "ada", nil, nil, "/u"), true},
		{"one owner's API without hosts beside one with hosts does not", api("a", "ada", nil, nil, "/u"), api("b", "ada", h("a.test"), nil, "/u"), false},
		{"two owners' APIs without hosts conflict, whatever their uris", api("a", "ada", nil, nil, "/u"), api("b", "bob", nil, nil, "/v"), true},
		{"another owner's host conflicts on any uri", api("a", "ada", h("shop.test"), nil, "/u"), api("b", "bob", h("shop.test"), nil, "/v"), true},
		{"a name under another owner's wildcard conflicts", api("a", "ada", h("api.shop.test"), nil, "/u"), api("b", "bob", h("*.shop.test"), nil, "/v"), true},
		{"a wildcard over another owner's name conflicts", api("a", "ada", h("*.shop.test"), nil, "/u"), api("b", "bob", h("x.y.shop.test"), nil, "/v"), true},
		{"another owner's other host does not conflict", api("a", "ada", h("a.test"), nil, "/u"), api("b", "bob", h("b.test"), nil, "/u"), false},
		{"hosts beside another owner's hostless API do not conflict", api("a", "ada", h("a.test"), nil, "/u"), api("b", "bob", nil, nil, "/u"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := APIConflict(tt.a, tt.other)
			if (err != nil) != tt.conflict || err != nil && !errors.Is(err, ErrConflict) {
				t.Fatalf("APIConflict = %v, want a conflict %v (ErrConflict)", err, tt.conflict)
			}
			if err != nil && tt.a.Owner != tt.other.Owner && strings.Contains(err.Error(), `"`+tt.other.Name+`"`) {
				t.Fatalf("the error %q names another owner's API", err)
			}
		})
	}
}

// TestAPITLSKeyValidation: a certificate needs its key, in the record (as records written
// before keys moved to the secret store hold it) or named in the secret store, and a key
// needs its certificate; a record names its own key's secret only, and never both.
func TestAPITLSKeyValidation(t *testing.T) {
	tls := func(cert, key, secret string) *API {
		a := &API{Name: "shop", Owner: "ada", App: "shop", Route: "/f", URIs: []string{"/"}, Hosts: []string{"shop.test"},
			TLSCert: cert, TLSKey: key, TLSKeySecret: secret}
		a.ApplyDefaults()
		return a
	}
	for _, tt := range []struct {
		name string
		api  *API
		ok   bool
	}{
		{"no certificate and no key is valid", tls("", "", ""), true},
		{"a certificate with its key named in the secret store is valid", tls("CERT", "", "tls:shop"), true},
		{"a certificate with its key in the record (a legacy record) is valid", tls("CERT", "KEY", ""), true},
		{"a certificate without a key is refused", tls("CERT", "", ""), false},
		{"a key named in the secret store without a certificate is refused", tls("", "", "tls:shop"), false},
		{"a key in the record without a certificate is refused", tls("", "KEY", ""), false},
		{"a key both in the record and in the secret store is refused", tls("CERT", "KEY", "tls:shop"), false},
		{"the key of another API is refused", tls("CERT", "", "tls:other"), false},
		{"a secret of another kind is refused", tls("CERT", "", "db-password"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.api.Validate()
			var verr *ValidationError
			if tt.ok && err != nil || !tt.ok && (!errors.As(err, &verr) || verr.Field != "tls") {
				t.Fatalf("Validate = %v, want ok %v (else a validation error of tls)", err, tt.ok)
			}
		})
	}
}

// TestTLSKeyAPI: the API of a TLS key secret's name, the inverse of TLSKeySecretName.
func TestTLSKeyAPI(t *testing.T) {
	if api, ok := TLSKeyAPI(TLSKeySecretName("shop-api")); !ok || api != "shop-api" {
		t.Fatalf("TLSKeyAPI(TLSKeySecretName(shop-api)) = %q %v", api, ok)
	}
	for _, name := range []string{"db-password", SSHKeySecretName("ada"), TLSKeySecretName(""), "tlsshop"} {
		if api, ok := TLSKeyAPI(name); ok {
			t.Errorf("TLSKeyAPI(%q) = %q, want none", name, api)
		}
	}
}
