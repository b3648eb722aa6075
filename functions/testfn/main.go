// Command testfn is Gantry's configurable test function. One binary speaks all
// three function formats; the environment variable FN_FORMAT picks one:
// "default" (also when unset), "http" or "json".
//
// # Input
//
// The input is the request body (stdin for default, the HTTP request body for
// http, the envelope's body for json). It is read as a JSON object; an empty
// or invalid body (or one whose fields have the wrong types) behaves as {}.
// The fields are applied in this order:
//
//	"stderr": "text"        write text to stderr (the call's log)
//	"sleep_ms": N           sleep N milliseconds
//	"alloc_mb": N           allocate N MiB, write every page, keep it live
//	                        until the response is written
//	"crash": true           default: die of a nil-pointer panic (exit code 2,
//	                        trace on stderr); http, json: os.Exit(2) mid-call,
//	                        without responding (the container dies)
//
// then the response body is the first of these that is set:
//
//	"output_bytes": N       N bytes of 'x'
//	"env": true             a JSON object of the environment variables whose
//	                        names start with FN_ or are listed in
//	                        "env_keys": ["NAME", ...]
//	"echo": true            the raw input, unchanged (Go's encoding/json
//	                        accepts invalid UTF-8 inside strings, so
//	                        {"echo":true,"pad":"\xff"} with a raw 0xff byte
//	                        tests binary bodies end to end)
//	"request": true         a JSON object describing the call: call_id,
//	                        method, url, host (http only), headers, params,
//	                        deadline (from the FN_* variables for default, from
//	                        the request and its Gantry-* headers for http, from
//	                        the envelope for json)
//	"connect": ["h:p", ..]  a JSON object: for each address, what an attempt
//	                        to reach it gave: "HTTP <status line>" when an
//	                        HTTP GET / over TCP was answered, "connected"
//	                        when the connection opened but nothing answered,
//	                        else "error: ..." (1 s per address)
//	"addrs": true           a JSON array of the container's own interface
//	                        addresses (CIDR form, loopback left out)
//	"files": ["/p", ..]     a JSON object: for each path, what it is, never its
//	                        content: {"sha256": hex, "size": n, "mode": "0400",
//	                        "uid": n} for a file (mode: the octal permission
//	                        bits), {"dir": true, "mode": ..., "uid": n} for a
//	                        directory, or {"error": "..."} (secrets under
//	                        /run/secrets/<name>/<key> are checked this way)
//	"write": ["/p", ..]     a JSON object: for each path, "written" when a
//	                        file could be created (or truncated) and written
//	                        there, else "error: ..." (read-only mounts)
//	otherwise               "Hello <name>!" if "name" is a non-empty string,
//	                        else "Hello World!" (no newline)
//
// and finally:
//
//	"status": N             http, json: respond with status N (200..599;
//	                        anything else is ignored, 200 is the default)
//	"header": {"K": "V"}    http, json: set these response headers
//	"header_bytes": N       http, json: add about N bytes of response headers
//	                        (X-Pad-<i>, 1000-byte values)
//	"header_count": N       http, json: add N tiny response headers (X-H-<i>: v)
//	"interim": [N, ..]      http: send these 1xx interim responses (as 103 Early
//	                        Hints, with a Link header) before the answer
//	"stray_ms": N           http: N ms after the answer, write a second, unasked-for
//	                        answer ("stray") on the same connection
//	"exit": N               default: exit with code N after writing the response
//
// Content-Type (http, json) is text/plain for greetings and output_bytes,
// application/json for env and request, and the request's own Content-Type
// (else application/octet-stream) for echo; "header" can override it.
// For http and json every response carries X-Container-Id: the container's
// hostname, so tests can count distinct containers; for http also X-Conn, the
// caller's address of the connection that carried the call. For http, GET /healthz
// answers 200 "ok" without reading the input.
//
// # Default format
//
// One container per call. The body arrives on stdin (closed after it), the
// response goes to stdout, logs to stderr; an exit code other than 0 is a
// function error. Call metadata arrives as environment variables: FN_CALL_ID,
// FN_METHOD, FN_REQUEST_URL, FN_APP_NAME, FN_PATH, FN_FORMAT, FN_MEMORY,
// FN_DEADLINE, FN_PARAM_<NAME> for route path parameters, FN_HEADER_<NAME>
// for request headers, plus the app's config overridden by the route's.
//
// # HTTP format
//
// A hot container running a plain HTTP/1.1 server on $PORT (8080 when unset).
// Gantry forwards the caller's method, path (the part after /r/{app}), query,
// headers and body, adding the request headers Gantry-Call-Id,
// Gantry-Deadline (RFC 3339) and Gantry-Param-<Name> for each route path
// parameter; the function's status, headers and body go back to the caller.
// Gantry sends one call at a time to a container.
//
// # JSON format
//
// A hot container. Gantry writes one request envelope per line on stdin:
//
//	{"call_id":"..","method":"POST","url":"/hello?x=1","headers":{"K":["v"]},
//	 "params":{"id":"42"},"deadline":"RFC 3339","body":"...","body_encoding":"base64"}
//
// body_encoding is present (and "base64", standard encoding) only when the
// body is not valid UTF-8; otherwise body is the raw text. For each request
// the function writes one response envelope per line on stdout and flushes:
//
//	{"status":200,"headers":{"K":["v"]},"body":"...","body_encoding":"base64"}
//
// status 0 or absent means 200; body_encoding follows the same rule. stderr
// is the current call's log. One call at a time; lines of any length are
// read (bufio.Reader.ReadBytes). The function exits 0 when stdin is closed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

