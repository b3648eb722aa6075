// Package runner is Gantry's Docker driver: it runs function calls in containers, cold
// ones (one per call) for the default format and pools of hot containers for the http and
// json formats, with each function's limits enforced by Docker; it gives a function's
// containers their secrets as read-only files (from a tmpfs directory of the host, removed
// with the container), creates and checks the function network, reaps and sweeps the
// containers of its instance, and drains pools when a function or a secret changes. It takes its own call spec (Call, Function), assembled by the
// invocation service (package invoke), and knows nothing of routes, executions or callers.
package runner
