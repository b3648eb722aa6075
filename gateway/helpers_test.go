package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// env is a gateway over a real store, served on real loopback listeners: plain HTTP and
// HTTPS (certificates chosen by the gateway's GetCertificate).
type env struct {
	t      *testing.T
	db     *bolt.DB
	g      *Gateway
	calls  *echoCalls
	reg    *prometheus.Registry
	access *syncBuffer
	ca     *testCA
	clock  *testClock   // the limiters' clock: it moves only when a test advances it
	checks atomic.Int32 // bcrypt checks made

	plainAddr, tlsAddr string
	plain, secure      *http.Client
}

// newEnv starts a gateway with apps "shop" (owned by ada), "other" (owned by bob) and
// "legacy" (owned by no one);
// mod changes its options.
func newEnv(t *testing.T, mod func(*env, *Options)) *env {
	t.Helper()
	ctx := t.Context()
	db, err := bolt.Open(ctx, t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, app := range []store.App{{Name: "shop", Owner: "ada"}, {Name: "other", Owner: "bob"}, {Name: "legacy"}} {
		if _, err := db.CreateApp(ctx, app); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, db: db, calls: &echoCalls{}, reg: prometheus.NewRegistry(), access: &syncBuffer{}, ca: newTestCA(t),
		clock: &testClock{t: time.Now()}}
	o := Options{
		Store: db, Calls: e.calls, Registerer: e.reg, now: e.clock.now, writeError: e.calls.WriteError,
		Log:       slog.New(slog.NewTextHandler(t.Output(), nil)),
		AccessLog: slog.New(slog.NewJSONHandler(e.access, nil)),
		checkPassword: func(hash []byte, password string) bool {
			e.checks.Add(1)
			return auth.CheckPassword(hash, password)
		},
	}
	if mod != nil {
		mod(e, &o)
	}
	e.g, err = New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.g.Close)

	plain := httptest.NewServer(e.g.Handler())
	t.Cleanup(plain.Close)
	e.plainAddr = plain.Listener.Addr().String()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.g.Handler(), TLSConfig: e.g.TLSConfig(), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "") // GetCertificate only: no Certificates, unlike httptest's StartTLS
	t.Cleanup(func() { srv.Close() })
	e.tlsAddr = ln.Addr().String()
	e.plain = e.client(e.plainAddr, nil)
	e.secure = e.client(e.tlsAddr, nil)
	return e
}

// client sends every request to addr, whatever its URL's host (which stays the Host
// header and the TLS server name), from local if set.
func (e *env) client(addr string, local net.Addr) *http.Client {
	d := &net.Dialer{LocalAddr: local}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: e.ca.pool},
	}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// newAPI returns a valid enabled public API named name for app shop's route "/"+name,
// owned by ada, on uri "/", changed by mod.
func newAPI(name string, mod func(*store.API)) store.API {
	a := store.API{
		Name: name, Owner: "ada", App: "shop", Route: "/" + name, URIs: []string{"/"},
		MaxBodyBytes: 1 << 20, Enabled: true,
	}
	if mod != nil {
		mod(&a)
	}
	return a
}

// create stores APIs and rebuilds the table at once.
func (e *env) create(apis ...store.API) {
	e.t.Helper()
	for _, a := range apis {
		if _, err := e.db.CreateAPI(e.t.Context(), a); err != nil {
			e.t.Fatalf("create API %s: %v", a.Name, err)
		}
	}
	if err := e.g.Refresh(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
}

// compiled is the served form of an API in the current table, nil if it is not served.
func (e *env) compiled(name string) *api {
	for _, b := range e.g.table.Load().buckets() {
		for _, en := range b {
			if en.api.name == name {
				return en.api
			}
		}
	}
	return nil
}

// response is what a request got.
type response struct {
	status int
	header http.Header
	body   string
	tls    *tls.ConnectionState
}

// do sends a request to the plain or the TLS listener, by url's scheme.
func (e *env) do(method, url string, header http.Header) response {
	e.t.Helper()
	c := e.plain
	if strings.HasPrefix(url, "https:") {
		c = e.secure
	}
	return e.doWith(c, method, url, header)
}

func (e *env) doWith(c *http.Client, method, url string, header http.Header) response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, url, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	copyHeader(req.Header, header)
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body), tls: resp.TLS}
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// eventually retries check until it passes or within is over.
func eventually(t *testing.T, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// basicAuth is an Authorization header of basic credentials.
func basicAuth(user, password string) http.Header {
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, password)
	return r.Header
}

