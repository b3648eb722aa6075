package handlers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// appendEvents moves a run on through the store as the engine would: n step events, and
// with final the run's end and its finished event.
func appendEvents(t testing.TB, s interface {
	UpdateRun(context.Context, string, func(*store.Run) (store.RunUpdate, error)) (store.Run, error)
}, id string, n int, final bool) {
	t.Helper()
	if _, err := s.UpdateRun(context.Background(), id, func(r *store.Run) (store.RunUpdate, error) {
		var u store.RunUpdate
		r.Status = store.StatusRunning
		for i := range n {
			u.Events = append(u.Events, store.RunEvent{Type: store.EventStepStarted, Step: "add", Attempt: i + 1})
		}
		if final {
			r.Status, r.CompletedAt = store.StatusSuccess, time.Now()
			u.Events = append(u.Events, store.RunEvent{Type: store.EventFinished, Status: store.StatusSuccess})
		}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRunEventsAsJSON(t *testing.T) {
	f := newWorkflowFixture(t)
	run := f.triggerAs(t, f.uma) // event 1: queued
	appendEvents(t, f.s, run, 4, false)
	res := f.as(t, f.uma, "GET", "/v1/executions/"+run+"/events?after=2&limit=2", "")
	expect(t, res, 200)
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	events := get(res.body, "events").([]any)
	if len(events) != 2 || get(events[0], "seq") != 3.0 || get(events[1], "seq") != 4.0 || get(events[0], "type") != "step_started" || get(events[0], "time") == nil {
		t.Fatalf("events: %s", res.raw)
	}
	res = f.as(t, f.uma, "GET", "/v1/executions/"+run+"/events", "")
	if events := get(res.body, "events").([]any); len(events) != 5 || get(events[0], "type") != "queued" {
		t.Fatalf("all events: %s", res.raw)
	}
	// A call has no events.
	appID, _ := f.s.AppID("calc")
	call, now := f.s.NewID(), time.Now()
	f.s.RecordExecution(store.Execution{ID: call, App: "calc", AppID: appID, Route: "/add", Type: store.TypeSync, Status: store.StatusSuccess, CreatedAt: now}, nil)
	res = f.as(t, f.alice, "GET", "/v1/executions/"+call+"/events", "")
	expect(t, res, 404)
	if msg, _ := get(res.body, "error", "message").(string); !strings.Contains(msg, "function call") {
		t.Errorf("404 of a call's events: %s", res.raw)
	}
	expect(t, f.as(t, f.uma, "GET", "/v1/executions/"+run+"/events?after=-1", ""), 400)
}

// sseEvent is one event of a stream.
type sseEvent struct {
	id          int64
	typ         string
	data        string
	isKeepAlive bool
}

// sseReader reads a Server-Sent Events stream.
type sseReader struct{ r *bufio.Reader }

func (s sseReader) next() (sseEvent, error) {
	var e sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return e, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if e.typ != "" || e.isKeepAlive {
				return e, nil
			}
		case strings.HasPrefix(line, ":"):
			e.isKeepAlive = true
		case strings.HasPrefix(line, "id: "):
			e.id, _ = strconv.ParseInt(line[4:], 10, 64)
		case strings.HasPrefix(line, "event: "):
			e.typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			e.data = line[6:]
		}
	}
}

func openStream(t testing.TB, url, token string, header ...string) (*http.Response, sseReader) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("stream: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	return res, sseReader{bufio.NewReader(res.Body)}
}

func TestRunEventsStreamResumesWithoutGapOrDuplicate(t *testing.T) {
	f := newWorkflowFixture(t)
	f.api.keepAlive = 50 * time.Millisecond
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	run := f.triggerAs(t, f.uma)        // event 1
	appendEvents(t, f.s, run, 1, false) // event 2
	url := srv.URL + "/v1/executions/" + run + "/events"

	// The first client reads events 1..3 (3 arriving while it follows), then goes away.
	res, stream := openStream(t, url, f.uma)
	var seen []int64
	keepAlives := 0
	for len(seen) < 3 {
		if len(seen) == 2 && keepAlives == 1 {
			appendEvents(t, f.s, run, 1, false) // event 3, while the client waits
		}
		e, err := stream.next()
		if err != nil {
			t.Fatalf("after %v: %v", seen, err)
		}
		if e.isKeepAlive {
			keepAlives++
			continue
		}
		if e.typ == "" || !strings.Contains(e.data, fmt.Sprintf(`"seq":%d`, e.id)) {
			t.Fatalf("event %+v", e)
		}
		seen = append(seen, e.id)
	}
	res.Body.Close()
	if keepAlives == 0 {
		t.Fatal("no keep-alive comment while nothing happened")
	}
	appendEvents(t, f.s, run, 2, false) // events 4, 5 while no one follows

	// The second resumes after 3, and gets 4.. up to the finished event, then the end.
	res, stream = openStream(t, url, f.uma, "Last-Event-ID", "3")
	defer res.Body.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(100 * time.Millisecond)
		appendEvents(t, f.s, run, 1, true) // events 6, 7 (finished)
	}()
	var last sseEvent
	for {
		e, err := stream.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.isKeepAlive {
			continue
		}
		seen = append(seen, e.id)
		last = e
	}
	<-done
	if fmt.Sprint(seen) != "[1 2 3 4 5 6 7]" || last.typ != "finished" {
		t.Fatalf("events %v, last %+v", seen, last)
	}

	// Resuming a finished run after its last event ends at once; before it, gets the rest.
	res, stream = openStream(t, url, f.uma, "Last-Event-ID", "7")
	if _, err := stream.next(); err != io.EOF {
		t.Fatalf("a stream past the end: %v", err)
	}
	res.Body.Close()
	res, stream = openStream(t, url+"?after=5", f.uma)
	defer res.Body.Close()
	for want := int64(6); want <= 7; want++ {
		if e, err := stream.next(); err != nil || e.id != want {
			t.Fatalf("after=5: %+v %v, want %d", e, err, want)
		}
	}
	if _, err := stream.next(); err != io.EOF {
		t.Fatalf("after the finished event: %v", err)
	}
}

