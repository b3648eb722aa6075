package main

// This file holds the JSON body of `gantry apis create` and `gantry apis update`:
// checked against the spec, re-encoded without null members.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	oaerrors "github.com/go-openapi/errors"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/client/apis"
	"github.com/gantry-dev/gantry/gen/models"
)

// sendJSONBody checks body against the spec and returns a client option
// that sends it as JSON without its null members. The generated API model
// has no omitempty on its lists, so the generated client would send
// "hosts":null for every list not given, and "tls":{"dns_names":null} for
// --no-tls; the server reads null as absent, but a PATCH body should carry
// exactly the fields the user gave.
func sendJSONBody(body *models.APIWrapper) (apis.ClientOption, error) {
	if err := body.Validate(strfmt.Default); err != nil {
		return nil, fmt.Errorf("invalid API: %s", strings.Join(validationMessages(err), "; "))
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode API: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep numbers exactly as encoded
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("encode API: %w", err)
	}
	if b, err = json.Marshal(dropNulls(v)); err != nil {
		return nil, fmt.Errorf("encode API: %w", err)
	}
	raw := json.RawMessage(b)
	return func(op *runtime.ClientOperation) {
		params := op.Params
		op.Params = runtime.ClientRequestWriterFunc(func(r runtime.ClientRequest, reg strfmt.Registry) error {
			if err := params.WriteToRequest(r, reg); err != nil {
				return err
			}
			return r.SetBodyParam(raw)
		})
	}, nil
}

// validationMessages lists the messages of a go-openapi validation error,
// which may be a composite of several, each on its own.
func validationMessages(err error) []string {
	var ce *oaerrors.CompositeError
	if !errors.As(err, &ce) {
		return []string{err.Error()}
	}
	var msgs []string
	for _, e := range ce.Errors {
		msgs = append(msgs, validationMessages(e)...)
	}
	if len(msgs) == 0 {
		msgs = append(msgs, ce.Error())
	}
	return msgs
}

// dropNulls removes the null members of the JSON objects in v, at any depth.
func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			t[k] = dropNulls(e)
		}
	case []any:
		for i, e := range t {
			t[i] = dropNulls(e)
		}
	}
	return v
}
