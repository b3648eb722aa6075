package invoke

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func TestScheduledCall(t *testing.T) {
	tick := time.Date(2026, 5, 1, 10, 0, 0, 0, time.FixedZone("x", 3600))
	cases := []struct {
		name    string
		req     ScheduledRequest
		wantErr error
		check   func(t *testing.T, c store.StepCall)
	}{
		{name: "a call carries the schedule and its tick in UTC, the caller's own Gantry headers dropped",
			req: ScheduledRequest{App: "shop", Path: "/hook", Body: []byte("b"), Schedule: "nightly", Tick: tick,
				Header: http.Header{"X-Kind": {"n"}, "Gantry-Schedule-Tick": {"forged"}, "Connection": {"close"}}},
			check: func(t *testing.T, c store.StepCall) {
				h := http.Header(c.Task.Header)
				if h.Get(HeaderSchedule) != "nightly" || h.Get(HeaderScheduleTick) != "2026-05-01T09:00:00Z" || h.Get("X-Kind") != "n" || h.Get("Connection") != "" {
					t.Errorf("header = %v", h)
				}
				if c.Task.Method != http.MethodPost || c.Task.URL != "/hook" || string(c.Task.Body) != "b" || c.Task.ID != c.Execution.ID {
					t.Errorf("task = %+v", c.Task)
				}
				if c.Execution.Type != store.TypeAsync || c.Execution.App != "shop" || c.Execution.Route != "/hook" || c.Task.Parent != "" {
					t.Errorf("execution = %+v", c.Execution)
				}
			}},
		{name: "a method given is kept", req: ScheduledRequest{App: "shop", Path: "/hook", Method: http.MethodPut, Schedule: "s", Tick: tick},
			check: func(t *testing.T, c store.StepCall) {
				if c.Task.Method != http.MethodPut {
					t.Errorf("method = %s, want PUT", c.Task.Method)
				}
			}},
		{name: "a path no route serves is not found", req: ScheduledRequest{App: "shop", Path: "/gone", Schedule: "s", Tick: tick}, wantErr: store.ErrNotFound},
		{name: "an app that does not exist is not found", req: ScheduledRequest{App: "nope", Path: "/hook", Schedule: "s", Tick: tick}, wantErr: store.ErrNotFound},
	}
	e := newEnv(t)
	e.route("/hook", nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.svc.ScheduledCall(tc.req)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
