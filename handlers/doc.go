// Package handlers owns the HTTP edge of Gantry. It implements the operations of the
// generated management API (gen/restapi) on top of the store and the runner, and serves
// function calls: /r/ directly, and gateway calls through ServeCall, both into the one
// invocation path (runner.Invoker). It holds the one function that maps errors to HTTP
// statuses and the JSON error body (toAPIError, WriteError), authentication before routing,
// ownership checks (apps, routes, executions, tokens and APIs of others are not found), the
// audit log, CORS, /metrics, the management middleware (body limit, content type, nested
// route paths), and the conversion between spec models (gen/models) and domain types.
package handlers
