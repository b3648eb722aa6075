package runner

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCallEnvGivesCloudEventsAttributesAsCEVariables: a default-format call's ce-*
// headers (an event delivered in binary mode) reach the function as CE_<NAME>,
// percent-decoded, besides FN_HEADER_CE_<NAME>; other headers make no CE_ variable.
func TestCallEnvGivesCloudEventsAttributesAsCEVariables(t *testing.T) {
	c := &Call{ID: "call-1", Method: "POST", URL: "/on", Deadline: time.Now(), Function: Function{App: "a", Path: "/on", Format: FormatDefault},
		Header: http.Header{"Ce-Id": {"e-1"}, "Ce-Source": {"/shop"}, "Ce-Type": {"com.example.order"}, "Ce-Specversion": {"1.0"},
			"Ce-Subject": {"orders/1%20%C3%A9"}, "Ce-Time": {"2026-03-01T12:00:00Z"}, "Ce-Tenant": {"acme"}, "Ce-Bad": {"100%"},
			"Content-Type": {"application/json"}, "Cert": {"not an attribute"}}}
	env := callEnv(c)
	want := map[string]string{"CE_ID": "e-1", "CE_SOURCE": "/shop", "CE_TYPE": "com.example.order", "CE_SPECVERSION": "1.0",
		"CE_SUBJECT": "orders/1 é", "CE_TIME": "2026-03-01T12:00:00Z", "CE_TENANT": "acme", "CE_BAD": "100%",
		"FN_HEADER_CE_SUBJECT": "orders/1%20%C3%A9", "FN_HEADER_CONTENT_TYPE": "application/json"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for k := range env {
		if strings.HasPrefix(k, "CE_") && want[k] == "" {
			t.Errorf("unexpected %s=%q", k, env[k])
		}
	}
}

func TestCheckCallEnvCountsTheCEVariables(t *testing.T) {
	// Headers that fit as FN_HEADER_ and HEADER_ variables alone, but not with their CE_
	// copies.
	v := strings.Repeat("x", MaxHeaderEnvBytes/4-100)
	h := http.Header{"Ce-Data1": {v}}
	if err := CheckCallEnv("/", nil, h); err != nil {
		t.Fatalf("one ce- header of %d bytes: %v", len(v), err)
	}
	h.Set("Ce-Data2", v)
	if err := CheckCallEnv("/", nil, h); !errors.Is(err, ErrHeadersTooLarge) {
		t.Fatalf("two ce- headers of %d bytes with their CE_ copies: %v, want ErrHeadersTooLarge", len(v), err)
	}
	h2 := http.Header{"X-Data1": {v}, "X-Data2": {v}}
	if err := CheckCallEnv("/", nil, h2); err != nil {
		t.Fatalf("two other headers of %d bytes: %v", len(v), err)
	}
}

// TestCallEnvKeepsTheConfigOverCEHeaders: a CE_<NAME> that the app's or route's config
// sets is the config's, whatever a ce-* header says; the others come from the headers.
func TestCallEnvKeepsTheConfigOverCEHeaders(t *testing.T) {
	tests := []struct {
		name   string
		config []map[string]string
		want   map[string]string
	}{
		{name: "the app's config wins", config: []map[string]string{{"CE_TYPE": "app"}}, want: map[string]string{"CE_TYPE": "app", "CE_ID": "e-1"}},
		{name: "the route's config wins over the app's and the header", config: []map[string]string{{"CE_TYPE": "app"}, {"CE_TYPE": "route"}},
			want: map[string]string{"CE_TYPE": "route", "CE_ID": "e-1"}},
		{name: "without config the headers give them", want: map[string]string{"CE_TYPE": "com.example.order", "CE_ID": "e-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Call{ID: "call-1", Method: "POST", URL: "/on", Deadline: time.Now(),
				Function: Function{App: "a", Path: "/on", Format: FormatDefault, Env: tt.config},
				Header:   http.Header{"Ce-Id": {"e-1"}, "Ce-Type": {"com.example.order"}}}
			env := callEnv(c)
			for k, v := range tt.want {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
		})
	}
}
