// Package gateway serves the APIs that expose functions on hostnames and paths of their own:
// it compiles the stored APIs into a routing table (swapped atomically when they change),
// matches each request by host (a host belongs to the owner of its most specific APIs),
// method and longest URI on a canonical path, and runs it through the API's pipeline
// (protocol, CORS, authentication, rate limit, forwarding headers) into the one invocation
// path. An API that is disabled or cannot be served keeps its paths and refuses them. TLS
// certificates are chosen by SNI among those valid for the name (their private keys read
// from the secret store, certs.go), and a request whose Host
// that choice does not fit (another owner's API, or a host with a certificate of its own) is
// refused as misdirected. Calls go to the invocation service (invoke) directly; the gateway
// decides the route's auth between resolving and running them. Errors are answered through
// the one mapping (httperr); the gateway's own error kinds carry their answer
// (httperr.Answerer, in errors.go).
package gateway
