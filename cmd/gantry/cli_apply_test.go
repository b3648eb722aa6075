package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseProjectFileNamesTheLineAndField(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"an unknown top-level key", "apps: []\nfunctions: []\n",
			"p.yaml:2: functions: unknown field (a project file has images, apps, apis, workflows, subscriptions, schedules)"},
		{"an unknown route field", "apps:\n  - name: a\n    routes:\n      - path: /x\n        image: i\n        memroy: 64\n",
			"p.yaml:6: apps[0].routes[0].memroy: unknown field (apps[0].routes[0] has path, image, type"},
		{"a string for an integer", "apps:\n  - name: a\n    routes:\n      - path: /x\n        image: i\n        memory: lots\n",
			`p.yaml:6: apps[0].routes[0].memory: want an integer, not a string ("lots")`},
		{"a fraction for an integer", "apps:\n- name: a\n  routes:\n  - {path: /x, image: i, timeout: 1.5}\n",
			"p.yaml:4: apps[0].routes[0].timeout: want an integer, not a number (1.5)"},
		{"a number for a string", "apps:\n  - name: 42\n", `p.yaml:2: apps[0].name: want a string, not an integer (42) (quote it: "42")`},
		{"a missing required field", "apps:\n  - name: a\n    routes:\n      - path: /x\n", "p.yaml:4: apps[0].routes[0].image: required"},
		{"a scalar where a list goes", "apis:\n  - name: x\n    function: {app: a, route: /r}\n    hosts: example.com\n",
			"p.yaml:4: apis[0].hosts: want a list (write [example.com])"},
		{"a null", "apps:\n  - name: a\n    config:\n", "p.yaml:3: apps[0].config: is null; leave the field out instead"},
		{"a route declared twice", "apps:\n  - name: a\n    routes:\n      - {path: /x, image: i}\n      - {path: /x, image: j}\n",
			`p.yaml:5: apps[0].routes[1]: route "a/x" is declared twice (first at apps[0].routes[0])`},
		{"a key given twice", "apps:\n  - name: a\n    name: b\n", "p.yaml:3: apps[0].name: given twice"},
		{"JSON with a bad field", "{\"apps\": [\n  {\"name\": \"a\",\n   \"color\": \"red\"}]}\n", "p.yaml:3: apps[0].color: unknown field"},
		{"a nested unknown field", "schedules:\n  - name: s\n    cron: '* * * * *'\n    target:\n      call: {app: a, path: /x, verb: GET}\n",
			"p.yaml:5: schedules[0].target.call.verb: unknown field"},
		{"not YAML", "apps: [\n", "p.yaml: "},
		{"an empty file", "", "p.yaml: empty file"},
		{"two documents", "apps: []\n---\napis: []\n", "p.yaml:2: holds more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseProjectFile("p.yaml", "/project", []byte(tt.file))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want one starting %q", err, tt.want)
			}
		})
	}
}

