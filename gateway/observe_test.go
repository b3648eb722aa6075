package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/gantry-dev/gantry/store"
)

func TestFunctionOwner(t *testing.T) {
	e := newEnv(t, nil)
	e.create(
		newAPI("foreign", func(a *store.API) { a.Hosts, a.App = []string{"foreign.test"}, "other" }), // bob's app
		newAPI("ghost", func(a *store.API) { a.Hosts, a.App = []string{"ghost.test"}, "ghost" }),
		newAPI("orphan", func(a *store.API) { a.Hosts, a.Owner, a.App = []string{"orphan.test"}, "", "legacy" }),
		newAPI("own", func(a *store.API) { a.Hosts = []string{"own.test"} }),
	)
	before := e.calls.count()
	for _, host := range []string{"foreign.test", "ghost.test", "orphan.test"} {
		if got := e.do("GET", "http://"+host+"/", nil); got.status != http.StatusBadGateway || got.body != ErrFunctionMissing.Error() {
			t.Errorf("%s = %d %q, want 502 %q", host, got.status, got.body, ErrFunctionMissing)
		}
	}
	if e.calls.count() != before {
		t.Fatal("a function of another owner ran")
	}
	wantCall(t, e.do("GET", "http://own.test/", nil))
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	e.create(
		newAPI("shop", func(a *store.API) { a.Hosts = []string{"shop.test"} }),
		newAPI("ghost", func(a *store.API) { a.Hosts, a.App = []string{"ghost.test"}, "ghost" }),
	)
	for range 3 {
		e.do("GET", "http://shop.test/", nil)
	}
	e.do("GET", "http://ghost.test/", nil)
	e.do("GET", "http://nowhere.test/", nil)
	for _, tt := range []struct {
		api, code string
		want      float64
	}{{"shop", "200", 3}, {"ghost", "502", 1}, {"", "404", 1}, {"shop", "404", 0}} {
		if got := counterValue(t, e.reg, tt.api, tt.code); got != tt.want {
			t.Errorf("requests{api=%q,code=%s} = %v, want %v", tt.api, tt.code, got, tt.want)
		}
	}
	if n := histogramCount(t, e.reg, "shop"); n != 3 {
		t.Errorf("duration samples of shop = %d, want 3", n)
	}
	// A deleted API's series go away.
	if err := e.db.DeleteAPI(t.Context(), "ghost", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.g.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e.g.metrics.requests); n != 2 { // shop 200, "" 404
		t.Errorf("%d request series after deleting ghost, want 2", n)
	}
	if series(t, e.reg, "gantry_gateway_request_duration_seconds", "ghost") != nil {
		t.Error("the deleted API's duration series is still there")
	}
}

// series returns the series of a metric family in reg whose labels are labels (in order).
func series(t *testing.T, reg *prometheus.Registry, family string, labels ...string) *dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for i, l := range m.GetLabel() {
				if l.GetValue() != labels[i] { //nolint:gosec // G602: the lengths are equal (checked above)
					continue metrics
				}
			}
			return m
		}
	}
	return nil
}

// counterValue reads the request counter of api and code (0 when it has no series).
func counterValue(t *testing.T, reg *prometheus.Registry, api, code string) float64 {
	t.Helper()
	return series(t, reg, "gantry_gateway_requests_total", api, code).GetCounter().GetValue()
}

// histogramCount is the sample count of the duration histogram of api.
func histogramCount(t *testing.T, reg *prometheus.Registry, api string) uint64 {
	t.Helper()
	return series(t, reg, "gantry_gateway_request_duration_seconds", api).GetHistogram().GetSampleCount()
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(e *env, o *Options) { o.Registerer = reg })
	e.create(newAPI("shop", nil))
	e.do("GET", "http://x.test/", nil)
	// requests{api="",code="404"}, and durations of "" and of shop (made with the table).
	if n, err := testutil.GatherAndCount(reg, "gantry_gateway_requests_total", "gantry_gateway_request_duration_seconds"); err != nil || n != 3 {
		t.Errorf("gathered %d series (%v), want 3", n, err)
	}
	// A second gateway on the same registry is refused.
	if _, err := New(context.Background(), Options{Store: e.db, Calls: e.calls, Registerer: reg}); err == nil {
		t.Error("two gateways registered the same metrics")
	}
}

func TestAccessLog(t *testing.T) {
	e := newEnv(t, nil)
	e.create(newAPI("members", func(a *store.API) {
		a.Hosts, a.Auth = []string{"members.test"}, store.APIAuthBasic
		a.BasicUsers = []store.BasicUser{basicUser(t, "ada", "pw")}
	}))
	e.do("POST", "http://Members.Test:81/orders?secret=1", basicAuth("ada", "pw"))
	e.do("GET", "http://nowhere.test/x", nil)
	lines := e.access.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d access log lines, want 2", len(lines))
	}
	want := map[string]any{
		"msg": "gateway request", "api": "members", "method": "POST", "host": "members.test", "path": "/orders",
		"status": 200.0, "client": "127.0.0.1", "user": "ada", "call_id": "call-1",
	}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, lines[0][k], v, lines[0])
		}
	}
	if ms, ok := lines[0]["duration_ms"].(float64); !ok || ms <= 0 || ms > 10000 {
		t.Errorf("duration_ms = %v, want milliseconds", lines[0]["duration_ms"])
	}
	if lines[1]["api"] != "" || lines[1]["status"] != 404.0 || lines[1]["call_id"] != "" || lines[1]["user"] != "" {
		t.Errorf("line of an unmatched request = %v", lines[1])
	}
}

// TestProblemsLoggedOnce: an API's problem is logged when a build finds it first, not again
// at every rebuild; once fixed and broken again, it is logged again.
func TestProblemsLoggedOnce(t *testing.T) {
	logs := &syncBuffer{}
	e := newEnv(t, func(e *env, o *Options) { o.Log = slog.New(slog.NewJSONHandler(logs, nil)) })
	e.create(newAPI("sso", func(a *store.API) { a.Auth = store.APIAuthOIDC })) // no issuer anywhere
	count := func() int {
		n := 0
		for _, l := range logs.lines(t) {
			if strings.Contains(l["msg"].(string), "API not served") && l["api"] == "sso" {
				n++
			}
		}
		return n
	}
	setAuth := func(auth string) {
		t.Helper()
		if _, err := e.db.UpdateAPI(t.Context(), "sso", func(a *store.API) error { a.Auth = auth; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := e.g.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := e.g.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("the problem was logged %d times in 4 builds, want 1", n)
	}
	setAuth(store.APIAuthPublic)
	setAuth(store.APIAuthOIDC)
	if n := count(); n != 2 {
		t.Errorf("a problem that came back was logged %d times in all, want 2", n)
	}
}
