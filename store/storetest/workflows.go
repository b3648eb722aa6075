package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func workflowCases() []testCase {
	return []testCase{
		{
			name:   "a workflow is created at version 1 and each put makes the next version, keeping its owner and creation time",
			covers: []string{"PutWorkflow", "GetWorkflow"},
			run:    testWorkflowVersions,
		},
		{
			name:   "a workflow put or delete its guard refuses changes nothing, and the guard sees the stored owner",
			covers: []string{"PutWorkflow", "DeleteWorkflow", "GetWorkflow"},
			run:    testWorkflowGuard,
		},
		{
			name:   "workflows are listed in name order, a page at a time, and a Visible filter keeps the pages full",
			covers: []string{"ListWorkflows"},
			run:    testWorkflowList,
		},
		{
			name:   "a workflow is deleted only while none of its runs is active, and its finished runs stay",
			covers: []string{"DeleteWorkflow", "CreateRun", "UpdateRun", "GetRun", "GetWorkflow"},
			run:    testWorkflowDelete,
		},
	}
}

// mustWorkflow puts a workflow of owner.
func mustWorkflow(t *testing.T, s store.Store, name, owner string) store.Workflow {
	t.Helper()
	w, _, err := s.PutWorkflow(t.Context(), store.Workflow{Name: name, Owner: owner, Definition: json.RawMessage(`{"steps":[]}`)}, nil)
	if err != nil {
		t.Fatalf("put workflow %s: %v", name, err)
	}
	return w
}

func testWorkflowVersions(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, _, err := s.PutWorkflow(ctx, store.Workflow{Owner: "ann"}, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a workflow without a name: got %v, want ErrInvalid", err)
	}
	if _, err := s.GetWorkflow(ctx, "etl"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a missing workflow: got %v, want ErrNotFound", err)
	}
	v1, created, err := s.PutWorkflow(ctx, store.Workflow{Name: "etl", Owner: "ann", Description: "one",
		Definition: json.RawMessage(`{"steps":[{"name":"a"}]}`), RunAccess: []string{"user:bob"}}, nil)
	if err != nil || !created || v1.Version != 1 || v1.Owner != "ann" || v1.CreatedAt.IsZero() || !v1.CreatedAt.Equal(v1.UpdatedAt) {
		t.Fatalf("create: %+v created=%v %v", v1, created, err)
	}
	time.Sleep(5 * time.Millisecond) // a later UpdatedAt
	if got, err := s.GetWorkflow(ctx, "etl"); err != nil || len(got.RunAccess) != 1 || got.RunAccess[0] != "user:bob" || got.Apps != nil {
		t.Fatalf("get after the create: %+v %v", got, err)
	}
	v2, created, err := s.PutWorkflow(ctx, store.Workflow{Name: "etl", Owner: "mallory", Description: "two",
		Definition: json.RawMessage(`{"steps":[{"name":"b"}]}`), Apps: map[string]string{"a": "01A", "b": "01B"}}, nil)
	if err != nil || created || v2.Version != 2 {
		t.Fatalf("replace: %+v created=%v %v", v2, created, err)
	}
	if v2.Owner != "ann" || !v2.CreatedAt.Equal(v1.CreatedAt) || !v2.UpdatedAt.After(v1.UpdatedAt) {
		t.Fatalf("a replace changed the owner or creation time, or kept UpdatedAt: v1 %+v, v2 %+v", v1, v2)
	}
	got, err := s.GetWorkflow(ctx, "etl")
	if err != nil || got.Version != 2 || got.Owner != "ann" || got.Description != "two" || len(got.RunAccess) != 0 ||
		len(got.Apps) != 2 || got.Apps["a"] != "01A" || got.Apps["b"] != "01B" ||
		!jsonEqual(got.Definition, `{"steps":[{"name":"b"}]}`) || !got.CreatedAt.Equal(v1.CreatedAt) {
		t.Fatalf("get after the replace: %+v %v", got, err)
	}
	if v3, _, err := s.PutWorkflow(ctx, store.Workflow{Name: "etl", Definition: json.RawMessage(`{}`)}, nil); err != nil || v3.Version != 3 {
		t.Fatalf("third put: %+v %v", v3, err)
	}
}

