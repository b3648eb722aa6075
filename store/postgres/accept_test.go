package postgres

import (
	"errors"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
)

// TestConcurrentAcceptsShareCommitsAndFailAlone: accepts made at once are stored together,
// each durable when its call returns; one that cannot be stored (a duplicate ID) fails
// alone, not its batch.
func TestConcurrentAcceptsShareCommitsAndFailAlone(t *testing.T) {
	s := openTest(t, pgtest.Schema(t), "node-a")
	ctx := t.Context()
	task := func(id string) store.Task {
		return store.Task{ID: id, Route: store.Route{App: "app", Path: "/fn", Image: "img"}, Method: "POST", URL: "/fn"}
	}
	dup := s.NewID()
	if err := s.EnqueueTask(ctx, task(dup), store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = s.NewID()
		if i == n/2 {
			ids[i] = dup
		}
		wg.Go(func() {
			errs[i] = s.EnqueueTask(ctx, task(ids[i]), store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync})
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == n/2 && !errors.Is(err, store.ErrExists):
			t.Fatalf("the duplicate accept: %v, want ErrExists", err)
		case i != n/2 && err != nil:
			t.Fatalf("accept %d failed with the duplicate in its batch: %v", i, err)
		case i != n/2:
			if ex, err := s.GetExecution(ctx, ids[i]); err != nil || ex.Status != store.StatusQueued || ex.CreatedAt.IsZero() {
				t.Fatalf("accept %d: %+v %v, want a QUEUED execution", i, ex, err)
			}
		}
	}
	st, err := s.TaskStats(ctx)
	if err != nil || st.Queued != n {
		t.Fatalf("stats %+v %v, want %d queued (the first and %d others)", st, err, n, n-1)
	}
}
