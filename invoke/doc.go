// Package invoke is Gantry's invocation service, the one path by which a function is
// called: /r/ requests (handlers), the gateway's APIs and the async workers go through it,
// as do event deliveries (DeliveryCall: the event in binary CloudEvents mode, retried by
// its subscription's policy) and workflow steps (StepCall). A call is resolved to its route and
// app (Resolve), admitted by its caller, who decides the route's auth in between (Admitter
// for Gantry's HTTP callers), then run (Run): a sync call at once, recorded as an
// execution, an async one stored in the durable queue and answered as accepted. The
// service runs the async workers (their short leases renewed while the node lives),
// retries and settles their calls, cancels calls queued, running in this process or, through
// the store's feed (Follow), on another node, tells the store that its node lives
// (StartHeartbeat), and serves calls over HTTP (Prepare and Serve: the body read
// within its bound, the function's answer with Gantry-Call-Id and Gantry-Route, errors
// through httperr), and tells who subscribes (OnFinished) of the calls that end here.
// Containers are the runner's; persistence is the store's.
package invoke
