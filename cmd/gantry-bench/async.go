package main

// This file holds the async benchmark: durable accepts, the drain through workers, the
// bbolt file's growth, and a backlog of cold calls with bounded concurrency.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/gen/models"
)

// async measures async calls: the rate of durable accepts from concurrent callers, the rate
// at which workers drain them through a hot function, the bbolt file's growth, and a
// backlog of cold calls draining with bounded concurrency.
func (b *bench) async(ctx context.Context, bin string, d time.Duration, backlog int) ([]row, error) {
	// Accepts, measured alone: a server with no workers, so that nothing drains meanwhile.
	acceptor, err := startGantry(ctx, bin, "--async-workers", "0")
	if err != nil {
		return nil, err
	}
	a := &bench{srv: acceptor, docker: b.docker, client: b.client, images: b.images}
	if err := acceptor.createApp(ctx, benchApp); err != nil {
		acceptor.stop()
		return nil, err
	}
	if err := acceptor.createRoute(ctx, benchApp, &models.Route{Path: "/async-hot", Image: b.images["hello-http"], Format: "http", Type: "async"}); err != nil {
		acceptor.stop()
		return nil, err
	}
	dbFile := filepath.Join(acceptor.dir, "gantry.db")
	size0, err := fileSize(dbFile)
	if err != nil {
		acceptor.stop()
		return nil, err
	}
	rate, err := a.load(32, d, func(int) string { return a.url("/r/" + benchApp + "/async-hot") })
	size1, serr := fileSize(dbFile)
	acceptor.stop()
	if err != nil || serr != nil {
		return nil, errors.Join(err, serr)
	}
	accepted := int(rate * d.Seconds())

	// Drain: the same number of calls, through a hot function, on the main server.
	for _, r := range []*models.Route{
		{Path: "/async-hot", Image: b.images["hello-http"], Format: "http", Type: "async", MaxConcurrency: new(int64(4)), IdleTimeout: new(int64(3600))},
		{Path: "/async-cold", Image: b.images["hello"], Type: "async"},
	} {
		if err := b.srv.createRoute(ctx, benchApp, r); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	if err := b.submitAsync("/r/"+benchApp+"/async-hot", accepted); err != nil {
		return nil, err
	}
	if err := b.srv.waitQueueEmpty(ctx, 10*time.Minute); err != nil {
		return nil, err
	}
	drain := float64(accepted) / time.Since(start).Seconds()
	rows := []row{
		{name: "(async) accepted calls/s, durable (fsync), 32 callers", gantry: fmt.Sprintf("%.0f/s", rate), baseline: "-", result: fmt.Sprintf("%d accepted", accepted), target: ">= 2000/s", ok: rate >= 2000},
		{name: fmt.Sprintf("(async) %d calls accepted and drained, hot http function, %d workers", accepted, asyncWorkers), gantry: fmt.Sprintf("%.0f/s", drain), baseline: "-", result: "all drained", target: "reported", ok: true},
		{name: "(async) bbolt file growth per 10k accepted calls", gantry: mib((size1 - size0) * 10000 / int64(max(accepted, 1))), baseline: "-", result: "-", target: "reported", ok: true},
	}

	// A backlog of cold calls: containers never exceed the workers, nothing lost or left.
	start = time.Now()
	if err := b.submitAsync("/r/"+benchApp+"/async-cold", backlog); err != nil {
		return nil, err
	}
	most, stop := 0, make(chan struct{})
	sampled := make(chan int)
	go func() {
		for {
			select {
			case <-stop:
				sampled <- most
				return
			case <-time.After(50 * time.Millisecond):
			}
			if n, err := b.runningContainers(ctx, "/async-cold"); err == nil && n > most {
				most = n
			}
		}
	}()
	err = b.srv.waitQueueEmpty(ctx, 30*time.Minute)
	close(stop)
	peak := <-sampled
	if err != nil {
		return nil, err
	}
	coldRate := float64(backlog) / time.Since(start).Seconds()
	succeeded, err := b.srv.countExecutions(ctx, benchApp, "/async-cold", "SUCCESS")
	if err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second) // the last removals
	left, err := b.containers(ctx, "/async-cold")
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{
		name:   fmt.Sprintf("(async) backlog of %d cold calls, %d workers", backlog, asyncWorkers),
		gantry: fmt.Sprintf("%.1f/s", coldRate), baseline: "-",
		result: fmt.Sprintf("%d succeeded, peak %d containers, %d left", succeeded, peak, left),
		target: "all succeed, peak <= workers, none left", ok: succeeded == backlog && peak <= asyncWorkers && left == 0,
	})
	return rows, nil
}

// submitAsync sends n async calls from 32 concurrent callers.
func (b *bench) submitAsync(path string, n int) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var failed atomic.Int64
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := b.do("POST", b.url(path), `{"name":"x"}`); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return fmt.Errorf("%d async calls to %s were not accepted", failed.Load(), path)
	}
	return nil
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