func main() {
	host, _ := os.Hostname()
	f := &fn{environ: os.Environ(), hostname: host, stderr: os.Stderr}
	switch format := os.Getenv("FN_FORMAT"); format {
	case "", "default":
		f.crash = nilPanic
		code, err := f.serveDefault(os.Stdin, os.Stdout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testfn: %v\n", err)
			os.Exit(1)
		}
		os.Exit(code)
	case "http":
		f.crash = exit2
		if err := serveHTTP(f); err != nil {
			fmt.Fprintf(os.Stderr, "testfn: %v\n", err)
			os.Exit(1)
		}
	case "json":
		f.crash = exit2
		if err := f.serveJSON(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "testfn: %v\n", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "testfn: unknown FN_FORMAT %q (want default, http or json)\n", format)
		os.Exit(1)
	}
}

// input is the JSON object that configures one call.
type input struct {
	Name        string            `json:"name"`
	Stderr      string            `json:"stderr"`
	SleepMS     int               `json:"sleep_ms"`
	AllocMB     int               `json:"alloc_mb"`
	Crash       bool              `json:"crash"`
	OutputBytes int               `json:"output_bytes"`
	Env         bool              `json:"env"`
	EnvKeys     []string          `json:"env_keys"`
	Echo        bool              `json:"echo"`
	Request     bool              `json:"request"`
	Status      int               `json:"status"`
	Header      map[string]string `json:"header"`
	HeaderBytes int               `json:"header_bytes"`
	HeaderCount int               `json:"header_count"`
	Interim     []int             `json:"interim"`
	StrayMs     int               `json:"stray_ms"`
	Connect     []string          `json:"connect"`
	Addrs       bool              `json:"addrs"`
	Files       []string          `json:"files"`
	Write       []string          `json:"write"`
	Exit        int               `json:"exit"`
}

func parseInput(raw []byte) input {
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		return input{}
	}
	return in
}

// requestInfo is what "request": true answers, in every format.
type requestInfo struct {
	CallID   string              `json:"call_id"`
	Method   string              `json:"method"`
	URL      string              `json:"url"`
	Host     string              `json:"host,omitempty"`
	Headers  map[string][]string `json:"headers"`
	Params   map[string]string   `json:"params"`
	Deadline string              `json:"deadline"`
}

// fn holds what a call may look at; main fills it from the process.
type fn struct {
	environ  []string
	hostname string
	stderr   io.Writer
	crash    func() // never returns
}

// result is one call's response.
type result struct {
	status      int
	interim     []int // http: 1xx codes sent before the answer
	strayMs     int   // http: a stray answer follows this long after
	header      http.Header
	body        []byte
	xBytes      int    // when > 0, the body is this many 'x' instead
	keep        []byte // allocated memory kept live until the response is written
	contentType string
}

