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
// hello reads all of stdin; if it is a JSON object with a non-empty "name"
// string it writes "Hello <name>!", otherwise "Hello World!" (no newline).
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
	if _, err := io.WriteString(os.Stdout, greeting(in)); err != nil {
		fmt.Fprintf(os.Stderr, "write stdout: %v\n", err)
		os.Exit(1)
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
