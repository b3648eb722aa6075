package main

// This file holds benchmark (b): a hot http route against the same containers called
// directly, at concurrency 1 (added latency) and 8 (throughput).

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// hotLatency compares sequential calls through Gantry and straight to the same container.
func (b *bench) hotLatency(ctx context.Context, n int) (row, error) {
	via := b.url("/r/" + benchApp + "/hot1")
	if err := b.do("POST", via, `{"name":"x"}`); err != nil {
		return row{}, err
	}
	addrs, err := b.hotContainers(ctx, "/hot1")
	if err != nil || len(addrs) != 1 {
		return row{}, fmt.Errorf("want 1 container of /hot1, got %v (%v)", addrs, err)
	}
	direct := "http://" + addrs[0] + "/hot1"
	var g, d []time.Duration
	const block = 100
	for done := 0; done < n; done += block {
		for _, p := range []struct {
			url string
			out *[]time.Duration
		}{{via, &g}, {direct, &d}} {
			for range block {
				t0 := time.Now()
				if err := b.do("POST", p.url, `{"name":"x"}`); err != nil {
					return row{}, err
				}
				*p.out = append(*p.out, time.Since(t0))
			}
		}
	}
	pg, pd := pct(g, 50), pct(d, 50)
	added := pg - pd
	return row{name: "(b) hot http p50 at concurrency 1, vs the container directly", gantry: ms(pg), baseline: ms(pd),
		result: "+" + ms(added), target: "<= +0.25 ms", ok: added <= 250*time.Microsecond}, nil
}

// hotThroughput compares 8 concurrent callers through Gantry and straight to the same 8 containers.
func (b *bench) hotThroughput(ctx context.Context, d time.Duration) (row, error) {
	via := b.url("/r/" + benchApp + "/hot8")
	// Start the route's 8 containers: 8 calls at once, until 8 exist.
	var addrs []string
	for try := 0; len(addrs) < 8; try++ {
		if try == 20 {
			return row{}, fmt.Errorf("/hot8 has %d containers, want 8", len(addrs))
		}
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() { defer wg.Done(); _ = b.do("POST", via, `{"name":"x"}`) }()
		}
		wg.Wait()
		var err error
		if addrs, err = b.hotContainers(ctx, "/hot8"); err != nil {
			return row{}, err
		}
	}
	urlOf := func(direct bool, worker int) string {
		if direct {
			return "http://" + addrs[worker%len(addrs)] + "/hot8"
		}
		return via
	}
	var gRate, dRate float64
	for range 2 { // alternate: gantry, direct, gantry, direct
		for _, direct := range []bool{false, true} {
			rate, err := b.load(8, d, func(w int) string { return urlOf(direct, w) })
			if err != nil {
				return row{}, err
			}
			if direct {
				dRate += rate / 2
			} else {
				gRate += rate / 2
			}
		}
	}
	ratio := gRate / dRate
	return row{name: "(b) hot http throughput at concurrency 8, vs the containers directly", gantry: fmt.Sprintf("%.0f/s", gRate),
		baseline: fmt.Sprintf("%.0f/s", dRate), result: fmt.Sprintf("%.2f", ratio), target: ">= 0.5", ok: ratio >= 0.5}, nil
}
