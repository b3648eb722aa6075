// Package store owns Gantry's domain: the types it keeps (apps, routes, executions, async
// tasks, tokens, gateway APIs), their validation and defaults, the sentinel errors every
// backend answers with, the ID source, the allowed execution status transitions, and the
// Store interface that backends implement (one small interface per resource, with the
// properties callers rely on written on it).
//
// It also holds the backend-neutral pieces every backend shares: the change feed's types
// (Changes) and the route Index, an in-memory cache of apps and routes kept by that feed,
// which resolves the route of a call without reading the database.
//
// Backends live below it (store/bolt; store/postgres later) and store/storetest is the one
// conformance suite they all pass. This package imports no backend.
package store
