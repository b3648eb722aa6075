package store

import (
	"fmt"
	"testing"
)

func TestMatchVisitsOneNodePerSegment(t *testing.T) {
	var tree routeTree
	for i := range 10000 {
		tree.insert(Route{Path: fmt.Sprintf("/svc%d/users/:id", i)})
		tree.insert(Route{Path: fmt.Sprintf("/svc%d/users/:id/posts/*rest", i)})
	}
	for _, path := range []string{"/svc5000/users/42", "/svc9999/users/42/posts/a/b", "/svc1/nothing/here"} {
		var visits int
		tree.matchCounting(path, &visits)
		if segs := len(splitPath(path)); visits > 2*segs+1 {
			t.Errorf("match %s visited %d nodes among 20,000 routes; want at most %d (no scan)", path, visits, 2*segs+1)
		}
	}
}
