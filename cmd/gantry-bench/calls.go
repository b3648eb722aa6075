package main

// This file holds the measured calls: plain net/http requests to /r/..., the gateway and
// the containers directly (what a caller of a function pays is what is timed), and the load
// loops that run them from concurrent callers.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// newHTTPClient is the client of the measured calls: enough idle connections for every
// concurrent caller to keep its own.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
}

// url is the server's URL of path.
func (b *bench) url(path string) string { return "http://" + b.srv.addr + path }

// do sends one request and checks the status; the body is read and dropped.
func (b *bench) do(method, url, body string) error {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, out)
	}
	return nil
}

// call POSTs a small body to url with host as the Host header ("" for the URL's) and
// decorate applied; anything but 200 is an error.
func (b *bench) call(url, host string, decorate func(*http.Request)) error {
	req, err := http.NewRequest("POST", url, strings.NewReader(`{"name":"x"}`))
	if err != nil {
		return err
	}
	if host != "" {
		req.Host = host
	}
	if decorate != nil {
		decorate(req)
	}
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", url, res.StatusCode, out)
	}
	return nil
}

// load runs workers callers of url for d and returns the rate of successful calls.
func (b *bench) load(workers int, d time.Duration, url func(worker int) string) (float64, error) {
	return b.loadCalls(workers, d, func(w int) func() error {
		u := url(w)
		return func() error { return b.do("POST", u, `{"name":"x"}`) }
	})
}

// loadCalls runs workers callers of call(worker) for d and returns the rate of successful calls.
func (b *bench) loadCalls(workers int, d time.Duration, call func(worker int) func() error) (float64, error) {
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := call(w)
			for time.Now().Before(stop) {
				if err := c(); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return 0, fmt.Errorf("%d calls failed, first: %v", failed.Load(), firstErr.Load())
	}
	return float64(ok.Load()) / time.Since(start).Seconds(), nil
}
