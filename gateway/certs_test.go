package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
)

// flakyKeys reads keys from the real secret service, or fails as an unavailable secret
// store (Vault sealed or unreachable) while down.
type flakyKeys struct {
	svc   *secrets.Service
	down  atomic.Bool
	reads atomic.Int32
}

func (k *flakyKeys) TLSKey(ctx context.Context, api string) ([]byte, error) {
	k.reads.Add(1)
	if k.down.Load() {
		return nil, fmt.Errorf("read secret %q: %w: sealed", store.TLSKeySecretName(api), secrets.ErrUnavailable)
	}
	return k.svc.TLSKey(ctx, api)
}

// withSecrets gives the env's gateway the real secret service (the embedded backend over
// the env's store), through keys, with a default certificate for fallback.test; mod
// changes the options further.
func withSecrets(keys *flakyKeys, mod func(*env, *Options)) func(*env, *Options) {
	return func(e *env, o *Options) {
		ctx := e.t.Context()
		backend, err := secrets.OpenEmbedded(ctx, e.db, bytes.Repeat([]byte{7}, secrets.KeySize))
		if err != nil {
			e.t.Fatal(err)
		}
		keys.svc = secrets.New(e.db, backend, secrets.Options{})
		e.t.Cleanup(keys.svc.Close)
		o.TLSKeys = keys
		withDefaultCert("fallback.test")(e, o)
		if mod != nil {
			mod(e, o)
		}
	}
}

// keyed returns an API on names whose key is in the secret store (put there first, as the
// management API does), and its certificate.
func (e *env) keyed(svc *secrets.Service, name string, names ...string) (store.API, string) {
	e.t.Helper()
	c, k := e.ca.issue(names...)
	if err := svc.PutTLSKey(e.t.Context(), name, "ada", []byte(k)); err != nil {
		e.t.Fatal(err)
	}
	return newAPI(name, func(a *store.API) {
		a.Hosts, a.TLSCert, a.TLSKeySecret = names, c, store.TLSKeySecretName(name)
	}), c
}

// namesAre checks that a handshake with SNI name gets a certificate for want (unverified).
func namesAre(e *env, sni string, want ...string) func() error {
	return func() error {
		got, err := e.served(sni)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("handshake for %s got a certificate for %v, want %v", sni, got, want)
		}
		return nil
	}
}

// TestTLSKeyFromSecretStore: an API whose key is in the secret store is served its
// certificate by SNI, beside one whose key is still in its record; a key rotated ahead of
// its certificate keeps the old pair served until the certificate follows; a key written
// after its API (a ChangeSecret, no change of the API) is picked up.
func TestTLSKeyFromSecretStore(t *testing.T) {
	keys := &flakyKeys{}
	e := newEnv(t, withSecrets(keys, nil))
	ctx := t.Context()
	a, _ := e.keyed(keys.svc, "a", "a.test")
	e.create(a, newAPI("b", withCert(e, "b.test")))
	for _, sni := range []string{"a.test", "b.test"} {
		if names, err := e.handshake(sni); err != nil || !slices.Equal(names, []string{sni}) {
			t.Fatalf("handshake for %s: %v %v", sni, names, err)
		}
	}
	if got := e.do("GET", "https://a.test/", nil); got.status != http.StatusOK || e.calls.lastCall().req.Route != "/a" {
		t.Fatalf("GET https://a.test/ = %d %s", got.status, got.body)
	}

	t.Run("a key rotated ahead of its certificate keeps the old pair until the certificate follows", func(t *testing.T) {
		c2, k2 := e.ca.issue("a.test", "v2.a.test")
		if err := keys.svc.PutTLSKey(ctx, "a", "ada", []byte(k2)); err != nil {
			t.Fatal(err)
		}
		if err := e.g.Refresh(ctx); err != nil { // a build between the key's write and the API's
			t.Fatal(err)
		}
		if e.compiled("a").refusal != nil {
			t.Fatal("the API is refused while its new key waits for its certificate")
		}
		if err := namesAre(e, "a.test", "a.test")(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.UpdateAPI(ctx, "a", func(x *store.API) error { x.TLSCert = c2; return nil }); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, namesAre(e, "a.test", "a.test", "v2.a.test"))
	})

	t.Run("a key written after its API is picked up without a change of the API", func(t *testing.T) {
		c, k := e.ca.issue("late.test")
		if _, err := e.db.CreateAPI(ctx, newAPI("late", func(x *store.API) {
			x.Hosts, x.TLSCert, x.TLSKeySecret = []string{"late.test"}, c, store.TLSKeySecretName("late")
		})); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, func() error {
			if got := e.do("GET", "http://late.test/", nil); got.status != http.StatusServiceUnavailable {
				return fmt.Errorf("an API whose key is missing answers %d, want 503", got.status)
			}
			return nil
		})
		if err := keys.svc.PutTLSKey(ctx, "late", "ada", []byte(k)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, namesAre(e, "late.test", "late.test"))
		if got := e.do("GET", "https://late.test/", nil); got.status != http.StatusOK {
			t.Fatalf("GET https://late.test/ = %d %s", got.status, got.body)
		}
	})

	t.Run("a build reads only the keys that changed", func(t *testing.T) {
		before := keys.reads.Load()
		if err := e.g.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if n := keys.reads.Load() - before; n != 0 {
			t.Fatalf("a build without changes read %d keys", n)
		}
	})
}

