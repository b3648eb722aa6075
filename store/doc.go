// Package store owns Gantry's persistent state: the domain types (apps, routes),
// their validation and defaults, and the bbolt implementation that stores them.
//
// Every route is also held in an in-memory match tree per app, so resolving the
// route of an invocation never reads the database and never scans an app's routes.
package store
