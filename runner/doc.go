// Package runner runs function calls in Docker containers: cold containers (one per
// call) for the default format, pools of hot containers for the http and json formats,
// with the limits of each route enforced by Docker. It also owns the single invocation
// path (Invoker) that every caller of a function goes through: /r/ requests and the
// async workers (Workers) today, the gateway, events and workflows later.
package runner
