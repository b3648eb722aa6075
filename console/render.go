package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"strings"
	"time"
)

// pages are the console's templates: each page file (templates/NAME.html) is parsed with
// the layout and the shared partials, and defines "title" and "content", and may define
// fragments that htmx requests and event streams render alone.
type pages struct {
	sets map[string]*template.Template
}

func loadPages() (*pages, error) {
	base := template.New("").Funcs(funcs)
	shared := []string{"templates/layout.html", "templates/partials.html"}
	for _, f := range shared {
		b, err := files.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if _, err := base.New(f).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, f := range names {
		if f == shared[0] || f == shared[1] {
			continue
		}
		b, err := files.ReadFile(f)
		if err != nil {
			return nil, err
		}
		set, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := set.New(f).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		p.sets[strings.TrimSuffix(path.Base(f), ".html")] = set
	}
	return p, nil
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string // the menu entry to highlight
	Who   *session
	CSRF  string
	// AuthOff tells that authentication is off (no sign-out; everyone is admin).
	AuthOff bool
	// Err is an error of the API shown inline (a form's, a list's).
	Err  *apiError
	Data any
}

// page renders a whole page: the layout around page's "content".
func (c *Console) page(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any, err *apiError) {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	v := view{Title: title, Nav: nav, Who: s, CSRF: c.csrfToken(w, r), AuthOff: c.auth == nil, Err: err, Data: data}
	c.execute(w, status, name, "layout", v)
}

// fragment renders one named template of a page alone (an htmx swap, an event's data).
func (c *Console) fragment(w http.ResponseWriter, r *http.Request, status int, name, tmpl string, data any, err *apiError) {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	v := view{Who: s, CSRF: c.csrfToken(w, r), AuthOff: c.auth == nil, Err: err, Data: data}
	c.execute(w, status, name, tmpl, v)
}

// renderString renders a named template of a page to a string (the data of an event).
func (c *Console) renderString(name, tmpl string, v view) (string, error) {
	set, ok := c.pages.sets[name]
	if !ok {
		return "", fmt.Errorf("no page template %q", name)
	}
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, tmpl, v); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func (c *Console) execute(w http.ResponseWriter, status int, name, tmpl string, v view) {
	set, ok := c.pages.sets[name]
	if !ok {
		c.log.Error("console: no page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer // rendered whole first: a template error is never half a page
	if err := set.ExecuteTemplate(&buf, tmpl, v); err != nil {
		c.log.Error("console: render", "page", name, "template", tmpl, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows an error of the API as a page: 404 as the not-found page, 401 as the sign-in
// page (the session ended meanwhile), any other as an error page with the API's message.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := errorOf(err)
	switch {
	case e.Status == http.StatusUnauthorized:
		c.toSignIn(w, r)
	case e.Status == http.StatusNotFound:
		c.notFound(w, r, e.Message)
	case e.Status >= 500 && e.Status != http.StatusBadGateway && e.Status != http.StatusServiceUnavailable && e.Status != http.StatusGatewayTimeout:
		c.serverError(w, r, err)
	default:
		c.page(w, r, e.Status, "error", http.StatusText(e.Status), "", nil, e)
	}
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request, msg string) {
	c.page(w, r, http.StatusNotFound, "error", "Not found", "", nil, &apiError{Status: http.StatusNotFound, Message: msg})
}

func (c *Console) forbidden(w http.ResponseWriter, r *http.Request, msg string) {
	c.page(w, r, http.StatusForbidden, "error", "Forbidden", "", nil, &apiError{Status: http.StatusForbidden, Message: msg})
}

func (c *Console) serverError(w http.ResponseWriter, r *http.Request, err error) {
	c.log.Error("console", "path", r.URL.Path, "err", err)
	c.page(w, r, http.StatusInternalServerError, "error", "Error", "", nil,
		&apiError{Status: http.StatusInternalServerError, Message: "something went wrong in Gantry; the server's log has the cause"})
}

var funcs = template.FuncMap{
	// when shows a time in UTC, which app.js rewrites into the browser's zone, the UTC
	// value staying on hover.
	"when": func(t any) template.HTML {
		var tt time.Time
		if rv := reflect.ValueOf(t); !rv.IsValid() || (rv.Kind() == reflect.Pointer && rv.IsNil()) {
			return "" // no time (a nil *strfmt.DateTime too)
		}
		switch v := t.(type) {
		case time.Time:
			tt = v
		case *time.Time:
			if v == nil {
				return ""
			}
			tt = *v
		case fmt.Stringer: // strfmt.DateTime
			p, err := time.Parse(time.RFC3339Nano, v.String())
			if err != nil {
				return template.HTML(template.HTMLEscapeString(v.String())) //nolint:gosec // G203: escaped here
			}
			tt = p
		default:
			return ""
		}
		if tt.IsZero() {
			return ""
		}
		u := tt.UTC()
		return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`, //nolint:gosec // G203: made of formatted times only
			u.Format(time.RFC3339Nano), u.Format("2006-01-02 15:04:05 UTC"), u.Format("2006-01-02 15:04:05 UTC")))
	},
	"ms": func(d any) string {
		switch v := d.(type) {
		case int64:
			return formatMillis(float64(v))
		case float64:
			return formatMillis(v)
		case int:
			return formatMillis(float64(v))
		}
		return ""
	},
	"pathEscape":  url.PathEscape,
	"queryEscape": url.QueryEscape,
	// link builds base?k=v&... keeping only the non-empty values (filters, cursors).
	"link": func(base string, kv ...string) string {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				q.Set(kv[i], kv[i+1])
			}
		}
		if len(q) == 0 {
			return base
		}
		return base + "?" + q.Encode()
	},
	"json": func(v any) string {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err.Error()
		}
		return string(b)
	},
	"deref": func(p any) any {
		switch v := p.(type) {
		case *string:
			if v == nil {
				return ""
			}
			return *v
		case *int64:
			if v == nil {
				return int64(0)
			}
			return *v
		case *bool:
			return v != nil && *v
		}
		return p
	},
	// fieldError is the message of err when it names field, for the form's input.
	"fieldError": func(err *apiError, field string) string {
		if err == nil || field == "" {
			return ""
		}
		for f := range strings.SplitSeq(err.Fields, ",") {
			if strings.TrimSpace(f) == field || strings.HasPrefix(strings.TrimSpace(f), field+".") {
				return err.Message
			}
		}
		return ""
	},
}

func templateEscape(s string) string { return template.HTMLEscapeString(s) }

func formatMillis(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0f ms", ms)
	default:
		return fmt.Sprintf("%.2f s", ms/1000)
	}
}
