package bolt

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/storetest"
)

// Route lookup is on the path of every function call. MatchRoute must cost the same
// with 10 or 10,000 routes in the app (no scan); GetRoute is one bbolt read.
func BenchmarkRouteLookup(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10, 10000} {
		s := openTest(b, b.TempDir())
		mustApp(b, s, "app")
		for i := range n {
			if _, err := s.CreateRoute(ctx, store.Route{App: "app", Path: fmt.Sprintf("/svc%d/users/:id", i), Image: "img"}, nil); err != nil {
				b.Fatal(err)
			}
		}
		target := fmt.Sprintf("/svc%d/users/42", n/2)
		b.Run(fmt.Sprintf("MatchRoute/routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.MatchRoute("app", target); err != nil {
					b.Fatal(err)
				}
			}
		})
		exact := fmt.Sprintf("/svc%d/users/:id", n/2)
		b.Run(fmt.Sprintf("GetRoute/routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.GetRoute(ctx, "app", exact); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Creates are durable: each one is a bbolt transaction with fsync, as in production.
func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.Run("App", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, err := s.CreateApp(ctx, store.App{Name: fmt.Sprintf("app-%d", i)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	mustApp(b, s, "routes")
	b.Run("Route", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, err := s.CreateRoute(ctx, store.Route{App: "routes", Path: fmt.Sprintf("/r%d", i), Image: "img"}, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMatchRouteScaling times a lookup in an app of 10 routes and one of 10,000,
// interleaved in the same run, and fails if the larger app is more than 3x slower:
// a lookup that scanned the app's routes would be about 1000x slower.
func BenchmarkMatchRouteScaling(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, b.TempDir())
	for _, app := range []struct {
		name string
		n    int
	}{{"small", 10}, {"large", 10000}} {
		mustApp(b, s, app.name)
		for i := range app.n {
			if _, err := s.CreateRoute(ctx, store.Route{App: app.name, Path: fmt.Sprintf("/svc%d/users/:id", i), Image: "img"}, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	var small, large time.Duration
	for b.Loop() {
		t0 := time.Now()
		_, _, err1 := s.MatchRoute("small", "/svc5/users/42")
		t1 := time.Now()
		_, _, err2 := s.MatchRoute("large", "/svc5000/users/42")
		large += time.Since(t1)
		small += t1.Sub(t0)
		if err1 != nil || err2 != nil {
			b.Fatal(err1, err2)
		}
	}
	ratio := float64(large) / float64(small)
	b.ReportMetric(ratio, "large/small")
	if ratio > 3 {
		b.Fatalf("lookup among 10,000 routes is %.1fx slower than among 10: MatchRoute scans", ratio)
	}
}

// RecordExecution is on the path of every call. Each op is one call's two records
// (RUNNING, then SUCCESS with a log) on a durable store (fsync on commit), from many
// goroutines. "Queued" is RecordExecution as the runner uses it: the writer commits
// batches in the background, and the flush at the end is timed too, so ns/op is the
// sustained throughput. "FlushEachCall" waits for the commit after every call, which is
// what the hot path would cost without the queue.
func BenchmarkRecordExecution(b *testing.B) {
	ctx := context.Background()
	log := []byte(strings.Repeat("a line of the function's stderr\n", 8))
	for _, mode := range []string{"Queued", "FlushEachCall"} {
		b.Run(mode, func(b *testing.B) {
			s, err := Open(ctx, b.TempDir(), Options{KeepExecutionsPerRoute: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					now := time.Now().UTC()
					ex := store.Execution{ID: s.NewID(), App: "app", Route: "/hello/world", Type: store.TypeSync,
						Status: store.StatusRunning, Container: store.ContainerHot, CreatedAt: now, StartedAt: now}
					s.RecordExecution(ex, nil)
					ex.Status, ex.CompletedAt = store.StatusSuccess, time.Now().UTC()
					s.RecordExecution(ex, log)
					if mode == "FlushEachCall" {
						if err := s.FlushExecutions(ctx); err != nil {
							b.Error(err)
						}
					}
				}
			})
			if err := s.FlushExecutions(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// BenchmarkEnqueueTask measures durable accepts (fsync on) from concurrent callers, as
// async /r/ requests arrive: bbolt's Batch shares commits between them.
func BenchmarkEnqueueTask(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetParallelism(32)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := s.NewID()
			if err := s.EnqueueTask(ctx, store.Task{ID: id, Route: store.Route{App: "app", Path: "/fn"}, Body: []byte(`{"name":"x"}`)}, store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync}); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "accepts/s")
}

// BenchmarkPublishEvents measures durable publishes (fsync on) from 32 concurrent
// publishers, each event with one delivery (one matching subscription): the event, its
// delivery and its call stored before the publish returns, as POST /v1/events answers.
// bbolt's Batch shares commits between publishers; events/s is what they got acknowledged.
func BenchmarkPublishEvents(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetParallelism(32)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			call := &store.StepCall{
				Task:      store.Task{ID: s.NewID(), Route: store.Route{App: "app", Path: "/fn"}, Method: "POST", URL: "/fn", Body: []byte(`{"name":"x"}`)},
				Execution: store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync},
			}
			ev := store.EventPublish{
				Event: store.Event{EventID: s.NewID(), Source: "/bench", Type: "com.example.bench", SpecVersion: "1.0",
					DataContentType: "application/json", Data: []byte(`{"order":42}`), Owner: "ann"},
				Deliveries: []store.NewDelivery{{Delivery: store.Delivery{Subscription: "sub", Owner: "ann", DeadLetter: store.DeadLetterKeep}, Call: call}},
			}
			if p, err := s.PublishEvents(ctx, []store.EventPublish{ev}); err != nil || !p[0].Created {
				b.Errorf("publish: %+v %v", p, err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// Stats: the store reads of one GET /v1/stats over 10,000 executions, all within the
// window (the worst case), 100 queued tasks and 3 nodes (storetest.BenchStats). Target:
// well under 20 ms an operation.
func BenchmarkStats(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir(), Options{NoSync: true, KeepExecutionsPerRoute: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchStats(b, s)
}
