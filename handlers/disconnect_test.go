package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

// bigFillerApp makes the app shop with its route /hello, that subscriptions and schedules call.
func bigFillerApp(t *testing.T, f *authFixture) {
	t.Helper()
	if _, err := f.s.CreateApp(context.Background(), store.App{Name: "shop", Owner: "admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CreateRoute(context.Background(), store.Route{App: "shop", Path: "/hello", Image: "img"}, nil); err != nil {
		t.Fatal(err)
	}
}

// listFillers store enough of what each list operation answers for a page of it to be far
// larger than what the sockets below buffer, so that the server is still writing when the
// client goes away. A list operation added to the spec needs one here.
var listFillers = map[string]func(t *testing.T, f *authFixture){
	"listImages": func(t *testing.T, f *authFixture) {
		for i := range 100 {
			img := store.Image{Name: fmt.Sprintf("big-%03d", i), Owner: "admin", Source: store.ImageSourceBuild, Status: store.ImageError,
				Error: strings.Repeat("e", 2048), Build: f.s.NewID()}
			img.ApplyDefaults()
			if _, err := f.s.CreateImage(context.Background(), img); err != nil {
				t.Fatal(err)
			}
		}
	},
	"listFunctions": func(t *testing.T, f *authFixture) {
		if _, err := f.s.CreateApp(context.Background(), store.App{Name: "shop", Owner: "admin"}); err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			r := store.Route{App: "shop", Path: fmt.Sprintf("/r%03d/%s", i, strings.Repeat("p", 1000)), Image: "img/" + strings.Repeat("i", 500)}
			if _, err := f.s.CreateRoute(context.Background(), r, nil); err != nil {
				t.Fatal(err)
			}
		}
	},
	"getStats": func(t *testing.T, f *authFixture) {
		var hot []store.RouteHot
		for i := range 100 {
			hot = append(hot, store.RouteHot{App: "shop", Path: fmt.Sprintf("/r%03d/%s", i, strings.Repeat("p", 1000)), Containers: 1})
		}
		if err := f.s.Heartbeat(context.Background(), store.NodeInfo{ID: "node-1", Hot: len(hot), HotRoutes: hot}); err != nil {
			t.Fatal(err)
		}
	},
	"listApps": func(t *testing.T, f *authFixture) {
		for i := range 100 {
			if _, err := f.s.CreateApp(context.Background(), store.App{Name: fmt.Sprintf("big-%03d", i), Owner: "admin", Config: map[string]string{"PAD": strings.Repeat("x", 2048)}}); err != nil {
				t.Fatal(err)
			}
		}
	},
	"listRoutes": func(t *testing.T, f *authFixture) {
		if _, err := f.s.CreateApp(context.Background(), store.App{Name: "shop", Owner: "admin"}); err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			r := store.Route{App: "shop", Path: fmt.Sprintf("/r%03d", i), Image: "img", Config: map[string]string{"PAD": strings.Repeat("x", 2048)}}
			if _, err := f.s.CreateRoute(context.Background(), r, nil); err != nil {
				t.Fatal(err)
			}
		}
	},
	"listApis": func(t *testing.T, f *authFixture) {
		for i := range 100 {
			uris := make([]string, 40)
			for j := range uris {
				uris[j] = fmt.Sprintf(`"/api-%03d/some/longer/path/%02d"`, i, j)
			}
			body := fmt.Sprintf(`{"api":{"name":"big-%03d","function":{"app":"x","route":"/y"},"uris":[%s]}}`, i, strings.Join(uris, ","))
			expect(t, f.as(t, f.admin, "POST", "/v1/apis", body), http.StatusCreated)
		}
	},
	"listExecutions": func(t *testing.T, f *authFixture) {
		now := time.Now()
		for range 100 {
			f.s.RecordExecution(store.Execution{ID: f.s.NewID(), App: "shop", Route: "/hello", Type: store.TypeSync, Status: store.StatusFailed,
				Reason: store.ReasonBadExit, Error: strings.Repeat("e", 2048), CreatedAt: now, StartedAt: now, CompletedAt: now}, nil)
		}
		if err := f.s.FlushExecutions(context.Background()); err != nil {
			t.Fatal(err)
		}
	},
	"listEvents": func(t *testing.T, f *authFixture) {
		evs := make([]store.Event, 100)
		for i := range evs {
			evs[i] = store.Event{EventID: fmt.Sprint(i), Source: "/big", Type: "com.example.big", SpecVersion: "1.0", Owner: "admin", Public: true,
				DataContentType: "text/plain", Data: []byte(strings.Repeat("x", 2048))}
		}
		if _, err := f.events.Publish(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	},
	"listSubscriptions": func(t *testing.T, f *authFixture) {
		bigFillerApp(t, f)
		for i := range 100 {
			body := fmt.Sprintf(`{"subscription":{"name":"big-%03d","filter":{"type":"com.example.big","source":"/%s","subject":"%[2]s"},"target":{"function":{"app":"shop","path":"/hello"}}}}`, i, strings.Repeat("s", 1000))
			expect(t, f.as(t, f.admin, "POST", "/v1/subscriptions", body), http.StatusCreated)
		}
	},
	"listSchedules": func(t *testing.T, f *authFixture) {
		bigFillerApp(t, f)
		for i := range 100 {
			body := fmt.Sprintf(`{"schedule":{"name":"big-%03d","cron":"@hourly","target":{"call":{"app":"shop","path":"/hello","body":"%s"}}}}`, i, strings.Repeat("b", 2048))
			expect(t, f.as(t, f.admin, "POST", "/v1/schedules", body), http.StatusCreated)
		}
	},
	"listDeadLetters": func(t *testing.T, f *authFixture) { // of the subscription "flow"
		bigFillerApp(t, f)
		expect(t, f.as(t, f.admin, "POST", "/v1/subscriptions", `{"subscription":{"name":"flow","filter":{"type":"com.example.big"},"target":{"function":{"app":"shop","path":"/hello"}},"retry":{"max_attempts":1}}}`), http.StatusCreated)
		evs := make([]store.Event, 100)
		for i := range evs {
			evs[i] = store.Event{EventID: fmt.Sprint(i), Source: "/big", Type: "com.example.big", SpecVersion: "1.0", Owner: "admin", Public: true}
		}
		if _, err := f.events.Publish(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		res := f.as(t, f.admin, "GET", "/v1/tasks?runner=r1&n=100", "")
		expect(t, res, http.StatusOK)
		for _, task := range get(res.body, "tasks").([]any) {
			id, _ := get(task, "id").(string)
			expect(t, f.as(t, f.admin, "POST", "/v1/tasks/"+id+"/result", `{"runner":"r1","status":"FAILED","error":"`+strings.Repeat("e", 512)+`"}`), http.StatusOK)
		}
	},
	"listWorkflows": func(t *testing.T, f *authFixture) {
		for i := range 100 {
			def := fmt.Sprintf(`{"description":%q,"steps":[{"name":"nap","sleep":"1s"}]}`, strings.Repeat("d", 2048))
			if _, _, err := f.s.PutWorkflow(context.Background(), store.Workflow{Name: fmt.Sprintf("wf-%03d", i), Owner: "admin", Definition: json.RawMessage(def)}, nil); err != nil {
				t.Fatal(err)
			}
		}
	},
	"getExecutionEvents": func(t *testing.T, f *authFixture) {
		events := make([]store.RunEvent, 1000)
		for i := range events {
			events[i] = store.RunEvent{Type: store.EventStepStarted, Time: time.Now(), Step: "s", Message: strings.Repeat("m", 256)}
		}
		run := store.Run{ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Workflow: "flow", Owner: "admin", TriggeredBy: "admin", Status: store.StatusQueued}
		if _, _, err := f.s.CreateRun(context.Background(), run, events); err != nil {
			t.Fatal(err)
		}
	},
	"listTokens": func(t *testing.T, f *authFixture) {
		for i := range 100 {
			id := f.s.NewID()
			_, hash := auth.NewSecret(id)
			tok := store.Token{ID: id, Name: fmt.Sprintf("%03d", i) + strings.Repeat("n", 250), User: strings.Repeat("u", 255), Role: "developer", Hash: hash, CreatedBy: strings.Repeat("c", 255)}
			if _, err := f.s.CreateToken(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
		}
	},
	"listSecrets": func(t *testing.T, f *authFixture) {
		data := map[string][]byte{}
		for k := range 16 {
			data[fmt.Sprintf("%02d", k)+strings.Repeat("k", 61)] = []byte("v")
		}
		for i := range 100 {
			name := fmt.Sprintf("big-%03d", i) + strings.Repeat("s", 56)
			if _, _, err := f.secrets.PutSecret(context.Background(), name, "admin", strings.Repeat("c", 255), data, nil); err != nil {
				t.Fatal(err)
			}
		}
	},
	"listNodes": func(t *testing.T, f *authFixture) {
		for i := range 100 {
			n := store.NodeInfo{ID: fmt.Sprintf("node-%03d", i), Run: "r", Version: strings.Repeat("v", 2048), Addr: "10.0.0.1:8080"}
			if err := f.s.Heartbeat(context.Background(), n); err != nil {
				t.Fatal(err)
			}
		}
	},
	"leaseTasks": func(t *testing.T, f *authFixture) {
		rt := store.Route{App: "shop", Path: "/hello", Image: "img"}
		for range 100 {
			task := store.Task{ID: f.s.NewID(), Route: rt, Method: "POST", URL: "/hello", Body: []byte(strings.Repeat("b", 2048))}
			if err := f.s.EnqueueTask(context.Background(), task, store.Execution{App: "shop", Route: "/hello", Type: store.TypeAsync}); err != nil {
				t.Fatal(err)
			}
		}
	},
}

// smallSendBuffers makes the server's sockets buffer little, so that a large answer blocks
// in its writes until the client reads it or goes away.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// writeErrorSpy remembers whether a write to the client failed: proof that the client was
// gone while the answer was being written, which is what the test is about.
type writeErrorSpy struct {
	http.ResponseWriter
	err error
}

func (w *writeErrorSpy) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

func (w *writeErrorSpy) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestClientGoneMidAnswerIsNoPanic walks every list operation of the spec: a client asks for
// a large page, reads a few bytes and resets the connection (TCP linger 0). The server's
// write fails, which is the client's doing, not a bug of Gantry: neither the server's error
// log nor Gantry's log may say "panic".
func TestClientGoneMidAnswerIsNoPanic(t *testing.T) {
	ops := specOperations(t, map[string]string{"app": "shop", "route": "hello", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "api": "shop-api", "name": "flow", "user_id": "alice", "key": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})
	lists := 0
	for _, o := range ops {
		if !o.list {
			continue
		}
		lists++
		t.Run(o.id+" survives a client that resets the connection mid-answer", func(t *testing.T) {
			fill, ok := listFillers[o.id]
			if !ok {
				t.Fatalf("%s is a list operation: add a filler to listFillers", o.id)
			}
			f := newAuthFixture(t)
			fill(t, f)

			served := make(chan *writeErrorSpy, 1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				spy := &writeErrorSpy{ResponseWriter: w}
				defer func() { served <- spy }() // also when a panic escapes to net/http
				f.h.ServeHTTP(spy, r)
			}))
			var serverLog syncBuffer
			srv.Config.ErrorLog = log.New(&serverLog, "", 0)
			srv.Listener = smallSendBuffers{srv.Listener}
			srv.Start()
			defer srv.Close()

			path := o.path
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			if len(o.most) > 0 {
				path += sep + strings.Join(o.most, "&")
			}
			d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
				var serr error
				if err := c.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
				}); err != nil {
					return err
				}
				return serr
			}}
			conn, err := d.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: gantry\r\nAuthorization: Bearer %s\r\n\r\n", path, f.admin)
			status, err := bufio.NewReaderSize(conn, 16).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(status, " 200 ") {
				t.Fatalf("GET %s: %q, want 200", path, status)
			}
			_ = conn.(*net.TCPConn).SetLinger(0)
			conn.Close() // RST: the server's next write fails

			var spy *writeErrorSpy
			select {
			case spy = <-served:
			case <-time.After(30 * time.Second):
				t.Fatal("the handler did not return after the client went away")
			}
			if spy.err == nil {
				t.Fatalf("GET %s: every write succeeded: the answer was too small to outlast the client, so this proves nothing", path)
			}
			srv.Close() // waits for the connection to be done, and its logging with it
			for name, logged := range map[string]string{"server error log": serverLog.String(), "Gantry log": f.log.String()} {
				if strings.Contains(strings.ToLower(logged), "panic") {
					t.Errorf("GET %s, client gone (%v): the %s says panic:\n%s", path, spy.err, name, logged)
				}
			}
			if strings.Contains(f.log.String(), "level=ERROR") {
				t.Errorf("a client gone is logged as an error:\n%s", f.log.String())
			}
		})
	}
	if lists < 5 {
		t.Fatalf("only %d list operations found in the spec", lists)
	}
}

