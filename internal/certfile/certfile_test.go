package certfile

import (
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
	"io/fs"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Modification times. Every write in these tests sets the files' mtime
// explicitly with os.Chtimes rather than leaving it to the clock: ext4 and
// tmpfs stamp files from a clock that may tick only every few milliseconds,
// other file systems every second or two, and two ECDSA certificates often
// have PEM files of the same size, so "write, then write again" can leave
// size and mtime unchanged and a test that depended on them would be flaky.
// Rotation tests give each generation its own mtime, a minute after the
// previous one and about an hour in the past, so the racy-window re-reads
// play no part and the stat comparison alone must find the change.
// TestChangeDetection sets equal sizes and mtimes on purpose, to test the
// inode comparison and the racy window.

// pair is one generation of certificate and key, PEM-encoded.
type pair struct {
	cn        string
	cert, key []byte
	leaf      *x509.Certificate
}

// newPair makes a self-signed ECDSA certificate for 127.0.0.1 with common
// name cn and a random serial number.
func newPair(t *testing.T, cn string) pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pair{
		cn:   cn,
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		leaf: leaf,
	}
}

// roots trusts the given self-signed certificates.
func roots(pairs ...pair) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, p := range pairs {
		pool.AddCert(p.leaf)
	}
	return pool
}

// pad appends newlines up to n bytes; PEM parsing ignores them. It lets two
// generations have files of exactly the same size.
func pad(t *testing.T, b []byte, n int) []byte {
	t.Helper()
	if len(b) > n {
		t.Fatalf("PEM of %d bytes does not fit in %d", len(b), n)
	}
	return append(b, strings.Repeat("\n", n-len(b))...)
}

type writeMode int

const (
	inPlace writeMode = iota // truncate and rewrite the same inode, as os.WriteFile does
	rename                   // write a temporary file in the same folder and rename it over the path
)

func (m writeMode) String() string {
	if m == rename {
		return "rename"
	}
	return "in place"
}

// writeFile writes data to path and sets its modification time to mtime.
func writeFile(t *testing.T, path string, data []byte, mode writeMode, mtime time.Time) {
	t.Helper()
	switch mode {
	case inPlace:
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	case rename:
		tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tmp.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := tmp.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// recorder is a slog.Handler that keeps the records it is given.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *recorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recorder) WithGroup(string) slog.Handler            { return h }
func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

// lines returns the records at level as "message key=value ...".
func (h *recorder) lines(level slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if r.Level != level {
			continue
		}
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// fixture is a Reloader on two files in a temporary folder, served by a
// real HTTPS server on a loopback port.
type fixture struct {
	certPath, keyPath string
	r                 *Reloader
	addr              string
	roots             *x509.CertPool
	logs              *recorder
	loads             atomic.Int64 // calls of r.load after New
	mtime             time.Time    // last mtime set; next() moves it on
}

// checkEvery is the tests' shortened interval between checks.
const checkEvery = 5 * time.Millisecond

// setup writes initial, builds a Reloader on it and serves it. trusted are
// the certificates the client accepts besides initial's.
func setup(t *testing.T, initial pair, trusted ...pair) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		certPath: filepath.Join(dir, "cert.pem"),
		keyPath:  filepath.Join(dir, "key.pem"),
		roots:    roots(append(trusted, initial)...),
		logs:     &recorder{},
		mtime:    time.Now().Add(-time.Hour).Truncate(time.Second),
	}
	f.writePair(t, initial, inPlace)
	r, err := New(f.certPath, f.keyPath, slog.New(f.logs))
	if err != nil {
		t.Fatal(err)
	}
	r.checkEvery = checkEvery
	load := r.load
	r.load = func(certFile, keyFile string) (*tls.Certificate, error) {
		f.loads.Add(1)
		return load(certFile, keyFile)
	}
	f.r = r
	f.addr = serve(t, r)
	return f
}

// next returns a modification time a minute after the last one.
func (f *fixture) next() time.Time {
	f.mtime = f.mtime.Add(time.Minute)
	return f.mtime
}

// writePair writes both files of p with the same new mtime.
func (f *fixture) writePair(t *testing.T, p pair, mode writeMode) {
	t.Helper()
	mtime := f.next()
	writeFile(t, f.certPath, p.cert, mode, mtime)
	writeFile(t, f.keyPath, p.key, mode, mtime)
}

// serve runs an http.Server with r's TLS configuration on 127.0.0.1 and
// returns its address. The handler answers with the request's protocol.
func serve(t *testing.T, r *Reloader) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			_, _ = io.WriteString(w, req.Proto)
		}),
		TLSConfig:         r.TLSConfig(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // refused TLS 1.1 handshakes
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return ln.Addr().String()
}

