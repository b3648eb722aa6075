package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

var bucketWorkflows = []byte("workflows") // name -> store.Workflow JSON

// PutWorkflow creates the workflow (Version 1, owned by w.Owner) or replaces it (Version +
// 1, its owner and CreatedAt kept; guard vets the stored owner inside the write).
func (s *DB) PutWorkflow(ctx context.Context, w store.Workflow, guard store.AppGuard) (stored store.Workflow, created bool, err error) {
	if w.Name == "" {
		return store.Workflow{}, false, store.Invalid("name", "a workflow has a name")
	}
	err = s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketWorkflows)
		var old store.Workflow
		found, err := getJSON(b, []byte(w.Name), &old)
		if err != nil {
			return nil, err
		}
		w.UpdatedAt = s.now()
		w.Version, w.CreatedAt = 1, w.UpdatedAt
		if found {
			if guard != nil {
				if err := guard(old.Owner); err != nil {
					return nil, err
				}
			}
			w.Version, w.Owner, w.CreatedAt = old.Version+1, old.Owner, old.CreatedAt
		}
		created = !found
		return nil, putJSON(b, []byte(w.Name), w)
	})
	if err != nil {
		return store.Workflow{}, false, err
	}
	return w, created, nil
}

// GetWorkflow reads one workflow.
func (s *DB) GetWorkflow(ctx context.Context, name string) (store.Workflow, error) {
	var w store.Workflow
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketWorkflows), []byte(name), &w)
		if err == nil && !found {
			err = store.NotFound("workflow", name)
		}
		return err
	})
	return w, err
}

// ListWorkflows returns one page of the workflows that pass f, in name order, and the
// cursor of the next page ("" on the last). f.Visible is applied in the scan, so every
// page but the last is full.
func (s *DB) ListWorkflows(ctx context.Context, f store.WorkflowFilter, page store.Page) ([]store.Workflow, string, error) {
	out := []store.Workflow{}
	var next string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, next, err = listPage(tx.Bucket(bucketWorkflows), nil, page, func(v []byte) (w store.Workflow, kept bool, err error) {
			if err := json.Unmarshal(v, &w); err != nil {
				return w, false, fmt.Errorf("decode workflow: %w", err)
			}
			if f.Visible != nil && !f.Visible(w) {
				return w, false, nil
			}
			return w, true, nil
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// DeleteWorkflow removes a workflow; guard vets its owner inside the write. ErrConflict
// while one of its runs is not final; its finished runs stay.
func (s *DB) DeleteWorkflow(ctx context.Context, name string, guard store.AppGuard) error {
	return s.update(ctx, func(tx *bolt.Tx) ([]store.Change, error) {
		b := tx.Bucket(bucketWorkflows)
		var w store.Workflow
		found, err := getJSON(b, []byte(name), &w)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, store.NotFound("workflow", name)
		}
		if guard != nil {
			if err := guard(w.Owner); err != nil {
				return nil, err
			}
		}
		// The active index maps the ID of each run not final to its workflow.
		c := tx.Bucket(bucketRunsActive).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if string(v) == name {
				return nil, store.Errorf(store.ErrConflict, "workflow %q has a run that is not finished (%s); cancel it or wait for it to end", name, k)
			}
		}
		return nil, b.Delete([]byte(name))
	})
}
