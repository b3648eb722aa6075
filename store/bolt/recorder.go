package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

// Execution records go through a store.Recorder (write-behind: the call path never waits
// for fsync), which hands them here in batches: one bbolt transaction per batch.

// pruneChunk bounds the executions deleted in one transaction.
const pruneChunk = 1000

// RecordExecution stores ex, replacing any earlier record with its ID, and its stderr log
// when log is not nil (see store.Executions and store.Recorder). It returns without waiting
// for the disk, blocking only while the write queue is full; reads see the record at once.
func (s *DB) RecordExecution(ex store.Execution, log []byte) { s.rec.Record(ex, log) }

// AppendExecutionLog adds output that reached a call's log after it answered.
func (s *DB) AppendExecutionLog(id string, tail []byte, truncated bool) {
	s.rec.AppendLog(id, tail, truncated)
}

// FlushExecutions waits until every record made before the call is committed to disk.
func (s *DB) FlushExecutions(ctx context.Context) error { return s.rec.Flush(ctx) }

// StoreRecords commits a batch of the recorder's in one transaction (store.RecordWriter).
func (s *DB) StoreRecords(batch []store.PendingRecord) (map[string]error, error) {
	var refused map[string]error
	err := s.db.Update(func(tx *bolt.Tx) error {
		refused = map[string]error{}
		for _, p := range batch {
			if p.First != "" {
				from, err := storedStatus(tx, p.Ex.ID)
				if err != nil {
					return err
				}
				if !store.CanTransition(from, p.First) {
					refused[p.Ex.ID] = store.TransitionError(p.Ex.ID, from, p.First)
					continue
				}
			}
			var log []byte // nil keeps the stored log
			if p.HasLog {
				log = p.Log
				if log == nil {
					log = []byte{}
				}
			}
			if err := putExecution(tx, p.Ex, log); err != nil {
				return err
			}
		}
		return nil
	})
	return refused, err
}

// storedStatus returns the status of a stored execution, "" if there is none.
func storedStatus(tx *bolt.Tx, id string) (string, error) {
	v := tx.Bucket(bucketExecutions).Get([]byte(id))
	if v == nil {
		return "", nil
	}
	var h execHead
	if err := json.Unmarshal(v, &h); err != nil {
		return "", fmt.Errorf("decode execution %s: %w", id, err)
	}
	return h.Status, nil
}

// AppendLogs appends late log output to stored executions, in one transaction
// (store.RecordWriter), reading each record in it, so it never carries a stale copy.
func (s *DB) AppendLogs(tails map[string]*store.LogTail) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		logs := tx.Bucket(bucketExecLogs)
		for id, t := range tails {
			ex, err := getExecutionTx(tx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			log := append(bytes.Clone(logs.Get([]byte(id))), t.Log...)
			if err := logs.Put([]byte(id), log); err != nil {
				return err
			}
			if t.Truncated && !ex.LogTruncated {
				ex.LogTruncated = true
				if err := putJSON(tx.Bucket(bucketExecutions), []byte(id), ex); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
