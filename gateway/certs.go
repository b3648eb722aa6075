package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// TLSKeys is what the gateway reads of the secret service (secrets.Service): the private
// key of an API's certificate, which the API's record names (store.API.TLSKeySecret)
// rather than holds.
type TLSKeys interface {
	TLSKey(ctx context.Context, api string) ([]byte, error)
}

// Timing of the reads of keys.
const (
	// retryKeys is the wait before the table is built again when a key could not be read
	// because the secret store could not answer.
	retryKeys = 5 * time.Second
	// keyReadTimeout bounds one read of a key: a secret store that does not answer delays a
	// build by this much at most, since the build reads no other key once one failed so.
	keyReadTimeout = 5 * time.Second
)

// errNoTLSKeys: an API's key is in the secret store, and the gateway was given no way to
// read it (Options.TLSKeys).
var errNoTLSKeys = errors.New("its TLS key is in the secret store, which this gateway does not read")

// errSecretStoreAway: the key was not read, as the secret store failed to answer for
// another key of the same build.
var errSecretStoreAway = errors.New("the secret store did not answer for another key of this build: not read")

// certResult is one API's certificate in a build: the certificate to serve (nil: none), or
// the error for which the API refuses its requests.
type certResult struct {
	cert *tls.Certificate
	err  error
}

// keyedCert is a certificate made with a key read from the secret store.
type keyedCert struct {
	pem  string // the certificate (PEM chain) of the record it was made for
	cert *tls.Certificate
}

// certCache keeps, by API, the last certificate made with a key from the secret store, so
// that a build reads an API's key only when the API's certificate changed (or it has none
// yet). A certificate has one private key, the one its public key pairs with, so the pair
// made once stays right for as long as the record holds that certificate: a key rotated
// ahead of its certificate (between the two writes of an API update) leaves the old pair
// served until the certificate follows, and a secret store that is away does not matter
// to an API whose certificate did not change. Used under buildMu only.
type certCache map[string]keyedCert // by API name

// loadCerts makes the certificates of the enabled APIs for a build, by API name: with the
// key of the record (as records written before keys moved to the secret store hold it) or
// the one the secret store keeps (read once per certificate, certCache). An API whose key
// the secret store cannot give now is not refused: it is served without its certificate
// (its hosts' TLS handshakes get the default one) until a later build reads the key, which
// follow makes after retryKeys (see keysUnread). A missing key, or one that does not pair
// with the certificate, refuses the API's requests, as a broken certificate does. Called
// under buildMu.
func (g *Gateway) loadCerts(ctx context.Context, apis []store.API) map[string]certResult {
	out := map[string]certResult{}
	used := map[string]bool{}
	unread := false // a read failed as the secret store could not answer: no other is tried
	for i := range apis {
		s := &apis[i]
		switch {
		case !s.Enabled || s.TLSCert == "":
		case s.TLSKeySecret == "":
			c, err := parseCert(s.TLSCert, []byte(s.TLSKey))
			out[s.Name] = certResult{cert: c, err: err}
		default:
			used[s.Name] = true
			r, transient := g.keyedCert(ctx, s, unread)
			out[s.Name] = r
			unread = unread || transient
		}
	}
	for api := range g.certs { // deleted, or without a key in the secret store now
		if !used[api] {
			delete(g.certs, api)
		}
	}
	g.keysUnread.Store(unread)
	return out
}

// keyedCert makes the certificate of an API whose key is in the secret store; transient
// tells that its key could not be read now and should be read again soon. With away, the
// secret store just failed to answer: the key is not read.
func (g *Gateway) keyedCert(ctx context.Context, s *store.API, away bool) (r certResult, transient bool) {
	if c, ok := g.certs[s.Name]; ok && c.pem == s.TLSCert {
		return certResult{cert: c.cert}, false
	}
	var key []byte
	err := errSecretStoreAway
	if !away {
		key, err = g.readKey(ctx, s.Name)
	}
	switch {
	case err != nil && !keyMissing(err):
		g.problems.report(slog.LevelError, "gateway: API's TLS key cannot be read from the secret store now: served without its certificate until it can",
			"api", s.Name, "owner", s.Owner, "err", err)
		return certResult{}, true
	case err != nil:
		return certResult{err: fmt.Errorf("TLS key: %w", err)}, false
	}
	cert, err := parseCert(s.TLSCert, key)
	if err != nil {
		return certResult{err: err}, false
	}
	g.certs[s.Name] = keyedCert{pem: s.TLSCert, cert: cert}
	return certResult{cert: cert}, false
}

// readKey reads an API's key from the secret store, within keyReadTimeout.
func (g *Gateway) readKey(ctx context.Context, api string) ([]byte, error) {
	if g.o.TLSKeys == nil {
		return nil, errNoTLSKeys
	}
	ctx, cancel := context.WithTimeout(ctx, keyReadTimeout)
	defer cancel()
	key, err := g.o.TLSKeys.TLSKey(ctx, api)
	if err == nil && len(key) == 0 {
		err = store.Errorf(store.ErrConflict, "the TLS key of API %q is empty", api)
	}
	return key, err
}

// keyMissing tells whether a key could not be read because it is not there (it will not
// be until the API is written again), rather than because the secret store could not
// answer now: the secret service answers store.ErrConflict for a secret it does not have.
func keyMissing(err error) bool {
	return errors.Is(err, errNoTLSKeys) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)
}
