package runner

import (
	"cmp"
	"slices"
)

// hotRoute names the route a hot container serves.
type hotRoute struct{ app, path string }

// HotRoute is how many hot containers the runner keeps for one route.
type HotRoute struct {
	App, Path  string
	Containers int
}

// countHot moves the count of route's hot containers by delta.
func (r *Runner) countHot(route hotRoute, delta int) {
	r.hotMu.Lock()
	defer r.hotMu.Unlock()
	if r.hotBy == nil {
		r.hotBy = map[hotRoute]int{}
	}
	if n := r.hotBy[route] + delta; n > 0 {
		r.hotBy[route] = n
	} else {
		delete(r.hotBy, route)
	}
}

// HotRoutes breaks HotContainers down by route: the routes with at least one hot
// container, in app then path order.
func (r *Runner) HotRoutes() []HotRoute {
	r.hotMu.Lock()
	out := make([]HotRoute, 0, len(r.hotBy))
	for k, n := range r.hotBy {
		out = append(out, HotRoute{App: k.app, Path: k.path, Containers: n})
	}
	r.hotMu.Unlock()
	slices.SortFunc(out, func(a, b HotRoute) int { return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Path, b.Path)) })
	return out
}
