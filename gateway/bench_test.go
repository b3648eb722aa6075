package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// nopCalls answers every call with an empty 200: the gateway's own cost is what is measured.
type nopCalls struct{}

func (nopCalls) Prepare(http.ResponseWriter, *http.Request, invoke.Request, invoke.Limits) (*invoke.Call, error) {
	return new(invoke.Call), nil
}

func (nopCalls) Serve(w http.ResponseWriter, _ *http.Request, _ *invoke.Call) {
	w.WriteHeader(http.StatusOK)
}

// BenchmarkServe is the gateway's cost per request (match, pipeline, metrics; no access log)
// among 200 APIs, without the network.
func BenchmarkServe(b *testing.B) {
	db, err := bolt.Open(b.Context(), b.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateApp(b.Context(), store.App{Name: "shop", Owner: "ada"}); err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		a := newAPI("api"+string(rune('a'+i%26))+string(rune('a'+i/26)), func(a *store.API) {
			a.Hosts = []string{"h" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".test"}
			a.URIs = []string{"/v1/users/:id", "/v1/items"}
			a.RateLimit = &store.RateLimit{RPS: 1e6, Burst: 1e6, Per: store.RatePerAPI}
		})
		if _, err := db.CreateAPI(b.Context(), a); err != nil {
			b.Fatal(err)
		}
	}
	g, err := New(b.Context(), Options{Store: db, Calls: nopCalls{}})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	h := g.Handler()
	r := httptest.NewRequest("GET", "http://hbc.test/v1/users/42/orders?x=1", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
	if w.Code != http.StatusOK {
		b.Fatalf("status %d", w.Code)
	}
}