// failingWriter is a connection the client has reset: every write fails.
type failingWriter struct {
	*httptest.ResponseRecorder
	err error
}

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestRecoverPanicsTellsAGoneClientFromABug: only the panic with the error a write to the
// client returned is the client's doing; every other panic is a bug, logged with a 500.
func TestRecoverPanicsTellsAGoneClientFromABug(t *testing.T) {
	reset := &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	for _, c := range []struct {
		name    string
		handler func(w http.ResponseWriter)
		bug     bool
	}{
		{"a panic with the failed write's error is the client gone", func(w http.ResponseWriter) {
			if _, err := w.Write([]byte("{}")); err != nil {
				panic(err)
			}
		}, false},
		{"a panic with the failed write's error wrapped is the client gone", func(w http.ResponseWriter) {
			if _, err := w.Write([]byte("{}")); err != nil {
				panic(fmt.Errorf("produce: %w", err))
			}
		}, false},
		{"a panic with another error after a failed write is a bug", func(w http.ResponseWriter) {
			_, _ = w.Write([]byte("{}"))
			panic(errors.New("nil map"))
		}, true},
		{"a panic with a connection error no write returned is a bug", func(http.ResponseWriter) {
			panic(reset)
		}, true},
		{"a panic that is not an error is a bug", func(w http.ResponseWriter) {
			_, _ = w.Write([]byte("{}"))
			panic("index out of range")
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logged syncBuffer
			a := New(Deps{Log: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			rec := httptest.NewRecorder()
			a.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { c.handler(w) })).
				ServeHTTP(failingWriter{ResponseRecorder: rec, err: reset}, httptest.NewRequest("GET", "/v1/apps", nil))
			bugLogged := strings.Contains(logged.String(), "panic serving request") && strings.Contains(logged.String(), "level=ERROR")
			if bugLogged != c.bug {
				t.Fatalf("logged as a bug: %v, want %v; log:\n%s", bugLogged, c.bug, logged.String())
			}
			if c.bug && rec.Code != http.StatusInternalServerError {
				t.Fatalf("a bug answers %d, want 500", rec.Code)
			}
			if !c.bug && !strings.Contains(logged.String(), "level=DEBUG") {
				t.Fatalf("a client gone is not logged at debug level:\n%s", logged.String())
			}
		})
	}
	t.Run("a bug answers the error shape of its surface", func(t *testing.T) {
		for _, c := range []struct{ path, want string }{
			{"/v1/apps", `{"error":{"message":"internal server error"}}`},
			{"/waas/workflows", `{"errors":[{"detail":"internal server error","id":"internal_server_error","status":500,"title":"Internal Server Error"}]}`},
		} {
			rec := httptest.NewRecorder()
			New(Deps{}).recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("index out of range") })).
				ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
			if rec.Code != http.StatusInternalServerError || strings.TrimSpace(rec.Body.String()) != c.want {
				t.Errorf("%s: %d %s, want 500 %s", c.path, rec.Code, rec.Body.String(), c.want)
			}
		}
	})
	t.Run("an aborted handler is left to net/http", func(t *testing.T) {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Fatalf("recovered %v, want http.ErrAbortHandler passed on", v)
			}
		}()
		New(Deps{}).recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })).
			ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	})
}
