// Package bolt is the embedded store backend: every resource of store.Store in one bbolt
// file under a data directory, which one process holds at a time (a file lock).
//
// Records are JSON under keys that sort the way lists read them; all buckets are made at
// open by an append-only list of migrations with a schema version. Execution records of
// sync calls are written off the call path: RecordExecution queues them for a background
// writer that commits them in batches, and reads merge the records not yet committed. A
// background pruner keeps the newest executions of each route. The change feed is in
// process: the writer of a change delivers it to the subscribers before it returns.
package bolt
