package secrets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// How a value is written, so that no crash leaves a record without its value or a value
// without its record:
//
//  1. the record is marked pending (created pending, Version 0, when new: such a record
//     reads as not found);
//  2. the backend stores the value as a new version;
//  3. the record takes that version and the mark is cleared.
//
// A failure after 1 is undone at once when the backend answers (versions written after the
// record's are destroyed; a new record is removed with its path), otherwise later by
// Recover, which does the same to every mark older than PendingGrace. A client whose write
// failed never sees its value take effect. A delete is marked, then the value's path is
// removed, then the record: from the mark on it is finished, never undone.

// KeepVersions is how many versions of a secret are kept (Vault's KV v2 keeps 10 by
// default): a write beyond it destroys the oldest.
const KeepVersions = 10

// write stores data for rec (Name, Kind, Owner, Path set), committing p's Keys and SSH.
func (s *Service) write(ctx context.Context, rec store.Secret, data map[string][]byte, p *store.SecretPending, guard store.SecretGuard) (store.Secret, bool, error) {
	p.Op, p.ID, p.Since = store.SecretOpPut, s.store.NewID(), s.now()
	marked, created, err := s.mark(ctx, rec, p, guard)
	if err != nil {
		return store.Secret{}, false, err
	}
	version, err := s.backend.Put(ctx, rec.Path, data)
	var dropped []int // versions beyond KeepVersions, destroyed once the new one is committed
	if err != nil {
		s.undo(ctx, marked)
		return store.Secret{}, false, fmt.Errorf("store secret %q: %w", rec.Name, err)
	}
	done, err := s.store.UpdateSecret(ctx, rec.Name, func(r *store.Secret) error {
		dropped = nil // fn may run again when the store retries the write
		if !samePending(r.Pending, p) {
			return store.Errorf(store.ErrConflict, "secret %q was written by another request meanwhile", rec.Name)
		}
		if p.By != "" && !r.Committed() { // the first value: before the version commits it
			r.CreatedBy = p.By
		}
		r.Version = version
		r.Versions = append(r.Versions, version)
		if n := len(r.Versions) - KeepVersions; n > 0 {
			dropped = append(dropped, r.Versions[:n]...)
			r.Versions = slices.Clone(r.Versions[n:])
		}
		r.Keys, r.SSH, r.Pending = p.Keys, p.SSH, nil
		r.UpdatedAt = s.now()
		return nil
	}, nil)
	if err != nil {
		s.undo(ctx, marked)
		return store.Secret{}, false, fmt.Errorf("commit secret %q: %w", rec.Name, err)
	}
	if len(dropped) > 0 {
		if err := s.backend.Destroy(ctx, rec.Path, dropped); err != nil { // unlisted: never read again
			s.log.Warn("destroy old versions of a secret", "secret", rec.Name, "versions", dropped, "err", err)
		}
	}
	return done, created, nil
}

// undo settles a write that failed after its mark. When that fails too (the backend is
// away), settle leaves the mark for the next write of the secret, or Recover, dated back
// so that neither waits for PendingGrace.
func (s *Service) undo(ctx context.Context, marked store.Secret) {
	if _, err := s.settle(context.WithoutCancel(ctx), marked); err != nil {
		s.log.Warn("a failed secret write is not undone yet; the next write or recovery will", "secret", marked.Name, "err", err)
	}
}

// abandon dates the mark of marked back to the zero time, if it is still there: the write
// that made it has given up, and whoever comes next settles it.
func (s *Service) abandon(ctx context.Context, marked store.Secret) {
	_, err := s.store.UpdateSecret(ctx, marked.Name, func(r *store.Secret) error {
		if !samePending(r.Pending, marked.Pending) {
			return errMoved
		}
		p := *r.Pending
		p.Since = time.Time{}
		r.Pending = &p
		return nil
	}, nil)
	if err != nil && !errors.Is(err, errMoved) && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("mark a failed secret write", "secret", marked.Name, "err", err)
	}
}

// mark is step 1: the record is marked pending, created when new. A stale mark of an
// interrupted write is settled first.
func (s *Service) mark(ctx context.Context, rec store.Secret, p *store.SecretPending, guard store.SecretGuard) (store.Secret, bool, error) {
	for attempt := 0; ; attempt++ {
		rec.Pending, rec.CreatedAt, rec.UpdatedAt = p, p.Since, p.Since
		created, err := s.store.CreateSecret(ctx, rec)
		if err == nil {
			return created, true, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return store.Secret{}, false, err
		}
		var stale *store.Secret
		marked, err := s.store.UpdateSecret(ctx, rec.Name, func(r *store.Secret) error {
			// A first write given up (never committed, its mark stale: the backend was away
			// even for the undo) is no secret yet: guard, which vets existing ones (and may
			// refuse any, as a create does), must not keep it from being settled and the
			// name created again.
			if abandoned := !r.Committed() && r.Pending != nil && s.stale(r.Pending); guard != nil && !abandoned {
				if err := guard(r.Owner); err != nil {
					return err
				}
			}
			switch {
			case r.Kind != rec.Kind:
				return store.Errorf(store.ErrExists, "the name %q is taken", rec.Name)
			case r.Pending != nil && !s.stale(r.Pending):
				return store.Errorf(store.ErrConflict, "secret %q is being written or deleted; try again", rec.Name)
			case r.Pending != nil:
				cp := *r
				stale = &cp
				return errStale
			}
			r.Pending = p
			return nil
		}, nil)
		switch {
		case errors.Is(err, store.ErrNotFound) && attempt < 3: // deleted meanwhile: create it
			continue
		case errors.Is(err, errStale) && attempt < 3:
			if _, err := s.settle(ctx, *stale); err != nil {
				return store.Secret{}, false, err
			}
			continue
		case err != nil:
			return store.Secret{}, false, err
		}
		return marked, false, nil
	}
}

