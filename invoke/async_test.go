package invoke

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// TestSyncOrAsync: a call runs as its caller's Gantry-Invoke-Type says (any case), else as
// its route's type says; another value is a 400 naming the header.
func TestSyncOrAsync(t *testing.T) {
	tests := []struct {
		name      string
		routeType string
		header    string
		wantAsync bool
		wantErr   bool
	}{
		{"a sync route runs at once", store.TypeSync, "", false, false},
		{"an async route is queued", store.TypeAsync, "", true, false},
		{"async asked of a sync route is queued", store.TypeSync, "async", true, false},
		{"sync asked of an async route runs at once", store.TypeAsync, "sync", false, false},
		{"the header's value is read in any case", store.TypeSync, "ASYNC", true, false},
		{"another value is refused", store.TypeSync, "later", false, true},
		{"another value is refused on an async route too", store.TypeAsync, "both", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.route("/fn", func(r *store.Route) { r.Type = tt.routeType })
			header := http.Header{}
			if tt.header != "" {
				header.Set(HeaderInvokeType, tt.header)
			}
			resp, err := e.call("POST", "/fn", header, "in")
			var verr *store.ValidationError
			if tt.wantErr {
				if !errors.As(err, &verr) || verr.Field != HeaderInvokeType {
					t.Fatalf("call: %v, want a validation error of %s", err, HeaderInvokeType)
				}
				if len(e.executions()) != 0 || len(e.fr.ran()) != 0 {
					t.Fatal("a refused call ran or was recorded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ex := e.execution(resp.CallID)
			if tt.wantAsync {
				if !resp.Accepted || ex.Status != store.StatusQueued || ex.Type != store.TypeAsync || len(e.fr.ran()) != 0 {
					t.Fatalf("accepted=%v execution %s %s, %d runs; want QUEUED async, not run", resp.Accepted, ex.Status, ex.Type, len(e.fr.ran()))
				}
				tasks, err := e.db.LeaseTasks(t.Context(), 10, "test", time.Minute)
				if err != nil || len(tasks) != 1 || tasks[0].ID != resp.CallID || string(tasks[0].Body) != "in" || tasks[0].Method != "POST" {
					t.Fatalf("queue: %v %+v, want the call", err, tasks)
				}
				return
			}
			if resp.Accepted || ex.Status != store.StatusSuccess || ex.Type != store.TypeSync || len(e.fr.ran()) != 1 {
				t.Fatalf("accepted=%v execution %s %s, %d runs; want a sync SUCCESS", resp.Accepted, ex.Status, ex.Type, len(e.fr.ran()))
			}
		})
	}
}

// TestPriority: Gantry-Priority sets an async call's place in the queue, 0 (the default,
// first) to 9; another value is a 400 naming the header.
func TestPriority(t *testing.T) {
	for _, tt := range []struct {
		name   string
		value  string
		want   uint8
		wantOK bool
	}{
		{"no priority is 0", "", 0, true},
		{"a digit is the priority", "7", 7, true},
		{"9 is the last", "9", 9, true},
		{"two digits are refused", "10", 0, false},
		{"a negative number is refused", "-1", 0, false},
		{"a word is refused", "high", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
			header := http.Header{}
			if tt.value != "" {
				header.Set(HeaderPriority, tt.value)
			}
			resp, err := e.call("POST", "/fn", header, "")
			var verr *store.ValidationError
			if !tt.wantOK {
				if !errors.As(err, &verr) || verr.Field != HeaderPriority || resp != nil || len(e.executions()) != 0 {
					t.Fatalf("call: %v %+v, want a validation error of %s and nothing queued", err, resp, HeaderPriority)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tasks, err := e.db.LeaseTasks(t.Context(), 1, "test", time.Minute)
			if err != nil || len(tasks) != 1 || tasks[0].Priority != tt.want {
				t.Fatalf("queued %+v %v, want priority %d", tasks, err, tt.want)
			}
		})
	}
	t.Run("a call of a lower value runs first", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
		late, err := e.call("POST", "/fn", http.Header{HeaderPriority: {"5"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		first, err := e.call("POST", "/fn", http.Header{HeaderPriority: {"1"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		tasks, err := e.db.LeaseTasks(t.Context(), 2, "test", time.Minute)
		if err != nil || len(tasks) != 2 || tasks[0].ID != first.CallID || tasks[1].ID != late.CallID {
			t.Fatalf("leased %v %v, want %s then %s", tasks, err, first.CallID, late.CallID)
		}
	})
}

// TestAnAcceptedCallKeepsTheHeadersMeantForTheFunction: the queue keeps a call's headers
// less those meant for Gantry or for one connection, and the route's type in FN_TYPE.
func TestAnAcceptedCallKeepsTheHeadersMeantForTheFunction(t *testing.T) {
	e := newEnv(t)
	e.route("/fn", func(r *store.Route) { r.Type = store.TypeAsync })
	header := http.Header{"X-Mine": {"1"}, "Connection": {"close"}, "Keep-Alive": {"5"}, HeaderPriority: {"3"}, "Gantry-Deadline": {"x"}}
	resp, err := e.call("POST", "/fn", header, "")
	if err != nil {
		t.Fatal(err)
	}
	if resp.CallID == "" || resp.Route.Path != "/fn" || resp.Result == nil {
		t.Fatalf("receipt %+v", resp)
	}
	tasks, err := e.db.LeaseTasks(t.Context(), 1, "test", time.Minute)
	if err != nil || len(tasks) != 1 {
		t.Fatal(tasks, err)
	}
	if h := http.Header(tasks[0].Header); len(h) != 1 || h.Get("X-Mine") != "1" {
		t.Fatalf("queued header %v, want X-Mine only", h)
	}
	if header.Get("Connection") != "close" || header.Get(HeaderPriority) != "3" {
		t.Fatal("the caller's header was changed")
	}
	select {
	case <-e.svc.wake:
	default:
		t.Fatal("an accepted call woke no worker")
	}
}
