package store

import (
	"context"
	"fmt"
	"testing"
)

// Route lookup is on the path of every function call. MatchRoute must cost the same
// with 10 or 10,000 routes in the app (no scan); GetRoute is one bbolt read.
func BenchmarkRouteLookup(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10, 10000} {
		s := openTest(b, b.TempDir())
		mustApp(b, s, "app")
		for i := range n {
			if _, err := s.CreateRoute(ctx, Route{App: "app", Path: fmt.Sprintf("/svc%d/users/:id", i), Image: "img"}); err != nil {
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
			if _, err := s.CreateApp(ctx, App{Name: fmt.Sprintf("app-%d", i)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	mustApp(b, s, "routes")
	b.Run("Route", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, err := s.CreateRoute(ctx, Route{App: "routes", Path: fmt.Sprintf("/r%d", i), Image: "img"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
