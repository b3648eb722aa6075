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
		{name: "a call carries its tick as a CloudEvent in binary mode, over the schedule's own ce- and Gantry headers",
			req: ScheduledRequest{App: "shop", Path: "/hook", Body: []byte("b"), ScheduleID: "S1", Schedule: "nightly", Tick: tick,
				Header: http.Header{"X-Kind": {"n"}, "Gantry-Call-Id": {"forged"}, "Ce-Id": {"forged"}, "Ce-Extra": {"forged"}, "Connection": {"close"}}},
			check: func(t *testing.T, c store.StepCall) {
				h := http.Header(c.Task.Header)
				want := map[string]string{"Ce-Id": "S1:2026-05-01T09:00:00Z", "Ce-Source": "/gantry/schedules/nightly", "Ce-Type": TypeScheduleTick,
					"Ce-Specversion": "1.0", "Ce-Time": "2026-05-01T09:00:00Z", "Ce-Extra": "", "X-Kind": "n", "Gantry-Call-Id": "", "Connection": ""}
				for k, v := range want {
					if h.Get(k) != v {
						t.Errorf("%s = %q, want %q (header %v)", k, h.Get(k), v, h)
					}
				}
				if c.Task.Method != http.MethodPost || c.Task.URL != "/hook" || string(c.Task.Body) != "b" || c.Task.ID != c.Execution.ID {
					t.Errorf("task = %+v", c.Task)
				}
				if c.Execution.Type != store.TypeAsync || c.Execution.App != "shop" || c.Execution.Route != "/hook" || c.Task.Parent != "" {
					t.Errorf("execution = %+v", c.Execution)
				}
			}},
		{name: "a method given is kept", req: ScheduledRequest{App: "shop", Path: "/hook", Method: http.MethodPut, ScheduleID: "S1", Schedule: "s", Tick: tick},
			check: func(t *testing.T, c store.StepCall) {
				if c.Task.Method != http.MethodPut {
					t.Errorf("method = %s, want PUT", c.Task.Method)
				}
			}},
		{name: "a path no route serves is not found", req: ScheduledRequest{App: "shop", Path: "/gone", ScheduleID: "S1", Schedule: "s", Tick: tick}, wantErr: store.ErrNotFound},
		{name: "an app made again since the schedule was written is not found", req: ScheduledRequest{App: "shop", Path: "/hook", AppID: "an-older-app", ScheduleID: "S1", Schedule: "s", Tick: tick}, wantErr: store.ErrNotFound},
		{name: "an app that does not exist is not found", req: ScheduledRequest{App: "nope", Path: "/hook", ScheduleID: "S1", Schedule: "s", Tick: tick}, wantErr: store.ErrNotFound},
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