var errStale = errors.New("stale pending write")

// samePending reports whether a is the mark b: the same ID (marks of records written before
// IDs existed compare by operation and time).
func samePending(a, b *store.SecretPending) bool {
	return a != nil && b != nil && a.Op == b.Op && a.ID == b.ID && a.Since.Equal(b.Since)
}

func (s *Service) stale(p *store.SecretPending) bool {
	return s.now().Sub(p.Since) >= s.opts.PendingGrace
}

// settle finishes or undoes the pending write of rec as it was marked: a delete is
// finished; a put is undone (the versions the backend holds beyond the record's are
// destroyed, a record never committed is removed with its path). It does nothing if the
// mark changed meanwhile.
//
// It first takes the mark over, in one store write that checks the mark is still rec's, so
// that of all who may settle it (its own writer undoing a failure, a writer that found it
// stale, Recover on every node) exactly one does, and acts on the record as it stands then:
// a writer whose mark was taken over meanwhile does nothing, and a version committed since
// is never destroyed. A backend write of the interrupted writer that lands after the
// takeover is left unreferenced (never read; later writes take later versions).
func (s *Service) settle(ctx context.Context, rec store.Secret) (settled bool, err error) {
	if rec.Pending == nil {
		return false, nil
	}
	claimed, err := s.store.UpdateSecret(ctx, rec.Name, func(r *store.Secret) error {
		if !samePending(r.Pending, rec.Pending) {
			return errMoved
		}
		p := *r.Pending
		p.ID, p.Since = s.store.NewID(), s.now()
		r.Pending = &p
		return nil
	}, nil)
	if errors.Is(err, errMoved) || errors.Is(err, store.ErrNotFound) {
		return false, nil // settled, or taken over, by someone else
	}
	if err != nil {
		return false, fmt.Errorf("settle secret %q: %w", rec.Name, err)
	}
	if err := s.settleClaimed(ctx, claimed); err != nil {
		s.abandon(context.WithoutCancel(ctx), claimed) // the next writer or Recover goes on from it
		return false, err
	}
	return true, nil
}

// settleClaimed settles rec, whose mark this settle holds.
func (s *Service) settleClaimed(ctx context.Context, rec store.Secret) error {
	p := rec.Pending
	if p.Op == store.SecretOpDelete {
		return s.finishDelete(ctx, rec)
	}
	if !rec.Committed() {
		if err := s.backend.Delete(ctx, rec.Path); err != nil {
			return fmt.Errorf("undo secret %q: %w", rec.Name, err)
		}
		err := s.store.DeleteSecret(ctx, rec.Name, func(r store.Secret) error {
			if !samePending(r.Pending, p) || r.Committed() {
				return errMoved
			}
			return nil
		})
		if errors.Is(err, errMoved) || errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	current, err := s.backend.Current(ctx, rec.Path)
	if err != nil {
		return fmt.Errorf("undo secret %q: %w", rec.Name, err)
	}
	var extra []int
	for v := rec.Version + 1; v <= current; v++ {
		if !slices.Contains(rec.Versions, v) {
			extra = append(extra, v)
		}
	}
	if len(extra) > 0 {
		if err := s.backend.Destroy(ctx, rec.Path, extra); err != nil {
			return fmt.Errorf("undo secret %q: %w", rec.Name, err)
		}
	}
	_, err = s.store.UpdateSecret(ctx, rec.Name, func(r *store.Secret) error {
		if !samePending(r.Pending, p) {
			return errMoved
		}
		r.Pending = nil
		return nil
	}, nil)
	if errors.Is(err, errMoved) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

var errMoved = errors.New("the pending write changed")

// Recover settles every write left pending for longer than PendingGrace (a crash between
// the store and the backend, or a backend that was away when a write failed). It returns
// how many it settled; the others stay for the next round.
func (s *Service) Recover(ctx context.Context) (int, error) {
	pending, err := s.store.PendingSecrets(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, rec := range pending {
		if !s.stale(rec.Pending) {
			continue
		}
		settled, err := s.settle(ctx, rec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !settled { // another node's, or a writer's, meanwhile
			continue
		}
		n++
		s.log.Info("settled an interrupted secret write", "secret", rec.Name, "op", rec.Pending.Op)
	}
	return n, errors.Join(errs...)
}

// Run recovers interrupted writes at start and every RecoverInterval until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.RecoverInterval)
	defer t.Stop()
	for {
		if _, err := s.Recover(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("recover secret writes", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func sortedKeys(data map[string][]byte) []string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