// basicUser is a user of basic authentication, hashed at bcrypt's least cost (fast tests).
func basicUser(t *testing.T, name, password string) store.BasicUser {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return store.BasicUser{Username: name, Hash: h}
}

// echoCalls is a TEST DOUBLE of the invocation service: it records the requests it gets and
// answers them with a JSON echo (the real path is tested in invoke and end to end). The
// calls it hands out stand for resolved ones (they name no route, so the gateway's
// admission lets them through). Its WriteError is a tiny mapping for these tests only, not
// httperr's one.
type echoCalls struct {
	mu      sync.Mutex
	n       int
	last    recorded
	pending map[*invoke.Call]pendingCall // prepared, not served yet
}

type pendingCall struct {
	id  int
	req invoke.Request
}

type recorded struct {
	req     invoke.Request
	header  http.Header // a copy of req.Header
	method  string
	maxBody int64
	timeout time.Duration
}

// echo is the body of the double's answer.
type echo struct {
	App     string            `json:"app"`
	Route   string            `json:"route"`
	Params  map[string]string `json:"params"`
	Path    string            `json:"path"`
	RawPath string            `json:"raw_path"`
	Query   string            `json:"query"`
	Method  string            `json:"method"`
	Headers []string          `json:"headers"`
}

func (c *echoCalls) Prepare(_ http.ResponseWriter, r *http.Request, req invoke.Request, limits invoke.Limits) (*invoke.Call, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.last = recorded{req: req, header: req.Header.Clone(), method: r.Method, maxBody: limits.MaxBody, timeout: limits.Timeout}
	call := new(invoke.Call)
	if c.pending == nil {
		c.pending = map[*invoke.Call]pendingCall{}
	}
	c.pending[call] = pendingCall{id: c.n, req: req}
	return call, nil
}

func (c *echoCalls) Serve(w http.ResponseWriter, r *http.Request, call *invoke.Call) {
	c.mu.Lock()
	p := c.pending[call]
	delete(c.pending, call)
	c.mu.Unlock()
	id, req := p.id, p.req
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range req.Header {
			if !yield(k) {
				return
			}
		}
	})
	w.Header().Set("Gantry-Call-Id", fmt.Sprintf("call-%d", id))
	w.Header().Set("Gantry-Route", req.App+req.Route)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(echo{App: req.App, Route: req.Route, Params: req.Params, Path: req.Path,
		RawPath: req.RawPath, Query: req.Query, Method: r.Method, Headers: keys})
}

func (c *echoCalls) WriteError(w http.ResponseWriter, err error) {
	var (
		challenge *ChallengeError
		limited   *RateLimitedError
		status    = http.StatusInternalServerError
	)
	switch {
	case errors.As(err, &challenge):
		w.Header().Set("WWW-Authenticate", challenge.Challenge)
		status = http.StatusUnauthorized
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(limited.RetryAfter.Seconds()))))
		status = http.StatusTooManyRequests
	case errors.Is(err, ErrNoAPI):
		status = http.StatusNotFound
	case errors.Is(err, ErrHTTPSRequired), errors.Is(err, ErrBadPath):
		status = http.StatusBadRequest
	case errors.Is(err, ErrMisdirected):
		status = http.StatusMisdirectedRequest
	case errors.Is(err, ErrAPIUnavailable), errors.Is(err, auth.ErrPasswordsBusy):
		status = http.StatusServiceUnavailable
	case errors.Is(err, ErrFunctionMissing):
		status = http.StatusBadGateway
	case errors.Is(err, auth.ErrUnauthenticated):
		status = http.StatusUnauthorized
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, err.Error())
}

func (c *echoCalls) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *echoCalls) lastCall() recorded {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// testClock is a clock that moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines are the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// testCA issues certificates that the env's clients trust.
type testCA struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{t: t, cert: cert, key: key, pool: pool}
}

// issue returns the PEM certificate and key of a server certificate for names (host
// names or IP addresses).
func (ca *testCA) issue(names ...string) (certPEM, keyPEM string) {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		ca.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names { // an IP address goes in the IP names, as clients check it there
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// keyPair is a parsed certificate issued for names.
func (ca *testCA) keyPair(names ...string) *tls.Certificate {
	ca.t.Helper()
	c, k := ca.issue(names...)
	pair, err := tls.X509KeyPair([]byte(c), []byte(k))
	if err != nil {
		ca.t.Fatal(err)
	}
	return &pair
}
