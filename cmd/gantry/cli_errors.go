package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/go-openapi/runtime"
)

// apiError is an error answer of the Gantry API: its text is the
// server's message, followed by the offending fields when there are any
// and by a hint of what to do about it.
type apiError struct {
	Status  int
	Message string
	Fields  string
	Hint    string
}

func (e *apiError) Error() string {
	s := e.Message
	if e.Fields != "" {
		s = fmt.Sprintf("%s (fields: %s)", s, e.Fields)
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// authHint tells what to do about a 401 or 403 answer.
func authHint(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "give a valid API token with --token or " + envToken
	case http.StatusForbidden:
		return "`gantry whoami` shows who you are and your role"
	}
	return ""
}

// errorResponse is what every generated error response type has.
type errorResponse interface {
	error
	Code() int
	GetPayload() *models.Error
}

// clientError turns an error of the generated client into one for a
// person: the server's message for an API error (after op and the status
// for a 401 or 403, with a hint of what to do), the failing URL for a
// connection error, op as context for anything else.
func clientError(op string, err error) error {
	var resp errorResponse
	if errors.As(err, &resp) {
		code := resp.Code()
		if p := resp.GetPayload(); p != nil && p.Error != nil && p.Error.Message != nil {
			msg := *p.Error.Message
			if code == http.StatusUnauthorized || code == http.StatusForbidden {
				// The server says what is wrong with the credentials, not what was refused.
				msg = fmt.Sprintf("%s: %s (%d)", op, msg, code)
			}
			return &apiError{Status: code, Message: msg, Fields: p.Error.Fields, Hint: authHint(code)}
		}
		return &apiError{Status: code, Message: fmt.Sprintf("%s: server answered HTTP %d without an error message", op, code), Hint: authHint(code)}
	}
	var unexpected *runtime.APIError
	if errors.As(err, &unexpected) {
		return &apiError{Status: unexpected.Code, Message: fmt.Sprintf("%s: unexpected answer from server (HTTP %d)", op, unexpected.Code), Hint: authHint(unexpected.Code)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: cannot reach the Gantry API at %s: %w", op, ue.URL, ue.Err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
