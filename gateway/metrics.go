package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus series, by API ("" for requests no API matched).
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	none     *apiMetrics
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_gateway_requests_total",
			Help: "Requests served by the gateway, by API and status code (api=\"\": no API matched).",
		}, []string{"api", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gantry_gateway_request_duration_seconds",
			Help:    "Time to answer gateway requests, by API (api=\"\": no API matched).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"api"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("gateway: register metrics: %w", err)
			}
		}
	}
	m.none = m.forAPI("")
	return m, nil
}

// forAPI returns the series of one API.
func (m *metrics) forAPI(name string) *apiMetrics {
	return &apiMetrics{name: name, requests: m.requests, duration: m.duration.WithLabelValues(name),
		codes: map[int]prometheus.Counter{}}
}

// forget drops the series of a deleted API.
func (m *metrics) forget(name string) {
	m.requests.DeletePartialMatch(prometheus.Labels{"api": name})
	m.duration.DeletePartialMatch(prometheus.Labels{"api": name})
}

// apiMetrics are one API's series, with its counters by status code at hand.
type apiMetrics struct {
	name     string
	requests *prometheus.CounterVec
	duration prometheus.Observer

	mu    sync.RWMutex
	codes map[int]prometheus.Counter
}

func (m *apiMetrics) observe(code int, d time.Duration) {
	m.duration.Observe(d.Seconds())
	m.mu.RLock()
	c := m.codes[code]
	m.mu.RUnlock()
	if c == nil {
		c = m.requests.WithLabelValues(m.name, strconv.Itoa(code))
		m.mu.Lock()
		m.codes[code] = c
		m.mu.Unlock()
	}
	c.Inc()
}

// observe records a served request: its metrics and its access log line.
func (g *Gateway) observe(c *call, host string, d time.Duration) {
	status := c.w.status
	if status == 0 {
		status = http.StatusOK // nothing written: net/http sends 200
	}
	stats, name := g.metrics.none, ""
	if c.api != nil {
		stats, name = c.api.stats, c.api.name
	}
	stats.observe(status, d)
	ctx := c.r.Context()
	if !g.access.Enabled(ctx, slog.LevelInfo) {
		return
	}
	g.access.LogAttrs(ctx, slog.LevelInfo, "gateway request",
		slog.String("api", name),
		slog.String("method", c.r.Method),
		slog.String("host", host),
		slog.String("path", c.r.URL.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(d)/float64(time.Millisecond)),
		slog.String("client", clientIP(c.r)),
		slog.String("user", c.user),
		slog.String("call_id", c.w.Header().Get("Gantry-Call-Id")),
	)
}
