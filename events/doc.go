// Package events is Gantry's events service: CloudEvents 1.0 read from HTTP (ReadHTTP:
// structured, binary and batched modes), matched against the subscriptions and stored
// with one durable delivery per subscription that receives them (Publish), redelivered on
// request (Redeliver), and Gantry's own events (system events: Start, RouteChanged).
//
// # A hand-written reader, not the CloudEvents SDK
//
// ReadHTTP is about 300 lines written here rather than github.com/cloudevents/sdk-go/v2.
// The SDK's event package alone adds five modules to go.mod (json-iterator/go,
// modern-go/reflect2, modern-go/concurrent, go.uber.org/zap, go.uber.org/multierr; its
// module requires more), and its HTTP binary-mode reader lives in its protocol/http and
// binding packages, which bring their own. What Gantry needs of it is small and exacting:
// CloudEvents 1.0 only (the SDK also reads 0.3), an error that names the attribute that
// is missing or wrong (a store.ValidationError whose Field is the attribute, for the 400
// the API promises; the SDK joins its complaints into one string), one size bound over
// the whole request, whatever its mode, and Gantry's own store.Event rather than the
// SDK's type, converted back and forth. The JSON format and the HTTP binding are short
// specifications; the table tests in read_test.go follow them case by case.
//
// # Matching and visibility
//
// A subscription receives an event (Receives) when it is enabled, its filter matches
// (type exact, a prefix "com.example.*", or "*"; source exact; subject prefix) and its
// owner may see the event (CanSee): scope "own" sees the events its owner published, the
// public ones (published by an admin) and the system events about its owner's resources
// (their Owner is the resource's owner); scope "all" (an admin's own subscriptions only,
// never given to another owner) sees every event. Each
// subscription that receives an event gets its own delivery: two subscriptions on one
// type both run. Deliveries are made in subscription name order; the order in which
// they run, or in which events are delivered, is not promised. The event's id (with its
// source) is the idempotency key for functions: a delivery runs at least once. Gantry
// keeps the key per publisher: an event its publisher (Owner) published before with that
// source and id makes nothing new, and its answer is that one's; another publisher's of
// the same source and id is another event (a subscription of scope all may receive both).
//
// # Delivery
//
// A delivery to a function is an async call (invoke.DeliveryCall) of the event in binary
// CloudEvents HTTP mode: a POST whose ce-* headers are the attributes (ce-id, ce-source,
// ce-type, ce-specversion, ce-subject, ce-time, ce-dataschema, each extension as
// ce-<name>), whose Content-Type is the datacontenttype and whose body is the data. An
// http or json function reads the headers; a default-format function gets every ce-*
// header of any call (a delivery's, or a caller's own binary-mode event sent to /r/) as
// CE_<NAME> environment variables (CE_ID, CE_SOURCE, CE_TYPE, CE_SPECVERSION, CE_SUBJECT,
// CE_TIME, CE_<EXTENSION>), percent-decoded, besides FN_HEADER_CE_*, and the data on stdin.
// The call is retried by the subscription's policy when the function fails (exit code not
// 0, timed out, killed, or, for http and json functions, an answer with a status of 500
// or more): up to max_attempts runs in all, waiting initial before the second, doubled
// each time, at most max; then its execution ends FAILED and the delivery DEAD_LETTERED
// (or DISCARDED by dead_letter discard). Gantry's and Docker's own failures are retried
// as every async call's, and use up the same attempts. The function's app must still be
// the subscription owner's when the event is published (unless the subscription is an
// admin's with scope all), its route still there and on a network the owner may use:
// else that delivery is not made, and this is logged; any other failure to make a
// delivery fails the publish. store.ValidateEvent bounds an event's attributes so that
// any valid event fits a default-format function's environment.
//
// A delivery to a workflow is a run whose inputs are the event in the CloudEvents JSON
// format (Structured: {"specversion","id","source","type",...,"data"}). When the
// workflow's inputs schema refuses it, the run is made all the same and fails at once
// (reason error, naming the refusal), so the delivery ends DEAD_LETTERED like any failed
// delivery and may be redelivered once the workflow takes such events.
//
// # System events
//
// Gantry publishes dev.gantry.execution.finished (source /gantry/apps/<app>, subject the
// route, id the execution's; data id, app, route, status, reason, type, error) for each
// call that reaches a final status on this node, dev.gantry.workflow.finished (source
// /gantry/workflows/<name>, subject and id the run's; data id, workflow, status, reason,
// error) for each run that ends, and dev.gantry.route.changed (source /gantry/apps/<app>,
// subject the path; data app, path, change) for each route written through the API. Their
// Owner is the owner of the app or workflow. They are published asynchronously through a
// bounded queue, so a call never waits on them: at most once (a node that crashes with
// events queued loses them, and one the queue has no room for is dropped and logged), and
// stored only when a subscription receives them. Types under dev.gantry. are Gantry's
// alone, and so are sources under /gantry/ (its system events' and its schedules'): the
// API refuses both (PublishFromAPI). So that a subscription cannot feed itself, the calls
// and workflow runs that deliver a system event, and the calls of such runs' steps,
// publish no system event.
package events