func TestParseTheExampleProject(t *testing.T) {
	decls, err := readProjectFile(filepath.Join("..", "..", "functions", "examples", "project", "gantry.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range decls {
		got = append(got, string(d.kind)+" "+d.key)
	}
	want := []string{"image hello-base", "image greeter-hello", "app greeter", "route greeter/hello", "route greeter/hello-http", "route greeter/hello-json",
		"api greeter-api", "workflow greet-twice", "subscription greet-new-users", "schedule morning-greeting"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("resources %v, want %v", got, want)
	}
	route := decls[3]
	if route.line != 23 || route.at != "apps[0].routes[0]" || route.spec["memory"] != 64.0 || route.spec["image"] != "@greeter-hello" {
		t.Errorf("the first route: %+v", route)
	}
	if _, has := decls[2].spec["routes"]; has {
		t.Errorf("the app's spec holds its routes: %v", decls[2].spec)
	}
	if ctx := imageUpload(decls[1].spec); !strings.HasSuffix(ctx, filepath.Join("functions", "examples", "project", "greeter")) || !filepath.IsAbs(ctx) {
		t.Errorf("the build context: %q", ctx)
	}
}

func TestProjectFileFromStdinAsJSON(t *testing.T) {
	decls, err := readProjectFile("-", strings.NewReader(`{"apps":[{"name":"a","routes":[{"path":"/x","image":"i","cpus":1}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(decls) != 2 || decls[1].spec["cpus"] != 1.0 || decls[1].file != "<stdin>" {
		t.Fatalf("%+v", decls)
	}
}

func TestCovers(t *testing.T) {
	routeT := reflect.TypeFor[fileRoute]()
	apiT := reflect.TypeFor[fileAPI]()
	tests := []struct {
		name       string
		t          reflect.Type
		want, have spec
		same       bool
	}{
		{"fields the file leaves out are not compared", routeT,
			spec{"path": "/x", "image": "i"}, spec{"path": "/x", "image": "i", "memory": 128.0}, true},
		{"a changed number differs", routeT, spec{"memory": 64.0}, spec{"memory": 128.0}, false},
		{"a config is compared whole", routeT,
			spec{"config": map[string]any{"A": "1"}}, spec{"config": map[string]any{"A": "1", "B": "2"}}, false},
		{"an empty config is the server's none", routeT, spec{"config": map[string]any{}}, spec{}, true},
		{"header values are compared in order", routeT,
			spec{"headers": map[string]any{"H": []any{"a", "b"}}}, spec{"headers": map[string]any{"H": []any{"b", "a"}}}, false},
		{"a nested object is compared on the fields the file gives", apiT,
			spec{"rate_limit": map[string]any{"rps": 10.0}}, spec{"rate_limit": map[string]any{"rps": 10.0, "per": "api"}}, true},
		{"a nested field that differs", apiT,
			spec{"rate_limit": map[string]any{"rps": 5.0}}, spec{"rate_limit": map[string]any{"rps": 10.0, "per": "api"}}, false},
		{"passwords are never compared", apiT,
			spec{"basic_users": []any{map[string]any{"username": "u", "password": "p"}}}, spec{"basic_users": []any{map[string]any{"username": "u"}}}, true},
		{"a list of users is compared whole", apiT,
			spec{"basic_users": []any{map[string]any{"username": "u"}}}, spec{"basic_users": []any{map[string]any{"username": "u"}, map[string]any{"username": "v"}}}, false},
		{"false is a value", apiT, spec{"enabled": false}, spec{"enabled": true}, false},
		{"free-form values are compared exactly", reflect.TypeFor[fileWorkflow](),
			spec{"steps": []any{map[string]any{"name": "a"}}}, spec{"steps": []any{map[string]any{"name": "a", "needs": []any{"b"}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(diffFields(tt.want, tt.have, tt.t)) == 0; got != tt.same {
				t.Errorf("same = %v, want %v (diff %v)", got, tt.same, diffFields(tt.want, tt.have, tt.t))
			}
		})
	}
}

func TestPlan(t *testing.T) {
	decl := func(k kind, key string, s spec) declared { return declared{kind: k, key: key, spec: s} }
	file := []declared{
		decl(kindSchedule, "tick", spec{"name": "tick", "cron": "* * * * *"}),
		decl(kindApp, "a", spec{"name": "a", "config": map[string]any{"A": "1"}}),
		decl(kindRoute, "a/x", spec{"path": "/x", "image": "i", "memory": 64.0}),
		decl(kindRoute, "a/y", spec{"path": "/y", "image": "i"}),
		decl(kindAPI, "gw", spec{"name": "gw", "uris": []any{"/"}}),
	}
	cur := state{
		kindApp:      {"a": {"name": "a", "config": map[string]any{"A": "1", "OLD": "x"}}, "gone": {"name": "gone"}},
		kindRoute:    {"a/x": {"path": "/x", "image": "i", "memory": 128.0}, "a/y": {"path": "/y", "image": "i", "memory": 128.0}, "gone/z": {"path": "/z"}},
		kindWorkflow: {"old": {"name": "old"}},
		kindAPI:      {"gw": {"name": "gw", "uris": []any{"/"}}},
	}
	lines := func(cs []change) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.describe())
		}
		return out
	}
	t.Run("creates and updates go in dependency order, unchanged resources not at all", func(t *testing.T) {
		got := lines(plan(file, cur, planOptions{}))
		want := []string{
			`~ app a: config {"A":"1","OLD":"x"} → {"A":"1"}`,
			`~ route a/x: memory 128 → 64`,
			`+ schedule tick`,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("prune deletes what the file does not name, in the reverse order", func(t *testing.T) {
		got := lines(plan(file, cur, planOptions{prune: true}))
		want := []string{
			`~ app a: config {"A":"1","OLD":"x"} → {"A":"1"}`,
			`~ route a/x: memory 128 → 64`,
			`+ schedule tick`,
			`- workflow old`,
			`- route gone/z`,
			`- app gone`,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if n := unmanaged(file, cur); n != 3 {
			t.Errorf("unmanaged %d, want 3", n)
		}
	})
	t.Run("an update sends the differing fields, dropping config keys the file no longer has", func(t *testing.T) {
		cs := plan(file, cur, planOptions{})
		if want := (spec{"config": map[string]any{"A": "1", "OLD": ""}}); !reflect.DeepEqual(cs[0].body, want) {
			t.Errorf("app body %v, want %v", cs[0].body, want)
		}
		if want := (spec{"memory": 64.0}); !reflect.DeepEqual(cs[1].body, want) {
			t.Errorf("route body %v, want %v", cs[1].body, want)
		}
	})
	t.Run("nothing to do", func(t *testing.T) {
		same := state{kindApp: {"a": {"name": "a"}}}
		if cs := plan([]declared{decl(kindApp, "a", spec{"name": "a"})}, same, planOptions{prune: true}); len(cs) != 0 {
			t.Errorf("plan %v", lines(cs))
		}
	})
}

func TestUpdateBodyRemovesHeadersAndSendsWholeWorkflows(t *testing.T) {
	d := &declared{kind: kindRoute, key: "a/x", spec: spec{"path": "/x", "image": "i", "headers": map[string]any{"A": []any{"1"}}}}
	have := spec{"path": "/x", "image": "i", "headers": map[string]any{"A": []any{"0"}, "B": []any{"2"}}}
	body := updateBody(d, have, diffFields(d.spec, have, reflect.TypeFor[fileRoute]()))
	want := spec{"headers": map[string]any{"A": []any{"1"}, "B": []any{}}}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("route body %v, want %v", body, want)
	}
	w := &declared{kind: kindWorkflow, key: "w", spec: spec{"name": "w", "description": "new", "steps": []any{"s"}}}
	body = updateBody(w, spec{"name": "w", "description": "old", "steps": []any{"s"}}, []fieldChange{{name: "description"}})
	if !reflect.DeepEqual(body, w.spec) {
		t.Errorf("workflow body %v, want the whole definition", body)
	}
}

// TestExportThenParseIsANoOp writes a state as a project file, YAML and JSON, and plans the
// file against the same state: nothing to do.
func TestExportThenParseIsANoOp(t *testing.T) {
	st := state{
		kindApp: {"a": {"name": "a", "config": map[string]any{"K": "v", "N": "123"}}},
		kindRoute: {"a/x": {"path": "/x", "image": "i", "memory": 128.0, "cpus": 1.0, "type": "sync",
			"headers": map[string]any{"H": []any{"a", "b"}}, "secrets": []any{"s"}}},
		kindAPI: {"gw": {"name": "gw", "uris": []any{"/"}, "max_body_bytes": 104857600.0, "enabled": false,
			"rate_limit": map[string]any{"rps": 0.5, "burst": 2.0}, "function": map[string]any{"app": "a", "route": "/x"}}},
		kindWorkflow: {"w": {"name": "w", "description": "two\nlines", "steps": []any{map[string]any{"name": "s", "input": map[string]any{"n": 3.0, "t": "true"}}}}},
		kindSchedule: {"s": {"name": "s", "cron": "0 7 * * *", "target": map[string]any{"call": map[string]any{"app": "a", "path": "/x", "body": `{"a":1}`}}}},
	}
	for _, format := range []string{"yaml", "json"} {
		t.Run(format, func(t *testing.T) {
			b, err := encodeProject(exportDocument(st), format)
			if err != nil {
				t.Fatal(err)
			}
			decls, err := parseProjectFile("export."+format, "/project", b)
			if err != nil {
				t.Fatalf("%v:\n%s", err, b)
			}
			if len(decls) != 5 {
				t.Errorf("%d resources, want 5:\n%s", len(decls), b)
			}
			if cs := plan(decls, st, planOptions{prune: true}); len(cs) != 0 {
				t.Errorf("plan of the export: %v\n%s", cs[0].describe(), b)
			}
		})
	}
	t.Run("nothing owned", func(t *testing.T) {
		b, err := encodeProject(exportDocument(state{}), "yaml")
		if err != nil {
			t.Fatal(err)
		}
		decls, err := parseProjectFile("empty.yaml", "/project", b)
		if err != nil || len(decls) != 0 {
			t.Fatalf("%v %v:\n%s", decls, err, b)
		}
	})
}

func TestExportWritesTheFile(t *testing.T) {
	b, err := encodeProject(exportDocument(state{kindApp: {"a": {"name": "a"}}}), "yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Written by gantry export; gantry apply -f FILE of it changes nothing.\napps:\n  - name: a\n"
	if string(b) != want {
		t.Errorf("got:\n%s\nwant:\n%s", b, want)
	}
	f := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readProjectFile(f, nil); err != nil {
		t.Fatal(err)
	}
}

func TestImagesInTheProjectFile(t *testing.T) {
	tests := []struct {
		name, file, want string // want: the error's start, or the image's source and path
	}{
		{"a reference pulls", "images:\n  - {name: a, reference: alpine:3}\n", "reference "},
		{"a context builds, relative to the file", "images:\n  - {name: a, context: fn}\n", "build /project/fn"},
		{"a tarball loads", "images:\n  - {name: a, load: /tmp/a.tar}\n", "load /tmp/a.tar"},
		{"an exported build image has a source alone", "images:\n  - {name: a, source: build}\n", "build "},
		{"a source that disagrees", "images:\n  - {name: a, source: load, context: fn}\n", "p.yaml:2: images[0].source: is load, but the image gives what a build takes"},
		{"two of reference, context and load", "images:\n  - {name: a, reference: x, context: fn}\n", "p.yaml:2: images[0]: give one of reference, context and load"},
		{"none of them", "images:\n  - {name: a, kind: base}\n", "p.yaml:2: images[0]: give reference (pull), context (build) or load"},
		{"an unknown source", "images:\n  - {name: a, source: git}\n", "p.yaml:2: images[0].source: want reference, build or load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decls, err := parseProjectFile("p.yaml", "/project", []byte(tt.file))
			if err != nil {
				if !strings.HasPrefix(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if got := decls[0].spec["source"].(string) + " " + imageUpload(decls[0].spec); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestImagePlan(t *testing.T) {
	decls, err := parseProjectFile("p.yaml", "/project", []byte("images:\n  - {name: base, kind: base, reference: r:1}\n  - {name: fn, context: ctx, base: '@base'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cur := state{kindImage: {
		"base": {"name": "base", "kind": "base", "source": "reference", "reference": "r:1"},
		"fn":   {"name": "fn", "kind": "function", "source": "build", "base": "@base", "dockerfile": "Dockerfile", "network": "none"},
	}}
	if cs := plan(decls, cur, planOptions{}); len(cs) != 0 {
		t.Errorf("an image that exists is not built again: %v", cs[0].describe())
	}
	cs := plan(decls, cur, planOptions{rebuildImages: true})
	if len(cs) != 1 || cs[0].describe() != "~ image fn: rebuild from /project/ctx" {
		t.Errorf("--rebuild-images: %+v", cs)
	}
	cur[kindImage]["base"]["reference"] = "r:0"
	if cs := plan(decls, cur, planOptions{}); len(cs) != 1 || cs[0].describe() != "~ image base: reference r:0 → r:1" {
		t.Errorf("a changed reference: %+v", cs)
	}
	cs = plan(nil, cur, planOptions{prune: true})
	if len(cs) != 2 || cs[0].key != "fn" || cs[1].key != "base" {
		t.Errorf("prune deletes an image before its base: %+v", cs)
	}
	// A file may list a function image before the image it is built on: the base is created first.
	decls, err = parseProjectFile("p.yaml", "/project", []byte("apps:\n  - name: a\nimages:\n  - {name: fn, context: ctx, base: '@mid'}\n  - {name: other, reference: r:2}\n"+
		"  - {name: mid, context: ctx, base: '@base'}\n  - {name: base, kind: base, reference: r:1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range plan(decls, state{}, planOptions{}) {
		order = append(order, c.describe())
	}
	if want := []string{"+ image base", "+ image mid", "+ image fn", "+ image other", "+ app a"}; !reflect.DeepEqual(order, want) {
		t.Errorf("creates of images listed before their bases: %q, want %q", order, want)
	}
	// Likewise for updates, and an existing base the file does not declare is no dependency.
	cur = state{kindImage: {
		"fn":  {"name": "fn", "kind": "function", "source": "build", "base": "@old", "dockerfile": "Dockerfile", "network": "none"},
		"mid": {"name": "mid", "kind": "function", "source": "build", "base": "@old", "dockerfile": "Dockerfile", "network": "none"},
	}}
	order = nil
	for _, c := range plan(decls, cur, planOptions{}) {
		order = append(order, c.describe())
	}
	if want := []string{"+ image base", "~ image mid: base @old → @base", "~ image fn: base @old → @mid", "+ image other", "+ app a"}; !reflect.DeepEqual(order, want) {
		t.Errorf("updates of images listed before their bases: %q, want %q", order, want)
	}
	// A cycle of bases in the file is refused, at the line of an image in it.
	for text, want := range map[string]string{
		"images:\n  - {name: a, context: ctx, base: '@b'}\n  - {name: b, context: ctx, base: '@a'}\n":                                          "p.yaml:2: images[0].base: the images are built on each other in a cycle: a → b → a",
		"images:\n  - {name: self, context: ctx, base: '@self'}\n":                                                                             "p.yaml:2: images[0].base: the images are built on each other in a cycle: self → self",
		"images:\n  - {name: x, context: ctx, base: '@y'}\n  - {name: y, context: ctx, base: '@z'}\n  - {name: z, context: ctx, base: '@y'}\n": "p.yaml:3: images[1].base: the images are built on each other in a cycle: y → z → y",
	} {
		if _, err := parseProjectFile("p.yaml", "/project", []byte(text)); err == nil || err.Error() != want {
			t.Errorf("a base cycle: %v, want %s", err, want)
		}
	}
	if got := basesFirst([]string{"a", "b", "c"}, map[string]spec{"a": {"base": "@c"}, "b": {}, "c": {"base": "@b"}}); !reflect.DeepEqual(got, []string{"b", "c", "a"}) {
		t.Errorf("basesFirst: %v", got)
	}
}
