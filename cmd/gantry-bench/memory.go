package main

// This file holds benchmark (c): the server's resident memory as hot containers are added.

import (
	"context"
	"fmt"
	"time"
)

// memory measures the server's RSS as hot containers are added: 1, 10, then rssMax.
func (b *bench) memory(ctx context.Context, rssMax int) ([]row, error) {
	var rows []row
	started := 0
	var first int64
	for _, n := range []int{1, 10, rssMax} {
		for ; started < n; started++ {
			if err := b.do("POST", b.url(fmt.Sprintf("/r/%s/rss%d", benchApp, started+1)), `{"name":"m"}`); err != nil {
				return nil, err
			}
		}
		time.Sleep(time.Second)
		rss, err := b.srv.rss()
		if err != nil {
			return nil, err
		}
		result := "-"
		if n == 1 {
			first = rss
		} else {
			result = fmt.Sprintf("+%.0f KiB per container beyond the first", float64(rss-first)/1024/float64(n-1))
		}
		rows = append(rows, row{name: fmt.Sprintf("(c) gantry RSS with %d hot containers", n), gantry: mib(rss), baseline: "-",
			result: result, target: "reported", ok: true})
	}
	// Drop them so they do not disturb the timings.
	for i := 1; i <= rssMax; i++ {
		if err := b.srv.deleteRoute(ctx, benchApp, fmt.Sprintf("/rss%d", i)); err != nil {
			return nil, err
		}
	}
	return rows, nil
}