// handshake opens a new TLS connection (no session resumption), verifies
// the server's certificate against roots and returns its common name.
func handshake(addr string, roots *x509.CertPool, minVersion, maxVersion uint16) (string, error) {
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config:    &tls.Config{RootCAs: roots, MinVersion: minVersion, MaxVersion: maxVersion},
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	if len(st.VerifiedChains) == 0 {
		return "", errors.New("server certificate not verified")
	}
	return st.PeerCertificates[0].Subject.CommonName, nil
}

func (f *fixture) handshake() (string, error) {
	return handshake(f.addr, f.roots, tls.VersionTLS12, 0)
}

// waitCN makes new connections until one is served the certificate named
// want, failing on any handshake error or after 5 s.
func (f *fixture) waitCN(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		var err error
		if got, err = f.handshake(); err != nil {
			t.Fatalf("handshake while waiting for %q: %v", want, err)
		}
		if got == want {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("after 5s new connections are still served %q, want %q", got, want)
}

// expectCN makes new connections for d (many checks) and fails unless every
// one is served the certificate named want.
func (f *fixture) expectCN(t *testing.T, want string, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		got, err := f.handshake()
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		if got != want {
			t.Fatalf("served %q, want %q", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestServesInitialCertificate(t *testing.T) {
	one, two := newPair(t, "one"), newPair(t, "two")
	f := setup(t, one, two)

	got, err := f.handshake()
	if err != nil {
		t.Fatal(err)
	}
	if got != "one" {
		t.Fatalf("served %q, want %q", got, "one")
	}
	c, err := f.r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf.SerialNumber.Cmp(one.leaf.SerialNumber) != 0 {
		t.Fatalf("GetCertificate serial %v, want %v", c.Leaf.SerialNumber, one.leaf.SerialNumber)
	}
	// A client that trusts only another certificate must refuse the server,
	// or the checks above would prove nothing about verification.
	if _, err := handshake(f.addr, roots(two), tls.VersionTLS12, 0); err == nil {
		t.Fatal("client trusting only \"two\" accepted the server")
	}
}

func TestReloadsNewPair(t *testing.T) {
	for _, mode := range []writeMode{rename, inPlace} {
		t.Run(mode.String(), func(t *testing.T) {
			one, two, three := newPair(t, "one"), newPair(t, "two"), newPair(t, "three")
			f := setup(t, one, two, three)
			f.expectCN(t, "one", 10*checkEvery)

			f.writePair(t, two, mode)
			f.waitCN(t, "two")
			f.expectCN(t, "two", 10*checkEvery) // and it stays

			f.writePair(t, three, mode)
			f.waitCN(t, "three")

			infos := f.logs.lines(slog.LevelInfo)
			if len(infos) != 2 || !strings.Contains(infos[0], "CN=two") || !strings.Contains(infos[1], "CN=three") {
				t.Errorf("info logs = %q, want one reload of two then one of three", infos)
			}
			if w := f.logs.lines(slog.LevelWarn); len(w) != 0 {
				t.Errorf("warnings = %q, want none", w)
			}
		})
	}
}

func TestBrokenPairKeepsServingOld(t *testing.T) {
	// Each case breaks the pair after "one" in its own way; fixing it must
	// then serve "two".
	tests := []struct {
		name    string
		corrupt func(t *testing.T, f *fixture, two, other pair)
		fix     func(t *testing.T, f *fixture, two pair)
		warn    string // in the one warning
	}{
		{
			name: "cert written before its key",
			corrupt: func(t *testing.T, f *fixture, two, _ pair) {
				writeFile(t, f.certPath, two.cert, inPlace, f.next())
			},
			fix: func(t *testing.T, f *fixture, two pair) {
				writeFile(t, f.keyPath, two.key, inPlace, f.next())
			},
			warn: "private key does not match public key",
		},
		{
			name: "garbage key",
			corrupt: func(t *testing.T, f *fixture, two, _ pair) {
				writeFile(t, f.certPath, two.cert, inPlace, f.next())
				writeFile(t, f.keyPath, []byte("not a key\n"), inPlace, f.next())
			},
			fix: func(t *testing.T, f *fixture, two pair) {
				writeFile(t, f.keyPath, two.key, rename, f.next())
			},
			warn: "key input",
		},
		{
			name: "key of another pair",
			corrupt: func(t *testing.T, f *fixture, two, other pair) {
				writeFile(t, f.certPath, two.cert, rename, f.next())
				writeFile(t, f.keyPath, other.key, rename, f.next())
			},
			fix: func(t *testing.T, f *fixture, two pair) {
				writeFile(t, f.keyPath, two.key, rename, f.next())
			},
			warn: "private key does not match public key",
		},
		{
			name: "truncated cert",
			corrupt: func(t *testing.T, f *fixture, two, _ pair) {
				writeFile(t, f.certPath, two.cert[:len(two.cert)/2], inPlace, f.next())
				writeFile(t, f.keyPath, two.key, inPlace, f.next())
			},
			fix: func(t *testing.T, f *fixture, two pair) {
				writeFile(t, f.certPath, two.cert, inPlace, f.next())
			},
			warn: "certificate input",
		},
		{
			name: "key file removed",
			corrupt: func(t *testing.T, f *fixture, two, _ pair) {
				writeFile(t, f.certPath, two.cert, inPlace, f.next())
				if err := os.Remove(f.keyPath); err != nil {
					t.Fatal(err)
				}
			},
			fix: func(t *testing.T, f *fixture, two pair) {
				writeFile(t, f.keyPath, two.key, inPlace, f.next())
			},
			warn: "no such file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			one, two, other := newPair(t, "one"), newPair(t, "two"), newPair(t, "other")
			f := setup(t, one, two)
			f.expectCN(t, "one", 5*checkEvery)

			tt.corrupt(t, f, two, other)
			// The failure is noticed at the next check...
			deadline := time.Now().Add(5 * time.Second)
			for len(f.logs.lines(slog.LevelWarn)) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("no warning 5s after breaking the pair")
				}
				f.expectCN(t, "one", checkEvery)
			}
			// ...and for many checks after it the old certificate is
			// served without an error to the client, and the failure is
			// not logged again.
			f.expectCN(t, "one", 30*checkEvery)
			warns := f.logs.lines(slog.LevelWarn)
			if len(warns) != 1 {
				t.Fatalf("%d warnings, want 1: %q", len(warns), warns)
			}
			for _, want := range []string{tt.warn, f.certPath, f.keyPath, "serving_serial=" + one.leaf.SerialNumber.String()} {
				if !strings.Contains(warns[0], want) {
					t.Errorf("warning %q does not contain %q", warns[0], want)
				}
			}

			tt.fix(t, f, two)
			f.waitCN(t, "two")
			if warns := f.logs.lines(slog.LevelWarn); len(warns) != 1 {
				t.Errorf("%d warnings after the fix, want 1: %q", len(warns), warns)
			}
		})
	}
}

func TestDistinctFailuresEachLoggedOnce(t *testing.T) {
	one, two, other := newPair(t, "one"), newPair(t, "two"), newPair(t, "other")
	f := setup(t, one, two)
	writeFile(t, f.certPath, two.cert, inPlace, f.next())

	// Alternate two different failures, each held for several checks: every
	// change of failure is one warning, repeats of the same one are none.
	keys := [][]byte{[]byte("garbage\n"), other.key, []byte("garbage\n")}
	for i, key := range keys {
		writeFile(t, f.keyPath, key, inPlace, f.next())
		before := f.loads.Load()
		deadline := time.Now().Add(5 * time.Second)
		for f.loads.Load() < before+5 {
			if time.Now().After(deadline) {
				t.Fatalf("fewer than 5 loads in 5s")
			}
			f.expectCN(t, "one", checkEvery)
		}
		if warns := f.logs.lines(slog.LevelWarn); len(warns) != i+1 {
			t.Fatalf("after failure %d: %d warnings, want %d: %q", i+1, len(warns), i+1, warns)
		}
	}
	writeFile(t, f.keyPath, two.key, inPlace, f.next())
	f.waitCN(t, "two")
}

func TestRetriesFailedLoadAtNextCheck(t *testing.T) {
	// A failure that goes away without the files changing (here: the first
	// three reads fail) must not stop the pair from being served: the next
	// check tries again.
	one, two := newPair(t, "one"), newPair(t, "two")
	f := setup(t, one, two)
	load := f.r.load
	var calls atomic.Int64
	f.r.load = func(certFile, keyFile string) (*tls.Certificate, error) {
		if calls.Add(1) <= 3 {
			return nil, errors.New("transient read failure")
		}
		return load(certFile, keyFile)
	}
	f.writePair(t, two, inPlace)
	f.waitCN(t, "two")
	if n := calls.Load(); n < 4 {
		t.Fatalf("%d loads, want at least 4", n)
	}
	if warns := f.logs.lines(slog.LevelWarn); len(warns) != 1 {
		t.Errorf("%d warnings, want 1: %q", len(warns), warns)
	}
}

func TestChangeDetection(t *testing.T) {
	// Both generations stamped with the same mtime, and (but in the first
	// case) padded to the same sizes: only the size, the file's identity or
	// the racy-window re-read can tell the new pair from the old.
	const certSize, keySize = 2048, 1024
	tests := []struct {
		name       string
		mode       writeMode
		recent     bool // mtime now, else an hour ago
		racyWindow time.Duration
		grow       int // bytes the new files are longer than the old
	}{
		{name: "in place, old mtime, other size", mode: inPlace, recent: false, racyWindow: defaultRacyWindow, grow: 1},
		// A rename puts a new inode at the path.
		{name: "renamed over, old mtime", mode: rename, recent: false, racyWindow: defaultRacyWindow},
		// The second write landed in the same timestamp tick as the first:
		// the recent mtime keeps the files re-read at each check. The
		// window is widened so that a slow machine cannot outlast it.
		{name: "in place, recent mtime", mode: inPlace, recent: true, racyWindow: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			one, two := newPair(t, "one"), newPair(t, "two")
			mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
			if tt.recent {
				mtime = time.Now()
			}
			dir := t.TempDir()
			certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			writeFile(t, certPath, pad(t, one.cert, certSize), inPlace, mtime)
			writeFile(t, keyPath, pad(t, one.key, keySize), inPlace, mtime)
			r, err := New(certPath, keyPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			r.checkEvery, r.racyWindow = checkEvery, tt.racyWindow
			f := &fixture{r: r, addr: serve(t, r), roots: roots(one, two)}
			f.expectCN(t, "one", 5*checkEvery)

			before := []fs.FileInfo{stat(t, certPath), stat(t, keyPath)}
			writeFile(t, certPath, pad(t, two.cert, certSize+tt.grow), tt.mode, mtime)
			writeFile(t, keyPath, pad(t, two.key, keySize+tt.grow), tt.mode, mtime)
			for i, fi := range []fs.FileInfo{stat(t, certPath), stat(t, keyPath)} {
				if fi.Size() != before[i].Size()+int64(tt.grow) || !fi.ModTime().Equal(before[i].ModTime()) {
					t.Fatalf("%s: size %d→%d, mtime %v→%v: not the change this case is about",
						fi.Name(), before[i].Size(), fi.Size(), before[i].ModTime(), fi.ModTime())
				}
			}
			f.waitCN(t, "two")
		})
	}
}

func stat(t *testing.T, path string) fs.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func TestUnchangedFilesAreNotReread(t *testing.T) {
	one := newPair(t, "one")
	f := setup(t, one) // mtimes an hour old: outside the racy window
	f.expectCN(t, "one", 40*checkEvery)
	if n := f.loads.Load(); n != 0 {
		t.Fatalf("pair read %d times with unchanged files, want 0", n)
	}
	// The check did run: a change is picked up.
	two := newPair(t, "two")
	f.roots = roots(one, two)
	f.writePair(t, two, inPlace)
	f.waitCN(t, "two")
}

func TestTLSConfig(t *testing.T) {
	one := newPair(t, "one")
	f := setup(t, one)

	versions := []struct {
		name     string
		max      uint16
		accepted bool
	}{
		{"TLS 1.0", tls.VersionTLS10, false},
		{"TLS 1.1", tls.VersionTLS11, false},
		{"TLS 1.2", tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, true},
	}
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			cn, err := handshake(f.addr, f.roots, tls.VersionTLS10, v.max)
			switch {
			case v.accepted && err != nil:
				t.Fatalf("handshake: %v", err)
			case v.accepted && cn != "one":
				t.Fatalf("served %q, want %q", cn, "one")
			case !v.accepted && err == nil:
				t.Fatal("handshake succeeded, want it refused")
			case !v.accepted && !strings.Contains(err.Error(), "protocol version"):
				t.Fatalf("handshake error %q, want a protocol version alert", err)
			}
		})
	}

	protos := []struct {
		name       string
		nextProtos []string
		forceH2    bool
		want       string
	}{
		{"h2", nil, true, "HTTP/2.0"},
		{"http/1.1", []string{"http/1.1"}, false, "HTTP/1.1"},
	}
	for _, p := range protos {
		t.Run(p.name, func(t *testing.T) {
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: f.roots, NextProtos: p.nextProtos},
				ForceAttemptHTTP2: p.forceH2,
			}}
			defer c.CloseIdleConnections()
			resp, err := c.Get("https://" + f.addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Proto != p.want || string(body) != p.want {
				t.Fatalf("protocol %s (server saw %q), want %s", resp.Proto, body, p.want)
			}
			if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "one" {
				t.Fatalf("served %q, want %q", cn, "one")
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	one, other := newPair(t, "one"), newPair(t, "other")
	tests := []struct {
		name      string
		cert, key []byte // nil: file missing
		bad       string // "cert" or "key": the file the error must name
		want      string // also in the error
		notExist  bool
	}{
		{name: "missing cert", cert: nil, key: one.key, bad: "cert", want: "no such file", notExist: true},
		{name: "missing key", cert: one.cert, key: nil, bad: "key", want: "no such file", notExist: true},
		{name: "garbage cert", cert: []byte("garbage"), key: one.key, bad: "cert", want: "certificate input"},
		{name: "empty cert", cert: []byte{}, key: one.key, bad: "cert", want: "certificate input"},
		{name: "garbage key", cert: one.cert, key: []byte("garbage"), bad: "key", want: "key input"},
		{name: "key of another pair", cert: one.cert, key: other.key, bad: "key", want: "does not match"},
		{name: "key in the cert file", cert: one.key, key: one.key, bad: "cert", want: "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := map[string]string{"cert": filepath.Join(dir, "cert.pem"), "key": filepath.Join(dir, "key.pem")}
			for name, data := range map[string][]byte{"cert": tt.cert, "key": tt.key} {
				if data != nil {
					writeFile(t, paths[name], data, inPlace, time.Now())
				}
			}
			r, err := New(paths["cert"], paths["key"], nil)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if r != nil {
				t.Error("New returned a Reloader with its error")
			}
			msg := err.Error()
			if !strings.Contains(msg, paths[tt.bad]) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want it to name %s and say %q", msg, paths[tt.bad], tt.want)
			}
			if !errors.Is(err, ErrLoad) {
				t.Errorf("error %q does not wrap ErrLoad", msg)
			}
			if errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", !tt.notExist, tt.notExist)
			}
		})
	}
}

