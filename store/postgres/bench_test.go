package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/storetest"
)

// The same benchmarks as store/bolt's, on the test server (make postgres): the numbers
// include the round trips to it, and its fsync settings (scripts/test-postgres turns
// fsync off, so accepts here are not as durable as in production).

// quiet is a logger for benchmarks, whose output would break the result lines.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// RecordExecution: each op is one call's two records (RUNNING, then SUCCESS with a log)
// from many goroutines; the writer stores batches in the background, and the flush at the
// end is timed too, so ns/op is the sustained throughput.
func BenchmarkRecordExecution(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Schema(b), Options{Node: "bench", KeepExecutionsPerRoute: -1, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	log := []byte(strings.Repeat("a line of the function's stderr\n", 8))
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
		}
	})
	if err := s.FlushExecutions(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// EnqueueTask: accepts from concurrent callers, each its own transaction (PostgreSQL
// shares the WAL flushes of concurrent commits); then LeaseTasks and CompleteTask drain
// them from 8 workers.
func BenchmarkQueue(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Schema(b), Options{Node: "bench", Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.Run("EnqueueTask", func(b *testing.B) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := s.NewID()
				if err := s.EnqueueTask(ctx, store.Task{ID: id, Route: store.Route{App: "app", Path: "/fn"}, Body: []byte(`{"name":"x"}`)},
					store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync}); err != nil {
					b.Error(err)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "accepts/s")
	})
	b.Run("LeaseAndComplete", func(b *testing.B) {
		for range b.N {
			if err := s.EnqueueTask(ctx, store.Task{ID: s.NewID(), Route: store.Route{App: "app", Path: "/fn"}},
				store.Execution{App: "app", Route: "/fn", Type: store.TypeAsync}); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		b.SetParallelism(4)
		var w atomic.Int32
		b.RunParallel(func(pb *testing.PB) {
			owner := fmt.Sprintf("w%d", w.Add(1))
			for pb.Next() {
				got, err := s.LeaseTasks(ctx, 1, owner, time.Minute)
				if err != nil || len(got) == 0 {
					continue
				}
				if err := s.CompleteTask(ctx, got[0].ID, owner, store.Execution{Status: store.StatusSuccess}, nil); err != nil {
					b.Error(err)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	})
}

// PublishEvents: events published one per call from concurrent callers, each with one
// matching subscription (a delivery and its call), as POST /v1/events publishes them; each
// publish is its own transaction (PostgreSQL shares the WAL flushes of concurrent commits).
func BenchmarkPublishEvents(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Schema(b), Options{Node: "bench", Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := publishOne(s, "/bench", fmt.Sprintf("e%d", n.Add(1)), "sub")
			if _, err := s.PublishEvents(ctx, []store.EventPublish{p}); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// Stats: the store reads of one GET /v1/stats over 10,000 executions, all within the
// window (the worst case), 100 queued tasks and 3 nodes (storetest.BenchStats). Target:
// well under 20 ms an operation.
func BenchmarkStats(b *testing.B) {
	s, err := Open(context.Background(), pgtest.Schema(b), Options{Node: "bench", KeepExecutionsPerRoute: -1, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchStats(b, s)
}
