// Package handlers implements the operations of the generated management API
// (gen/restapi) on top of the store, and owns the HTTP edge of Gantry: the one
// function that maps errors to HTTP statuses and the JSON error body, the
// management middleware (body limit, content type, nested route paths) and the
// conversion between spec models (gen/models) and domain types.
package handlers
