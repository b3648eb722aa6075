package postgres

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// Execution records go through a store.Recorder (write-behind: a call never waits for the
// database), which hands them here in batches: StoreRecords and AppendLogs (batch.go).

const (
	// execWriteTimeout bounds one batch's transaction: a database that stops answering
	// keeps the writer no longer than this from its queue.
	execWriteTimeout = 5 * time.Second
)

// RecordExecution stores ex, replacing any earlier record with its ID, and its stderr log
// when log is not nil (see store.Executions and store.Recorder). It returns without
// waiting for the database; reads see the record at once. A new record that finds the
// write queue full (the database has not answered for a while) is dropped and logged.
func (s *DB) RecordExecution(ex store.Execution, log []byte) { s.rec.Record(ex, log) }

// AppendExecutionLog adds output that reached a call's log after it answered.
func (s *DB) AppendExecutionLog(id string, tail []byte, truncated bool) {
	s.rec.AppendLog(id, tail, truncated)
}

// FlushExecutions waits until every record made before the call is stored. It returns an
// error if storing a record failed since the previous flush.
func (s *DB) FlushExecutions(ctx context.Context) error { return s.rec.Flush(ctx) }