// run applies the input's fields in the documented order. reqContentType is
// the request's Content-Type (hot formats), used by echo.
func (f *fn) run(in input, raw []byte, info func() requestInfo, reqContentType string) result {
	if in.Stderr != "" {
		_, _ = io.WriteString(f.stderr, in.Stderr)
	}
	if in.SleepMS > 0 {
		time.Sleep(time.Duration(in.SleepMS) * time.Millisecond)
	}
	var res result
	if in.AllocMB > 0 {
		res.keep = make([]byte, in.AllocMB<<20)
		page := os.Getpagesize()
		for i := 0; i < len(res.keep); i += page {
			res.keep[i] = 1
		}
	}
	if in.Crash {
		f.crash()
	}
	switch {
	case in.OutputBytes > 0:
		res.xBytes = in.OutputBytes
		res.contentType = "text/plain; charset=utf-8"
	case in.Env:
		res.body = mustJSON(f.env(in.EnvKeys))
		res.contentType = "application/json"
	case in.Echo:
		res.body = raw
		res.contentType = reqContentType
		if res.contentType == "" {
			res.contentType = "application/octet-stream"
		}
	case in.Request:
		res.body = mustJSON(info())
		res.contentType = "application/json"
	case len(in.Connect) > 0:
		res.body = mustJSON(tryConnect(in.Connect))
		res.contentType = "application/json"
	case in.Addrs:
		res.body = mustJSON(ownAddrs())
		res.contentType = "application/json"
	case len(in.Files) > 0:
		res.body = mustJSON(describeFiles(in.Files))
		res.contentType = "application/json"
	case len(in.Write) > 0:
		res.body = mustJSON(tryWrite(in.Write))
		res.contentType = "application/json"
	default:
		res.body = []byte(greeting(in.Name))
		res.contentType = "text/plain; charset=utf-8"
	}
	res.status = http.StatusOK
	if in.Status >= 200 && in.Status <= 599 {
		res.status = in.Status
	}
	res.header = http.Header{}
	if f.hostname != "" {
		res.header.Set("X-Container-Id", f.hostname)
	}
	res.header.Set("Content-Type", res.contentType)
	for k, v := range in.Header {
		res.header.Set(k, v)
	}
	pad := strings.Repeat("p", 1000)
	for i := 0; i*1000 < in.HeaderBytes; i++ {
		res.header.Set("X-Pad-"+strconv.Itoa(i), pad)
	}
	for i := range in.HeaderCount {
		res.header.Set("X-H-"+strconv.Itoa(i), "v")
	}
	res.interim, res.strayMs = in.Interim, in.StrayMs
	return res
}

// tryConnect tries to reach each address over TCP with an HTTP GET, and says how far it got.
func tryConnect(addrs []string) map[string]string {
	out := make(map[string]string, len(addrs))
	for _, addr := range addrs {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			out[addr] = "error: " + err.Error()
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		line, _ := bufio.NewReader(conn).ReadString('\n')
		_ = conn.Close()
		if line = strings.TrimSpace(line); line != "" {
			out[addr] = "HTTP " + line
		} else {
			out[addr] = "connected"
		}
	}
	return out
}

// ownAddrs lists the container's interface addresses, loopback left out.
func ownAddrs() []string {
	addrs, _ := net.InterfaceAddrs()
	out := []string{}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() {
			out = append(out, a.String())
		}
	}
	return out
}

// fileInfo is what "files" tells of a path: never its content.
type fileInfo struct {
	SHA256 string `json:"sha256,omitempty"`
	Size   *int64 `json:"size,omitempty"`
	Dir    bool   `json:"dir,omitempty"`
	Mode   string `json:"mode,omitempty"`
	UID    *int64 `json:"uid,omitempty"`
	Error  string `json:"error,omitempty"`
}

// describeFiles tells, for each path, its hash, size, mode and owner.
func describeFiles(paths []string) map[string]fileInfo {
	out := make(map[string]fileInfo, len(paths))
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			out[p] = fileInfo{Error: err.Error()}
			continue
		}
		info := fileInfo{Dir: fi.IsDir(), Mode: fmt.Sprintf("%04o", fi.Mode().Perm())}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid := int64(st.Uid)
			info.UID = &uid
		}
		if !fi.IsDir() {
			b, err := os.ReadFile(p) //nolint:gosec // G304: reading the paths it is asked about is the point
			if err != nil {
				out[p] = fileInfo{Error: err.Error()}
				continue
			}
			sum := sha256.Sum256(b)
			size := int64(len(b))
			info.SHA256, info.Size = hex.EncodeToString(sum[:]), &size
		}
		out[p] = info
	}
	return out
}

// tryWrite tries to write a file at each path, and says how it went.
func tryWrite(paths []string) map[string]string {
	out := make(map[string]string, len(paths))
	for _, p := range paths {
		if err := os.WriteFile(p, []byte("testfn"), 0o600); err != nil {
			out[p] = "error: " + err.Error()
		} else {
			out[p] = "written"
		}
	}
	return out
}

func greeting(name string) string {
	if name == "" {
		return "Hello World!"
	}
	return "Hello " + name + "!"
}

// env returns the variables named FN_* or listed in keys.
func (f *fn) env(keys []string) map[string]string {
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	out := map[string]string{}
	for _, kv := range f.environ {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FN_") || want[k] {
			out[k] = v
		}
	}
	return out
}

