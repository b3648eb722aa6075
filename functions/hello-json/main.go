// Command hello-json is Gantry's example function in the json format.
//
// JSON format protocol (a hot container serving many calls, one at a time):
//
//   - Gantry writes one request envelope per line (a JSON object followed by
//     "\n") on stdin:
//
//     {"call_id":"..","method":"POST","url":"/hello?x=1","headers":{"K":["v"]},
//     "params":{"id":"42"},"deadline":"2006-01-02T15:04:05Z","body":"..."}
//
//     url is the part after /r/{app}, with the query; params are the route
//     path parameters; deadline is RFC 3339. body is the raw request body as
//     text; when the body is not valid UTF-8 it is base64 (standard encoding)
//     and the envelope carries "body_encoding":"base64".
//
//   - For each request the function writes exactly one response envelope per
//     line on stdout, and flushes stdout after it:
//
//     {"status":200,"headers":{"K":["v"]},"body":"...","body_encoding":"base64"}
//
//     status 0 or absent means 200; body_encoding is "base64" only when the
//     body is base64 (for bodies that are not valid UTF-8), else omitted.
//
//   - Anything written to stderr is the current call's log.
//
//   - Gantry sends the next request only after the previous response, and
//     closes stdin to stop the container. Lines may be several MiB long; read
//     them with bufio.Reader.ReadBytes (or a Scanner with a large buffer).
//
//   - The container's environment holds the app and route config and FN_FORMAT.
//
// hello-json answers each request with "Hello <name>!" when the body is a
// JSON object with a non-empty "name" string, else "Hello World!", with
// Content-Type text/plain.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

type request struct {
	CallID       string              `json:"call_id"`
	Method       string              `json:"method"`
	URL          string              `json:"url"`
	Headers      map[string][]string `json:"headers"`
	Params       map[string]string   `json:"params"`
	Deadline     string              `json:"deadline"`
	Body         string              `json:"body"`
	BodyEncoding string              `json:"body_encoding,omitempty"`
}

type response struct {
	Status       int                 `json:"status,omitempty"`
	Headers      map[string][]string `json:"headers,omitempty"`
	Body         string              `json:"body"`
	BodyEncoding string              `json:"body_encoding,omitempty"`
}

func main() {
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if werr := enc.Encode(handle(line)); werr != nil {
				fmt.Fprintf(os.Stderr, "write response: %v\n", werr)
				os.Exit(1)
			}
			if werr := out.Flush(); werr != nil {
				fmt.Fprintf(os.Stderr, "write response: %v\n", werr)
				os.Exit(1)
			}
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "read request: %v\n", err)
			os.Exit(1)
		}
	}
}

func handle(line []byte) response {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return response{Status: 500, Body: "invalid request envelope: " + err.Error()}
	}
	body := []byte(req.Body)
	if req.BodyEncoding == "base64" {
		var err error
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return response{Status: 500, Body: "invalid base64 body: " + err.Error()}
		}
	}
	return response{
		Status:  200,
		Headers: map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:    greeting(body),
	}
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
