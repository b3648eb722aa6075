// Command hello-http is Gantry's example function in the http format.
//
// HTTP format protocol (a hot container serving many calls, one at a time):
//
//   - The function runs a plain HTTP/1.1 server on the port in $PORT
//     (8080 when unset), on all interfaces.
//   - Gantry forwards the caller's method, path (the part after /r/{app}),
//     query, headers and body, and adds the request headers Gantry-Call-Id,
//     Gantry-Deadline (RFC 3339) and Gantry-Param-<Name> for each route path
//     parameter.
//   - The function's status, headers and body go back to the caller.
//   - Gantry sends one call at a time to a container.
//   - Anything written to stdout or stderr is logged.
//   - The container's environment holds the app and route config and FN_FORMAT.
//
// hello-http answers every request the same way: "Hello <name>!" when the
// body is a JSON object with a non-empty "name" string, else "Hello World!",
// with Content-Type text/plain.
package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	srv := &http.Server{
		Addr:              ":" + port,
		Handler:           http.HandlerFunc(hello),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}

func hello(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, greeting(body))
}

// greeting answers "Hello <name>!" for a JSON body with a non-empty "name"
// string, and "Hello World!" for anything else.
func greeting(body []byte) string {
	var in struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(body, &in) != nil || in.Name == "" {
		return "Hello World!"
	}
	return "Hello " + in.Name + "!"
}
