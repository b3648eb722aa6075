package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/gateway"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// selfSigned makes a certificate for name and its key, as PEM.
func selfSigned(t *testing.T, name string) (certPEM, keyPEM string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

// noCalls is an invocation service that is never called: the test only shakes hands.
type noCalls struct{}

func (noCalls) Prepare(http.ResponseWriter, *http.Request, invoke.Request, invoke.Limits) (*invoke.Call, error) {
	return nil, errors.New("no calls in this test")
}
func (noCalls) Serve(http.ResponseWriter, *http.Request, *invoke.Call) {}

// servedNames shakes hands with a gateway over st and keys by SNI name, and returns the
// names of the certificate it was served ("" : the handshake failed).
func servedNames(t *testing.T, st gateway.Store, keys gateway.TLSKeys, name string) []string {
	t.Helper()
	g, err := gateway.New(t.Context(), gateway.Options{Store: st, Calls: noCalls{}, TLSKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", g.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: name, InsecureSkipVerify: true}) //nolint:gosec // the test reads the names served
	if err != nil {
		return nil
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].DNSNames
}

// TestTidyTLSKeys: the keys that API records hold in clear (written before keys moved to
// the secret store) move there, the record naming them instead, and the gateway still
// serves their certificates; a move a crash cut short is finished by the next run, and a
// second run changes nothing; TLS key secrets that no API names are deleted once older than
// the sweep's grace, and only those.
func TestTidyTLSKeys(t *testing.T) {
	ctx := t.Context()
	st, err := bolt.Open(ctx, t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	backend, err := secrets.OpenEmbedded(ctx, st, bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	svc := secrets.New(st, backend, secrets.Options{})
	t.Cleanup(svc.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	api := func(name string, mod func(*store.API)) store.API {
		a := store.API{Name: name, Owner: "ada", App: "shop", Route: "/f", URIs: []string{"/" + name}, Hosts: []string{name + ".test"}, Enabled: true}
		if mod != nil {
			mod(&a)
		}
		return a
	}
	keys := map[string]string{}
	legacy := func(name string) func(*store.API) {
		c, k := selfSigned(t, name+".test")
		keys[name] = k
		return func(a *store.API) { a.TLSCert, a.TLSKey = c, k }
	}
	for _, a := range []store.API{
		api("legacy", legacy("legacy")),
		api("half", legacy("half")), // its key was put, and the server stopped before the record was rewritten
		api("plain", nil),
	} {
		if _, err := st.CreateAPI(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if names := servedNames(t, st, svc, "legacy.test"); !slices.Equal(names, []string{"legacy.test"}) {
		t.Fatalf("before the move, legacy.test is served %v", names)
	}
	for name, owner := range map[string]string{"half": "ada", "gone": "ada", "plain": "ada"} {
		if err := svc.PutTLSKey(ctx, name, owner, []byte("orphan key of "+name)); err != nil {
			t.Fatal(err)
		}
	}

	if err := tidyTLSKeys(ctx, st, svc, log, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"legacy", "half"} {
		a, err := st.GetAPI(ctx, name)
		if err != nil || a.TLSKey != "" || a.TLSKeySecret != store.TLSKeySecretName(name) {
			t.Fatalf("%s after the move: key %q, secret %q, %v", name, a.TLSKey, a.TLSKeySecret, err)
		}
		if k, err := svc.TLSKey(ctx, name); err != nil || string(k) != keys[name] {
			t.Fatalf("the secret store's key of %s: %q %v", name, k, err)
		}
	}
	if names := servedNames(t, st, svc, "legacy.test"); !slices.Equal(names, []string{"legacy.test"}) {
		t.Fatalf("after the move, legacy.test is served %v", names)
	}
	for _, name := range []string{"gone", "plain"} { // orphans, but too new to be swept yet
		if _, err := svc.Get(ctx, store.TLSKeySecretName(name)); err != nil {
			t.Fatalf("a new key of %s was swept: %v", name, err)
		}
	}

	before, _ := st.GetAPI(ctx, "legacy")
	if err := tidyTLSKeys(ctx, st, svc, log, time.Now().Add(tlsKeySweepGrace+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if after, _ := st.GetAPI(ctx, "legacy"); !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatal("a second run rewrote a moved record")
	}
	for _, name := range []string{"gone", "plain"} {
		if _, err := svc.Get(ctx, store.TLSKeySecretName(name)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the key of %s, which no API names, was not swept: %v", name, err)
		}
	}
	for _, name := range []string{"legacy", "half"} {
		if k, err := svc.TLSKey(ctx, name); err != nil || string(k) != keys[name] {
			t.Fatalf("the sweep took the named key of %s: %v", name, err)
		}
	}
	if names := servedNames(t, st, svc, "half.test"); !slices.Equal(names, []string{"half.test"}) {
		t.Fatalf("half.test is served %v", names)
	}
}

// TestTLSKeysMovedWhileRunning: the server moves the keys of legacy records before it
// returns from startTLSKeys, and keeps moving those that nodes of an earlier version write
// during a rolling upgrade.
func TestTLSKeysMovedWhileRunning(t *testing.T) {
	ctx := t.Context()
	st, err := bolt.Open(ctx, t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	backend, err := secrets.OpenEmbedded(ctx, st, bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	svc := secrets.New(st, backend, secrets.Options{})
	t.Cleanup(svc.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	legacy := func(name string) {
		t.Helper()
		c, k := selfSigned(t, name+".test")
		a := store.API{Name: name, Owner: "ada", App: "shop", Route: "/f", URIs: []string{"/" + name}, Hosts: []string{name + ".test"},
			Enabled: true, TLSCert: c, TLSKey: k}
		if _, err := st.CreateAPI(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	moved := func(name string) error {
		a, err := st.GetAPI(ctx, name)
		if err != nil || a.TLSKey != "" || a.TLSKeySecret == "" {
			return fmt.Errorf("%s is not moved: key in the record %v, %v", name, a.TLSKey != "", err)
		}
		return nil
	}

	legacy("before")
	stop := startTLSKeys(ctx, st, svc, log)
	if err := moved("before"); err != nil {
		t.Fatal(err)
	}
	stop()

	tidyCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); keepTidyingTLSKeys(tidyCtx, st, svc, log, 20*time.Millisecond) }()
	legacy("during")
	deadline := time.Now().Add(5 * time.Second)
	for err := moved("during"); err != nil; err = moved("during") {
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
