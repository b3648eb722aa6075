package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key set settings.
const (
	// defaultRefreshCooldown is the least time between the end of one key set fetch and
	// the start of the next, when a token does not verify with the cached keys. It bounds
	// what forged tokens can make Gantry ask of the identity source to one key set request
	// per 30 s per verifier, whatever their rate. It delays a rotation only when the
	// source signs with a key it published less than 30 s before and a fetch happened
	// within the last 30 s: otherwise the first token with the new kid fetches at once,
	// and a key published earlier was already picked up by such a recent fetch.
	defaultRefreshCooldown = 30 * time.Second
	// maxKeySetBytes bounds a key set response; real ones are a few KiB.
	maxKeySetBytes = 1 << 20
)

// keySet is the oidc.KeySet of an OIDC verifier: it fetches the identity source's JSON Web
// Key Set from url (the jwks_uri) on first use and caches it. A token that the cached keys do not
// verify (unknown kid, or a bad signature) makes it fetch the set again, unless a fetch
// ended less than refreshCooldown ago (failRetry after a failed fetch): then it fails at
// once, without a request. Concurrent callers share one fetch, each waiting no longer
// than its ctx allows. It is safe for concurrent use.
type keySet struct {
	url             string
	client          *http.Client
	algs            []jose.SignatureAlgorithm // those the verifier accepts
	refreshCooldown time.Duration
	failRetry       time.Duration
	now             func() time.Time
	log             *slog.Logger

	mu sync.Mutex
	// keys is nil until a fetch succeeded; every successful fetch stores a new set, and a
	// stored set is never changed, so it is read without the lock.
	keys      *jose.JSONWebKeySet
	fetchedAt time.Time // when the last fetch ended; zero before the first one
	fetchErr  error     // the last fetch's error; nil if it succeeded
	inflight  *keyFetch // the fetch under way, or nil
}

// keyFetch is one fetch of the key set, which callers wait for.
type keyFetch struct {
	done chan struct{} // closed when the fetch ended and its result is stored
	err  error         // set before done is closed
}

// Errors of the key set for the caller. A failed fetch is an ErrUnavailable with its cause.
var (
	errSignatureInvalid = Unauthenticated("OIDC token signature invalid")
	errTokenMalformed   = Unauthenticated("OIDC token malformed or signed with an unsupported algorithm")
)

// VerifySignature returns the payload of jwt if one of the identity source's keys signed
// it. It implements oidc.KeySet; the IDTokenVerifier calling it checks everything else.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) (payload []byte, err error) {
	defer func() { noteKeySetError(ctx, err) }()
	jws, err := jose.ParseSigned(jwt, k.algs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errTokenMalformed
	}
	var tried *jose.JSONWebKeySet // the last set that did not verify jwt
	refreshed := false
	for {
		k.mu.Lock()
		if keys := k.keys; keys != nil && keys != tried {
			k.mu.Unlock()
			if payload, ok := verifyWith(jws, keys); ok {
				return payload, nil
			}
			tried = keys
			continue // the keys may have been refreshed meanwhile
		}
		if refreshed { // each call waits for one fetch at most
			k.mu.Unlock()
			return nil, errSignatureInvalid
		}
		f, err := k.refreshLocked(ctx)
		k.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil {
			return nil, f.err
		}
		refreshed = true
	}
}

// refreshLocked returns the fetch under way, or starts one if the last fetch ended long
// enough ago. Otherwise it returns the error to fail with. k.mu must be held.
func (k *keySet) refreshLocked(ctx context.Context) (*keyFetch, error) {
	if k.inflight != nil {
		return k.inflight, nil
	}
	if !k.fetchedAt.IsZero() {
		since := k.now().Sub(k.fetchedAt)
		if k.fetchErr != nil && since < k.failRetry {
			return nil, k.fetchErr
		}
		if k.fetchErr == nil && since < k.refreshCooldown {
			return nil, errSignatureInvalid
		}
	}
	f := &keyFetch{done: make(chan struct{})}
	k.inflight = f
	// The fetch serves every caller waiting for it, so no caller's cancellation ends it;
	// fetchTimeout does.
	go k.fetch(context.WithoutCancel(ctx), f)
	return f, nil
}

// fetch gets the key set, stores the result and ends f.
func (k *keySet) fetch(ctx context.Context, f *keyFetch) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	keys, err := k.get(ctx)
	if err != nil {
		err = fmt.Errorf("%w: fetch key set %s: %w", ErrUnavailable, k.url, err)
		k.log.Warn("OIDC key set unavailable", "url", k.url, "err", err)
	}
	k.mu.Lock()
	if err == nil {
		k.keys = keys // a failed fetch keeps the keys cached before
	}
	k.fetchedAt, k.fetchErr = k.now(), err
	k.inflight, f.err = nil, err
	k.mu.Unlock()
	close(f.done)
}

// get requests the key set and parses it.
func (k *keySet) get(ctx context.Context) (*jose.JSONWebKeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	req.Header.Set("Cache-Control", "no-cache") // a fetch is made to see new keys
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySetBytes+1))
	switch {
	case err != nil:
		return nil, err
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("status %s", resp.Status)
	case len(body) > maxKeySetBytes:
		return nil, fmt.Errorf("response larger than %d bytes", maxKeySetBytes)
	}
	return parseKeySet(body)
}

// parseKeySet reads a JSON Web Key Set and keeps the public keys it can use. It ignores
// keys it does not understand (RFC 7517 section 5: an unsupported kty or curve, missing or
// bad members), and symmetric or private keys, which never verify an identity source's
// tokens. A set with no usable key is an error, so that it does not replace good keys.
func parseKeySet(body []byte) (*jose.JSONWebKeySet, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decode key set: %w", err)
	}
	set := &jose.JSONWebKeySet{}
	for _, m := range raw.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(m); err != nil || !key.Valid() || !key.IsPublic() {
			continue
		}
		set.Keys = append(set.Keys, key)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("key set has no usable key among %d", len(raw.Keys))
	}
	return set, nil
}

// verifyWith returns the payload of jws if a key of set verifies its signature: the keys
// with its kid, or every key if it has none. A key whose use is not "sig", or whose alg is
// not the token's, is not tried.
func verifyWith(jws *jose.JSONWebSignature, set *jose.JSONWebKeySet) ([]byte, bool) {
	h := jws.Signatures[0].Header
	keys := set.Keys
	if h.KeyID != "" {
		keys = set.Key(h.KeyID)
	}
	for i := range keys {
		key := &keys[i]
		if (key.Use != "" && key.Use != "sig") || (key.Algorithm != "" && key.Algorithm != h.Algorithm) {
			continue
		}
		if payload, err := jws.Verify(key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

// go-oidc's IDTokenVerifier flattens the key set's error into its message (%v), so Verify
// passes a place for it in ctx, and the key set puts its error there.
type keySetErrorKey struct{}

// withKeySetError returns ctx in which the key set stores its error into *dst.
func withKeySetError(ctx context.Context, dst *error) context.Context {
	return context.WithValue(ctx, keySetErrorKey{}, dst)
}

// noteKeySetError stores err, if not nil, where withKeySetError asked.
func noteKeySetError(ctx context.Context, err error) {
	if dst, ok := ctx.Value(keySetErrorKey{}).(*error); ok && err != nil {
		*dst = err
	}
}
