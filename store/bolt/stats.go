package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

// The figures of the console's overview (GET /v1/stats).

// CountApps counts the apps of owner ("": every app) and their routes, from the route index.
func (s *DB) CountApps(owner string) (apps, routes int) { return s.index.CountApps(owner) }

// CountExecutions counts the executions created since f.Since that pass f (see
// store.Executions). Execution keys are IDs, which sort by time: it seeks to the first one
// of the window and reads forward, looking only at the fields it counts (countHead).
func (s *DB) CountExecutions(ctx context.Context, f store.ExecutionCountFilter) (store.ExecutionCounts, error) {
	if err := ctx.Err(); err != nil {
		return store.ExecutionCounts{}, err
	}
	counts, pending := s.rec.PendingCounts(f)
	skip := make(map[string]struct{}, len(pending))
	for _, id := range pending {
		skip[id] = struct{}{}
	}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketExecutions).Cursor()
		for k, v := c.Seek([]byte(store.IDFloor(f.Since))); k != nil; k, v = c.Next() {
			if len(skip) > 0 {
				if _, ok := skip[string(k)]; ok {
					continue
				}
			}
			app, appID, status, ok := countHead(v)
			if !ok {
				var h execHead
				if err := json.Unmarshal(v, &h); err != nil {
					return fmt.Errorf("decode execution %s: %w", k, err)
				}
				app, appID, status = []byte(h.App), []byte(h.AppID), []byte(h.Status)
			}
			if f.Apps != nil {
				if id, ok := f.Apps[string(app)]; !ok || id != string(appID) {
					continue
				}
			}
			counts.Calls++
			switch string(status) {
			case store.StatusFailed:
				counts.Failed++
				counts.Finished++
			case store.StatusSuccess, store.StatusCancelled:
				counts.Finished++
			}
		}
		return nil
	})
	return counts, err
}

// The keys countHead reads, in the order encoding/json writes an Execution's fields.
var (
	keyID     = []byte(`{"id":"`)
	keyApp    = []byte(`,"app":"`)
	keyAppID  = []byte(`,"app_id":"`)
	keyRoute  = []byte(`,"route":"`)
	keyType   = []byte(`,"type":"`)
	keyStatus = []byte(`,"status":"`)
)

// countHead reads the app, app ID and status of a stored execution, in place. Decoding the
// record with encoding/json costs microseconds, most of a count over thousands of them,
// so it reads the head of the record as encoding/json writes it, the fields in their
// order: {"id":"…","app":"…","app_id":"…","route":"…","type":"…","status":"…",… ok is
// false, and the caller decodes the record, when the head is not that (app_id is omitted
// when empty) or a value holds an escape.
func countHead(v []byte) (app, appID, status []byte, ok bool) {
	rest := v
	var skip []byte
	for _, f := range []struct {
		key []byte
		to  *[]byte
	}{{keyID, &skip}, {keyApp, &app}, {keyAppID, &appID}, {keyRoute, &skip}, {keyType, &skip}, {keyStatus, &status}} {
		if !bytes.HasPrefix(rest, f.key) {
			return nil, nil, nil, false
		}
		rest = rest[len(f.key):]
		end := bytes.IndexByte(rest, '"')
		if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
			return nil, nil, nil, false
		}
		*f.to, rest = rest[:end], rest[end+1:]
	}
	return app, appID, status, true
}

// statsTask is the part of a stored task that TaskStatsOf reads.
type statsTask struct {
	Route struct {
		App string `json:"app"`
	} `json:"route"`
	AppID       string    `json:"app_id"`
	EnqueuedAt  time.Time `json:"enqueued_at"`
	AvailableAt time.Time `json:"available_at"`
	LeaseOwner  string    `json:"lease_owner"`
	LeaseUntil  time.Time `json:"lease_until"`
}

// TaskStatsOf counts the tasks of apps (name to app ID; nil: every task), as TaskStats.
func (s *DB) TaskStatsOf(ctx context.Context, apps map[string]string) (store.TaskStats, error) {
	var st store.TaskStats
	err := s.view(ctx, func(tx *bolt.Tx) error {
		now := s.now()
		return tx.Bucket(bucketTasks).ForEach(func(_, v []byte) error {
			var t statsTask
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode task: %w", err)
			}
			if apps != nil {
				if id, ok := apps[t.Route.App]; !ok || id != t.AppID {
					return nil
				}
			}
			switch {
			case (store.Task{LeaseOwner: t.LeaseOwner, LeaseUntil: t.LeaseUntil}).Leased(now):
				st.Running++
			default:
				st.Queued++
				if t.AvailableAt.After(now) {
					st.Delayed++
				}
				if st.OldestAt.IsZero() || t.EnqueuedAt.Before(st.OldestAt) {
					st.OldestAt = t.EnqueuedAt
				}
			}
			return nil
		})
	})
	return st, err
}
