package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// The Call panel of a function page: the form is posted with htmx to
// /ui/apps/{app}/call/{path...}, which calls the function as any client does, through the
// API's handler in process, and answers the result (#call-result). Without htmx the whole
// function page answers, the result in it.

// callForm is the Call panel as typed.
type callForm struct {
	Method  string
	Path    string // the path called under /r/{app}: the route's, or a concrete one for :name segments
	Body    string
	Headers string // one "Name: value" per line
}

// callResult is what a call answered.
type callResult struct {
	Status     int
	StatusText string
	Headers    []headerLine
	Output     string
	Size       int  // bytes of output
	Truncated  bool // Output shows only the first maxCallDisplay bytes
	Binary     bool // the output is not UTF-8 text
	Duration   string
	CallID     string // Gantry-Call-Id: the execution the call made
	Async      bool   // 202: queued
	Err        string // the call could not be made
}

type headerLine struct{ Name, Value string }

// maxCallDisplay bounds the output the panel shows.
const maxCallDisplay = 64 << 10

var callMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions}

func init() { funcs["callMethods"] = func() []string { return callMethods } }

func (c *Console) callFunction(w http.ResponseWriter, r *http.Request) {
	app, path := r.PathValue("app"), routePath(r)
	rt, err := c.getRoute(r, app, path) // the caller's function, or the 404 page
	if err != nil {
		if e := errorOf(err); isHTMX(r) && e.Status != http.StatusUnauthorized {
			c.fragment(w, r, http.StatusOK, "function", "call-result", &callResult{Err: e.Message}, nil)
			return
		}
		c.fail(w, r, err)
		return
	}
	form := callForm{Method: strings.ToUpper(strings.TrimSpace(r.PostFormValue("method"))), Path: strings.TrimSpace(r.PostFormValue("call_path")),
		Body: r.PostFormValue("body"), Headers: r.PostFormValue("headers")}
	if form.Path == "" {
		form.Path = path
	}
	timeout := 30 * time.Second
	if rt.Timeout != nil && *rt.Timeout > 0 {
		timeout = time.Duration(*rt.Timeout) * time.Second
	}
	res := c.doCall(r, app, form, timeout+10*time.Second)
	if isHTMX(r) {
		c.fragment(w, r, http.StatusOK, "function", "call-result", res, nil)
		return
	}
	d, err := c.loadFunction(r, app, path)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Call, d.Result = form, res
	c.page(w, r, http.StatusOK, "function", app+path, "functions", d, nil)
}

// doCall calls /r/{app}{form.Path} with the API's handler: a new request with the session's
// identity, the method, body and headers typed, and nothing of the browser's request.
func (c *Console) doCall(r *http.Request, app string, form callForm, timeout time.Duration) *callResult {
	method := form.Method
	if method == "" {
		method = http.MethodPost
	}
	valid := false
	for _, m := range callMethods {
		valid = valid || m == method
	}
	if !valid {
		return &callResult{Err: fmt.Sprintf("method %q is not one the panel calls with", form.Method)}
	}
	p := form.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	before, query, _ := strings.Cut(p, "?")
	for seg := range strings.SplitSeq(before, "/") {
		if seg == ".." || seg == "." { // the call stays under /r/{app}
			return &callResult{Err: fmt.Sprintf("the path %q has a %q segment: give the path under /r/%s as it is", before, seg, app)}
		}
	}
	target := &url.URL{Path: "/r/" + app + before, RawQuery: query}
	header := http.Header{}
	for i, line := range strings.Split(form.Headers, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(strings.TrimSpace(k), " \t") {
			return &callResult{Err: fmt.Sprintf("headers line %d is not Name: value", i+1)}
		}
		header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	ctx, cancel := context.WithTimeout(as(r), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target.String(), strings.NewReader(form.Body))
	if err != nil {
		return &callResult{Err: "the call's URL is not valid: " + err.Error()}
	}
	req.Header = header
	if host := header.Get("Host"); host != "" {
		req.Host = host
		header.Del("Host")
	} else {
		req.Host = "localhost"
	}
	req.RemoteAddr = remoteAddr(ctx) // the browser's
	req.RequestURI = target.RequestURI()
	if form.Body == "" {
		req.Body = http.NoBody
	}
	rec := &recorder{header: http.Header{}}
	start := time.Now()
	c.call.ServeHTTP(rec, req)
	elapsed := time.Since(start)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	out := rec.body.Bytes()
	res := &callResult{Status: rec.status, StatusText: http.StatusText(rec.status), Size: len(out),
		Duration: formatMillis(float64(elapsed.Microseconds()) / 1000), CallID: rec.header.Get("Gantry-Call-Id"),
		Async: rec.status == http.StatusAccepted}
	if len(out) > maxCallDisplay {
		out, res.Truncated = out[:maxCallDisplay], true
	}
	res.Binary = !utf8.Valid(out) && (!res.Truncated || !utf8.Valid(trimPartialRune(out)))
	if res.Binary {
		res.Output = strings.ToValidUTF8(string(out), "\uFFFD")
	} else {
		res.Output = string(out)
	}
	names := make([]string, 0, len(rec.header))
	for k := range rec.header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range rec.header[k] {
			res.Headers = append(res.Headers, headerLine{k, v})
		}
	}
	return res
}

// trimPartialRune drops an incomplete UTF-8 sequence cut at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}
