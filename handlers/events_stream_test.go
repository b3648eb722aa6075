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

func TestRunLogFollow(t *testing.T) {
	f := newWorkflowFixture(t)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	run := f.triggerAs(t, f.uma)
	appID, _ := f.s.AppID("calc")
	call := f.s.NewID()
	now := time.Now()
	f.s.RecordExecution(store.Execution{ID: call, App: "calc", AppID: appID, Route: "/add", Type: store.TypeAsync, Status: store.StatusRunning, Parent: run, Step: "add", CreatedAt: now}, nil)
	if _, err := f.s.UpdateRun(context.Background(), run, func(r *store.Run) (store.RunUpdate, error) {
		r.Status, r.Steps[0].Status, r.Steps[0].Calls = store.StatusRunning, store.StatusRunning, []string{call}
		return store.RunUpdate{Events: []store.RunEvent{{Type: store.EventStepStarted, Step: "add", Attempt: 1, Call: call}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	req := authed(newRequest(t, "GET", "/v1/executions/"+run+"/log?follow=true", ""), f.uma)
	req.URL, _ = req.URL.Parse(srv.URL + "/v1/executions/" + run + "/log?follow=true")
	got := make(chan string, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		got <- string(b)
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case b := <-got:
		t.Fatalf("the followed log ended while the run runs: %q", b)
	default:
	}
	f.s.RecordExecution(store.Execution{ID: call, App: "calc", AppID: appID, Route: "/add", Type: store.TypeAsync, Status: store.StatusSuccess, Parent: run, Step: "add",
		CreatedAt: now, StartedAt: now, CompletedAt: time.Now()}, []byte("added\n"))
	appendEvents(t, f.s, run, 0, true)
	select {
	case b := <-got:
		if want := "== step add attempt 1 (call " + call + ") ==\nadded\n"; b != want {
			t.Fatalf("followed log %q, want %q", b, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the followed log did not end with the run")
	}
}
