package events

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func request(contentType string, header map[string]string, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

func TestReadHTTPAcceptsEveryMode(t *testing.T) {
	when := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	tests := []struct {
		name  string
		req   *http.Request
		batch bool
		want  []store.Event
	}{
		{
			name: "a structured event with JSON data keeps the data as JSON text",
			req: request("application/cloudevents+json; charset=utf-8", nil,
				`{"specversion":"1.0","id":"e1","source":"/shop","type":"com.example.order","subject":"o/1","time":"2026-03-01T12:30:00Z","datacontenttype":"application/json","data":{"n":1},"tenant":"acme","count":3,"flag":true}`),
			want: []store.Event{{EventID: "e1", Source: "/shop", Type: "com.example.order", SpecVersion: "1.0", Subject: "o/1", Time: when,
				DataContentType: "application/json", Data: []byte(`{"n":1}`), Extensions: map[string]string{"tenant": "acme", "count": "3", "flag": "true"}}},
		},
		{
			name: "a structured event with data and no datacontenttype is JSON",
			req:  request("application/cloudevents+json", nil, `{"specversion":"1.0","id":"e1","source":"/s","type":"t","data":[1,2]}`),
			want: []store.Event{{EventID: "e1", Source: "/s", Type: "t", SpecVersion: "1.0", DataContentType: "application/json", Data: []byte(`[1,2]`)}},
		},
		{
			name: "a structured event with text data takes the string's bytes",
			req:  request("application/cloudevents+json", nil, `{"specversion":"1.0","id":"e1","source":"/s","type":"t","datacontenttype":"text/plain","data":"hello"}`),
			want: []store.Event{{EventID: "e1", Source: "/s", Type: "t", SpecVersion: "1.0", DataContentType: "text/plain", Data: []byte("hello")}},
		},
		{
			name: "a structured event with data_base64 takes the decoded bytes",
			req:  request("application/cloudevents+json", nil, `{"specversion":"1.0","id":"e1","source":"/s","type":"t","datacontenttype":"application/octet-stream","data_base64":"AAEC"}`),
			want: []store.Event{{EventID: "e1", Source: "/s", Type: "t", SpecVersion: "1.0", DataContentType: "application/octet-stream", Data: []byte{0, 1, 2}}},
		},
		{
			name: "a null attribute is absent",
			req:  request("application/cloudevents+json", nil, `{"specversion":"1.0","id":"e1","source":"/s","type":"t","subject":null}`),
			want: []store.Event{{EventID: "e1", Source: "/s", Type: "t", SpecVersion: "1.0"}},
		},
		{
			name: "a binary event takes its attributes from ce-* headers and its data from the body",
			req: request("application/json", map[string]string{"ce-specversion": "1.0", "ce-id": "b1", "ce-source": "/shop", "ce-type": "com.example.order",
				"ce-subject": "o%2F1 %C3%A9", "ce-time": "2026-03-01T13:30:00+01:00", "ce-tenant": "acme"}, `{"n":2}`),
			want: []store.Event{{EventID: "b1", Source: "/shop", Type: "com.example.order", SpecVersion: "1.0", Subject: "o/1 é", Time: when,
				DataContentType: "application/json", Data: []byte(`{"n":2}`), Extensions: map[string]string{"tenant": "acme"}}},
		},
		{
			name: "a binary event may have no body",
			req:  request("", map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "b1", "Ce-Source": "/s", "Ce-Type": "t"}, ""),
			want: []store.Event{{EventID: "b1", Source: "/s", Type: "t", SpecVersion: "1.0"}},
		},
		{
			name:  "a batch holds several structured events",
			req:   request("application/cloudevents-batch+json", nil, `[{"specversion":"1.0","id":"1","source":"/s","type":"t"},{"specversion":"1.0","id":"2","source":"/s","type":"u","data":"x"}]`),
			batch: true,
			want: []store.Event{{EventID: "1", Source: "/s", Type: "t", SpecVersion: "1.0"},
				{EventID: "2", Source: "/s", Type: "u", SpecVersion: "1.0", DataContentType: "application/json", Data: []byte(`"x"`)}},
		},
		{
			name:  "an empty batch holds no event",
			req:   request("application/cloudevents-batch+json", nil, `[]`),
			batch: true,
			want:  []store.Event{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, batch, err := ReadHTTP(tt.req, 1<<20)
			if err != nil {
				t.Fatalf("ReadHTTP: %v", err)
			}
			if batch != tt.batch {
				t.Errorf("batch = %v, want %v", batch, tt.batch)
			}
			if len(evs) != len(tt.want) {
				t.Fatalf("got %d events, want %d: %+v", len(evs), len(tt.want), evs)
			}
			for i := range evs {
				assertEvent(t, evs[i], tt.want[i])
			}
		})
	}
}

