package console

import (
	"net/http"
	"net/url"
	"strconv"
)

// pageLinks are a list's links: the first page and the next one, both keeping the filters
// of the request's URL, so that every list view is a shareable link.
type pageLinks struct {
	First string // "" on the first page
	Next  string // "" on the last page
}

func pager(r *http.Request, nextCursor string) pageLinks {
	var l pageLinks
	q := r.URL.Query()
	if q.Get("cursor") != "" {
		first := cloneValues(q)
		first.Del("cursor")
		l.First = withQuery(r.URL.Path, first)
	}
	if nextCursor != "" {
		next := cloneValues(q)
		next.Set("cursor", nextCursor)
		l.Next = withQuery(r.URL.Path, next)
	}
	return l
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		if len(v) > 0 && v[0] != "" {
			out[k] = append([]string(nil), v...)
		}
	}
	return out
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// optional returns a pointer to the query parameter's value, nil when absent or empty (a
// filter not set).
func optional(r *http.Request, name string) *string {
	if v := r.URL.Query().Get(name); v != "" {
		return &v
	}
	return nil
}

// perPage reads ?per_page= for the API (nil: its default); the API checks its bounds.
func perPage(r *http.Request) *int64 {
	v := r.URL.Query().Get("per_page")
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		n = -1 // the API refuses it, naming per_page
	}
	return &n
}
