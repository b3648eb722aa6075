package runner

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
)

// BenchmarkHotHTTPCall splits the cost of a hot http call: the request alone on a
// keep-alive connection to the container, and the runner's path. What the invocation
// service adds (route match, execution records) is invoke's BenchmarkServiceOverhead.
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
	rt := testRoute(FormatHTTP, nil)
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
}
