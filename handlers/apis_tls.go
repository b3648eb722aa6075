package handlers

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/store"
)

// TLSKeys is what the API needs of the secret service (secrets.Service): the private keys
// of the APIs' certificates, which API records name (store.API.TLSKeySecret) and never
// hold.
type TLSKeys interface {
	// PutTLSKey stores key as the new version of the TLS key secret of API api (created,
	// owned by owner, when there is none).
	PutTLSKey(ctx context.Context, api, owner string, key []byte) error
	// TLSKey reads the current key of API api.
	TLSKey(ctx context.Context, api string) ([]byte, error)
	// Delete removes a secret of kind with every version (store.ErrNotFound: there is none).
	Delete(ctx context.Context, name, kind string, guard store.SecretGuard) error
}

// tlsKeyCleanupTimeout bounds the secret store's work of settling a key after the API write
// (put back, deleted), which goes on if the client leaves.
const tlsKeyCleanupTimeout = 30 * time.Second

// How an API's key is written, so that no record ever names a key that is not there:
//   - a write that brings a certificate and its key puts the key in the secret store first
//     (putTLSKey), then writes the record, which names it;
//   - if that write fails, the key the record still names is put back, or the new key,
//     which no record names, is deleted (undoTLSKey);
//   - a write that removes the certificate, and the delete of an API, delete the key after
//     the record no longer names it (dropTLSKey).
//
// A crash in between, or a secret store that fails the clean-up, leaves a key that no
// record names: the server's sweep deletes those (cmd/gantry, server_tlskeys.go).

// setTLS sets the certificate given, after checking that the key given is its own: the
// record names the key's secret, where putTLSKey stores the key (never in the record). An
// empty object removes them, and the tls object of a GET sent back (a certificate without
// a key) leaves them as they are.
func setTLS(api *store.API, t *models.APITLS) error {
	if t.Certificate == "" && t.Key == "" {
		api.TLSCert, api.TLSKey, api.TLSKeySecret = "", "", ""
		return nil
	}
	if t.Key == "" && t.Certificate == api.TLSCert { // the tls object of a GET, sent back: unchanged
		return nil
	}
	if _, err := tls.X509KeyPair([]byte(t.Certificate), []byte(t.Key)); err != nil {
		return errInvalidField("tls", "the certificate and key are not a valid PEM pair: "+err.Error())
	}
	api.TLSCert, api.TLSKey, api.TLSKeySecret = t.Certificate, "", store.TLSKeySecretName(api.Name)
	return nil
}

// removesTLS tells whether a write's tls object removes the certificate and its key.
func removesTLS(t *models.APITLS) bool { return t != nil && t.Certificate == "" && t.Key == "" }

// tlsKeyWrite is a key put in the secret store ahead of the API write that names it.
type tlsKeyWrite struct {
	api, owner string
	// previous is the key the API named before the write, put back if the write fails;
	// nil when it named none.
	previous []byte
}

// putTLSKey stores the key that t (the tls object of a create or a patch, already checked
// by setTLS) brings, before the record names it; nil when it brings none. current is the
// stored API a patch changes (nil for a create): the key it names is read first, to be
// put back if the patch fails. A secret store that cannot do it fails the request (503 when
// it is unavailable), with nothing written.
func (a *API) putTLSKey(ctx context.Context, name, owner string, current *store.API, t *models.APITLS) (*tlsKeyWrite, error) {
	if t == nil || t.Key == "" {
		return nil, nil
	}
	if a.tlsKeys == nil {
		return nil, errNoTLSKeys()
	}
	w := &tlsKeyWrite{api: name, owner: owner}
	if current != nil && current.TLSKeySecret != "" {
		old, err := a.tlsKeys.TLSKey(ctx, name)
		switch {
		case err == nil:
			w.previous = old
		case !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound): // not "there is none"
			return nil, err
		}
	}
	if err := a.tlsKeys.PutTLSKey(ctx, name, owner, []byte(t.Key)); err != nil {
		return nil, err
	}
	return w, nil
}

// undoTLSKey settles the key put by w when the API write failed with err: the record is as
// it was, so the key it names is put back, or, when it names none (or is gone), the new
// key is deleted. A create that lost to another create of the same name leaves the key to
// the API that won. A failure is logged: the sweep deletes a key no record names.
func (a *API) undoTLSKey(ctx context.Context, w *tlsKeyWrite, err error) {
	if w == nil || errors.Is(err, store.ErrExists) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tlsKeyCleanupTimeout)
	defer cancel()
	if w.previous != nil && !errors.Is(err, store.ErrNotFound) {
		if perr := a.tlsKeys.PutTLSKey(ctx, w.api, w.owner, w.previous); perr != nil {
			a.log.Error("an API write failed after its new TLS key was stored, and its previous key cannot be put back: the API's certificate and key do not pair until it is written again",
				"api", w.api, "err", perr)
		}
		return
	}
	if derr := a.deleteTLSKey(ctx, w.api); derr != nil {
		a.log.Warn("the TLS key of a failed API write is not deleted yet; the server's sweep will", "api", w.api, "err", derr)
	}
}

// dropTLSKey deletes the key of an API that no record names any more (its certificate was
// removed, or the API deleted). The API write is done: a failure is logged, and the
// server's sweep deletes the key later.
func (a *API) dropTLSKey(ctx context.Context, api string) {
	if a.tlsKeys == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tlsKeyCleanupTimeout)
	defer cancel()
	if err := a.deleteTLSKey(ctx, api); err != nil {
		a.log.Warn("the TLS key of a removed certificate is not deleted yet; the server's sweep will", "api", api, "err", err)
	}
}

// deleteTLSKey deletes the key of an API; none is not an error.
func (a *API) deleteTLSKey(ctx context.Context, api string) error {
	err := a.tlsKeys.Delete(ctx, store.TLSKeySecretName(api), store.SecretKindTLSKey, nil)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// errNoTLSKeys answers a write that brings a TLS key to a server without a secret store.
func errNoTLSKeys() *httperr.Error {
	return &httperr.Error{Status: http.StatusServiceUnavailable, Message: "this server keeps no TLS keys: it has no secret store", Fields: "api.tls"}
}
