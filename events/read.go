package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// Errors of ReadHTTP besides the store's ValidationError (400).
var (
	// ErrTooLarge: the request's body is larger than the bound (413).
	ErrTooLarge = errors.New("the event is too large")
	// ErrContentType: the request is no CloudEvent Gantry reads (415): a structured or
	// batched event in another format than JSON, or a body without ce-* headers that is
	// not application/cloudevents+json.
	ErrContentType = errors.New("unsupported content type")
)

// Content types of the CloudEvents HTTP binding's structured and batched modes (JSON format).
const (
	ContentTypeStructured = "application/cloudevents+json"
	ContentTypeBatch      = "application/cloudevents-batch+json"
	cePrefix              = "application/cloudevents"
)

// ReadHTTP reads the events of a POST /v1/events request, in one of the modes of the
// CloudEvents 1.0 HTTP binding: structured (Content-Type application/cloudevents+json, the
// whole event as JSON), batched (application/cloudevents-batch+json, a JSON array of
// structured events; batch is true) or binary (any other content type with ce-* headers:
// the attributes in ce-* headers, percent-decoded, the body the data, its type the
// Content-Type). The request's body is bound by maxBytes, whatever the mode (a batch's
// events share it): ErrTooLarge above it. Errors: a *store.ValidationError naming the
// attribute (400: "id", "source", "type", "specversion", "time", an extension's name,
// "data" for a structured event that is not valid JSON, or "body" for a body cut off,
// its client gone), ErrTooLarge (413), ErrContentType
// (415). The events' Key, Owner, Public and ReceivedAt are left for the caller and the store.
func ReadHTTP(r *http.Request, maxBytes int64) (evs []store.Event, batch bool, err error) {
	ct := r.Header.Get("Content-Type")
	mediaType := ""
	if ct != "" {
		if mediaType, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, false, fmt.Errorf("%w: %q: %v", ErrContentType, ct, err)
		}
	}
	switch {
	case mediaType == ContentTypeStructured:
		body, err := readBody(r, maxBytes)
		if err != nil {
			return nil, false, err
		}
		ev, err := readStructured(body, "")
		if err != nil {
			return nil, false, err
		}
		return []store.Event{ev}, false, nil
	case mediaType == ContentTypeBatch:
		body, err := readBody(r, maxBytes)
		if err != nil {
			return nil, true, err
		}
		evs, err := readBatch(body)
		return evs, true, err
	case strings.HasPrefix(mediaType, cePrefix):
		return nil, false, fmt.Errorf("%w: %q: Gantry reads CloudEvents in JSON only (%s, %s), or in binary mode", ErrContentType, mediaType, ContentTypeStructured, ContentTypeBatch)
	case !hasCEHeaders(r.Header):
		return nil, false, fmt.Errorf("%w: %q without ce-* headers: send %s (structured), %s (batch), or the data with the attributes as ce-* headers (binary)",
			ErrContentType, ct, ContentTypeStructured, ContentTypeBatch)
	}
	body, err := readBody(r, maxBytes)
	if err != nil {
		return nil, false, err
	}
	ev, err := readBinary(r.Header, ct, body)
	if err != nil {
		return nil, false, err
	}
	return []store.Event{ev}, false, nil
}

// readBody reads the request's body, at most maxBytes.
func readBody(r *http.Request, maxBytes int64) ([]byte, error) {
	if r.ContentLength > maxBytes {
		return nil, fmt.Errorf("%w: the body is %d bytes, more than %d", ErrTooLarge, r.ContentLength, maxBytes)
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: the body is more than %d bytes", ErrTooLarge, mbe.Limit)
		}
		// Cut off: the client went away, or sent less than it announced (400, as /r/ calls).
		return nil, &store.ValidationError{Field: "body", Message: "could not read the request body: " + err.Error()}
	}
	if int64(len(body)) > maxBytes {
		return nil, fmt.Errorf("%w: the body is more than %d bytes", ErrTooLarge, maxBytes)
	}
	return body, nil
}

func hasCEHeaders(h http.Header) bool {
	for k := range h {
		if isCEHeader(k) {
			return true
		}
	}
	return false
}

func isCEHeader(name string) bool { return len(name) > 3 && strings.EqualFold(name[:3], "ce-") }

// readBinary reads an event in binary mode: its attributes from the ce-* headers.
func readBinary(h http.Header, contentType string, body []byte) (store.Event, error) {
	ev := store.Event{DataContentType: contentType}
	if len(body) > 0 {
		ev.Data = body
	}
	for k, vs := range h {
		if !isCEHeader(k) {
			continue
		}
		name := strings.ToLower(k[3:])
		if len(vs) != 1 {
			return store.Event{}, store.Invalid(name, "the ce-%s header is sent %d times; an attribute has one value", name, len(vs))
		}
		v, err := url.PathUnescape(vs[0]) // the binding percent-encodes what HTTP headers cannot carry
		if err != nil {
			return store.Event{}, store.Invalid(name, "the ce-%s header is not validly percent-encoded: %v", name, err)
		}
		switch name {
		case "specversion":
			ev.SpecVersion = v
		case "id":
			ev.EventID = v
		case "source":
			ev.Source = v
		case "type":
			ev.Type = v
		case "subject":
			ev.Subject = v
		case "dataschema":
			ev.DataSchema = v
		case "time":
			if ev.Time, err = parseTime(v); err != nil {
				return store.Event{}, err
			}
		case "datacontenttype":
			return store.Event{}, store.Invalid(name, "in binary mode the data's type is the Content-Type header, not ce-datacontenttype")
		default:
			if err := store.ValidateExtensionName(name); err != nil {
				return store.Event{}, err
			}
			if ev.Extensions == nil {
				ev.Extensions = map[string]string{}
			}
			ev.Extensions[name] = v
		}
		if v == "" {
			return store.Event{}, store.Invalid(name, "the ce-%s header is empty; an attribute that is sent has a value", name)
		}
	}
	if err := store.ValidateEvent(ev); err != nil {
		return store.Event{}, err
	}
	return ev, nil
}

