// Package store owns Gantry's persistent state: the domain types (apps, routes,
// executions), their validation and defaults, and the bbolt implementation that stores them.
//
// Every route is also held in an in-memory match tree per app, so resolving the
// route of an invocation never reads the database and never scans an app's routes.
//
// Execution records are written off the call path: RecordExecution queues them for a
// background writer that commits them in batches, and reads merge the records not yet
// committed. A background pruner keeps the newest executions of each route.
package store
