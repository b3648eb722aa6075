package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// testSecretKey is the embedded backend's key in tests: one key for every service opened
// over a store.
var testSecretKey = bytes.Repeat([]byte{7}, secrets.KeySize)

// newTestSecrets is the real secret service over st, with the embedded backend (wrapped by
// wrap, if set), closed when the test ends.
func newTestSecrets(t testing.TB, st *bolt.DB, wrap func(secrets.Backend) secrets.Backend) *secrets.Service {
	t.Helper()
	var backend secrets.Backend
	backend, err := secrets.OpenEmbedded(context.Background(), st, testSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		backend = wrap(backend)
	}
	svc := secrets.New(st, backend, secrets.Options{})
	t.Cleanup(svc.Close)
	return svc
}

// downBackend is a secret backend that answers secrets.ErrUnavailable while down, as Vault
// does when it is sealed or unreachable.
type downBackend struct {
	secrets.Backend
	down atomic.Bool
}

func (b *downBackend) err() error {
	if b.down.Load() {
		return fmt.Errorf("%w: vault is sealed", secrets.ErrUnavailable)
	}
	return nil
}

func (b *downBackend) Put(ctx context.Context, path string, data map[string][]byte) (int, error) {
	if err := b.err(); err != nil {
		return 0, err
	}
	return b.Backend.Put(ctx, path, data)
}

func (b *downBackend) Get(ctx context.Context, path string, version int) (map[string][]byte, error) {
	if err := b.err(); err != nil {
		return nil, err
	}
	return b.Backend.Get(ctx, path, version)
}

func (b *downBackend) Current(ctx context.Context, path string) (int, error) {
	if err := b.err(); err != nil {
		return 0, err
	}
	return b.Backend.Current(ctx, path)
}

func (b *downBackend) Destroy(ctx context.Context, path string, versions []int) error {
	if err := b.err(); err != nil {
		return err
	}
	return b.Backend.Destroy(ctx, path, versions)
}

func (b *downBackend) Delete(ctx context.Context, path string) error {
	if err := b.err(); err != nil {
		return err
	}
	return b.Backend.Delete(ctx, path)
}

// pemBody is a distinctive part of a PEM block: a run of its base64 body.
func pemBody(t *testing.T, p string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(p), "\n")
	if len(lines) < 3 || len(lines[1]) < 40 {
		t.Fatalf("unexpected PEM: %q", p)
	}
	return lines[1][8:40]
}

