// Package invoke is Gantry's invocation service, the one path by which a function is
// called: /r/ requests (handlers), the gateway's APIs and the async workers go through it,
// as do event deliveries (DeliveryCall: the event in binary CloudEvents mode, retried by
// its subscription's policy), schedules' ticks (ScheduledCall) and workflow steps
// (StepCall). A caller's ce-type under dev.gantry. and ce-source under /gantry/ are dropped
// (Prepare): only Gantry's own calls carry them. Every run of a queued call counts as an
// attempt (Task.Attempts, counted at each lease), whatever ends it: the function's failure
// runs again while the attempts are fewer than its retry policy's MaxAttempts (a delivery)
// or, else, not more than its route's max_retries; Gantry's or Docker's failure while they
// are fewer than the workers' MaxAttempts (--async-attempts), after their backoff; so those
// failures use up a delivery's attempts too, and a delivery whose policy allows more runs
// than MaxAttempts still ends at MaxAttempts when Docker fails it then. A run cut short by a
// shutdown goes back to the queue whatever its attempts, but counts. A call is resolved to its route and
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
