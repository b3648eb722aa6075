package handlers

import (
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// TestExternalRunnersGetNoCallWithSecrets: GET /v1/tasks leases to an external runner the
// calls without secrets, in line order; a call whose route (or workflow step) names
// secrets waits, untouched, for Gantry's own workers, which deliver the secret files.
func TestExternalRunnersGetNoCallWithSecrets(t *testing.T) {
	h, s := newExecutionsTestHandler(t)
	ctx := t.Context()
	enqueue := func(routeSecrets, stepSecrets []string) string {
		t.Helper()
		id := s.NewID()
		task := store.Task{ID: id, Route: store.Route{App: "a", Path: "/fn", Image: "img", Secrets: routeSecrets},
			Method: "POST", URL: "/fn", Body: []byte("in"), Secrets: stepSecrets}
		if err := s.EnqueueTask(ctx, task, store.Execution{App: "a", Route: "/fn", Type: store.TypeAsync}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	a := enqueue(nil, nil)
	b := enqueue([]string{"db"}, nil)
	c := enqueue(nil, nil)
	d := enqueue(nil, []string{"deploy-key"})

	res := do(t, h, "GET", "/v1/tasks?runner=r1&n=10&lease=60", "")
	expect(t, res, 200)
	var leased []string
	for _, task := range get(res.body, "tasks").([]any) {
		leased = append(leased, get(task, "id").(string))
	}
	if !slices.Equal(leased, []string{a, c}) {
		t.Fatalf("runner r1 leased %v, want %s then %s: never the calls with secrets", leased, a, c)
	}
	for _, id := range []string{b, d} {
		res := do(t, h, "GET", "/v1/executions/"+id, "")
		expect(t, res, 200)
		if st, n := get(res.body, "execution", "status"), get(res.body, "execution", "attempts"); st != store.StatusQueued || (n != nil && n != 0.0) {
			t.Fatalf("a call with secrets after the runner's lease: status %v, attempts %v; want QUEUED, never attempted", st, n)
		}
	}
	res = do(t, h, "GET", "/v1/tasks?runner=r2&n=10", "")
	expect(t, res, 200)
	if n := len(get(res.body, "tasks").([]any)); n != 0 {
		t.Fatalf("runner r2 leased %d calls: only calls with secrets are left", n)
	}

	// A worker of the server's own leases them, in their place, at their first attempt.
	got, err := s.LeaseTasks(ctx, 10, "gantry@node:run:0", time.Minute)
	if err != nil || len(got) != 2 || got[0].ID != b || got[1].ID != d || got[0].Attempts != 1 || got[1].Attempts != 1 {
		t.Fatalf("the server's worker leased %+v %v, want %s then %s at attempt 1", got, err, b, d)
	}
}
