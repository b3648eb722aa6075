package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/store"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketRuns       = []byte("runs")        // ID -> store.Run JSON
	bucketRunByKey   = []byte("run_by_key")  // triggered_by \x00 idempotency key -> run ID
	bucketRunsActive = []byte("runs_active") // ID of a run not final -> its workflow
	bucketRunEvents  = []byte("run_events")  // run ID \x00 seq (big-endian) -> store.RunEvent JSON
)

// DefaultRunEventsLimit is how many events ListRunEvents returns when asked for limit <= 0.
const DefaultRunEventsLimit = 1000

func runKeyKey(triggeredBy, key string) []byte {
	return append(append([]byte(triggeredBy), 0), key...)
}

func runEventPrefix(id string) []byte { return append([]byte(id), 0) }

func runEventKey(id string, seq int64) []byte {
	return binary.BigEndian.AppendUint64(runEventPrefix(id), uint64(seq)) //nolint:gosec // G115: seq >= 0
}

func getRunTx(tx *bolt.Tx, id string) (store.Run, error) {
	var r store.Run
	found, err := getJSON(tx.Bucket(bucketRuns), []byte(id), &r)
	if err == nil && !found {
		err = store.NotFound("run", id)
	}
	return r, err
}

// putRun stores r and keeps the index of the runs not final.
func putRun(tx *bolt.Tx, r store.Run) error {
	if err := putJSON(tx.Bucket(bucketRuns), []byte(r.ID), r); err != nil {
		return err
	}
	active := tx.Bucket(bucketRunsActive)
	if r.Done() {
		return active.Delete([]byte(r.ID))
	}
	return active.Put([]byte(r.ID), []byte(r.Workflow))
}

// appendRunEvents numbers events after r.Events (Time now when unset), stores them and
// moves r.Events to the last.
func (s *DB) appendRunEvents(tx *bolt.Tx, r *store.Run, events []store.RunEvent) error {
	b := tx.Bucket(bucketRunEvents)
	now := s.now()
	for _, e := range events {
		r.Events++
		e.Seq = r.Events
		if e.Time.IsZero() {
			e.Time = now
		}
		if err := putJSON(b, runEventKey(r.ID, e.Seq), e); err != nil {
			return err
		}
	}
	return nil
}

// CreateRun stores a new run, QUEUED, with its first events numbered from 1 (see
// store.Runs). An empty ID gets a new one. With an IdempotencyKey the same TriggeredBy
// used already, it writes nothing and returns that run, created false.
func (s *DB) CreateRun(ctx context.Context, r store.Run, events []store.RunEvent) (stored store.Run, created bool, err error) {
	r, err = s.prepareRun(r)
	if err != nil {
		return store.Run{}, false, err
	}
	err = s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		stored, created, err = s.createRunTx(tx, r, events)
		if err != nil || !created {
			return nil, err
		}
		return []store.Change{{Kind: store.ChangeRun, Name: stored.ID}}, nil
	})
	if err != nil {
		return store.Run{}, false, err
	}
	return stored, created, nil
}

// prepareRun checks a new run and sets what CreateRun sets before its write: an ID when
// it has none, CreatedAt when unset.
func (s *DB) prepareRun(r store.Run) (store.Run, error) {
	if !store.CanRunTransition("", r.Status) {
		return store.Run{}, store.Invalid("status", "a run starts %s, not %q", store.StatusQueued, r.Status)
	}
	if r.ID == "" {
		r.ID = s.NewID()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	r.Events = 0
	return r, nil
}

// createRunTx stores a prepared run and its first events in tx: the body of CreateRun,
// shared with the writes that create runs among other things (PublishEvents, Redeliver).
// The caller sends the ChangeRun once tx committed, when created.
func (s *DB) createRunTx(tx *bolt.Tx, r store.Run, events []store.RunEvent) (store.Run, bool, error) {
	if r.IdempotencyKey != "" {
		byKey := tx.Bucket(bucketRunByKey)
		k := runKeyKey(r.TriggeredBy, r.IdempotencyKey)
		if id := byKey.Get(k); id != nil {
			prev, err := getRunTx(tx, string(id))
			return prev, false, err
		}
		if err := byKey.Put(k, []byte(r.ID)); err != nil {
			return store.Run{}, false, err
		}
	}
	if tx.Bucket(bucketRuns).Get([]byte(r.ID)) != nil {
		return store.Run{}, false, store.Errorf(store.ErrExists, "run %q already exists", r.ID)
	}
	if err := s.appendRunEvents(tx, &r, events); err != nil {
		return store.Run{}, false, err
	}
	if err := putRun(tx, r); err != nil {
		return store.Run{}, false, err
	}
	return r, true, nil
}

// GetRun reads one run.
func (s *DB) GetRun(ctx context.Context, id string) (store.Run, error) {
	var r store.Run
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		r, err = getRunTx(tx, id)
		return err
	})
	return r, err
}

