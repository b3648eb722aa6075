// Package httperr owns the one mapping of Gantry's errors to HTTP answers: a status, the
// JSON error body ({"error":{"message":...,"fields":...}}) and headers such as Retry-After
// or WWW-Authenticate. The management API, /r/ calls, the gateway and the invocation
// service all answer errors through it. It knows the errors of the packages below it
// (store, runner, auth, secrets); an error of a package above it (the gateway's) carries its own
// answer (Answerer), since the mapping cannot name it.
package httperr
