package main

// This file holds the events benchmark: the rate of acknowledged publishes (durable, one
// matching subscription each) and the fan-out of one event to 10 subscribed hot functions.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/gen/client/executions"
	"github.com/gantry-dev/gantry/gen/client/subscriptions"
	"github.com/gantry-dev/gantry/gen/models"
)

// fanOut is how many subscriptions, each of its own hot function, one event reaches.
const fanOut = 10

// events measures publishing on servers of their own: the rate of publishes acknowledged
// (each stored with its delivery, fsync on, before the answer) from 32 callers, on a
// server with no workers, so that nothing drains meanwhile; and, on a server with a worker
// per subscription, the time from a publish to the start of the last of the 10 hot
// functions subscribed to its type (from the executions' started_at).
func (b *bench) events(ctx context.Context, bin string, d time.Duration, rounds int) ([]row, error) {
	rate, err := b.publishRate(ctx, bin, d)
	if err != nil {
		return nil, err
	}
	lat, err := b.fanOut(ctx, bin, rounds)
	if err != nil {
		return nil, err
	}
	p50 := pct(lat, 50)
	return []row{
		{name: "(events) publishes acknowledged/s, durable (fsync), 1 matching subscription, 32 callers", gantry: fmt.Sprintf("%.0f/s", rate),
			baseline: "-", result: fmt.Sprintf("%d published", int(rate*d.Seconds())), target: ">= 1500/s", ok: rate >= 1500},
		{name: fmt.Sprintf("(events) publish to the start of the last of %d subscribed hot functions, p50 (p99)", fanOut), gantry: ms(p50),
			baseline: "-", result: ms(pct(lat, 99)), target: "<= 20 ms", ok: p50 <= 20*time.Millisecond},
	}, nil
}

// subscribe makes subscription name of the events of type typ to the function app/path.
func (s *gantryServer) subscribe(ctx context.Context, name, typ, app, path string) error {
	params := subscriptions.NewCreateSubscriptionParams().WithBody(&models.SubscriptionWrapper{Subscription: &models.Subscription{
		Name: name, Filter: &models.SubscriptionFilter{Type: &typ}, Target: &models.SubscriptionTarget{Function: &models.FunctionTarget{App: &app, Path: &path}}}})
	if _, err := s.api.Subscriptions.CreateSubscriptionContext(ctx, params, nil); err != nil {
		return fmt.Errorf("create subscription %s: %w", name, err)
	}
	return nil
}

// publish publishes an event of type typ in binary mode and returns the execution IDs of
// its deliveries.
func (b *bench) publish(url, id, typ string) ([]string, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"name":"x"}`))
	if err != nil {
		return nil, err
	}
	req.Header = http.Header{"Ce-Id": {id}, "Ce-Source": {"/bench"}, "Ce-Type": {typ}, "Ce-Specversion": {"1.0"},
		"Content-Type": {"application/json"}, "Authorization": {"Bearer " + b.srv.token}}
	res, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("publish %s: %d %s", id, res.StatusCode, body)
	}
	var w struct {
		Event struct {
			Deliveries []struct {
				ExecutionID string `json:"execution_id"`
			} `json:"deliveries"`
		} `json:"event"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, err
	}
	ids := make([]string, len(w.Event.Deliveries))
	for i, d := range w.Event.Deliveries {
		ids[i] = d.ExecutionID
	}
	return ids, nil
}

// publishRate is the rate of acknowledged publishes from 32 callers, each event matching
// one subscription, on a server with no workers.
func (b *bench) publishRate(ctx context.Context, bin string, d time.Duration) (float64, error) {
	srv, err := startGantry(ctx, bin, "--async-workers", "0")
	if err != nil {
		return 0, err
	}
	defer srv.stop()
	p := &bench{srv: srv, docker: b.docker, client: b.client, images: b.images}
	if err := srv.createApp(ctx, benchApp); err != nil {
		return 0, err
	}
	if err := srv.createRoute(ctx, benchApp, &models.Route{Path: "/sink", Image: b.images["hello-http"], Format: "http", Type: "async"}); err != nil {
		return 0, err
	}
	if err := srv.subscribe(ctx, "sink", "bench.rate", benchApp, "/sink"); err != nil {
		return 0, err
	}
	url := p.url("/v1/events")
	var seq atomic.Int64
	return p.loadCalls(32, d, func(int) func() error {
		return func() error {
			ids, err := p.publish(url, fmt.Sprint("e", seq.Add(1)), "bench.rate")
			if err == nil && len(ids) != 1 {
				err = fmt.Errorf("an event made %d deliveries, want 1", len(ids))
			}
			return err
		}
	})
}

// fanOut publishes rounds events, one at a time, each to fanOut subscriptions of hot
// functions, and returns for each the time from its publish to the start of the last of
// its calls.
func (b *bench) fanOut(ctx context.Context, bin string, rounds int) ([]time.Duration, error) {
	srv, err := startGantry(ctx, bin, "--async-workers", fmt.Sprint(fanOut+2))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	f := &bench{srv: srv, docker: b.docker, client: b.client, images: b.images}
	if err := srv.createApp(ctx, benchApp); err != nil {
		return nil, err
	}
	for i := range fanOut {
		path := fmt.Sprintf("/fan-%d", i)
		if err := srv.createRoute(ctx, benchApp, &models.Route{Path: path, Image: b.images["hello-http"], Format: "http", Type: "async",
			MaxConcurrency: new(int64(1)), IdleTimeout: new(int64(3600))}); err != nil {
			return nil, err
		}
		if err := srv.subscribe(ctx, fmt.Sprintf("fan-%d", i), "bench.fan", benchApp, path); err != nil {
			return nil, err
		}
	}
	url := f.url("/v1/events")
	var lat []time.Duration
	const warm = 3 // the first rounds start the hot containers
	for r := range rounds + warm {
		start := time.Now()
		ids, err := f.publish(url, fmt.Sprint("fan", r), "bench.fan")
		if err != nil {
			return nil, err
		}
		if len(ids) != fanOut {
			return nil, fmt.Errorf("an event made %d deliveries, want %d", len(ids), fanOut)
		}
		last, err := srv.lastStart(ctx, ids)
		if err != nil {
			return nil, err
		}
		if r >= warm {
			lat = append(lat, last.Sub(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return lat, nil
}

// lastStart waits until the executions ids finished and returns the latest of their starts.
func (s *gantryServer) lastStart(ctx context.Context, ids []string) (time.Time, error) {
	var last time.Time
	for _, id := range ids {
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
			ex, err := s.execution(ctx, id)
			if err != nil {
				return last, err
			}
			if ex.Status == "SUCCESS" && ex.StartedAt != nil {
				if t := time.Time(*ex.StartedAt); t.After(last) {
					last = t
				}
				break
			}
			if ex.Status == "FAILED" || ex.Status == "CANCELLED" || time.Now().After(deadline) {
				return last, fmt.Errorf("delivery call %s: %s %s", id, ex.Status, ex.Error)
			}
		}
	}
	return last, nil
}

// execution reads an execution through the API.
func (s *gantryServer) execution(ctx context.Context, id string) (*models.Execution, error) {
	res, err := s.api.Executions.GetExecutionContext(ctx, executions.NewGetExecutionParams().WithID(id), nil)
	if err != nil {
		return nil, fmt.Errorf("get execution %s: %w", id, err)
	}
	return res.GetPayload().Execution, nil
}
