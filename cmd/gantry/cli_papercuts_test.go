package main

import (
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/models"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "10s", want: 10 * time.Second},
		{in: "10", want: 10 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: " 2m ", want: 2 * time.Minute},
		{in: "-3s", want: -3 * time.Second},
		{in: "ten", err: true},
		{in: "10 s", err: true},
		{in: "", err: true},
		{in: "1e300", err: true},
		{in: "NaN", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseDuration("timeout", tc.in)
			if tc.err {
				if err == nil || !strings.Contains(err.Error(), "--timeout") {
					t.Fatalf("parseDuration(%q) = %v, %v; want an error naming --timeout", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

// Every duration flag of the CLI takes 10s and plain seconds alike.
func TestEveryDurationFlagTakesSecondsAndUnits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func(string) (time.Duration, error)
	}{
		{"routes --timeout", func(s string) (time.Duration, error) {
			var n int64
			err := secondsFlag{name: flagTimeout, n: &n}.Set(s)
			return time.Duration(n) * time.Second, err
		}},
		{"routes --idle-timeout", func(s string) (time.Duration, error) {
			var n int64
			err := secondsFlag{name: flagIdleTimeout, n: &n}.Set(s)
			return time.Duration(n) * time.Second, err
		}},
		{"apis --timeout", func(s string) (time.Duration, error) {
			n, err := parseAPITimeout(s)
			return time.Duration(n) * time.Second, err
		}},
		{"tokens --expires-in", parseExpiresIn},
		{"executions wait --interval, workflows run --timeout", func(s string) (time.Duration, error) {
			var d time.Duration
			err := durationFlag{name: "interval", d: &d}.Set(s)
			return d, err
		}},
		{"events --since", func(s string) (time.Duration, error) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			at, err := parseSince(s, now)
			return now.Sub(time.Time(at)), err
		}},
	} {
		t.Run(tc.name+" takes 10s and 10 as ten seconds", func(t *testing.T) {
			for _, in := range []string{"10s", "10"} {
				if d, err := tc.parse(in); err != nil || d != 10*time.Second {
					t.Errorf("%q: %v, %v", in, d, err)
				}
			}
			if _, err := tc.parse("-10s"); err == nil {
				t.Error("-10s accepted")
			}
		})
	}
	var n int64
	if err := (secondsFlag{name: flagTimeout, n: &n}).Set("1.5s"); err == nil || !strings.Contains(err.Error(), "whole seconds") {
		t.Errorf("a route timeout of 1.5s: %v", err)
	}
}

// Every field of the spec's Route that a client writes has a flag on `routes create` and
// `routes update`, and the flag reaches the request.
func TestRouteFlagsCoverEveryRouteField(t *testing.T) {
	readOnly := map[string]bool{"created_at": true, "updated_at": true, "path": true} // path is an argument
	flagOf := map[string]string{"secrets": flagSecret, "headers": flagHeader}
	create, update := newRoutesCreateCmd(&clientFlags{}), newRoutesUpdateCmd(&clientFlags{})
	rt := reflect.TypeFor[models.Route]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name == "" || readOnly[name] {
			continue
		}
		flag := flagOf[name]
		if flag == "" {
			flag = strings.ReplaceAll(name, "_", "-")
		}
		if create.Flags().Lookup(flag) == nil || update.Flags().Lookup(flag) == nil {
			t.Errorf("route field %q has no --%s flag on routes create and update", name, flag)
		}
	}

	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"route":{"path":"/p","image":"img","network":"none","auth":"token","max_retries":3,"cpus":0.5,"timeout":60,"idle_timeout":90}}`
	})
	out, _, err := runCLI(t, "--api-url", u, "routes", "update", "app1", "/p",
		"--network", "none", "--auth", "token", "--max-retries", "3", "--cpus", "0.5", "--timeout", "1m", "--idle-timeout", "90")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"route":{"auth":"token","cpus":0.5,"idle_timeout":90,"max_retries":3,"network":"none","secrets":null,"timeout":60}}`
	if got := strings.TrimSpace((*seen)[0].body); got != want {
		t.Errorf("body %s, want %s", got, want)
	}
	for _, line := range []string{"Network:          none", "Auth:             token", "Max retries:      3", "CPUs:             0.5"} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
}

// A command that only groups others exits non-zero on an argument naming none of them,
// at every level, and still prints its help without one.
func TestUnknownSubcommandFails(t *testing.T) {
	var groups []string
	root := newRootCmd()
	for _, c := range append([]*cobra.Command{root}, allCommands(root)...) {
		if c.HasSubCommands() {
			groups = append(groups, c.CommandPath())
		}
	}
	if len(groups) < 5 {
		t.Fatalf("found only the groups %v", groups)
	}
	for _, g := range groups {
		t.Run(g+" refuses an unknown subcommand", func(t *testing.T) {
			args := append(strings.Fields(g)[1:], "frobnicate")
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(args)
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate" for "`+g+`"`) {
				t.Fatalf("gantry %s: %v (output %q)", strings.Join(args, " "), err, out.String())
			}
		})
	}
	t.Run("a group without an argument prints its help", func(t *testing.T) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs([]string{"routes"})
		if err := root.Execute(); err != nil || !strings.Contains(out.String(), "Available Commands:") {
			t.Fatalf("gantry routes: %v\n%s", err, out.String())
		}
	})
	t.Run("a typo gets a suggestion", func(t *testing.T) {
		root := newRootCmd()
		root.SetArgs([]string{"rutes"})
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), `did you mean "routes"?`) {
			t.Fatalf("gantry rutes: %v", err)
		}
	})
}

func allCommands(c *cobra.Command) []*cobra.Command {
	var all []*cobra.Command
	for _, sub := range c.Commands() {
		all = append(all, sub)
		all = append(all, allCommands(sub)...)
	}
	return all
}

func TestExecutionFieldsShowAttempts(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    models.Execution
		want string
	}{
		{"an async call retried shows its runs", models.Execution{ID: "x", Type: "async", Attempts: 3}, "Attempts:          3\n"},
		{"an async call not run yet shows 0", models.Execution{ID: "x", Type: "async"}, "Attempts:          0\n"},
		{"a sync call shows its one run", models.Execution{ID: "x", Type: "sync", Attempts: 1}, "Attempts:          1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := writeFields(&out, executionFields(&tc.e)); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Fatalf("fields lack %q:\n%s", tc.want, out.String())
			}
		})
	}
}