// UpdateRun changes a run in one write transaction (see store.Runs): fn sees the stored
// run; its events are numbered after the run's last and its calls accepted as EnqueueTask
// accepts them. Then ChangeRun and a ChangeTask per call go to the subscribers. fn runs
// inside the write transaction, under the lock that orders this store's writes: it must
// be quick and must not call the store.
func (s *DB) UpdateRun(ctx context.Context, id string, fn func(r *store.Run) (store.RunUpdate, error)) (store.Run, error) {
	var out store.Run
	err := s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		old, err := getRunTx(tx, id)
		if err != nil {
			return nil, err
		}
		r := old // fn may change r's slices in place: only old's scalars are read below
		u, err := fn(&r)
		if err != nil {
			return nil, err
		}
		switch {
		case r.ID != old.ID:
			return nil, store.Invalid("id", "a run cannot change its ID (%q to %q)", old.ID, r.ID)
		case !store.CanRunTransition(old.Status, r.Status):
			if old.Done() {
				return nil, store.Errorf(store.ErrConflict, "run %q is %s: a finished run never changes", id, old.Status)
			}
			return nil, store.Errorf(store.ErrConflict, "run %q cannot go from %s to %q", id, old.Status, r.Status)
		}
		r.Events, r.CreatedAt = old.Events, old.CreatedAt // the store's to keep
		if err := s.appendRunEvents(tx, &r, u.Events); err != nil {
			return nil, err
		}
		changes := []store.Change{{Kind: store.ChangeRun, Name: id}}
		now := s.now()
		for _, c := range u.Calls {
			if err := enqueueTx(tx, c.Task, c.Execution, now); err != nil {
				return nil, fmt.Errorf("accept the call %s of run %s: %w", c.Task.ID, id, err)
			}
			changes = append(changes, store.Change{Kind: store.ChangeTask, Name: c.Task.ID})
		}
		if err := putRun(tx, r); err != nil {
			return nil, err
		}
		if r.Done() { // it ends here (a final run never changes): so does its delivery
			if err := s.deliveryDone(tx, old.Delivery, id, r.Status); err != nil {
				return nil, err
			}
		}
		out = r
		return changes, nil
	})
	if err != nil {
		return store.Run{}, err
	}
	return out, nil
}

// runHead is the part of a stored run that filters look at.
type runHead struct {
	Workflow    string `json:"workflow"`
	Owner       string `json:"owner"`
	TriggeredBy string `json:"triggered_by"`
	Status      string `json:"status"`
}

// ListRuns returns one page of the runs that match f, newest first (by ID), and the cursor
// of the next page ("" on the last: a next cursor always has a run after it).
func (s *DB) ListRuns(ctx context.Context, f store.RunFilter, page store.Page) ([]store.Run, string, error) {
	if f.Status != "" && !store.ValidStatus(f.Status) {
		return nil, "", store.Invalid("status", "status %q must be one of %s", f.Status,
			strings.Join([]string{store.StatusQueued, store.StatusRunning, store.StatusSuccess, store.StatusFailed, store.StatusCancelled}, ", "))
	}
	var before []byte
	if page.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(page.Cursor)
		id, perr := ulid.ParseStrict(string(raw))
		if err != nil || perr != nil {
			return nil, "", store.Invalid("cursor", "cursor %q is not one this server gave out", page.Cursor)
		}
		before = []byte(id.String())
	}
	limit := page.Size()
	out := []store.Run{}
	more := false
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRuns).Cursor()
		var k, v []byte
		if before == nil {
			k, v = c.Last()
		} else if k = seekBefore(c, before); k != nil {
			v = tx.Bucket(bucketRuns).Get(k)
		}
		for ; k != nil; k, v = c.Prev() {
			var h runHead
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("decode run %s: %w", k, err)
			}
			if !f.Match(store.Run{Workflow: h.Workflow, Owner: h.Owner, TriggeredBy: h.TriggeredBy, Status: h.Status}) {
				continue
			}
			if len(out) == limit {
				more = true
				return nil
			}
			var r store.Run
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode run %s: %w", k, err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if !more {
		return out, "", nil
	}
	return out, base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID)), nil
}

// ActiveRuns returns the IDs of the runs not final, oldest first.
func (s *DB) ActiveRuns(ctx context.Context) ([]string, error) {
	ids := []string{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRunsActive).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k)) // string() copies out of the transaction
			return nil
		})
	})
	return ids, err
}

// ListRunEvents returns up to limit events of run id with Seq > after, in order
// (DefaultRunEventsLimit when limit <= 0); ErrNotFound without the run.
func (s *DB) ListRunEvents(ctx context.Context, id string, after int64, limit int) ([]store.RunEvent, error) {
	if limit <= 0 {
		limit = DefaultRunEventsLimit
	}
	after = max(after, 0)
	out := []store.RunEvent{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRuns).Get([]byte(id)) == nil {
			return store.NotFound("run", id)
		}
		prefix := runEventPrefix(id)
		c := tx.Bucket(bucketRunEvents).Cursor()
		for k, v := c.Seek(runEventKey(id, after+1)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			var e store.RunEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode event %d of run %s: %w", binary.BigEndian.Uint64(k[len(prefix):]), id, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
