package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
)

// execColumns are the columns of an execution but its log, in the order scanExecution
// reads them and execValues gives them.
const execColumns = "id, app, app_id, route, type, status, reason, exit_code, error, container, node, " +
	"created_at, started_at, completed_at, attempts, output_truncated, log_truncated, output, parent, step, image_digest"

func scanExecution(row pgx.Row) (store.Execution, error) {
	var ex store.Execution
	var started, completed *time.Time
	err := row.Scan(&ex.ID, &ex.App, &ex.AppID, &ex.Route, &ex.Type, &ex.Status, &ex.Reason, &ex.ExitCode, &ex.Error,
		&ex.Container, &ex.Node, &ex.CreatedAt, &started, &completed, &ex.Attempts, &ex.OutputTruncated, &ex.LogTruncated, &ex.Output,
		&ex.Parent, &ex.Step, &ex.ImageDigest)
	ex.StartedAt, ex.CompletedAt = timeOrZero(started), timeOrZero(completed)
	return ex, err
}

// execValues are the values of execColumns for ex.
func execValues(ex store.Execution) []any {
	var output []byte
	if len(ex.Output) > 0 {
		output = ex.Output
	}
	return []any{ex.ID, ex.App, ex.AppID, ex.Route, ex.Type, ex.Status, ex.Reason, ex.ExitCode, text(ex.Error),
		ex.Container, ex.Node, ex.CreatedAt, optionalTime(ex.StartedAt), optionalTime(ex.CompletedAt), ex.Attempts,
		ex.OutputTruncated, ex.LogTruncated, output, ex.Parent, ex.Step, ex.ImageDigest}
}

// text makes free text (an error message that may quote a function's output) fit a text
// column, which holds neither NUL bytes nor invalid UTF-8.
func text(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

// GetExecution reads one execution, including one recorded but not yet stored.
func (s *DB) GetExecution(ctx context.Context, id string) (store.Execution, error) {
	if err := ctx.Err(); err != nil {
		return store.Execution{}, err
	}
	if ex, _, _, ok := s.rec.Pending(id); ok {
		return ex, nil
	}
	ex, err := scanExecution(s.pool.QueryRow(ctx, "SELECT "+execColumns+" FROM executions WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Execution{}, store.NotFound("execution", id)
	}
	return ex, dbError("get execution", err)
}

// GetExecutionLog reads the stderr log of an execution: empty if it has none, ErrNotFound
// if the execution does not exist.
func (s *DB) GetExecutionLog(ctx context.Context, id string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	_, log, hasLog, pending := s.rec.Pending(id)
	if hasLog {
		return log, nil
	}
	err := s.pool.QueryRow(ctx, "SELECT log FROM executions WHERE id = $1", id).Scan(&log)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && !pending:
		return nil, store.NotFound("execution", id)
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, dbError("get execution log", err)
	}
	if log == nil {
		log = []byte{}
	}
	return log, nil
}

// ListExecutions returns one page of the executions that match f, newest first, and the
// cursor of the next page ("" on the last). Records not yet stored are merged in, and win
// over their stored state. Executions outlive their app and route, so filtering on a
// deleted one is not an error.
func (s *DB) ListExecutions(ctx context.Context, f store.ExecutionFilter, page store.Page) ([]store.Execution, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	return s.rec.List(f, page, func(before string, skip []string, n int) ([]store.Execution, error) {
		stored, err := s.queryExecutions(ctx, f, before, skip, n)
		return stored, dbError("list executions", err)
	})
}

// queryExecutions reads up to n stored executions that match f, with IDs below before
// ("" for no bound) and not in skip, newest first. Only the filters set are in the query,
// so that the planner picks the index that serves them.
func (s *DB) queryExecutions(ctx context.Context, f store.ExecutionFilter, before string, skip []string, n int) ([]store.Execution, error) {
	if f.Apps != nil && len(f.Apps) == 0 {
		return nil, nil // no app: nothing matches
	}
	var where []string
	args := []any{n}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	since, _ := f.IDBounds() // Until is in before (store.Recorder.List)
	for _, c := range []struct{ col, v string }{{"id <", before}, {"id >=", since}, {"app =", f.App}, {"route =", f.Route}, {"status =", f.Status}} {
		if c.v != "" {
			where = append(where, c.col+" "+arg(c.v))
		}
	}
	if f.Apps != nil {
		names, ids := make([]string, 0, len(f.Apps)), make([]string, 0, len(f.Apps))
		for name, id := range f.Apps {
			names, ids = append(names, name), append(ids, id)
		}
		where = append(where, "(app, app_id) IN (SELECT * FROM unnest("+arg(names)+"::text[], "+arg(ids)+"::text[]))")
	}
	if len(skip) > 0 {
		where = append(where, "id <> ALL("+arg(skip)+"::text[])")
	}
	q := "SELECT " + execColumns + " FROM executions"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY id DESC LIMIT $1", args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Execution, error) { return scanExecution(row) })
}

// RecoverExecutions ends FAILED the sync executions this node left RUNNING (it stopped
// during their call): those whose Node is this node's. Calls other nodes run are theirs.
func (s *DB) RecoverExecutions(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE executions e SET status = $1, reason = $2, error = $3, completed_at = now()
		WHERE status = $4 AND type = $5 AND node = $6 AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = e.id)`,
		store.StatusFailed, store.ReasonError, "gantry stopped during the call", store.StatusRunning, store.TypeSync, s.node)
	if err != nil {
		return 0, dbError("recover executions", err)
	}
	return int(tag.RowsAffected()), nil
}

// RequestCancel asks the node running execution id to stop it (see store.Executions): a
// ChangeCancel reaches the subscribers of every node.
func (s *DB) RequestCancel(ctx context.Context, id string) error {
	ex, err := s.GetExecution(ctx, id)
	switch {
	case err != nil:
		return err
	case ex.Done():
		return store.Errorf(store.ErrConflict, "execution %q already finished (%s)", id, ex.Status)
	}
	return s.write(ctx, "request cancel", func(pgx.Tx) ([]store.Change, error) {
		return []store.Change{{Kind: store.ChangeCancel, Name: id}}, nil
	})
}