func (f *fn) getenv(key string) string {
	for _, kv := range f.environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// bodyLen is the length of the response body.
func (r result) bodyLen() int {
	if r.xBytes > 0 {
		return r.xBytes
	}
	return len(r.body)
}

// writeBody writes the response body, streaming output_bytes in chunks.
func (r result) writeBody(w io.Writer) error {
	if r.xBytes == 0 {
		_, err := w.Write(r.body)
		return err
	}
	chunk := bytes.Repeat([]byte{'x'}, min(r.xBytes, 64<<10))
	for left := r.xBytes; left > 0; left -= len(chunk) {
		if left < len(chunk) {
			chunk = chunk[:left]
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps of strings are marshalled here; this cannot fail.
		return []byte(`{"error":` + strconv.Quote(err.Error()) + `}`)
	}
	return b
}

// nilPanic is the default format's crash: an unrecovered nil-pointer panic
// (the Go runtime prints the trace on stderr and exits with code 2).
func nilPanic() {
	var p *input
	fmt.Fprintln(os.Stderr, "testfn: crashing with a nil-pointer dereference")
	fmt.Println(p.Name) // panics
	os.Exit(2)          // not reached
}

// exit2 is the hot formats' crash: the process, and so the container, dies
// in the middle of the call.
func exit2() {
	fmt.Fprintln(os.Stderr, "testfn: crashing (exit 2)")
	os.Exit(2)
}

// serveDefault runs one default-format call and returns the exit code.
func (f *fn) serveDefault(stdin io.Reader, stdout io.Writer) (int, error) {
	raw, err := io.ReadAll(stdin)
	if err != nil {
		return 1, fmt.Errorf("read stdin: %w", err)
	}
	in := parseInput(raw)
	res := f.run(in, raw, f.infoFromEnv, "")
	if err := res.writeBody(stdout); err != nil {
		return 1, fmt.Errorf("write stdout: %w", err)
	}
	runtime.KeepAlive(res.keep)
	return in.Exit, nil
}

// infoFromEnv describes a default-format call from its FN_* variables.
// Header and param names are the variable names after the prefix.
func (f *fn) infoFromEnv() requestInfo {
	info := requestInfo{
		CallID:   f.getenv("FN_CALL_ID"),
		Method:   f.getenv("FN_METHOD"),
		URL:      f.getenv("FN_REQUEST_URL"),
		Deadline: f.getenv("FN_DEADLINE"),
		Headers:  map[string][]string{},
		Params:   map[string]string{},
	}
	for _, kv := range f.environ {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, "FN_HEADER_"); ok {
			info.Headers[name] = []string{v}
		}
		if name, ok := strings.CutPrefix(k, "FN_PARAM_"); ok {
			info.Params[name] = v
		}
	}
	return info
}

// serveHTTP runs the http format's server on $PORT until SIGTERM or SIGINT.
func serveHTTP(f *fn) error {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	srv := &http.Server{Addr: ":" + port, Handler: f, ReadHeaderTimeout: 10 * time.Second}
	// TESTFN_IDLE_TIMEOUT_MS makes the server close idle keep-alive connections, as Node's does after 5s.
	if ms, err := strconv.Atoi(os.Getenv("TESTFN_IDLE_TIMEOUT_MS")); err == nil && ms > 0 {
		srv.IdleTimeout = time.Duration(ms) * time.Millisecond
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 2)
	go func() { errc <- srv.ListenAndServe() }()
	// TESTFN_UNIX_SOCKET serves the same handler on a Unix socket too: the runner's transport
	// benchmark compares it with TCP over the bridge.
	if path := os.Getenv("TESTFN_UNIX_SOCKET"); path != "" {
		ln, err := net.Listen("unix", path)
		if err != nil {
			return err
		}
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// ServeHTTP answers one http-format call.
func (f *fn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.hostname != "" {
		w.Header().Set("X-Container-Id", f.hostname)
	}
	w.Header().Set("X-Conn", r.RemoteAddr) // which connection carried the call
	if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	info := func() requestInfo {
		ri := requestInfo{
			CallID:   r.Header.Get("Gantry-Call-Id"),
			Method:   r.Method,
			URL:      r.URL.RequestURI(),
			Host:     r.Host,
			Headers:  r.Header,
			Params:   map[string]string{},
			Deadline: r.Header.Get("Gantry-Deadline"),
		}
		for k, v := range r.Header {
			if name, ok := strings.CutPrefix(k, "Gantry-Param-"); ok && len(v) > 0 {
				ri.Params[name] = v[0]
			}
		}
		return ri
	}
	res := f.run(parseInput(raw), raw, info, r.Header.Get("Content-Type"))
	for _, code := range res.interim {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(code)
		w.Header().Del("Link")
	}
	for k, v := range res.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(res.bodyLen()))
	if res.strayMs > 0 {
		f.answerThenStray(w, res)
		return
	}
	w.WriteHeader(res.status)
	if err := res.writeBody(w); err != nil {
		fmt.Fprintf(f.stderr, "testfn: write response: %v\n", err)
	}
	runtime.KeepAlive(res.keep)
}

// answerThenStray answers on the raw connection, then writes an answer nobody asked for
// on it, as a broken server might: the next request on the connection must not get it.
func (f *fn) answerThenStray(w http.ResponseWriter, res result) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		fmt.Fprintf(f.stderr, "testfn: hijack: %v\n", err)
		return
	}
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", res.status, http.StatusText(res.status))
	_ = w.Header().Write(buf)
	_, _ = buf.WriteString("\r\n")
	_ = res.writeBody(buf)
	_ = buf.Flush()
	go func() {
		time.Sleep(time.Duration(res.strayMs) * time.Millisecond)
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")
		time.Sleep(time.Minute) // the connection stays open, never read again
		_ = conn.Close()
	}()
}