// jsonEqual reports whether raw holds the same JSON value as want.
func jsonEqual(raw json.RawMessage, want string) bool {
	var a, b any
	if json.Unmarshal(raw, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func testWorkflowGuard(t *testing.T, s store.Store) {
	ctx := t.Context()
	var seen []string
	errNotYours := errors.New("not yours")
	onlyBob := func(owner string) error {
		seen = append(seen, owner)
		if owner != "bob" {
			return errNotYours
		}
		return nil
	}
	mustWorkflow(t, s, "etl", "ann")
	if _, _, err := s.PutWorkflow(ctx, store.Workflow{Name: "etl", Owner: "bob", Description: "evil"}, onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("put refused by its guard: got %v, want the guard's error", err)
	}
	if err := s.DeleteWorkflow(ctx, "etl", onlyBob); !errors.Is(err, errNotYours) {
		t.Fatalf("delete refused by its guard: got %v, want the guard's error", err)
	}
	if !slices.Equal(seen, []string{"ann", "ann"}) {
		t.Fatalf("the guard saw owners %q, want the stored owner twice", seen)
	}
	got, err := s.GetWorkflow(ctx, "etl")
	if err != nil || got.Version != 1 || got.Description != "" || got.Owner != "ann" {
		t.Fatalf("a refused write changed the workflow: %+v %v", got, err)
	}
	seen = nil
	if _, _, err := s.PutWorkflow(ctx, store.Workflow{Name: "new", Owner: "bob"}, onlyBob); err != nil {
		t.Fatalf("create by bob: %v", err)
	}
	if _, _, err := s.PutWorkflow(ctx, store.Workflow{Name: "new", Owner: "bob", Description: "2"}, onlyBob); err != nil {
		t.Fatalf("replace by its owner: %v", err)
	}
	if err := s.DeleteWorkflow(ctx, "new", onlyBob); err != nil {
		t.Fatalf("delete by its owner: %v", err)
	}
	if slices.Contains(seen, "ann") || !slices.Contains(seen, "bob") {
		t.Fatalf("the guard saw owners %q, want only bob", seen)
	}
}

func testWorkflowList(t *testing.T, s store.Store) {
	ctx := t.Context()
	var want, wantAnn []string
	for i := range 11 {
		name, owner := fmt.Sprintf("wf-%02d", 10-i), "bob"
		if i%3 == 0 {
			owner = "ann"
			wantAnn = append(wantAnn, name)
		}
		mustWorkflow(t, s, name, owner)
		want = append(want, name)
	}
	slices.Sort(want)
	slices.Sort(wantAnn)
	list := func(f store.WorkflowFilter, perPage int) []string {
		var names []string
		cursor := ""
		for pages := 1; ; pages++ {
			page, next, err := s.ListWorkflows(ctx, f, store.Page{Cursor: cursor, Limit: perPage})
			if err != nil {
				t.Fatal(err)
			}
			checkPageAfterCursor(t, cursor, len(page))
			for _, w := range page {
				names = append(names, w.Name)
			}
			if next == "" {
				return names
			}
			if len(page) != perPage {
				t.Fatalf("page %d has %d workflows and a next cursor, want %d", pages, len(page), perPage)
			}
			cursor = next
		}
	}
	if got := list(store.WorkflowFilter{}, 4); !slices.Equal(got, want) {
		t.Fatalf("all workflows in pages of 4: %v, want %v", got, want)
	}
	annOnly := store.WorkflowFilter{Visible: func(w store.Workflow) bool { return w.Owner == "ann" }}
	if got := list(annOnly, 2); !slices.Equal(got, wantAnn) {
		t.Fatalf("ann's workflows in pages of 2: %v, want %v", got, wantAnn)
	}
	if got := list(store.WorkflowFilter{Visible: func(store.Workflow) bool { return false }}, 3); len(got) != 0 {
		t.Fatalf("a filter that keeps nothing listed %v", got)
	}
	if _, _, err := s.ListWorkflows(ctx, store.WorkflowFilter{}, store.Page{Cursor: "!!"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a cursor this store never gave: got %v, want ErrInvalid", err)
	}
}

func testWorkflowDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.DeleteWorkflow(ctx, "ghost", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete of a missing workflow: got %v, want ErrNotFound", err)
	}
	mustWorkflow(t, s, "etl", "ann")
	mustWorkflow(t, s, "other", "ann")
	run := mustRun(t, s, store.Run{Workflow: "etl", Owner: "ann", TriggeredBy: "ann"})
	mustRun(t, s, store.Run{Workflow: "other", Owner: "ann", TriggeredBy: "ann"}) // active, of another workflow
	if err := s.DeleteWorkflow(ctx, "etl", nil); !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "etl") {
		t.Fatalf("delete while a run is queued: got %v, want ErrConflict naming the workflow", err)
	}
	setStatus(t, s, run.ID, store.StatusRunning)
	if err := s.DeleteWorkflow(ctx, "etl", nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete while a run is running: got %v, want ErrConflict", err)
	}
	setStatus(t, s, run.ID, store.StatusSuccess)
	if err := s.DeleteWorkflow(ctx, "etl", nil); err != nil {
		t.Fatalf("delete once its runs finished: %v", err)
	}
	if _, err := s.GetWorkflow(ctx, "etl"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: got %v, want ErrNotFound", err)
	}
	if got, err := s.GetRun(ctx, run.ID); err != nil || got.Status != store.StatusSuccess {
		t.Fatalf("the finished run of a deleted workflow: %+v %v", got, err)
	}
	if err := s.DeleteWorkflow(ctx, "etl", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: got %v, want ErrNotFound", err)
	}
}
