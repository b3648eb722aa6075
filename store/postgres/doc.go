// Package postgres is the shared store backend: every resource of store.Store in
// PostgreSQL, which several Gantry nodes may use at once. It uses pgx v5 with a pool
// (pgxpool), short transactions, and the database's clock (now()) for every time the store
// itself sets, so that leases end at the same moment for every node.
//
// Schema. The tables live in the connection's current schema (current_schema(): pass
// ?search_path=gantry in the URL to choose it; tests use a schema each). Versioned SQL
// migrations are embedded (migrations/NNNN_what.sql) and applied at Open by a short
// runner of our own (migrate.go), recorded in gantry_schema, under a session advisory lock
// named after the schema: nodes starting together migrate once, and stores in other
// schemas do not wait for each other. Each migration runs in one transaction with its
// record; a database whose schema is newer than this build is refused. goose or
// golang-migrate would do the same in more code, through a database/sql driver beside pgx,
// and would still need that last check.
//
// Writes. Ownership (AppGuard) is checked on the app's row locked FOR UPDATE inside the
// write, which also serialises the route writes of an app (route shapes are unique, and
// an app with routes cannot be deleted). API writes, which check store.APIConflict against
// every other API, take a transaction-level advisory lock. Lists read indexes in their
// order and page with opaque cursors (the base64 of the last key).
//
// Queue. LeaseTasks takes due tasks in line with SELECT ... FOR UPDATE SKIP LOCKED, so
// consumers on every node never share one; a lease is an end time (lease_until) judged by
// the database's clock, and a leased task keeps its place in line. LeaseTasksWithoutSecrets
// (external runners) reads the same line without the tasks that need secrets
// (needs_secrets, set at accept from Task.StaysHome: secrets or an "@name" image), through a partial index of its own.
//
// Workflows and runs. A run is a row whose columns serve its lists (newest first, by
// workflow, status, viewer; the active ones) beside its document (json); its events are
// rows of run_events numbered from 1. UpdateRun locks the run's row (FOR UPDATE), so
// updates of a run are serialized on every node, and stores the run, its events and its
// step calls (tasks and executions written as EnqueueTask writes them) in one transaction.
// A task with a Parent that leaves the queue final, by whichever path (completed,
// cancelled, dropped), sends ChangeChild naming the run in the transaction that removes it.
//
// Events, deliveries, schedules. PublishEvents stores a slice of events in one
// transaction: INSERT ... ON CONFLICT (owner, source, event_id) DO NOTHING (events in
// (owner, source, id) order, so that two publishers never wait for each other in a
// circle) stores each new one; one that was there (or was stored meanwhile by another
// node, whose insert ours waited for) is read back with its deliveries. The deliveries, their calls (accepted as
// EnqueueTask accepts them, storeTasks) and their runs (created as CreateRun creates them,
// insertRun) are written in the same transaction. Every path by which a call leaves the
// queue (removeTask) and UpdateRun making a run final end the call's or run's delivery
// (endDelivery) in their own transaction, unless it was redelivered since. ClaimTick is one
// conditional UPDATE (last_tick before the tick), so a tick is claimed once however many
// nodes race for it: the losers wait on the row's lock, then find the condition false.
//
// Executions. RecordExecution is write-behind, as bbolt's recorder is: records wait in
// memory, where reads find them, and a writer goroutine stores them in batches, one
// INSERT ... ON CONFLICT per batch, checking store.CanTransition against the stored rows it
// locks.
//
// Change feed. A write that publishes a change sends it with pg_notify inside its
// transaction (other nodes hear it at commit) and posts it to this process's subscribers
// once committed, before it returns. One goroutine delivers every change, local or heard,
// in order. A dedicated connection ("gantry-listen <node>") LISTENs on the schema's
// channel; when it is lost it reconnects with backoff and delivers store.ChangeReset, on
// which the route index (and every other cache) reloads. A handle skips the echo of its own
// notifications.
//
// Errors. Connection failures are wrapped with store.ErrUnavailable; transactions that
// failed only because of another (serialization failure, deadlock) run again.
package postgres
