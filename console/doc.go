// Package console is Gantry's web console: server-rendered pages under /ui/ on the
// management listener, embedded in the binary (templates, a small CSS file, htmx and one
// script of our own), with Server-Sent Events for the live parts.
//
// The console is a client of the management API, in process: every page and action calls
// the API's own handler through the generated Go client (apiclient.go), as the signed-in
// identity (auth.Vouch), so that it goes through the same authorization, validation and
// ownership checks as any other client, and shows the API's own error messages. It keeps
// nothing of its own but sessions (store.Sessions: server-side, on every store backend,
// revocable; the browser holds a random secret in an HttpOnly, SameSite=Strict cookie).
//
// Security: a strict Content-Security-Policy (no inline script or style), an anti-forgery
// token on every state-changing request (a hidden form field, or the X-CSRF-Token header
// app.js adds to htmx requests) plus an Origin check, and no credential is ever rendered
// into a page.
package console