func assertEvent(t *testing.T, got, want store.Event) {
	t.Helper()
	if got.EventID != want.EventID || got.Source != want.Source || got.Type != want.Type || got.SpecVersion != want.SpecVersion ||
		got.Subject != want.Subject || !got.Time.Equal(want.Time) || got.DataContentType != want.DataContentType || got.DataSchema != want.DataSchema ||
		string(got.Data) != string(want.Data) {
		t.Errorf("event = %+v (data %q), want %+v (data %q)", got, got.Data, want, want.Data)
	}
	if len(got.Extensions) != len(want.Extensions) {
		t.Errorf("extensions = %v, want %v", got.Extensions, want.Extensions)
	}
	for k, v := range want.Extensions {
		if got.Extensions[k] != v {
			t.Errorf("extension %s = %q, want %q", k, got.Extensions[k], v)
		}
	}
}

func TestReadHTTPRefusesMalformedEvents(t *testing.T) {
	const ok = `"specversion":"1.0","id":"e1","source":"/s","type":"t"`
	structured := func(body string) *http.Request { return request(ContentTypeStructured, nil, body) }
	binary := func(h map[string]string) *http.Request {
		all := map[string]string{"ce-specversion": "1.0", "ce-id": "b1", "ce-source": "/s", "ce-type": "t"}
		for k, v := range h {
			if v == "-" {
				delete(all, k)
				continue
			}
			all[k] = v
		}
		return request("text/plain", all, "data")
	}
	tests := []struct {
		name  string
		req   *http.Request
		max   int64
		field string // the ValidationError's Field; "" for another error
		is    error
	}{
		{name: "a structured event without id names id", req: structured(`{"specversion":"1.0","source":"/s","type":"t"}`), field: "id"},
		{name: "a structured event without source names source", req: structured(`{"specversion":"1.0","id":"e1","type":"t"}`), field: "source"},
		{name: "a structured event without type names type", req: structured(`{"specversion":"1.0","id":"e1","source":"/s"}`), field: "type"},
		{name: "a structured event without specversion names specversion", req: structured(`{"id":"e1","source":"/s","type":"t"}`), field: "specversion"},
		{name: "specversion 0.3 is refused", req: structured(`{"specversion":"0.3","id":"e1","source":"/s","type":"t"}`), field: "specversion"},
		{name: "specversion 2.0 is refused", req: structured(`{"specversion":"2.0","id":"e1","source":"/s","type":"t"}`), field: "specversion"},
		{name: "an empty id is refused", req: structured(`{"specversion":"1.0","id":"","source":"/s","type":"t"}`), field: "id"},
		{name: "an empty subject is refused", req: structured(`{` + ok + `,"subject":""}`), field: "subject"},
		{name: "an id that is a number is refused", req: structured(`{"specversion":"1.0","id":7,"source":"/s","type":"t"}`), field: "id"},
		{name: "a time that is not RFC 3339 is refused", req: structured(`{` + ok + `,"time":"yesterday"}`), field: "time"},
		{name: "a time without a zone is refused", req: structured(`{` + ok + `,"time":"2026-03-01T12:30:00"}`), field: "time"},
		{name: "an extension with capitals is refused", req: structured(`{` + ok + `,"Tenant":"a"}`), field: "Tenant"},
		{name: "an extension with an underscore is refused", req: structured(`{` + ok + `,"my_ext":"a"}`), field: "my_ext"},
		{name: "an extension longer than 20 characters is refused", req: structured(`{` + ok + `,"abcdefghijklmnopqrstu":"a"}`), field: "abcdefghijklmnopqrstu"},
		{name: "an extension that is an object is refused", req: structured(`{` + ok + `,"ext":{"a":1}}`), field: "ext"},
		{name: "an extension that is not an integer is refused", req: structured(`{` + ok + `,"ext":1.5}`), field: "ext"},
		{name: "an attribute longer than its bound is refused", req: structured(`{"specversion":"1.0","id":"` + strings.Repeat("x", store.MaxEventAttr+1) + `","source":"/s","type":"t"}`), field: "id"},
		{name: "data and data_base64 together are refused", req: structured(`{` + ok + `,"data":1,"data_base64":"AA=="}`), field: "data_base64"},
		{name: "data_base64 that is not base64 is refused", req: structured(`{` + ok + `,"data_base64":"***"}`), field: "data_base64"},
		{name: "data_base64 that is not a string is refused", req: structured(`{` + ok + `,"data_base64":12}`), field: "data_base64"},
		{name: "bad JSON is refused", req: structured(`{"specversion":"1.0",`), field: "event"},
		{name: "a JSON array as a structured event is refused", req: structured(`[{` + ok + `}]`), field: "event"},
		{name: "data after the event's object is refused", req: structured(`{` + ok + `} {}`), field: "event"},
		{name: "null as a structured event is refused", req: structured(`null`), field: "event"},
		{name: "a batch that is not an array is refused", req: request(ContentTypeBatch, nil, `{`+ok+`}`), field: "events"},
		{name: "a batch names the event that lacks an attribute", req: request(ContentTypeBatch, nil, `[{`+ok+`},{"specversion":"1.0","id":"2","type":"t"}]`), field: "events[1].source"},
		{name: "a batch names the event that is not an object", req: request(ContentTypeBatch, nil, `[{`+ok+`},7]`), field: "events[1].event"},
		{name: "a binary event without ce-id names id", req: binary(map[string]string{"ce-id": "-"}), field: "id"},
		{name: "a binary event without ce-source names source", req: binary(map[string]string{"ce-source": "-"}), field: "source"},
		{name: "a binary event without ce-type names type", req: binary(map[string]string{"ce-type": "-"}), field: "type"},
		{name: "a binary event without ce-specversion names specversion", req: binary(map[string]string{"ce-specversion": "-"}), field: "specversion"},
		{name: "a binary event of specversion 0.3 is refused", req: binary(map[string]string{"ce-specversion": "0.3"}), field: "specversion"},
		{name: "a binary event with a bad ce-time is refused", req: binary(map[string]string{"ce-time": "noon"}), field: "time"},
		{name: "a binary event with an empty attribute is refused", req: binary(map[string]string{"ce-subject": ""}), field: "subject"},
		{name: "a binary event with ce-datacontenttype is refused", req: binary(map[string]string{"ce-datacontenttype": "text/plain"}), field: "datacontenttype"},
		{name: "a binary event with a badly encoded header is refused", req: binary(map[string]string{"ce-subject": "a%zz"}), field: "subject"},
		{name: "a binary extension with an underscore is refused", req: binary(map[string]string{"ce-my_ext": "a"}), field: "my_ext"},
		{name: "a binary extension longer than 20 characters is refused", req: binary(map[string]string{"ce-abcdefghijklmnopqrstu": "a"}), field: "abcdefghijklmnopqrstu"},
		{name: "a structured event over the bound is too large", req: structured(`{` + ok + `,"data":"` + strings.Repeat("x", 200) + `"}`), max: 100, is: ErrTooLarge},
		{name: "a batch over the bound is too large", req: request(ContentTypeBatch, nil, `[{`+ok+`},{`+ok+`}]`), max: 100, is: ErrTooLarge},
		{name: "a binary event over the bound is too large", req: request("text/plain", map[string]string{"ce-specversion": "1.0", "ce-id": "b", "ce-source": "/s", "ce-type": "t"}, strings.Repeat("x", 101)), max: 100, is: ErrTooLarge},
		{name: "JSON without ce-* headers is the wrong content type", req: request("application/json", nil, `{`+ok+`}`), is: ErrContentType},
		{name: "a body without content type nor ce-* headers is the wrong content type", req: request("", nil, `{`+ok+`}`), is: ErrContentType},
		{name: "a structured event in another format is the wrong content type", req: request("application/cloudevents+xml", nil, `<event/>`), is: ErrContentType},
		{name: "a content type that does not parse is the wrong content type", req: request("application/cloudevents+json; =", nil, `{`+ok+`}`), is: ErrContentType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.max
			if limit == 0 {
				limit = 1 << 20
			}
			evs, _, err := ReadHTTP(tt.req, limit)
			if err == nil {
				t.Fatalf("ReadHTTP accepted it: %+v", evs)
			}
			if tt.field != "" {
				var ve *store.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("err = %v (%T), want a ValidationError of %q", err, err, tt.field)
				}
				if ve.Field != tt.field {
					t.Errorf("Field = %q (%v), want %q", ve.Field, err, tt.field)
				}
				return
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
		})
	}
}
