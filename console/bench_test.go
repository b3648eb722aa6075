package console

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// pageBudget is the bound on the server time of the overview and executions pages
// with 10,000 executions in the store.
const pageBudget = 50 * time.Millisecond

// BenchmarkPages renders the overview and the executions list with 10,000 executions in
// the store (all recent: the worst case of the overview's window), as an admin (every
// app) and as a developer (one app of two), through the console's HTTP handler and the
// API in process, on a loopback connection: the time measured bounds the server's. It
// fails when a page takes more than pageBudget on average.
func BenchmarkPages(b *testing.B) {
	tc := newTestConsole(b, testOptions{})
	ctx := context.Background()
	statuses := []string{store.StatusSuccess, store.StatusSuccess, store.StatusSuccess, store.StatusFailed, store.StatusCancelled}
	now := time.Now().UTC()
	for _, owner := range []string{"alice", "bob"} {
		app, err := tc.store.CreateApp(ctx, store.App{Name: "shop-" + owner, Owner: owner})
		if err != nil {
			b.Fatal(err)
		}
		for i := range 5000 {
			at := now.Add(-time.Duration(5000-i) * 50 * time.Millisecond)
			tc.store.RecordExecution(store.Execution{ID: tc.store.NewID(), App: app.Name, AppID: app.ID, Route: fmt.Sprintf("/r%d", i%10),
				Type: store.TypeSync, Status: statuses[i%len(statuses)], CreatedAt: at, StartedAt: at, CompletedAt: at.Add(time.Millisecond)}, nil)
		}
	}
	if err := tc.store.FlushExecutions(ctx); err != nil {
		b.Fatal(err)
	}
	for _, page := range []string{"/ui/", "/ui/executions", "/ui/executions?status=FAILED&since=1h"} {
		for _, user := range []string{"admin", "alice"} {
			b.Run(fmt.Sprintf("%s as %s", page, user), func(b *testing.B) {
				br := tc.signedIn(user)
				start := time.Now()
				for b.Loop() {
					if p := br.get(page); p.status != http.StatusOK {
						b.Fatalf("%d\n%s", p.status, p.body)
					}
				}
				if mean := time.Since(start) / time.Duration(b.N); mean > pageBudget {
					b.Errorf("%s takes %s a request as %s, over the budget of %s", page, mean, user, pageBudget)
				}
			})
		}
	}
}
