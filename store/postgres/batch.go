package postgres

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// upsertExecutions stores a batch of records in one statement: one array per column,
// unnested into rows. A NULL log keeps the stored one (a record made without a log).
const upsertExecutions = `INSERT INTO executions AS e (` + execColumns + `, log)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
	$8::int4[], $9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[],
	$15::int4[], $16::bool[], $17::bool[], $18::bytea[], $19::text[], $20::text[], $21::text[], $22::bytea[])
ON CONFLICT (id) DO UPDATE SET app = EXCLUDED.app, app_id = EXCLUDED.app_id, route = EXCLUDED.route,
	type = EXCLUDED.type, status = EXCLUDED.status, reason = EXCLUDED.reason, exit_code = EXCLUDED.exit_code,
	error = EXCLUDED.error, container = EXCLUDED.container, node = EXCLUDED.node, created_at = EXCLUDED.created_at,
	started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at, attempts = EXCLUDED.attempts,
	output_truncated = EXCLUDED.output_truncated, log_truncated = EXCLUDED.log_truncated, output = EXCLUDED.output,
	parent = EXCLUDED.parent, step = EXCLUDED.step, image_digest = EXCLUDED.image_digest, log = coalesce(EXCLUDED.log, e.log)`

// storeExecutions writes batch (sorted by ID) in tx. The first record of an entry not yet
// checked against the stored execution is checked now, against the stored row locked
// (FOR UPDATE): store.CanTransition refusing it, the entry is left out and returned in
// refused.
func storeExecutions(ctx context.Context, tx pgx.Tx, batch []store.PendingRecord) (refused map[string]error, err error) {
	var check []string
	for _, p := range batch {
		if p.First != "" {
			check = append(check, p.Ex.ID)
		}
	}
	stored := map[string]string{}
	if len(check) > 0 {
		rows, err := tx.Query(ctx, "SELECT id, status FROM executions WHERE id = ANY($1) ORDER BY id FOR UPDATE", check)
		if err != nil {
			return nil, err
		}
		var id, status string
		if _, err := pgx.ForEachRow(rows, []any{&id, &status}, func() error { stored[id] = status; return nil }); err != nil {
			return nil, err
		}
	}
	refused = map[string]error{}
	var c execArrays
	for _, p := range batch {
		if p.First != "" && !store.CanTransition(stored[p.Ex.ID], p.First) {
			refused[p.Ex.ID] = store.TransitionError(p.Ex.ID, stored[p.Ex.ID], p.First)
			continue
		}
		c.add(p)
	}
	if len(c.ids) == 0 {
		return refused, nil
	}
	_, err = tx.Exec(ctx, upsertExecutions, c.ids, c.apps, c.appIDs, c.routes, c.types, c.statuses, c.reasons,
		c.exitCodes, c.errors, c.containers, c.nodes, c.created, c.started, c.completed,
		c.attempts, c.outputTruncated, c.logTruncated, c.outputs, c.parents, c.steps, c.digests, c.logs)
	return refused, err
}

// execArrays are the columns of a batch of executions, one array each.
type execArrays struct {
	ids, apps, appIDs, routes, types, statuses, reasons []string
	exitCodes                                           []pgtype.Int4
	errors, containers, nodes                           []string
	created                                             []time.Time
	started, completed                                  []pgtype.Timestamptz
	attempts                                            []int32
	outputTruncated, logTruncated                       []bool
	outputs, logs                                       [][]byte
	parents, steps, digests                             []string
}

func (c *execArrays) add(p store.PendingRecord) {
	ex := p.Ex
	c.ids = append(c.ids, ex.ID)
	c.apps = append(c.apps, ex.App)
	c.appIDs = append(c.appIDs, ex.AppID)
	c.routes = append(c.routes, ex.Route)
	c.types = append(c.types, ex.Type)
	c.statuses = append(c.statuses, ex.Status)
	c.reasons = append(c.reasons, ex.Reason)
	code := pgtype.Int4{}
	if ex.ExitCode != nil {
		code = pgtype.Int4{Int32: int32(*ex.ExitCode), Valid: true} //nolint:gosec // G115: an exit code fits
	}
	c.exitCodes = append(c.exitCodes, code)
	c.errors = append(c.errors, text(ex.Error))
	c.containers = append(c.containers, ex.Container)
	c.nodes = append(c.nodes, ex.Node)
	c.created = append(c.created, ex.CreatedAt)
	c.started = append(c.started, pgtype.Timestamptz{Time: ex.StartedAt, Valid: !ex.StartedAt.IsZero()})
	c.completed = append(c.completed, pgtype.Timestamptz{Time: ex.CompletedAt, Valid: !ex.CompletedAt.IsZero()})
	c.attempts = append(c.attempts, int32(ex.Attempts)) //nolint:gosec // G115: attempts are few
	c.outputTruncated = append(c.outputTruncated, ex.OutputTruncated)
	c.logTruncated = append(c.logTruncated, ex.LogTruncated)
	var output []byte
	if len(ex.Output) > 0 {
		output = ex.Output
	}
	c.outputs = append(c.outputs, output)
	c.parents = append(c.parents, ex.Parent)
	c.steps = append(c.steps, ex.Step)
	c.digests = append(c.digests, ex.ImageDigest)
	var log []byte // nil (NULL) keeps the stored log
	if p.HasLog {
		log = p.Log
		if log == nil {
			log = []byte{}
		}
	}
	c.logs = append(c.logs, log)
}

// StoreRecords stores a batch of the recorder's (sorted by ID) in one transaction
// (store.RecordWriter), within execWriteTimeout: a database that stops answering keeps the
// writer no longer than that from its queue.
func (s *DB) StoreRecords(batch []store.PendingRecord) (map[string]error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), execWriteTimeout)
	defer cancel()
	var refused map[string]error
	err := s.write(ctx, "store executions", func(tx pgx.Tx) ([]store.Change, error) {
		var err error
		refused, err = storeExecutions(ctx, tx, batch)
		return nil, err
	})
	return refused, err
}

// AppendLogs appends late log output to stored executions, in one statement
// (store.RecordWriter); unknown executions are skipped.
func (s *DB) AppendLogs(tails map[string]*store.LogTail) error {
	var ids []string
	var logs [][]byte
	var truncated []bool
	for id, t := range tails {
		ids, logs, truncated = append(ids, id), append(logs, t.Log), append(truncated, t.Truncated)
	}
	ctx, cancel := context.WithTimeout(context.Background(), execWriteTimeout)
	defer cancel()
	return s.write(ctx, "append late logs", func(tx pgx.Tx) ([]store.Change, error) {
		_, err := tx.Exec(ctx, `UPDATE executions e SET log = coalesce(e.log, ''::bytea) || t.tail,
				log_truncated = e.log_truncated OR t.truncated
			FROM unnest($1::text[], $2::bytea[], $3::bool[]) AS t (id, tail, truncated) WHERE e.id = t.id`,
			ids, logs, truncated)
		return nil, err
	})
}
