package main

// This file holds `gantry import --from-ironfunctions`: the project file of a running
// IronFunctions server's apps and routes, for `gantry apply`.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newImportCmd() *cobra.Command {
	var from, file, format string
	cmd := &cobra.Command{
		Use:   "import --from-ironfunctions URL [-f FILE] [--format yaml|json]",
		Short: "Write the project file of an IronFunctions server's apps and routes, for gantry apply",
		Long: "Read every app and route of a running IronFunctions server through its API (GET /v1/apps,\n" +
			"GET /v1/apps/{app}/routes) and write them as a project file: `gantry apply -f FILE` then\n" +
			"creates them in Gantry, owned by you. The route fields both have (path, image, type, format,\n" +
			"memory, timeout, idle_timeout, max_concurrency, headers, config) are kept. A route with a\n" +
			"jwt_key is written with auth: token (call it with a Gantry token), never public; a route of\n" +
			"IronFunctions' http or json format is left out (its protocol is not Gantry's format of that\n" +
			"name): both are told on stderr. Only the URL's scheme and host are used, as fn does.\n" +
			"The images must be reachable by Gantry's Docker daemon.\n" +
			"The format is --format, else json for a FILE ending in .json, else yaml.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return fmt.Errorf("--from-ironfunctions URL is required (the server's API_URL, e.g. http://localhost:8080)")
			}
			format, err := projectFormat(format, file)
			if err != nil {
				return err
			}
			st, err := readIronFunctions(cmd.Context(), &http.Client{Timeout: 30 * time.Second}, from, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return writeProject(cmd, st, "gantry import --from-ironfunctions", format, file)
		},
	}
	cmd.Flags().StringVar(&from, "from-ironfunctions", "", "URL of the IronFunctions server (its API_URL)")
	cmd.Flags().StringVarP(&file, "file", "f", "", `where to write ("-" or none: stdout)`)
	cmd.Flags().StringVar(&format, "format", "", "yaml or json")
	return cmd
}

// maxIronFunctionsList bounds one list read from an IronFunctions server.
const maxIronFunctionsList = 64 << 20

// readIronFunctions reads the apps and routes of the IronFunctions server at base, in the
// project file's shape (fields Gantry has no use for are left out by the file's schema).
func readIronFunctions(ctx context.Context, hc *http.Client, base string, warn io.Writer) (state, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--from-ironfunctions %q: want an http(s) URL such as http://localhost:8080", base)
	}
	u = &url.URL{Scheme: u.Scheme, Host: u.Host} // as fn reads API_URL: the API is at /v1 of the host
	get := func(path string, into any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String()+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("read the IronFunctions server: %w", err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(io.LimitReader(res.Body, maxIronFunctionsList+1))
		if err != nil {
			return fmt.Errorf("read GET %s: %w", path, err)
		}
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s%s: %s: %s", u, path, res.Status, strings.TrimSpace(string(body[:min(len(body), 300)])))
		}
		if len(body) > maxIronFunctionsList {
			return fmt.Errorf("GET %s%s: more than %d bytes", u, path, maxIronFunctionsList)
		}
		if err := json.Unmarshal(body, into); err != nil {
			return fmt.Errorf("GET %s%s: not the IronFunctions API's JSON: %w", u, path, err)
		}
		return nil
	}
	var apps struct {
		Apps []map[string]any `json:"apps"`
	}
	if err := get("/v1/apps", &apps); err != nil {
		return nil, err
	}
	st := state{}
	for _, a := range apps.Apps {
		name, _ := a["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("GET %s/v1/apps: an app without a name", u)
		}
		if p, ok := project(a, kindOf(kindApp).schema).(map[string]any); ok {
			st.put(kindApp, name, p)
		} else {
			st.put(kindApp, name, spec{"name": name})
		}
		var routes struct {
			Routes []map[string]any `json:"routes"`
		}
		if err := get("/v1/apps/"+url.PathEscape(name)+"/routes", &routes); err != nil {
			return nil, err
		}
		for _, r := range routes.Routes {
			path, _ := r["path"].(string)
			if path == "" {
				return nil, fmt.Errorf("GET %s/v1/apps/%s/routes: a route without a path", u, name)
			}
			if format, _ := r["format"].(string); format != "" && format != "default" {
				fmt.Fprintf(warn, "left out: route %s%s of IronFunctions' %s format (another protocol than Gantry's %s format); make it on Gantry by hand\n", name, path, format, format)
				continue
			}
			p, _ := project(r, kindOf(kindRoute).schema).(map[string]any)
			if p == nil {
				p = spec{"path": path}
			}
			if key, _ := r["jwt_key"].(string); key != "" {
				p["auth"] = "token"
				fmt.Fprintf(warn, "route %s%s had a jwt_key: written with auth: token (callers send a Gantry token), never public\n", name, path)
			}
			st.put(kindRoute, name+path, p)
		}
	}
	return st, nil
}