// envelope is a json-format request.
type envelope struct {
	CallID       string              `json:"call_id"`
	Method       string              `json:"method"`
	URL          string              `json:"url"`
	Headers      map[string][]string `json:"headers"`
	Params       map[string]string   `json:"params"`
	Deadline     string              `json:"deadline"`
	Body         string              `json:"body"`
	BodyEncoding string              `json:"body_encoding,omitempty"`
}

// reply is a json-format response.
type reply struct {
	Status       int                 `json:"status,omitempty"`
	Headers      map[string][]string `json:"headers,omitempty"`
	Body         string              `json:"body"`
	BodyEncoding string              `json:"body_encoding,omitempty"`
}

// serveJSON answers json-format envelopes until stdin is closed.
func (f *fn) serveJSON(stdin io.Reader, stdout io.Writer) error {
	in := bufio.NewReader(stdin)
	out := bufio.NewWriter(stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if werr := enc.Encode(f.handleEnvelope(line)); werr != nil {
				return fmt.Errorf("write response: %w", werr)
			}
			if werr := out.Flush(); werr != nil {
				return fmt.Errorf("write response: %w", werr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read request: %w", err)
		}
	}
}

func (f *fn) handleEnvelope(line []byte) reply {
	hdr := map[string][]string{}
	if f.hostname != "" {
		hdr["X-Container-Id"] = []string{f.hostname}
	}
	var req envelope
	if err := json.Unmarshal(line, &req); err != nil {
		fmt.Fprintf(f.stderr, "testfn: invalid request envelope: %v\n", err)
		return reply{Status: 500, Headers: hdr, Body: "invalid request envelope: " + err.Error()}
	}
	raw := []byte(req.Body)
	if req.BodyEncoding == "base64" {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			fmt.Fprintf(f.stderr, "testfn: invalid base64 body: %v\n", err)
			return reply{Status: 500, Headers: hdr, Body: "invalid base64 body: " + err.Error()}
		}
	}
	info := func() requestInfo {
		ri := requestInfo{
			CallID:   req.CallID,
			Method:   req.Method,
			URL:      req.URL,
			Headers:  req.Headers,
			Params:   req.Params,
			Deadline: req.Deadline,
		}
		if ri.Headers == nil {
			ri.Headers = map[string][]string{}
		}
		if ri.Params == nil {
			ri.Params = map[string]string{}
		}
		return ri
	}
	res := f.run(parseInput(raw), raw, info, headerValue(req.Headers, "Content-Type"))
	var body bytes.Buffer
	body.Grow(res.bodyLen())
	_ = res.writeBody(&body) // a bytes.Buffer does not fail
	runtime.KeepAlive(res.keep)
	rep := reply{Status: res.status, Headers: map[string][]string(res.header)}
	if utf8.Valid(body.Bytes()) {
		rep.Body = body.String()
	} else {
		rep.Body = base64.StdEncoding.EncodeToString(body.Bytes())
		rep.BodyEncoding = "base64"
	}
	return rep
}

// headerValue is the first value of a header, matched case-insensitively.
func headerValue(h map[string][]string, name string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic when a name appears in several spellings
	for _, k := range keys {
		if strings.EqualFold(k, name) && len(h[k]) > 0 {
			return h[k][0]
		}
	}
	return ""
}
