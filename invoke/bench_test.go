package invoke

import (
	"net/http"
	"testing"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// BenchmarkServiceOverhead is what the invocation service adds to a sync call with a real
// store (route match, execution records), with a runner that answers at once. It was the
// "invoker" part of runner's BenchmarkHotHTTPCall, which measures the runner's own path.
func BenchmarkServiceOverhead(b *testing.B) {
	db, err := bolt.Open(b.Context(), b.TempDir(), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateApp(b.Context(), store.App{Name: "app"}); err != nil {
		b.Fatal(err)
	}
	if _, err := db.CreateRoute(b.Context(), store.Route{App: "app", Path: "/fn", Image: "img", Format: store.FormatHTTP}, nil); err != nil {
		b.Fatal(err)
	}
	svc := New(db, &fakeRunner{}, Options{})
	req := Request{App: "app", Path: "/fn", Method: "POST", Header: http.Header{}, Body: []byte(`{"name":"x"}`)}
	b.ReportAllocs()
	for b.Loop() {
		c, err := svc.Resolve(b.Context(), req)
		if err != nil {
			b.Fatal(err)
		}
		c.Admit(nil)
		if _, err := svc.Run(b.Context(), c); err != nil {
			b.Fatal(err)
		}
	}
}
