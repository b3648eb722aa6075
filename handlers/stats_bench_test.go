package handlers

import (
	"net/http"
	"testing"

	"github.com/gantry-dev/gantry/store/storetest"
)

// BenchmarkGetStats times the whole GET /v1/stats through the router (authentication,
// store reads, JSON) on bbolt, over storetest.StatsLoad: 10,000 executions all within the
// window, the worst case. Target: well under 20 ms.
func BenchmarkGetStats(b *testing.B) {
	f := newAuthFixture(b)
	storetest.StatsLoad(b, f.s)
	for _, who := range []struct{ name, token string }{{"admin", f.admin}, {"developer", f.alice}} {
		b.Run(who.name, func(b *testing.B) {
			for b.Loop() {
				res := f.as(b, who.token, "GET", "/v1/stats?window=3600", "")
				if res.status != http.StatusOK {
					b.Fatalf("%d %s", res.status, res.raw)
				}
			}
		})
	}
}
