package httperr

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error is an error on its way to the client: a status and the JSON error body.
type Error struct {
	Status  int
	Message string
	Fields  string      // the offending field(s) of the request, if any
	Header  http.Header // extra response headers, such as Allow or Retry-After
}

// Error implements error, so that an Error made by a caller passes through From unchanged.
func (e *Error) Error() string { return e.Message }

// Answer makes an Error its own answer.
func (e *Error) Answer() *Error { return e }

// Answerer is an error that knows its HTTP answer: an Error, or an error of a package
// above this one (the gateway's).
type Answerer interface {
	error
	Answer() *Error
}

// New is an answer of status with message.
func New(status int, message string) *Error { return &Error{Status: status, Message: message} }

// Internal is the answer to a bug in Gantry: its cause goes to the log, never to the client.
func Internal() *Error { return New(http.StatusInternalServerError, "internal server error") }

// RetryAfter is the header of a 503 or 429: when to try again, in seconds.
func RetryAfter(seconds int) http.Header { return http.Header{"Retry-After": {fmt.Sprint(seconds)}} }

// BodyTooLarge is the answer to a request body over max bytes (413).
func BodyTooLarge(max int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", max), Fields: "body"}
}

// body is the JSON error model of the API (swagger's Error): {"error":{"fields":...,"message":...}}.
type body struct {
	Error detail `json:"error"`
}

type detail struct {
	Fields  string `json:"fields,omitempty"`
	Message string `json:"message"`
}

// Write answers with e: its headers, its status and the JSON error body.
func Write(w http.ResponseWriter, e *Error) {
	for k, v := range e.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(body{Error: detail{Fields: e.Fields, Message: e.Message}})
}
