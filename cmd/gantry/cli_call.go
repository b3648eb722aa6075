package main

// gantry call: a function call over /r/. The generated client covers the management API
// under /v1 only (a call takes any method and body, so it is not in the spec): this is a
// plain HTTP request to the same server.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func newCallCmd(cf *clientFlags) *cobra.Command {
	var data, method string
	var async bool
	cmd := &cobra.Command{
		Use:   "call APP ROUTE",
		Short: "Call a function: print its output (sync) or its call id (--async)",
		Long: "Call the function at /r/APP/ROUTE. --data gives the input: a string, @FILE, or @- for\n" +
			"stdin. A sync call prints the output; its call id goes to stderr. --async queues the call\n" +
			"and prints its call id (follow it with `gantry executions wait ID`).",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := readData(data, cmd.InOrStdin())
			if err != nil {
				return err
			}
			ep, err := parseAPIURL(cf.apiURL)
			if err != nil {
				return err
			}
			url := fmt.Sprintf("%s://%s%s/r/%s/%s", ep.scheme, ep.host, strings.TrimSuffix(ep.basePath, "/v1"), args[0], strings.TrimPrefix(args[1], "/"))
			httpClient, err := cf.httpClient()
			if err != nil {
				return err
			}
			send := func(token string) (*http.Response, error) {
				req, err := http.NewRequestWithContext(cmd.Context(), method, url, strings.NewReader(body))
				if err != nil {
					return nil, err
				}
				if async {
					req.Header.Set("Gantry-Invoke-Type", "async")
				}
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				res, err := httpClient.Do(req)
				if err != nil {
					return nil, fmt.Errorf("call %s: cannot reach the Gantry API at %s: %w", args[1], url, err)
				}
				return res, nil
			}
			// Credentials go only to a route that asks for them (auth: token), never to
			// the function of an open route: a 401 of Gantry's own has no Gantry-Call-Id
			// (the function did not run); a function's own 401 is its answer.
			res, err := send("")
			if err != nil {
				return err
			}
			if token := cf.bearerToken(ep); res.StatusCode == http.StatusUnauthorized && res.Header.Get("Gantry-Call-Id") == "" && token != "" {
				_ = res.Body.Close()
				if res, err = send(token); err != nil {
					return err
				}
			}
			defer res.Body.Close()
			out, err := io.ReadAll(res.Body)
			if err != nil {
				return fmt.Errorf("read the answer: %w", err)
			}
			if id := res.Header.Get("Gantry-Call-Id"); id != "" && res.StatusCode != http.StatusAccepted {
				fmt.Fprintln(cmd.ErrOrStderr(), "call id:", id)
			}
			switch {
			case res.StatusCode == http.StatusAccepted:
				var receipt struct {
					CallID string `json:"call_id"`
				}
				if err := json.Unmarshal(out, &receipt); err != nil {
					return fmt.Errorf("the server's answer is not a call receipt: %q", out)
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), receipt.CallID)
				return err
			case res.StatusCode >= 400:
				var e struct{ Error struct{ Message string } }
				if json.Unmarshal(out, &e) == nil && e.Error.Message != "" {
					return fmt.Errorf("call %s: %s (%d)", args[1], e.Error.Message, res.StatusCode)
				}
				return fmt.Errorf("call %s: %s", args[1], res.Status)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVarP(&data, "data", "d", "", "input: a string, @FILE, or @- for stdin")
	cmd.Flags().StringVarP(&method, "method", "X", http.MethodPost, "HTTP method of the call")
	cmd.Flags().BoolVar(&async, "async", false, "queue the call and print its call id")
	return cmd
}

// readData reads --data: a literal, @FILE, or @- for stdin.
func readData(data string, stdin io.Reader) (string, error) {
	name, isFile := strings.CutPrefix(data, "@")
	if !isFile {
		return data, nil
	}
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return "", fmt.Errorf("--data %s: %w", data, err)
	}
	return string(b), nil
}
