// Command hello is Gantry's example function in the default format.
//
// Default format protocol (one container per call):
//
//   - The request body arrives on stdin; stdin is closed after it.
//   - Everything written to stdout is the response body.
//   - Everything written to stderr is the call's log.
//   - Exit code 0 is success; any other exit code is a function error.
//   - Call metadata arrives as environment variables: FN_CALL_ID, FN_METHOD,
//     FN_REQUEST_URL, FN_APP_NAME, FN_PATH, FN_FORMAT, FN_MEMORY, FN_DEADLINE,
//     FN_PARAM_<NAME> for route path parameters, FN_HEADER_<NAME> for request
//     headers, plus the app's config overridden by the route's config.
//
// hello reads all of stdin and writes "<GREETING> <name>!" (no newline): name is the
// body's "name" when the body is a JSON object with a non-empty "name" string, else
// the NAME config variable, else "World"; GREETING is a config variable too ("Hello"
// when unset). So "Hello World!" without config, and the app's or route's config
// changes the answer.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "read stdin: %v\n", err)
		os.Exit(1)
	}
	if _, err := io.WriteString(os.Stdout, greeting(in, os.Getenv)); err != nil {
		fmt.Fprintf(os.Stderr, "write stdout: %v\n", err)
		os.Exit(1)
	}
}

// greeting answers "<GREETING> <name>!" for body, with the config read through getenv.
func greeting(body []byte, getenv func(string) string) string {
	var in struct {
		Name string `json:"name"`
	}
	name := getenv("NAME")
	if json.Unmarshal(body, &in) == nil && in.Name != "" {
		name = in.Name
	}
	if name == "" {
		name = "World"
	}
	hello := getenv("GREETING")
	if hello == "" {
		hello = "Hello"
	}
	return hello + " " + name + "!"
}