// TestTLSKeyUnavailable: a key the secret store cannot give now does not take the table
// down: its API is served without its certificate (the default one comes instead), logged,
// until a build retried on its own reads it; then a secret store away does not matter to
// an API whose certificate did not change.
func TestTLSKeyUnavailable(t *testing.T) {
	keys := &flakyKeys{}
	logs := &syncBuffer{}
	e := newEnv(t, withSecrets(keys, func(_ *env, o *Options) {
		o.Log = slog.New(slog.NewJSONHandler(logs, nil))
		o.keyRetry = 50 * time.Millisecond
	}))
	ctx := t.Context()
	a, _ := e.keyed(keys.svc, "a", "a.test")
	c, _ := e.keyed(keys.svc, "c", "c.test")
	keys.down.Store(true)
	e.create(a, newAPI("b", withCert(e, "b.test")), c)
	if e.compiled("a") == nil || e.compiled("a").refusal != nil {
		t.Fatal("the API whose key cannot be read is not served")
	}
	if err := namesAre(e, "a.test", "fallback.test")(); err != nil {
		t.Fatal(err)
	}
	if err := namesAre(e, "b.test", "b.test")(); err != nil {
		t.Fatal(err)
	}
	if got := e.do("GET", "http://a.test/", nil); got.status != http.StatusOK {
		t.Fatalf("GET http://a.test/ = %d %s", got.status, got.body)
	}
	logged := false
	for _, l := range logs.lines(t) {
		logged = logged || l["api"] == "a" && strings.Contains(l["msg"].(string), "served without its certificate")
	}
	if !logged {
		t.Fatal("the unreadable key is not logged")
	}
	apis, err := e.db.AllAPIs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.g.buildMu.Lock() // no build of follow's meanwhile
	before := keys.reads.Load()
	certs := e.g.loadCerts(ctx, apis)
	reads := keys.reads.Load() - before
	e.g.buildMu.Unlock()
	if reads != 1 || certs["c"].err != nil || certs["c"].cert != nil {
		t.Fatalf("a build read %d keys while the secret store does not answer (want 1: no other once one failed); c: %+v", reads, certs["c"])
	}

	// No change is signalled: the gateway tries again on its own, and again while it fails.
	reads = keys.reads.Load()
	eventually(t, 5*time.Second, func() error {
		if n := keys.reads.Load() - reads; n < 3 {
			return fmt.Errorf("the key was read %d times since the failed build, want 3 tries at least", n)
		}
		return nil
	})
	keys.down.Store(false)
	eventually(t, 5*time.Second, namesAre(e, "a.test", "a.test"))

	keys.down.Store(true)
	e.g.onChange(store.Change{Kind: store.ChangeReset}) // changes may have been missed: the table is built again
	if err := e.g.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := namesAre(e, "a.test", "a.test")(); err != nil {
		t.Fatalf("an API whose certificate did not change lost it while the secret store is away: %v", err)
	}
}

// TestTLSKeyWithoutSecretStore: a gateway that does not read the secret store refuses the
// APIs whose key is there (as a broken certificate), and serves the others.
func TestTLSKeyWithoutSecretStore(t *testing.T) {
	e := newEnv(t, withDefaultCert("fallback.test"))
	e.create(newAPI("a", func(a *store.API) {
		c, _ := e.ca.issue("a.test")
		a.Hosts, a.TLSCert, a.TLSKeySecret = []string{"a.test"}, c, store.TLSKeySecretName("a")
	}), newAPI("b", withCert(e, "b.test")))
	if r := e.compiled("a").refusal; !errors.Is(r, ErrAPIUnavailable) {
		t.Fatalf("refusal %v, want ErrAPIUnavailable", r)
	}
	if got := e.do("GET", "http://b.test/", nil); got.status != http.StatusOK {
		t.Fatalf("GET http://b.test/ = %d", got.status)
	}
}
