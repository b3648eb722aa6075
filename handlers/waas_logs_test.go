package handlers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// TestWaaSLogIsBounded: with the bounds lowered, an attempt's lines stop at the per-attempt
// bound with a WARN entry telling how many more there are, the calls' lines stop at the
// total bound with one WARN entry (the events still follow), and pages of any size, of any
// levels, are windows of the same sequence.
func TestWaaSLogIsBounded(t *testing.T) {
	f := newWorkflowFixture(t)
	f.api.waasLogBound = waasLogBounds{attemptLines: 3, entries: 11, bytes: 1 << 20}
	run := f.triggerAs(t, f.uma) // queued
	appID, _ := f.s.AppID("calc")
	logs := []string{"a1\na2\na3\na4\na5\n", "b1\nb2\nb3", "c1\nc2\n"}
	var calls []string
	var events []store.RunEvent
	for i, log := range logs {
		call, now, item := f.s.NewID(), time.Now(), i
		calls = append(calls, call)
		f.s.RecordExecution(store.Execution{ID: call, App: "calc", AppID: appID, Route: "/add", Type: store.TypeAsync, Status: store.StatusSuccess, Parent: run, Step: "add",
			CreatedAt: now, StartedAt: now, CompletedAt: now}, []byte(log))
		events = append(events,
			store.RunEvent{Type: store.EventStepStarted, Step: "add", Item: &item, Attempt: 1, Call: call},
			store.RunEvent{Type: store.EventStepFinished, Step: "add", Item: &item, Attempt: 1, Call: call, Status: store.StatusSuccess})
	}
	if _, err := f.s.UpdateRun(context.Background(), run, func(r *store.Run) (store.RunUpdate, error) {
		r.Status, r.CompletedAt = store.StatusSuccess, time.Now()
		r.Steps[0].Status, r.Steps[0].Calls = store.StatusSuccess, calls
		return store.RunUpdate{Events: append(events, store.RunEvent{Type: store.EventFinished, Status: store.StatusSuccess})}, nil
	}); err != nil {
		t.Fatal(err)
	}
	read := func(query string) clientLogs {
		t.Helper()
		var l clientLogs
		waasCall(t, f.h, bearer(f.uma), "GET", "/waas/executions/"+run+"/logs?timeout=0s&"+query, "").decode(t, 200, &l)
		return l
	}
	all := read("")
	var got []string
	for _, e := range all.Logs {
		got = append(got, e.Level+" "+e.Content)
	}
	cut := "WARN the call logs of this execution stop here: it passed 11 entries or 1048576 bytes; its events still follow, and each call's log is whole at GET /v1/executions/{call}/log"
	want := []string{
		"INFO execution queued: workflow adder version 1",
		"INFO step add item 0 started attempt 1 (call " + calls[0] + ")",
		"INFO step add item 0 finished: SUCCESS",
		"INFO [add item 0] a1", "INFO [add item 0] a2", "INFO [add item 0] a3",
		"WARN [add item 0] this attempt's log goes on for 2 more lines, not shown here; it is whole at GET /v1/executions/" + calls[0] + "/log",
		"INFO step add item 1 started attempt 1 (call " + calls[1] + ")",
		"INFO step add item 1 finished: SUCCESS",
		"INFO [add item 1] b1", "INFO [add item 1] b2",
		cut,
		"INFO step add item 2 started attempt 1 (call " + calls[2] + ")",
		"INFO step add item 2 finished: SUCCESS",
		"INFO execution finished: SUCCESS",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || all.TotalResults != len(want) {
		t.Fatalf("log (total %d):\n%s\nwant:\n%s", all.TotalResults, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, size := range []int{1, 2, 4, 5} {
		var paged []clientLog
		for from := 0; from < all.TotalResults; from += size {
			page := read(fmt.Sprintf("from=%d&size=%d", from, size))
			if page.From != from || page.TotalResults != all.TotalResults {
				t.Fatalf("size %d from %d: from %d total %d", size, from, page.From, page.TotalResults)
			}
			paged = append(paged, page.Logs...)
		}
		if fmt.Sprint(paged) != fmt.Sprint(all.Logs) {
			t.Errorf("pages of %d:\n%v\nwant\n%v", size, paged, all.Logs)
		}
	}
	warns := read("levels=4")
	if warns.TotalResults != 2 || len(warns.Logs) != 2 || warns.Logs[1].Level+" "+warns.Logs[1].Content != cut {
		t.Fatalf("the WARN entries: %+v", warns)
	}
	if second := read("levels=4&from=1&size=1"); len(second.Logs) != 1 || second.Logs[0] != warns.Logs[1] || second.TotalResults != 2 {
		t.Fatalf("the second WARN entry: %+v", second)
	}
	if errs := read("levels=8"); errs.TotalResults != 0 || len(errs.Logs) != 0 {
		t.Fatalf("no ERROR entry: %+v", errs)
	}
}