// TestAPITLSKeyInSecretStore: the key of an API's certificate goes to the secret store,
// never into the API record (nor anywhere in the bbolt file in clear), and never comes back
// through the API; a write that fails leaves the key the record names; removing the
// certificate or deleting the API deletes the key; a secret store that is unavailable
// fails the write with 503, with nothing written.
func TestAPITLSKeyInSecretStore(t *testing.T) {
	backend := &downBackend{}
	f := newAuthFixtureWith(t, func(d *Deps) {
		d.TLSKeys = newTestSecrets(t, d.Store.(*bolt.DB), func(b secrets.Backend) secrets.Backend { backend.Backend = b; return backend })
	})
	svc := f.api.tlsKeys.(*secrets.Service)
	ctx := t.Context()
	tlsField := func(cert, key string) string {
		return `"tls":{"certificate":` + jsonString(cert) + `,"key":` + jsonString(key) + `}`
	}
	api := func(name, host, extra string) string {
		return `{"api":{"name":"` + name + `","function":{"app":"a","route":"/f"},"uris":["/"],"hosts":["` + host + `"]` + extra + `}}`
	}
	keyOf := func(name string) (string, error) {
		k, err := svc.TLSKey(ctx, name)
		return string(k), err
	}
	secretGone := func(name string) {
		t.Helper()
		if _, err := svc.Get(ctx, store.TLSKeySecretName(name)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the key of %s is still in the secret store: %v", name, err)
		}
	}
	cert, key := testPEM(t, "shop.example.com")
	res := f.as(t, f.alice, "POST", "/v1/apis", api("shop", "shop.example.com", ","+tlsField(cert, key)))
	expect(t, res, 201)

	t.Run("the record names the key, which the secret store holds", func(t *testing.T) {
		stored, err := f.s.GetAPI(ctx, "shop")
		if err != nil || stored.TLSKey != "" || stored.TLSKeySecret != store.TLSKeySecretName("shop") || stored.TLSCert != cert {
			t.Fatalf("stored: key %q, secret %q, %v", stored.TLSKey, stored.TLSKeySecret, err)
		}
		if got, err := keyOf("shop"); err != nil || got != key {
			t.Fatalf("the secret store's key: %v", err)
		}
		rec, err := svc.Get(ctx, store.TLSKeySecretName("shop"))
		if err != nil || rec.Kind != store.SecretKindTLSKey || rec.Owner != "alice" {
			t.Fatalf("the key's record: %+v %v", rec, err)
		}
	})
	t.Run("the key is nowhere in the bbolt file in clear", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(f.dir, bolt.FileName))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, []byte(pemBody(t, cert))) {
			t.Fatal("the certificate is not found in the file: the search cannot see what it looks for")
		}
		if bytes.Contains(raw, []byte(pemBody(t, key))) {
			t.Fatal("the private key is in the bbolt file in clear")
		}
	})
	t.Run("the API never answers the key", func(t *testing.T) {
		for _, r := range []response{res, f.as(t, f.alice, "GET", "/v1/apis/shop", ""), f.as(t, f.alice, "GET", "/v1/apis", "")} {
			if r.status != 200 && r.status != 201 || strings.Contains(r.raw, "PRIVATE KEY") || strings.Contains(r.raw, pemBody(t, key)) || strings.Contains(r.raw, `"key"`) {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		}
	})

	cert2, key2 := testPEM(t, "shop.example.com")
	t.Run("a new certificate and key replace the key", func(t *testing.T) {
		expect(t, f.as(t, f.alice, "PATCH", "/v1/apis/shop", `{"api":{`+tlsField(cert2, key2)+`}}`), 200)
		if got, err := keyOf("shop"); err != nil || got != key2 {
			t.Fatalf("the key was not replaced: %v", err)
		}
	})
	t.Run("another developer cannot touch the key", func(t *testing.T) {
		c, k := testPEM(t, "shop.example.com")
		expect(t, f.as(t, f.bob, "PATCH", "/v1/apis/shop", `{"api":{`+tlsField(c, k)+`}}`), 404)
		if got, _ := keyOf("shop"); got != key2 {
			t.Fatal("another developer's patch changed the key")
		}
	})
	expect(t, f.as(t, f.bob, "POST", "/v1/apis", api("bobs", "bob.example.com", "")), 201)
	t.Run("a patch the store refuses puts the previous key back", func(t *testing.T) {
		c, k := testPEM(t, "bob.example.com")
		expect(t, f.as(t, f.alice, "PATCH", "/v1/apis/shop", `{"api":{"hosts":["bob.example.com"],`+tlsField(c, k)+`}}`), 409)
		if got, err := keyOf("shop"); err != nil || got != key2 {
			t.Fatalf("the key of the refused patch stayed: %v", err)
		}
	})
	t.Run("a create the store refuses leaves no key", func(t *testing.T) {
		c, k := testPEM(t, "bob.example.com")
		expect(t, f.as(t, f.alice, "POST", "/v1/apis", api("clash", "bob.example.com", ","+tlsField(c, k))), 409)
		secretGone("clash")
	})
	t.Run("an unavailable secret store fails the write with 503, with nothing written", func(t *testing.T) {
		backend.down.Store(true)
		c, k := testPEM(t, "down.example.com")
		res := f.as(t, f.alice, "POST", "/v1/apis", api("down", "down.example.com", ","+tlsField(c, k)))
		if res.status != 503 || res.header.Get("Retry-After") != "5" || !strings.Contains(res.raw, "secret store is unavailable") {
			t.Fatalf("create: %d %v %s", res.status, res.header, res.raw)
		}
		c, k = testPEM(t, "shop.example.com")
		expect(t, f.as(t, f.alice, "PATCH", "/v1/apis/shop", `{"api":{`+tlsField(c, k)+`}}`), 503)
		backend.down.Store(false)
		expect(t, f.as(t, f.alice, "GET", "/v1/apis/down", ""), 404)
		if stored, _ := f.s.GetAPI(ctx, "shop"); stored.TLSCert != cert2 {
			t.Fatal("the refused patch changed the record")
		}
		if got, err := keyOf("shop"); err != nil || got != key2 {
			t.Fatalf("the refused patch changed the key: %v", err)
		}
	})
	t.Run("removing the certificate deletes the key", func(t *testing.T) {
		expect(t, f.as(t, f.alice, "PATCH", "/v1/apis/shop", `{"api":{"tls":{}}}`), 200)
		if stored, _ := f.s.GetAPI(ctx, "shop"); stored.TLSCert != "" || stored.TLSKeySecret != "" {
			t.Fatalf("the certificate is still there: %+v", stored)
		}
		secretGone("shop")
	})
	t.Run("deleting the API deletes the key", func(t *testing.T) {
		expect(t, f.as(t, f.alice, "PATCH", "/v1/apis/shop", `{"api":{`+tlsField(cert, key)+`}}`), 200)
		if got, err := keyOf("shop"); err != nil || got != key {
			t.Fatalf("the key of the new certificate: %v", err)
		}
		expect(t, f.as(t, f.alice, "DELETE", "/v1/apis/shop", ""), 204)
		secretGone("shop")
	})
}

// TestAPITLSWithoutSecretStore: a server without a secret store refuses a certificate's
// key (503: it would have to keep it in clear) and serves the rest.
func TestAPITLSWithoutSecretStore(t *testing.T) {
	f := newAuthFixtureWith(t, func(d *Deps) { d.TLSKeys = nil })
	cert, key := testPEM(t, "shop.example.com")
	body := `{"api":{"name":"shop","function":{"app":"a","route":"/f"},"uris":["/"],"hosts":["shop.example.com"]%s}}`
	res := f.as(t, f.alice, "POST", "/v1/apis", fmt.Sprintf(body, `,"tls":{"certificate":`+jsonString(cert)+`,"key":`+jsonString(key)+`}`))
	if res.status != 503 || get(res.body, "error", "fields") != "api.tls" {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", fmt.Sprintf(body, "")), 201)
	expect(t, f.as(t, f.alice, "PATCH", "/v1/apis/shop", `{"api":{"tls":{}}}`), 200)
	expect(t, f.as(t, f.alice, "DELETE", "/v1/apis/shop", ""), 204)
}