// TestRunLogFollow: a followed log writes each attempt as soon as an event names its end,
// while the run goes on, and ends with the run; past maxRunLog it stops as the log does.
func TestRunLogFollow(t *testing.T) {
	f := newWorkflowFixture(t)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	run := f.triggerAs(t, f.uma)
	appID, _ := f.s.AppID("calc")
	calls := []string{f.s.NewID(), f.s.NewID()}
	now := time.Now()
	record := func(call, status, log string) {
		f.s.RecordExecution(store.Execution{ID: call, App: "calc", AppID: appID, Route: "/add", Type: store.TypeAsync, Status: status, Parent: run, Step: "add",
			CreatedAt: now, StartedAt: now, CompletedAt: time.Now()}, []byte(log))
	}
	update := func(calls []string, events ...store.RunEvent) {
		t.Helper()
		if _, err := f.s.UpdateRun(context.Background(), run, func(r *store.Run) (store.RunUpdate, error) {
			r.Status, r.Steps[0].Status, r.Steps[0].Calls = store.StatusRunning, store.StatusRunning, calls
			return store.RunUpdate{Events: events}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	record(calls[0], store.StatusRunning, "")
	update(calls[:1], store.RunEvent{Type: store.EventStepStarted, Step: "add", Attempt: 1, Call: calls[0]})
	req := authed(newRequest(t, "GET", "/v1/executions/"+run+"/log?follow=true", ""), f.uma)
	req.URL, _ = req.URL.Parse(srv.URL + "/v1/executions/" + run + "/log?follow=true")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body := bufio.NewReader(res.Body)
	readLines := func(n int) string {
		t.Helper()
		got := make(chan string, 1)
		go func() {
			var b strings.Builder
			for range n {
				line, err := body.ReadString('\n')
				b.WriteString(line)
				if err != nil {
					break
				}
			}
			got <- b.String()
		}()
		select {
		case s := <-got:
			return s
		case <-time.After(10 * time.Second):
			t.Fatalf("no %d lines of the followed log", n)
			return ""
		}
	}

	// The first attempt fails; its retrying event names it: it is written, the run goes on.
	record(calls[0], store.StatusFailed, "oops\n")
	record(calls[1], store.StatusRunning, "")
	update(calls, store.RunEvent{Type: store.EventStepRetrying, Step: "add", Attempt: 1, Call: calls[0], Status: store.StatusFailed},
		store.RunEvent{Type: store.EventStepStarted, Step: "add", Attempt: 2, Call: calls[1]})
	if got, want := readLines(2), "== step add attempt 1 (call "+calls[0]+") ==\noops\n"; got != want {
		t.Fatalf("the first attempt: %q, want %q", got, want)
	}
	// The second ends with the run.
	record(calls[1], store.StatusSuccess, "added\n")
	appendEvents(t, f.s, run, 0, true)
	rest, err := io.ReadAll(body)
	if want := "== step add attempt 2 (call " + calls[1] + ") ==\nadded\n"; err != nil || string(rest) != want {
		t.Fatalf("the rest of the followed log %q (%v), want %q", rest, err, want)
	}

	// Past maxRunLog, the followed log of a finished run stops as its log does.
	f.api.maxRunLog = 10
	_, want := f.text(t, f.uma, "/v1/executions/"+run+"/log")
	_, got := f.text(t, f.uma, "/v1/executions/"+run+"/log?follow=true")
	if !strings.Contains(want, "== the log of this run stops here") || got != want {
		t.Fatalf("a followed log past its bound: %q, want %q", got, want)
	}
}

// TestEndStreamsEndsStreamsAndLongPolls: after EndStreams, an open event stream, a followed
// log and a /waas long poll end at once, and the server shuts down without waiting for them.
func TestEndStreamsEndsStreamsAndLongPolls(t *testing.T) {
	f := newWorkflowFixture(t)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	run := f.triggerAs(t, f.uma) // running forever: the idle engine moves nothing
	appendEvents(t, f.s, run, 1, false)
	done := f.triggerAs(t, f.uma)
	appendEvents(t, f.s, done, 0, true)

	res, stream := openStream(t, srv.URL+"/v1/executions/"+run+"/events", f.uma)
	defer res.Body.Close()
	for range 2 { // queued, step_started
		if _, err := stream.next(); err != nil {
			t.Fatal(err)
		}
	}
	logReq := authed(newRequest(t, "GET", "/v1/executions/"+run+"/log?follow=true", ""), f.uma)
	logReq.URL, _ = logReq.URL.Parse(srv.URL + "/v1/executions/" + run + "/log?follow=true")
	logRes, err := http.DefaultClient.Do(logReq)
	if err != nil {
		t.Fatal(err)
	}
	defer logRes.Body.Close()
	type answer struct {
		name string
		body string
	}
	answers := make(chan answer, 4)
	for _, id := range []string{run, done} { // waiting on a running run, and on a final one
		go func() {
			req, _ := http.NewRequest("GET", srv.URL+"/waas/executions/"+id+"/logs?from=100&timeout=5m", nil)
			req.Header.Set("Authorization", bearer(f.uma))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- answer{"long poll", err.Error()}
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			answers <- answer{"long poll", fmt.Sprint(res.StatusCode, " ", strings.TrimSpace(string(b)))}
		}()
	}
	go func() {
		b, err := io.ReadAll(logRes.Body)
		answers <- answer{"followed log", fmt.Sprint(string(b), err)}
	}()
	go func() {
		_, err := stream.next()
		answers <- answer{"event stream", fmt.Sprint(err)}
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case a := <-answers:
		t.Fatalf("the %s ended before EndStreams: %s", a.name, a.body)
	default:
	}

	start := time.Now()
	f.api.EndStreams()
	f.api.EndStreams() // again: nothing happens
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for range 4 {
		a := <-answers
		switch a.name {
		case "long poll":
			if !strings.HasPrefix(a.body, `200 {"from":100,"logs":[],"total_results":`) {
				t.Errorf("a long poll answered %s", a.body)
			}
		case "followed log":
			if !strings.Contains(a.body, "the server is stopping") {
				t.Errorf("the followed log: %q", a.body)
			}
		case "event stream":
			if a.body != io.EOF.Error() {
				t.Errorf("the event stream ended with %s", a.body)
			}
		}
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the streams ended %s after EndStreams", took)
	}
}
