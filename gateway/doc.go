// Package gateway serves the APIs that expose functions on hostnames and paths of their own:
// it compiles the stored APIs into a routing table (swapped atomically when they change),
// matches each request by host, method and longest URI, and runs it through the API's
// pipeline (protocol, CORS, authentication, rate limit, body size) into the one invocation
// path. Statuses are not chosen here: errors go to handlers' single mapping.
package gateway
