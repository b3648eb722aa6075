package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

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
			h, err := countHead(v)
			if err != nil {
				return fmt.Errorf("decode execution %s: %w", k, err)
			}
			if f.Match(h.App, h.AppID) {
				counts.Add(h.Status)
			}
		}
		return nil
	})
	return counts, err
}

// countHead reads the app, app ID and status of a stored execution. Decoding the record
// with encoding/json costs microseconds, most of a count over thousands of them, so it
// looks for the keys instead: in JSON a string's quotes are escaped, so `"status":"` can
// only be a key, and the Execution has no nested object with these keys. A value with an
// escape (never one Gantry writes: names and statuses are plain) falls back to decoding.
func countHead(v []byte) (execHead, error) {
	var h execHead
	var ok [3]bool
	h.App, ok[0] = jsonString(v, `"app":"`)
	h.AppID, ok[1] = jsonString(v, `"app_id":"`)
	h.Status, ok[2] = jsonString(v, `"status":"`)
	if ok[0] && ok[1] && ok[2] {
		return h, nil
	}
	h = execHead{}
	err := json.Unmarshal(v, &h)
	return h, err
}

// jsonString returns the string value of the first key ending in keyQuote (`"key":"`) of
// v, when there is one and it holds no escape; a missing key reads as "" (omitempty).
func jsonString(v []byte, keyQuote string) (string, bool) {
	i := bytes.Index(v, []byte(keyQuote))
	if i < 0 {
		return "", !bytes.Contains(v, []byte(keyQuote[:len(keyQuote)-1])) // a non-string value: decode
	}
	rest := v[i+len(keyQuote):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	return string(rest[:end]), true
}

// TaskStatsOf counts the tasks of apps (name to app ID; nil: every task), as TaskStats.
func (s *DB) TaskStatsOf(ctx context.Context, apps map[string]string) (store.TaskStats, error) {
	var st store.TaskStats
	err := s.view(ctx, func(tx *bolt.Tx) error {
		now := s.now()
		return tx.Bucket(bucketTasks).ForEach(func(_, v []byte) error {
			var t store.Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode task: %w", err)
			}
			if apps != nil {
				if id, ok := apps[t.Route.App]; !ok || id != t.AppID {
					return nil
				}
			}
			switch {
			case t.Leased(now):
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
