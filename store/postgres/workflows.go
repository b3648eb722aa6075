package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

const workflowColumns = "name, owner, version, definition, description, run_access, apps, created_at, updated_at"

func scanWorkflow(row pgx.Row) (store.Workflow, error) {
	var w store.Workflow
	var def, access, apps []byte
	if err := row.Scan(&w.Name, &w.Owner, &w.Version, &def, &w.Description, &access, &apps, &w.CreatedAt, &w.UpdatedAt); err != nil {
		return w, err
	}
	w.Definition = json.RawMessage(def)
	if apps != nil {
		if err := json.Unmarshal(apps, &w.Apps); err != nil {
			return w, fmt.Errorf("decode apps of workflow %s: %w", w.Name, err)
		}
	}
	if access != nil {
		if err := json.Unmarshal(access, &w.RunAccess); err != nil {
			return w, fmt.Errorf("decode run_access of workflow %s: %w", w.Name, err)
		}
	}
	return w, nil
}

// workflowValues are the definition, run_access and apps columns of w (the last two NULL when empty).
func workflowValues(w store.Workflow) (def, access, apps []byte, err error) {
	def = []byte(w.Definition)
	if len(def) == 0 {
		def = []byte("null")
	}
	if !json.Valid(def) {
		return nil, nil, nil, store.Invalid("definition", "the definition of workflow %q is not JSON", w.Name)
	}
	if len(w.RunAccess) > 0 {
		if access, err = jsonValue(w.RunAccess); err != nil {
			return nil, nil, nil, err
		}
	}
	if len(w.Apps) > 0 {
		if apps, err = jsonValue(w.Apps); err != nil {
			return nil, nil, nil, err
		}
	}
	return def, access, apps, nil
}

// PutWorkflow creates the workflow (Version 1, owned by w.Owner) or replaces its
// definition, description and run access (Version + 1; its owner and created_at kept).
// guard vets the owner of an existing workflow, its row locked for the write.
func (s *DB) PutWorkflow(ctx context.Context, w store.Workflow, guard store.AppGuard) (stored store.Workflow, created bool, err error) {
	if w.Name == "" {
		return store.Workflow{}, false, store.Invalid("name", "a workflow needs a name")
	}
	def, access, apps, err := workflowValues(w)
	if err != nil {
		return store.Workflow{}, false, err
	}
	in := w
	err = s.write(ctx, "put workflow", func(tx pgx.Tx) ([]store.Change, error) {
		for { // until the workflow is read locked, or created by this transaction
			w = in
			old, err := scanWorkflow(tx.QueryRow(ctx, "SELECT "+workflowColumns+" FROM workflows WHERE name = $1 FOR UPDATE", w.Name))
			if err == nil {
				if guard != nil {
					if err := guard(old.Owner); err != nil {
						return nil, err
					}
				}
				w.Owner, created = old.Owner, false
				err := tx.QueryRow(ctx, `UPDATE workflows SET version = version + 1, definition = $2, description = $3,
					run_access = $4, apps = $5, updated_at = now() WHERE name = $1 RETURNING version, created_at, updated_at`,
					w.Name, def, w.Description, access, apps).Scan(&w.Version, &w.CreatedAt, &w.UpdatedAt)
				return nil, err
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return nil, err
			}
			created = true
			err = tx.QueryRow(ctx, `INSERT INTO workflows (name, owner, version, definition, description, run_access, apps, created_at, updated_at)
				VALUES ($1, $2, 1, $3, $4, $5, $6, now(), now()) ON CONFLICT (name) DO NOTHING
				RETURNING version, created_at, updated_at`, w.Name, w.Owner, def, w.Description, access, apps).Scan(&w.Version, &w.CreatedAt, &w.UpdatedAt)
			if !errors.Is(err, pgx.ErrNoRows) {
				return nil, err
			}
			// Another transaction created it meanwhile: read it again, locked, and vet its owner.
		}
	})
	if err != nil {
		return store.Workflow{}, false, err
	}
	w.Definition = json.RawMessage(def)
	return w, created, nil
}

// GetWorkflow reads one workflow.
func (s *DB) GetWorkflow(ctx context.Context, name string) (store.Workflow, error) {
	w, err := scanWorkflow(s.pool.QueryRow(ctx, "SELECT "+workflowColumns+" FROM workflows WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Workflow{}, store.NotFound("workflow", name)
	}
	return w, dbError("get workflow", err)
}

// ListWorkflows returns one page of the workflows that pass f, in name order, and the
// cursor of the next page ("" on the last). f.Visible is applied while the rows are read,
// a chunk at a time, so a page is full whenever enough workflows pass it.
func (s *DB) ListWorkflows(ctx context.Context, f store.WorkflowFilter, page store.Page) ([]store.Workflow, string, error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	size := page.Size()
	out := []store.Workflow{}
	for {
		chunk := size + 1 - len(out)
		if f.Visible != nil {
			chunk = max(chunk, store.MaxPageSize) // most may be hidden: read ahead
		}
		rows, err := s.pool.Query(ctx, "SELECT "+workflowColumns+" FROM workflows WHERE name > $1 ORDER BY name LIMIT $2", after, chunk)
		if err != nil {
			return nil, "", dbError("list workflows", err)
		}
		read, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Workflow, error) { return scanWorkflow(row) })
		if err != nil {
			return nil, "", dbError("list workflows", err)
		}
		for _, w := range read {
			if f.Visible != nil && !f.Visible(w) {
				continue
			}
			if len(out) == size { // one more passes: there is a next page
				return out, encodeCursor(out[len(out)-1].Name), nil
			}
			out = append(out, w)
		}
		if len(read) < chunk {
			return out, "", nil
		}
		after = read[len(read)-1].Name
	}
}

// DeleteWorkflow removes a workflow; guard vets its owner, its row locked. ErrConflict
// while one of its runs is not final (CreateRun locks the workflow's row to share, so no
// run of it can start meanwhile). Its finished runs stay.
func (s *DB) DeleteWorkflow(ctx context.Context, name string, guard store.AppGuard) error {
	return s.write(ctx, "delete workflow", func(tx pgx.Tx) ([]store.Change, error) {
		var owner string
		err := tx.QueryRow(ctx, "SELECT owner FROM workflows WHERE name = $1 FOR UPDATE", name).Scan(&owner)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.NotFound("workflow", name)
		}
		if err != nil {
			return nil, err
		}
		if guard != nil {
			if err := guard(owner); err != nil {
				return nil, err
			}
		}
		var active bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM runs WHERE workflow = $1 AND "+runActive+")", name).Scan(&active); err != nil {
			return nil, err
		}
		if active {
			return nil, store.Errorf(store.ErrConflict, "workflow %q has runs that are not finished; cancel them or wait for their end", name)
		}
		_, err = tx.Exec(ctx, "DELETE FROM workflows WHERE name = $1", name)
		return nil, err
	})
}
