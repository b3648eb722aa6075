// Command ironfn is a function written for IronFunctions, not for Gantry: it reads only
// the environment names IronFunctions gave a function of the default format (METHOD,
// ROUTE, REQUEST_URL, APP_NAME, CALL_ID, FORMAT, MEMORY_MB, TYPE, HEADER_<NAME>,
// PARAM_<NAME>) and stdin, none of Gantry's FN_ variables. Gantry sets those names beside
// its own (runner/spec.go), so that such images run unchanged; the runner's tests run
// this one to check it.
//
// It writes one JSON object to stdout: {"method", "route", "request_url", "app_name",
// "call_id", "format", "memory_mb", "type", "headers": {"X_THING": ...}, "params":
// {"ID": ...}, "stdin"}, headers and params keyed by the suffix of their variable's name,
// and whether any FN_ variable was set at all in "fn_vars" (a count).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

type seen struct {
	Method     string            `json:"method"`
	Route      string            `json:"route"`
	RequestURL string            `json:"request_url"`
	AppName    string            `json:"app_name"`
	CallID     string            `json:"call_id"`
	Format     string            `json:"format"`
	MemoryMB   string            `json:"memory_mb"`
	Type       string            `json:"type"`
	Headers    map[string]string `json:"headers"`
	Params     map[string]string `json:"params"`
	Stdin      string            `json:"stdin"`
	FnVars     int               `json:"fn_vars"`
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "read stdin: %v\n", err)
		os.Exit(1)
	}
	s := seen{
		Method: os.Getenv("METHOD"), Route: os.Getenv("ROUTE"), RequestURL: os.Getenv("REQUEST_URL"),
		AppName: os.Getenv("APP_NAME"), CallID: os.Getenv("CALL_ID"), Format: os.Getenv("FORMAT"),
		MemoryMB: os.Getenv("MEMORY_MB"), Type: os.Getenv("TYPE"),
		Headers: map[string]string{}, Params: map[string]string{}, Stdin: string(in),
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "HEADER_"):
			s.Headers[strings.TrimPrefix(k, "HEADER_")] = v
		case strings.HasPrefix(k, "PARAM_"):
			s.Params[strings.TrimPrefix(k, "PARAM_")] = v
		case strings.HasPrefix(k, "FN_"):
			s.FnVars++
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(s); err != nil {
		fmt.Fprintf(os.Stderr, "write stdout: %v\n", err)
		os.Exit(1)
	}
}
