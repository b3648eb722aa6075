package main

// This file holds benchmark (g): one hot function through the gateway's APIs, through /r/
// and straight to its containers.

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/gen/models"
)

// gatewayHost is the hostname the benchmark's APIs answer on.
const gatewayHost = "gw.bench"

// gateway compares one hot http function called through a public API and a basic-auth API
// on the gateway, through /r/, and straight to its containers: latency at concurrency 1
// and throughput at concurrency 8, side by side in one run.
func (b *bench) gateway(ctx context.Context, n int, d time.Duration) ([]row, error) {
	route := &models.Route{Path: "/gw", Image: b.images["hello-http"], Format: "http", MaxConcurrency: new(int64(8)), IdleTimeout: new(int64(3600))}
	if err := b.srv.createRoute(ctx, benchApp, route); err != nil {
		return nil, err
	}
	for _, api := range []*models.API{
		{Name: "gw-public", Function: &models.APIFunction{App: new(benchApp), Route: new("/gw")}, Hosts: []string{gatewayHost}, Uris: []string{"/public"}},
		{Name: "gw-basic", Function: &models.APIFunction{App: new(benchApp), Route: new("/gw")}, Hosts: []string{gatewayHost}, Uris: []string{"/basic"},
			Authentication: models.APIAuthenticationBasic, BasicUsers: []*models.APIBasicUser{{Username: new(basicUser), Password: basicPassword}}},
	} {
		if err := b.srv.createAPI(ctx, api); err != nil {
			return nil, err
		}
	}
	paths := map[string]func() error{
		"/r/":    func() error { return b.call(b.url("/r/"+benchApp+"/gw"), "", nil) },
		"public": func() error { return b.call("http://"+b.srv.gateway+"/public", gatewayHost, nil) },
		"basic":  func() error { return b.call("http://"+b.srv.gateway+"/basic", gatewayHost, basicAuth) },
	}
	// Start the route's 8 containers, then call them directly too.
	var addrs []string
	for try := 0; len(addrs) < 8; try++ {
		if try == 20 {
			return nil, fmt.Errorf("/gw has %d containers, want 8", len(addrs))
		}
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() { _ = paths["/r/"]() })
		}
		wg.Wait()
		var err error
		if addrs, err = b.hotContainers(ctx, "/gw"); err != nil {
			return nil, err
		}
	}
	direct := func(w int) func() error {
		u := "http://" + addrs[w%len(addrs)] + "/gw"
		return func() error { return b.call(u, "", nil) }
	}
	paths["direct"] = direct(0)
	order := []string{"/r/", "public", "basic", "direct"}
	for _, p := range order { // every path works before anything is timed
		if err := paths[p](); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}

	// Latency at concurrency 1, in interleaved blocks.
	lat := map[string][]time.Duration{}
	const block = 100
	for done := 0; done < n; done += block {
		for _, p := range order {
			for range block {
				t0 := time.Now()
				if err := paths[p](); err != nil {
					return nil, fmt.Errorf("%s: %w", p, err)
				}
				lat[p] = append(lat[p], time.Since(t0))
			}
		}
	}
	p50 := func(p string) time.Duration { return pct(lat[p], 50) }

	// Throughput at concurrency 8, alternating.
	rate := map[string]float64{}
	callers := map[string]func(int) func() error{
		"/r/":    func(int) func() error { return paths["/r/"] },
		"public": func(int) func() error { return paths["public"] },
		"basic":  func(int) func() error { return paths["basic"] },
		"direct": direct,
	}
	// Each round starts with another path, so that no path is always measured after the
	// same one (a machine's drift would otherwise favour a fixed order).
	const rounds = 4
	for round := range rounds {
		for i := range order {
			p := order[(i+round)%len(order)]
			r, err := b.loadCalls(8, d, callers[p])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			rate[p] += r / rounds
		}
	}

	var rows []row
	for _, api := range []string{"public", "basic"} {
		added := p50(api) - p50("/r/")
		rows = append(rows, row{name: fmt.Sprintf("(g) gateway %s API p50 at concurrency 1, vs /r/ (direct %s)", api, ms(p50("direct"))),
			gantry: ms(p50(api)), baseline: ms(p50("/r/")), result: fmt.Sprintf("%+.3f ms", float64(added)/float64(time.Millisecond)),
			target: "<= +0.2 ms", ok: added <= 200*time.Microsecond})
		ratio := rate[api] / rate["/r/"]
		rows = append(rows, row{name: fmt.Sprintf("(g) gateway %s API throughput at concurrency 8, vs /r/ (direct %.0f/s)", api, rate["direct"]),
			gantry: fmt.Sprintf("%.0f/s", rate[api]), baseline: fmt.Sprintf("%.0f/s", rate["/r/"]), result: fmt.Sprintf("%.2f", ratio),
			target: ">= 0.9", ok: ratio >= 0.9})
	}
	return rows, nil
}

// The basic-auth API's one user.
const basicUser, basicPassword = "bench", "bench-password"

var basicAuth = func(r *http.Request) { r.SetBasicAuth(basicUser, basicPassword) }
