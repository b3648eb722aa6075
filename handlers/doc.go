// Package handlers owns the HTTP edge of Gantry. It implements the operations of the
// generated management API (gen/restapi) on top of the store and the invocation service
// (invoke), and serves /r/ function calls through that service, deciding each route's
// auth between resolving and running the call. Errors are answered through the one
// mapping (httperr); go-openapi's own errors are turned into it here. It owns
// authentication before routing,
// ownership checks (apps, routes, executions, tokens and APIs of others are not found), the
// audit log, CORS, /metrics, the management middleware (body limit, content type, nested
// route paths; image uploads pass both, bounded by the images service instead), and the
// conversion between spec models (gen/models) and domain types. Image writes and logs go
// to the images service (images), declared here as the Images interface.
package handlers
