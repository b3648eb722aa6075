package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// Timing of the tidying of the APIs' TLS keys.
const (
	// tlsKeySweepGrace is how old a TLS key secret that no API names must be before the
	// sweep deletes it: an API write puts its key in the secret store just before the record
	// that names it, and the sweep must not take a key between the two for an orphan.
	tlsKeySweepGrace = 10 * time.Minute
	// tlsKeyTidyInterval is how often a running server tidies the keys again: keys that
	// nodes of an earlier version still write into records during a rolling upgrade are
	// moved, and orphans past the grace are deleted.
	tlsKeyTidyInterval = 10 * time.Minute
)

// tlsKeyStore is what the tidying of TLS keys needs of the store: the APIs.
type tlsKeyStore interface {
	AllAPIs(ctx context.Context) ([]store.API, error)
	GetAPI(ctx context.Context, name string) (store.API, error)
	UpdateAPI(ctx context.Context, name string, fn func(*store.API) error) (store.API, error)
}

// tlsKeySecrets is what it needs of the secret service (secrets.Service).
type tlsKeySecrets interface {
	PutTLSKey(ctx context.Context, api, owner string, key []byte) error
	List(ctx context.Context, f store.SecretFilter, page store.Page) ([]store.Secret, string, error)
	Delete(ctx context.Context, name, kind string, guard store.SecretGuard) error
}

// tidyTLSKeys moves the TLS keys that API records still hold in clear (written before keys
// moved to the secret store) into the secret store, then deletes the TLS key secrets that no
// API names (left by a crash between a key's write and its API's, or by a clean-up the
// secret store failed). Run it once the secret service is built and before the gateway's
// first table, then every tlsKeyTidyInterval (keepTidyingTLSKeys). Its errors are not
// fatal: a key not moved yet is still served from its record, and an orphan waits for the
// next round.
func tidyTLSKeys(ctx context.Context, st tlsKeyStore, keys tlsKeySecrets, log *slog.Logger, now time.Time) error {
	moved, err := moveTLSKeys(ctx, st, keys, log)
	if moved > 0 {
		log.Info("TLS keys of APIs moved from their records to the secret store", "count", moved)
	}
	swept, serr := sweepTLSKeys(ctx, st, keys, now.Add(-tlsKeySweepGrace))
	if swept > 0 {
		log.Info("TLS keys that no API names deleted from the secret store", "count", swept)
	}
	return errors.Join(err, serr)
}

// startTLSKeys tidies the APIs' TLS keys now (tidyTLSKeys), then every tlsKeyTidyInterval
// until stop is called or ctx ends. The server calls it once the secret service is built
// and before it starts the gateway, so that the gateway's first table finds the keys moved.
func startTLSKeys(ctx context.Context, st tlsKeyStore, keys tlsKeySecrets, log *slog.Logger) (stop func()) {
	if err := tidyTLSKeys(ctx, st, keys, log, time.Now()); err != nil {
		log.Warn("tidy the APIs' TLS keys; the next round tries again", "err", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		keepTidyingTLSKeys(ctx, st, keys, log, tlsKeyTidyInterval)
	}()
	return func() { cancel(); <-done }
}

// keepTidyingTLSKeys runs tidyTLSKeys every interval (tlsKeyTidyInterval in the server)
// until ctx ends.
func keepTidyingTLSKeys(ctx context.Context, st tlsKeyStore, keys tlsKeySecrets, log *slog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := tidyTLSKeys(ctx, st, keys, log, time.Now()); err != nil && ctx.Err() == nil {
			log.Warn("tidy the APIs' TLS keys", "err", err)
		}
	}
}

// errKeyMoved: the record changed between the read and the write of a key's move.
var errKeyMoved = errors.New("the API's TLS key changed meanwhile")

// moveTLSKeys moves each key an API record holds into the secret store: the key is put
// first, then the record names it instead of holding it, in one write that checks it still
// holds that key. A crash between the two leaves the record as it was, and the next run
// puts the key again (a new version); an API written meanwhile (another node moved it, or
// it was given another certificate) is left as it is. A record the store would refuse to
// rewrite keeps its key, logged: it is served from the record until it is fixed.
func moveTLSKeys(ctx context.Context, st tlsKeyStore, keys tlsKeySecrets, log *slog.Logger) (int, error) {
	apis, err := st.AllAPIs(ctx)
	if err != nil {
		return 0, fmt.Errorf("move TLS keys: %w", err)
	}
	moved := 0
	var errs []error
	for _, a := range apis {
		if a.TLSKey == "" {
			continue
		}
		legacy := a.TLSKey
		a.TLSKey, a.TLSKeySecret = "", store.TLSKeySecretName(a.Name)
		a.ApplyDefaults()
		if err := a.Validate(); err != nil {
			log.Error("an API keeps its TLS key in its record: it cannot be rewritten until it is fixed", "api", a.Name, "owner", a.Owner, "err", err)
			continue
		}
		if err := keys.PutTLSKey(ctx, a.Name, a.Owner, []byte(legacy)); err != nil {
			errs = append(errs, fmt.Errorf("move the TLS key of API %q: %w", a.Name, err))
			continue
		}
		_, err := st.UpdateAPI(ctx, a.Name, func(r *store.API) error {
			if r.TLSKey != legacy {
				return errKeyMoved
			}
			r.TLSKey, r.TLSKeySecret = "", store.TLSKeySecretName(r.Name)
			return nil
		})
		switch {
		case err == nil:
			moved++
		case errors.Is(err, errKeyMoved), errors.Is(err, store.ErrNotFound):
		default: // the record keeps its key; the sweep deletes the copy no record names
			errs = append(errs, fmt.Errorf("move the TLS key of API %q: %w", a.Name, err))
		}
	}
	return moved, errors.Join(errs...)
}

// sweepTLSKeys deletes the TLS key secrets last written before cutoff whose API does not
// exist or does not name them, and returns how many it deleted. (A key written after
// cutoff may belong to an API write in progress, which writes its record just after.)
func sweepTLSKeys(ctx context.Context, st tlsKeyStore, keys tlsKeySecrets, cutoff time.Time) (int, error) {
	deleted := 0
	var errs []error
	page := store.Page{Limit: store.MaxPageSize}
	for {
		recs, next, err := keys.List(ctx, store.SecretFilter{Kind: store.SecretKindTLSKey}, page)
		if err != nil {
			return deleted, errors.Join(append(errs, fmt.Errorf("sweep TLS keys: %w", err))...)
		}
		for _, rec := range recs {
			name, ok := store.TLSKeyAPI(rec.Name)
			if !ok || !rec.UpdatedAt.Before(cutoff) {
				continue
			}
			a, err := st.GetAPI(ctx, name)
			switch {
			case err == nil && a.TLSKeySecret == rec.Name: // named: kept
				continue
			case err != nil && !errors.Is(err, store.ErrNotFound):
				return deleted, errors.Join(append(errs, fmt.Errorf("sweep TLS keys: %w", err))...)
			}
			err = keys.Delete(ctx, rec.Name, store.SecretKindTLSKey, nil)
			switch {
			case err == nil:
				deleted++
			case !errors.Is(err, store.ErrNotFound):
				errs = append(errs, fmt.Errorf("sweep TLS key %q: %w", rec.Name, err))
			}
		}
		if next == "" {
			return deleted, errors.Join(errs...)
		}
		page.Cursor = next
	}
}
