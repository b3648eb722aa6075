package store

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/oklog/ulid/v2"
)

// The reads of a Recorder: what a backend's reads of executions merge in, so that a
// record is seen from the moment it is recorded.

// Backlog tells how many executions are pending (recorded, not yet stored) and how many of
// them wait on the writer's list.
func (r *Recorder) Backlog() (pending, queued int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending), len(r.dirty)
}

// Pending returns a copy of the pending record of id, if there is one.
func (r *Recorder) Pending(id string) (ex Execution, log []byte, hasLog, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending[id]
	if p == nil {
		return Execution{}, nil, false, false
	}
	return p.Ex.Clone(), bytes.Clone(p.Log), p.HasLog, true
}

// List is Executions.ListExecutions for a backend whose stored executions readStored
// reads: up to n that match f, with IDs below before ("" : no bound) and not in skip,
// newest first. It checks the filter and the cursor (the last ID of a page, opaque to
// clients), and merges the pending records in, which win over their stored state.
func (r *Recorder) List(f ExecutionFilter, page Page, readStored func(before string, skip []string, n int) ([]Execution, error)) ([]Execution, string, error) {
	if f.Status != "" && !ValidStatus(f.Status) {
		return nil, "", Invalid("status", "status %q must be one of %s", f.Status,
			strings.Join([]string{StatusQueued, StatusRunning, StatusSuccess, StatusFailed, StatusCancelled}, ", "))
	}
	before := ""
	if page.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(page.Cursor)
		id, perr := ulid.ParseStrict(string(raw))
		if err != nil || perr != nil {
			return nil, "", Invalid("cursor", "cursor %q is not one this server gave out", page.Cursor)
		}
		before = id.String()
	}
	if _, until := f.IDBounds(); until != "" && (before == "" || until < before) {
		before = until // a time window ends at Until: start there
	}
	limit := page.Size()
	fromPending, skip := r.PendingList(f, before)
	fromStore, err := readStored(before, skip, limit+1)
	if err != nil {
		return nil, "", err
	}
	out := make([]Execution, 0, min(limit+1, len(fromPending)+len(fromStore)))
	for i, j := 0, 0; len(out) <= limit && (i < len(fromPending) || j < len(fromStore)); {
		if j == len(fromStore) || i < len(fromPending) && fromPending[i].ID > fromStore[j].ID {
			out = append(out, fromPending[i])
			i++
		} else {
			out = append(out, fromStore[j])
			j++
		}
	}
	if len(out) > limit {
		out = out[:limit]
		return out, base64.RawURLEncoding.EncodeToString([]byte(out[limit-1].ID)), nil
	}
	return out, "", nil
}

// PendingList returns, newest first, copies of the pending records that match f and sort
// before before ("" : all), and the IDs of every pending record: a list reads the stored
// executions without those (the pending copy wins). Take it before reading the stored
// ones: a record stored in between is then in both, never in neither.
func (r *Recorder) PendingList(f ExecutionFilter, before string) (matching []Execution, ids []string) {
	since, _ := f.IDBounds()
	r.mu.Lock()
	for id, p := range r.pending {
		ids = append(ids, id)
		if (before == "" || id < before) && id >= since && f.Match(p.Ex.App, p.Ex.AppID, p.Ex.Route, p.Ex.Status) {
			matching = append(matching, p.Ex.Clone())
		}
	}
	r.mu.Unlock()
	slices.SortFunc(matching, func(a, b Execution) int { return strings.Compare(b.ID, a.ID) })
	return matching, ids
}

// PendingCounts counts the pending records that pass f and were made since f.Since, and
// returns the IDs of every pending record: a count reads the stored executions without
// those (the pending copy wins). Take it before reading the stored ones, as PendingList.
func (r *Recorder) PendingCounts(f ExecutionCountFilter) (counts ExecutionCounts, ids []string) {
	floor := IDFloor(f.Since)
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, p := range r.pending {
		ids = append(ids, id)
		if id >= floor && f.Match(p.Ex.App, p.Ex.AppID) {
			counts.Add(p.Ex.Status)
		}
	}
	return counts, ids
}
