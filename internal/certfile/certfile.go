package certfile

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrLoad means the certificate/key pair could not be read or parsed. The
// wrapped error says why (and wraps fs.ErrNotExist for a missing file).
var ErrLoad = errors.New("load certificate pair")

const (
	defaultCheckEvery = time.Second
	// defaultRacyWindow covers the coarsest common timestamp granularity
	// (FAT's two seconds; ext4 and tmpfs tick every few milliseconds).
	defaultRacyWindow = 2 * time.Second
)

// Reloader serves the certificate in certFile/keyFile and reloads it when the
// files change. Its methods are safe for concurrent use.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	// checkEvery is the least time between two looks at the files.
	checkEvery time.Duration
	// racyWindow: a file modified this recently (or in the future) may
	// still change without its stamp changing, so it is read again at the
	// next check.
	racyWindow time.Duration
	// load reads and parses the pair; tests replace it to count or slow
	// down loads.
	load func(certFile, keyFile string) (*tls.Certificate, error)

	cert atomic.Pointer[tls.Certificate] // never nil after New

	// start is the monotonic origin of lastCheck, so that wall-clock jumps
	// neither stop nor speed up checking.
	start     time.Time
	lastCheck atomic.Int64 // nanoseconds since start

	// mu is held by the one goroutine checking the files; the fields
	// below belong to it.
	mu                  sync.Mutex
	certStamp, keyStamp stamp  // the files as they were when the served pair was read
	recheck             bool   // read the pair at the next check even if the stamps match
	lastFailure         string // the last failure logged, to log each one once
}

// stamp is what a check compares: a file's size, modification time and
// identity.
type stamp struct {
	info    os.FileInfo
	size    int64
	modTime time.Time
}

func statFile(path string) (stamp, error) {
	fi, err := os.Stat(path) // follows symlinks, so a swapped link target is a new file
	if err != nil {
		return stamp{}, err
	}
	return stamp{info: fi, size: fi.Size(), modTime: fi.ModTime()}, nil
}

func (s stamp) same(o stamp) bool {
	return s.info != nil && o.info != nil &&
		s.size == o.size && s.modTime.Equal(o.modTime) && os.SameFile(s.info, o.info)
}

// New loads the pair in certFile and keyFile now and returns a Reloader that
// serves it. The error, which wraps ErrLoad, names both files. A nil log
// discards messages.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{
		certFile:   certFile,
		keyFile:    keyFile,
		log:        log,
		checkEvery: defaultCheckEvery,
		racyWindow: defaultRacyWindow,
		load:       loadPair,
		start:      time.Now(),
	}
	// Stat before reading: the stamps are then never newer than the
	// content, so a write that races with this load is seen at a check.
	cs, cerr := statFile(certFile)
	ks, kerr := statFile(keyFile)
	if err := errors.Join(cerr, kerr); err != nil {
		return nil, loadError(certFile, keyFile, err)
	}
	cert, err := r.load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cert.Store(cert)
	r.certStamp, r.keyStamp = cs, ks
	now := time.Now()
	r.recheck = r.racy(cs, now) || r.racy(ks, now)
	r.lastCheck.Store(int64(now.Sub(r.start)))
	return r, nil
}

// GetCertificate returns the current certificate, first reloading the pair if
// a check is due and the files changed. It never fails: while a new pair does
// not load, the previous one is served. Use it as tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.maybeReload()
	return r.cert.Load(), nil
}

// TLSConfig returns a server configuration that serves r's certificate with
// TLS 1.2 or later and offers HTTP/2 and HTTP/1.1. Do not add Certificates to
// it: crypto/tls then consults GetCertificate only for clients that send SNI.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// maybeReload checks the files if a check is due and no other goroutine is
// checking them. Handshakes that find a check in progress do not wait.
func (r *Reloader) maybeReload() {
	if !r.due() {
		return
	}
	if !r.mu.TryLock() {
		return // another handshake is checking; serve the current certificate
	}
	defer r.mu.Unlock()
	if !r.due() {
		return // checked between our first look and taking the lock
	}
	r.check()
	r.lastCheck.Store(int64(time.Since(r.start)))
}

// due reports whether checkEvery has passed since the last check ended.
func (r *Reloader) due() bool {
	return time.Since(r.start)-time.Duration(r.lastCheck.Load()) >= r.checkEvery
}

// check stats both files and reloads the pair if they changed. r.mu is held.
func (r *Reloader) check() {
	cs, cerr := statFile(r.certFile)
	ks, kerr := statFile(r.keyFile)
	if err := errors.Join(cerr, kerr); err != nil {
		r.failed(loadError(r.certFile, r.keyFile, err))
		return
	}
	if !r.recheck && cs.same(r.certStamp) && ks.same(r.keyStamp) {
		r.lastFailure = "" // the files are the ones served; a new failure is news
		return
	}
	cert, err := r.load(r.certFile, r.keyFile)
	if err != nil {
		// The stamps are left as they were, so the next check tries again.
		r.failed(err)
		return
	}
	now := time.Now()
	r.certStamp, r.keyStamp = cs, ks
	r.recheck = r.racy(cs, now) || r.racy(ks, now)
	recovered := r.lastFailure != ""
	r.lastFailure = ""
	if sameChain(cert, r.cert.Load()) {
		if recovered {
			r.log.Info("certfile: certificate files load again; serving the same certificate",
				"cert_file", r.certFile, "key_file", r.keyFile)
		}
		return
	}
	r.cert.Store(cert)
	r.log.Info("certfile: reloaded certificate",
		"cert_file", r.certFile, "key_file", r.keyFile,
		"subject", cert.Leaf.Subject.String(), "serial", cert.Leaf.SerialNumber.String(),
		"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

// failed logs a reload failure unless it is the one logged last.
func (r *Reloader) failed(err error) {
	msg := err.Error()
	if msg == r.lastFailure {
		return
	}
	r.lastFailure = msg
	served := r.cert.Load().Leaf
	r.log.Warn("certfile: certificate files do not load; still serving the previous certificate",
		"cert_file", r.certFile, "key_file", r.keyFile, "err", err,
		"serving_subject", served.Subject.String(), "serving_serial", served.SerialNumber.String())
}

// racy reports whether a file stamped s may still change without its stamp
// changing: its modification time is in the last racyWindow, or later than now.
func (r *Reloader) racy(s stamp, now time.Time) bool {
	return s.modTime.After(now.Add(-r.racyWindow))
}

// loadPair reads and parses the pair; the certificate's Leaf is set.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, loadError(certFile, keyFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, loadError(certFile, keyFile, err)
	}
	cert, err := ParsePair(certPEM, keyPEM)
	if err != nil {
		return nil, loadError(certFile, keyFile, err)
	}
	return cert, nil
}

// ParsePair parses a PEM certificate chain and its key into a certificate whose Leaf is
// set, so that serving it costs no parsing.
func ParsePair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil { // GODEBUG=x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &cert, nil
}

func loadError(certFile, keyFile string, err error) error {
	return fmt.Errorf("certfile: %w (certificate %s, key %s): %w", ErrLoad, certFile, keyFile, err)
}

// sameChain reports whether a and b hold the same certificates.
func sameChain(a, b *tls.Certificate) bool {
	if a == nil || b == nil || len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if !bytes.Equal(a.Certificate[i], b.Certificate[i]) {
			return false
		}
	}
	return true
}
