package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func testRunList(t *testing.T, s store.Store) {
	ctx := t.Context()
	type made struct {
		id                       string
		workflow, owner, trigger string
		status                   string
	}
	var runs []made // oldest first
	for _, spec := range []struct{ workflow, owner, trigger, status string }{
		{"etl", "ann", "ann", store.StatusQueued},
		{"etl", "ann", "bob", store.StatusRunning},
		{"report", "bob", "bob", store.StatusSuccess},
		{"etl", "ann", "carol", store.StatusFailed},
		{"report", "bob", "ann", store.StatusRunning},
		{"etl", "ann", "ann", store.StatusSuccess},
		{"report", "bob", "bob", store.StatusQueued},
	} {
		r := mustRun(t, s, store.Run{Workflow: spec.workflow, Owner: spec.owner, TriggeredBy: spec.trigger})
		if spec.status != store.StatusQueued {
			if spec.status != store.StatusRunning {
				setStatus(t, s, r.ID, store.StatusRunning)
			}
			setStatus(t, s, r.ID, spec.status)
		}
		runs = append(runs, made{r.ID, spec.workflow, spec.owner, spec.trigger, spec.status})
	}
	want := func(keep func(m made) bool) []string {
		var ids []string
		for i := len(runs) - 1; i >= 0; i-- {
			if keep(runs[i]) {
				ids = append(ids, runs[i].id)
			}
		}
		return ids
	}
	list := func(f store.RunFilter, perPage int) []string {
		var ids []string
		cursor := ""
		for pages := 1; ; pages++ {
			page, next, err := s.ListRuns(ctx, f, store.Page{Cursor: cursor, Limit: perPage})
			if err != nil {
				t.Fatal(err)
			}
			checkPageAfterCursor(t, cursor, len(page))
			for _, r := range page {
				if !f.Match(r) {
					t.Fatalf("%+v listed a run it does not match: %+v", f, r)
				}
				ids = append(ids, r.ID)
			}
			if next == "" {
				return ids
			}
			if len(page) != perPage {
				t.Fatalf("%+v: page %d has %d runs and a next cursor, want %d", f, pages, len(page), perPage)
			}
			cursor = next
		}
	}
	for _, c := range []struct {
		name string
		f    store.RunFilter
		keep func(m made) bool
	}{
		{"every run", store.RunFilter{}, func(made) bool { return true }},
		{"one workflow's", store.RunFilter{Workflow: "etl"}, func(m made) bool { return m.workflow == "etl" }},
		{"one status", store.RunFilter{Status: store.StatusRunning}, func(m made) bool { return m.status == store.StatusRunning }},
		{"those ann owns or triggered", store.RunFilter{Viewer: "ann"}, func(m made) bool { return m.owner == "ann" || m.trigger == "ann" }},
		{"those carol owns or triggered", store.RunFilter{Viewer: "carol"}, func(m made) bool { return m.owner == "carol" || m.trigger == "carol" }},
		{"bob's runs of report, queued", store.RunFilter{Workflow: "report", Status: store.StatusQueued, Viewer: "bob"},
			func(m made) bool { return m.workflow == "report" && m.status == store.StatusQueued }},
		{"none", store.RunFilter{Workflow: "ghost"}, func(made) bool { return false }},
	} {
		for _, perPage := range []int{1, 2, 3, 100} {
			if got, w := list(c.f, perPage), want(c.keep); !slices.Equal(got, w) {
				t.Fatalf("%s in pages of %d: %v, want %v (newest first)", c.name, perPage, got, w)
			}
		}
	}
	if _, _, err := s.ListRuns(ctx, store.RunFilter{}, store.Page{Cursor: "!!"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a cursor this store never gave: got %v, want ErrInvalid", err)
	}
	if _, _, err := s.ListRuns(ctx, store.RunFilter{Status: "BOGUS"}, store.Page{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("an unknown status: got %v, want ErrInvalid", err)
	}
}

func testActiveRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	if ids, err := s.ActiveRuns(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("active runs of an empty store: %v %v", ids, err)
	}
	var all []string
	for range 5 {
		all = append(all, mustRun(t, s, store.Run{Workflow: "etl"}).ID)
	}
	setStatus(t, s, all[1], store.StatusRunning)
	setStatus(t, s, all[2], store.StatusCancelled)
	setStatus(t, s, all[4], store.StatusRunning)
	setStatus(t, s, all[4], store.StatusSuccess)
	if ids, err := s.ActiveRuns(ctx); err != nil || !slices.Equal(ids, []string{all[0], all[1], all[3]}) {
		t.Fatalf("active runs: %v %v, want %v (oldest first)", ids, err, []string{all[0], all[1], all[3]})
	}
}