// readBatch reads a batch: a JSON array of structured events.
func readBatch(body []byte) ([]store.Event, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, store.Invalid("events", "a batch is a JSON array of events: %v", err)
	}
	evs := make([]store.Event, 0, len(raw))
	for i, r := range raw {
		ev, err := readStructured(r, fmt.Sprintf("events[%d]", i))
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// readStructured reads an event in the JSON format. at names it in a batch
// ("events[3]"), and prefixes the Field of its errors.
func readStructured(body []byte, at string) (store.Event, error) {
	field := func(name string) string {
		if at == "" {
			return name
		}
		return at + "." + name
	}
	wrap := func(err error) error {
		var ve *store.ValidationError
		if at != "" && errors.As(err, &ve) {
			return &store.ValidationError{Field: field(ve.Field), Message: ve.Message}
		}
		return err
	}
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&members); err != nil || dec.More() {
		if err == nil {
			err = errors.New("data after the event's object")
		}
		what := "the event"
		if at != "" {
			what = at
		}
		return store.Event{}, store.Invalid(field("event"), "%s is not a JSON object: %v", what, err)
	}
	if members == nil {
		return store.Event{}, store.Invalid(field("event"), "the event is null, not a JSON object")
	}
	ev := store.Event{}
	var data, data64 json.RawMessage
	for name, raw := range members {
		if string(raw) == "null" { // CloudEvents: an attribute that is null is absent
			continue
		}
		switch name {
		case "data":
			data = raw
			continue
		case "data_base64":
			data64 = raw
			continue
		}
		v, err := attributeValue(name, raw)
		if err != nil {
			return store.Event{}, wrap(err)
		}
		switch name {
		case "specversion":
			ev.SpecVersion = v
		case "id":
			ev.EventID = v
		case "source":
			ev.Source = v
		case "type":
			ev.Type = v
		case "subject":
			ev.Subject = v
		case "datacontenttype":
			ev.DataContentType = v
		case "dataschema":
			ev.DataSchema = v
		case "time":
			if ev.Time, err = parseTime(v); err != nil {
				return store.Event{}, wrap(err)
			}
		default:
			if err := store.ValidateExtensionName(name); err != nil {
				return store.Event{}, wrap(err)
			}
			if ev.Extensions == nil {
				ev.Extensions = map[string]string{}
			}
			ev.Extensions[name] = v
		}
		if v == "" {
			return store.Event{}, wrap(store.Invalid(name, "the event's %s is empty; an attribute that is sent has a value", name))
		}
	}
	if err := store.ValidateEvent(ev); err != nil {
		return store.Event{}, wrap(err)
	}
	switch {
	case data != nil && data64 != nil:
		return store.Event{}, wrap(store.Invalid("data_base64", "an event has data or data_base64, not both"))
	case data64 != nil:
		var s string
		if err := json.Unmarshal(data64, &s); err != nil {
			return store.Event{}, wrap(store.Invalid("data_base64", "data_base64 is a string of base64"))
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return store.Event{}, wrap(store.Invalid("data_base64", "data_base64 is not valid base64: %v", err))
		}
		ev.Data = b
	case data != nil:
		if ev.DataContentType == "" { // the JSON format: data without a type is JSON
			ev.DataContentType = "application/json"
		}
		ev.Data = structuredData(data, ev.DataContentType)
	}
	return ev, nil
}

// structuredData is the data of a structured event: JSON text when its type is JSON,
// else a string's own bytes (a JSON string carries text data), else the JSON as sent.
func structuredData(raw json.RawMessage, contentType string) []byte {
	if IsJSON(contentType) {
		return bytes.Clone(raw)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	return bytes.Clone(raw)
}

// IsJSON reports whether a data content type is JSON (application/json, or a type with
// the +json suffix); "" is not.
func IsJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// attributeValue is an attribute's value as a string: a JSON string, or for an extension
// an integer or a boolean in its canonical string form (CloudEvents' extension types).
func attributeValue(name string, raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	if !coreAttribute(name) {
		var b bool
		if json.Unmarshal(raw, &b) == nil {
			return strconv.FormatBool(b), nil
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			if i, err := n.Int64(); err == nil && i >= -1<<31 && i < 1<<31 {
				return strconv.FormatInt(i, 10), nil
			}
			return "", store.Invalid(name, "an extension's number is a 32-bit integer (CloudEvents), not %s", n)
		}
		return "", store.Invalid(name, "an extension's value is a string, an integer or a boolean, not %s", jsonKind(raw))
	}
	return "", store.Invalid(name, "the event's %s is a string, not %s", name, jsonKind(raw))
}

func coreAttribute(name string) bool {
	switch name {
	case "id", "source", "type", "specversion", "subject", "time", "datacontenttype", "dataschema":
		return true
	}
	return false
}

func jsonKind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// parseTime reads the time attribute: an RFC 3339 timestamp, kept in UTC.
func parseTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, store.Invalid("time", "time is an RFC 3339 timestamp (2026-01-02T15:04:05Z), not %q", v)
	}
	return t.UTC(), nil
}