func TestConcurrentHandshakesDuringReload(t *testing.T) {
	gens := []pair{newPair(t, "gen0")}
	for i := 1; i <= 6; i++ {
		gens = append(gens, newPair(t, fmt.Sprintf("gen%d", i)))
	}
	f := setup(t, gens[0], gens[1:]...)
	known := map[string]bool{}
	for _, g := range gens {
		known[g.cn] = true
	}

	// Slow loads down and watch that no two ever overlap.
	var inFlight, maxInFlight atomic.Int64
	load := f.r.load
	f.r.load = func(certFile, keyFile string) (*tls.Certificate, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		time.Sleep(2 * time.Millisecond)
		return load(certFile, keyFile)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var handshakes atomic.Int64
	errs := make(chan error, 100)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cn, err := f.handshake()
				if err != nil {
					report(fmt.Errorf("handshake: %w", err))
					return
				}
				if !known[cn] {
					report(fmt.Errorf("served unknown certificate %q", cn))
				}
				handshakes.Add(1)
			}
		})
	}
	for range 4 { // GetCertificate without the network, to press harder on the check
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := f.r.GetCertificate(&tls.ClientHelloInfo{})
				if err != nil || c == nil || !known[c.Leaf.Subject.CommonName] {
					report(fmt.Errorf("GetCertificate = %v, %v", c, err))
					return
				}
			}
		})
	}

	// Rotate while the handshakes run, alternating renames with in-place
	// rewrites (whose half-written files fail to load for a moment).
	for i, g := range gens[1:] {
		mode := writeMode(i % 2)
		f.writePair(t, g, mode)
		time.Sleep(20 * checkEvery)
	}
	last := gens[len(gens)-1].cn
	f.waitCN(t, last)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := handshakes.Load(); n < 50 {
		t.Errorf("only %d concurrent handshakes completed", n)
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Errorf("at most %d loads ran at once, want 1", m)
	}
	if got, _ := f.r.GetCertificate(nil); got.Leaf.Subject.CommonName != last {
		t.Errorf("serving %q at the end, want %q", got.Leaf.Subject.CommonName, last)
	}
}
