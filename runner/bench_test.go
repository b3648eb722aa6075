package runner

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// BenchmarkHotHTTPCall splits the cost of a hot http call: the request alone on a
// keep-alive connection to the container, the runner's path, and the full invocation
// path with a real store (route match, execution records).
func BenchmarkHotHTTPCall(b *testing.B) {
	if testDocker == nil {
		b.Skip("no Docker")
	}
	ctx := context.Background()
	r, err := New(ctx, testDocker, Options{Instance: "bench-hot", Labels: map[string]string{testLabel: testLabelValue}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(ctx)
	rt := testRoute(store.FormatHTTP, nil)
	if _, err := r.Run(ctx, testCall(rt, "{}")); err != nil {
		b.Fatal(err)
	}
	p := r.poolFor(testCall(rt, ""))
	addr := p.idle[0].addr

	b.Run("direct", func(b *testing.B) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		br, bw := bufio.NewReader(conn), bufio.NewWriter(conn)
		for b.Loop() {
			req, _ := http.NewRequest("POST", "http://function/fn", bytes.NewReader([]byte(`{"name":"x"}`)))
			_ = req.Write(bw)
			_ = bw.Flush()
			res, err := http.ReadResponse(br, req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
	b.Run("runner", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Run(ctx, testCall(rt, `{"name":"x"}`)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("invoker", func(b *testing.B) {
		s, err := bolt.Open(ctx, b.TempDir(), bolt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if _, err := s.CreateApp(ctx, store.App{Name: "app"}); err != nil {
			b.Fatal(err)
		}
		stored, err := s.CreateRoute(ctx, rt, nil)
		if err != nil {
			b.Fatal(err)
		}
		r.DrainRoute(stored.App, stored.Path)
		iv := NewInvoker(s, r)
		req := Request{App: "app", Path: "/fn", Method: "POST", Header: http.Header{}, Body: []byte(`{"name":"x"}`)}
		if _, err := iv.Invoke(ctx, req); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if _, err := iv.Invoke(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
