package handlers

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/images"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// startImages starts an images service over s and the real Docker daemon, its uploads in
// dir, closed at the test's end (before the store: cleanups run last registered first).
func startImages(t testing.TB, s *bolt.DB, dir string) (*images.Service, *syncBuffer) {
	t.Helper()
	return startImagesWith(t, s, images.Config{Dir: dir})
}

func startImagesWith(t testing.TB, s *bolt.DB, cfg images.Config) (*images.Service, *syncBuffer) {
	t.Helper()
	docker, err := runner.NewDockerClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker.Close() })
	cfg.Node = s.InstanceID()
	var log syncBuffer
	svc := images.New(s, docker, cfg, slog.New(slog.NewTextHandler(&log, nil)))
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc, &log
}

// tarOf is a tar of files (name → content), in name order.
func tarOf(files map[string]string) []byte {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			panic(err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// putImage stores an image as the images service would have left it, without Docker.
func putImage(t testing.TB, s *bolt.DB, name, owner, kind, status string) {
	t.Helper()
	img := store.Image{Name: name, Owner: owner, Kind: kind, Source: store.ImageSourceBuild, Status: status, Build: s.NewID()}
	img.ApplyDefaults()
	if _, err := s.CreateImage(context.Background(), img); err != nil {
		t.Fatal(err)
	}
}

func names(t testing.TB, res response, list, field string) string {
	t.Helper()
	expect(t, res, 200)
	var out []string
	items, ok := get(res.body, list).([]any)
	if !ok {
		t.Fatalf("no %s in %s", list, res.raw)
	}
	for _, it := range items {
		out = append(out, fmt.Sprint(get(it, field)))
	}
	return strings.Join(out, " ")
}

func TestImagesAreListedAndReadByTheirOwners(t *testing.T) {
	f := newAuthFixture(t)
	putImage(t, f.s, "a1", "alice", store.ImageKindFunction, store.ImageReady)
	putImage(t, f.s, "a2", "alice", store.ImageKindBase, store.ImageError)
	putImage(t, f.s, "b1", "bob", store.ImageKindFunction, store.ImageCreating)
	for _, c := range []struct {
		name, token, query, want string
	}{
		{"a developer lists its own", f.alice, "", "a1 a2"},
		{"a developer lists its own by name", f.alice, "?owner=alice", "a1 a2"},
		{"a developer lists its own as me", f.bob, "?owner=me", "b1"},
		{"a developer lists one kind", f.alice, "?kind=base", "a2"},
		{"an admin lists all", f.admin, "", "a1 a2 b1"},
		{"an admin lists one owner's", f.admin, "?owner=bob", "b1"},
		{"an admin lists one owner's of one kind", f.admin, "?owner=alice&kind=function", "a1"},
		{"an admin's own are none here", f.admin, "?owner=me", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := names(t, f.as(t, c.token, "GET", "/v1/images"+c.query, ""), "images", "name"); got != c.want {
				t.Errorf("images %q, want %q", got, c.want)
			}
		})
	}
	t.Run("a developer may not list another's", func(t *testing.T) {
		expect(t, f.as(t, f.bob, "GET", "/v1/images?owner=alice", ""), 403)
	})
	t.Run("an unknown kind is refused", func(t *testing.T) {
		expect(t, f.as(t, f.alice, "GET", "/v1/images?kind=other", ""), 400)
	})
	t.Run("pages hold a developer's own images, and all of them", func(t *testing.T) {
		res := f.as(t, f.alice, "GET", "/v1/images?per_page=1", "")
		first := names(t, res, "images", "name")
		next, _ := get(res.body, "next_cursor").(string)
		if first != "a1" || next == "" {
			t.Fatalf("first page: %s", res.raw)
		}
		res = f.as(t, f.alice, "GET", "/v1/images?per_page=1&cursor="+next, "")
		if got := names(t, res, "images", "name"); got != "a2" || get(res.body, "next_cursor") != nil {
			t.Fatalf("second page: %s", res.raw)
		}
	})
	t.Run("an image is read by its owner and admins, not found for others", func(t *testing.T) {
		res := f.as(t, f.alice, "GET", "/v1/images/a2", "")
		expect(t, res, 200)
		if get(res.body, "image", "owner") != "alice" || get(res.body, "image", "kind") != "base" || get(res.body, "image", "status") != "ERROR" ||
			get(res.body, "image", "source") != "build" || get(res.body, "image", "network") != "none" || get(res.body, "image", "created_at") == nil {
			t.Errorf("alice's image: %s", res.raw)
		}
		if get(res.body, "image", "digest") != nil || get(res.body, "image", "built_at") != nil {
			t.Errorf("an image never built shows a digest or a build time: %s", res.raw)
		}
		expect(t, f.as(t, f.admin, "GET", "/v1/images/a2", ""), 200)
		mine := f.as(t, f.bob, "GET", "/v1/images/a2", "")
		none := f.as(t, f.bob, "GET", "/v1/images/zz", "")
		expect(t, mine, 404)
		expect(t, none, 404)
		if strings.ReplaceAll(mine.raw, "a2", "zz") != none.raw {
			t.Errorf("another's image is told from a missing one: %s vs %s", mine.raw, none.raw)
		}
		expect(t, f.as(t, f.bob, "GET", "/v1/images/a2/log", ""), 404)
		expect(t, f.as(t, f.bob, "DELETE", "/v1/images/a2", ""), 404)
	})
}

func TestFunctionsListEveryRouteOfTheOwnersApps(t *testing.T) {
	f := newAuthFixture(t)
	ctx := context.Background()
	for _, a := range []struct{ app, owner string }{{"alpha", "alice"}, {"beta", "bob"}, {"zeta", "alice"}} {
		if _, err := f.s.CreateApp(ctx, store.App{Name: a.app, Owner: a.owner}); err != nil {
			t.Fatal(err)
		}
	}
	putImage(t, f.s, "a1", "alice", store.ImageKindFunction, store.ImageReady)
	for _, r := range []store.Route{
		{App: "alpha", Path: "/x", Image: "img:1", Format: store.FormatHTTP},
		{App: "alpha", Path: "/y/:id", Image: "@a1", Type: store.TypeAsync, MemoryMiB: 256, Timeout: 60},
		{App: "beta", Path: "/q", Image: "img:2"},
		{App: "zeta", Path: "/z", Image: "img:3"},
	} {
		if _, err := f.s.CreateRoute(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	fn := func(it any) string { return fmt.Sprint(get(it, "app"), get(it, "path")) }
	list := func(t *testing.T, token, query string) (string, response) {
		t.Helper()
		res := f.as(t, token, "GET", "/v1/functions"+query, "")
		expect(t, res, 200)
		var out []string
		for _, it := range get(res.body, "functions").([]any) {
			out = append(out, fn(it)+"@"+fmt.Sprint(get(it, "owner")))
		}
		return strings.Join(out, " "), res
	}
	for _, c := range []struct {
		name, token, query, want string
	}{
		{"a developer lists the routes of its own apps", f.alice, "", "alpha/x@alice alpha/y/:id@alice zeta/z@alice"},
		{"a developer lists its own as me", f.bob, "?owner=me", "beta/q@bob"},
		{"an admin lists every app's", f.admin, "", "alpha/x@alice alpha/y/:id@alice beta/q@bob zeta/z@alice"},
		{"an admin lists one owner's", f.admin, "?owner=bob", "beta/q@bob"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, _ := list(t, c.token, c.query); got != c.want {
				t.Errorf("functions %q, want %q", got, c.want)
			}
		})
	}
	t.Run("a developer may not list another's", func(t *testing.T) {
		expect(t, f.as(t, f.bob, "GET", "/v1/functions?owner=alice", ""), 403)
	})
	t.Run("a function shows its route's image, format, type and limits", func(t *testing.T) {
		_, res := list(t, f.alice, "")
		y := get(res.body, "functions").([]any)[1]
		if get(y, "image") != "@a1" || get(y, "type") != "async" || get(y, "format") != "default" || get(y, "memory") != 256.0 ||
			get(y, "timeout") != 60.0 || get(y, "updated_at") == nil {
			t.Errorf("alpha/y/:id: %v", y)
		}
	})
	t.Run("pages go across apps", func(t *testing.T) {
		var all []string
		cursor := ""
		for range 5 {
			got, res := list(t, f.alice, "?per_page=2"+cursor)
			all = append(all, got)
			next, _ := get(res.body, "next_cursor").(string)
			if next == "" {
				break
			}
			cursor = "&cursor=" + next
		}
		if want := []string{"alpha/x@alice alpha/y/:id@alice", "zeta/z@alice"}; fmt.Sprint(all) != fmt.Sprint(want) {
			t.Errorf("pages %q, want %q", all, want)
		}
	})
}

func TestRoutesNameOnlyImagesTheirWriterMaySee(t *testing.T) {
	f := newAuthFixture(t)
	putImage(t, f.s, "alices-img", "alice", store.ImageKindFunction, store.ImageReady)
	putImage(t, f.s, "bobs-img", "bob", store.ImageKindFunction, store.ImageReady)
	expect(t, f.as(t, f.alice, "POST", "/v1/apps", `{"app":{"name":"shop"}}`), 201)
	refused := func(t *testing.T, res response, image string) {
		t.Helper()
		expect(t, res, 400)
		msg, _ := get(res.body, "error", "message").(string)
		if get(res.body, "error", "fields") != "route.image" || !strings.Contains(msg, image) {
			t.Errorf("refusal of %s: %s", image, res.raw)
		}
	}
	for _, c := range []struct{ name, image string }{
		{"an unknown image is refused", "@nope"},
		{"another developer's image is refused, as if it did not exist", "@bobs-img"},
	} {
		t.Run(c.name, func(t *testing.T) {
			refused(t, f.as(t, f.alice, "POST", "/v1/apps/shop/routes", `{"route":{"path":"/a","image":"`+c.image+`"}}`), c.image)
			refused(t, f.as(t, f.alice, "PUT", "/v1/apps/shop/routes/a", `{"route":{"image":"`+c.image+`"}}`), c.image)
			expect(t, f.as(t, f.alice, "GET", "/v1/apps/shop/routes/a", ""), 404) // nothing was made
		})
	}
	unknown := f.as(t, f.alice, "POST", "/v1/apps/shop/routes", `{"route":{"path":"/a","image":"@bobs-im"}}`)
	others := f.as(t, f.alice, "POST", "/v1/apps/shop/routes", `{"route":{"path":"/a","image":"@bobs-img"}}`)
	if strings.ReplaceAll(unknown.raw, "bobs-im", "bobs-img") != others.raw {
		t.Errorf("another's image is told from a missing one: %s vs %s", unknown.raw, others.raw)
	}
	t.Run("the writer's own image is taken", func(t *testing.T) {
		res := f.as(t, f.alice, "POST", "/v1/apps/shop/routes", `{"route":{"path":"/a","image":"@alices-img"}}`)
		expect(t, res, 201)
		if get(res.body, "route", "image") != "@alices-img" {
			t.Errorf("route: %s", res.raw)
		}
		expect(t, f.as(t, f.alice, "PUT", "/v1/apps/shop/routes/b", `{"route":{"image":"@alices-img"}}`), 201)
	})
	t.Run("a patch is checked the same way", func(t *testing.T) {
		refused(t, f.as(t, f.alice, "PATCH", "/v1/apps/shop/routes/a", `{"route":{"image":"@bobs-img"}}`), "@bobs-img")
		refused(t, f.as(t, f.alice, "PATCH", "/v1/apps/shop/routes/a", `{"route":{"image":"@gone"}}`), "@gone")
		expect(t, f.as(t, f.alice, "PATCH", "/v1/apps/shop/routes/a", `{"route":{"image":"@alices-img","memory":64}}`), 200)
		if res := f.as(t, f.alice, "GET", "/v1/apps/shop/routes/a", ""); get(res.body, "route", "image") != "@alices-img" {
			t.Errorf("route after refused patches: %s", res.raw)
		}
	})
	t.Run("an admin may name any image", func(t *testing.T) {
		expect(t, f.as(t, f.admin, "PATCH", "/v1/apps/shop/routes/a", `{"route":{"image":"@bobs-img"}}`), 200)
		refused(t, f.as(t, f.admin, "PATCH", "/v1/apps/shop/routes/a", `{"route":{"image":"@nope"}}`), "@nope")
	})
	t.Run("the image in use cannot be deleted", func(t *testing.T) {
		res := f.as(t, f.alice, "DELETE", "/v1/images/alices-img", "")
		expect(t, res, 409)
		if msg, _ := get(res.body, "error", "message").(string); !strings.Contains(msg, "shop/b") {
			t.Errorf("the conflict names no route: %s", res.raw)
		}
	})
}

func TestCreateImageOfAReference(t *testing.T) {
	f := newAuthFixture(t)
	for _, c := range []struct {
		name, body, field string
	}{
		{"a name is required", `{"image":{"reference":"alpine:3"}}`, "image.name"},
		{"a reference is required", `{"image":{"name":"x"}}`, "image.reference"},
		{"builds are uploads", `{"image":{"name":"x","source":"build","reference":"alpine:3"}}`, "image.source"},
		{"a bad name is refused", `{"image":{"name":"X Y","reference":"alpine:3"}}`, "image.name"},
		{"a name Docker cannot tag is refused", `{"image":{"name":"foo-","reference":"alpine:3"}}`, "image.name"},
		{"a name with two dots in a row is refused", `{"image":{"name":"a..b","reference":"alpine:3"}}`, "image.name"},
		{"a reference has no base", `{"image":{"name":"x","reference":"alpine:3","base":"@y"}}`, "image.base"},
		{"a reference has no network", `{"image":{"name":"x","reference":"alpine:3","network":"bridge"}}`, "image.network"},
		{"the owner is the creator", `{"image":{"name":"x","reference":"alpine:3","owner":"bob"}}`, "image.owner"},
		{"an unknown field is refused", `{"image":{"name":"x","reference":"alpine:3","colour":"red"}}`, "colour"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := f.as(t, f.alice, "POST", "/v1/images", c.body)
			expect(t, res, 400)
			if got, _ := get(res.body, "error", "fields").(string); !strings.Contains(got, c.field) {
				t.Errorf("fields %q, want %q; %s", got, c.field, res.raw)
			}
		})
	}
	t.Run("uploads to a name or from a base Docker cannot tag are refused", func(t *testing.T) {
		ctx := tarOf(map[string]string{"Dockerfile": "FROM scratch\n"})
		for _, path := range []string{"/v1/images/foo-", "/v1/images/a___b", "/v1/images/ok?base=@a-.b"} {
			expect(t, f.as(t, f.alice, "PUT", path, string(ctx)), 400)
		}
	})
	t.Run("a reference that cannot be pulled ends ERROR", func(t *testing.T) {
		res := f.as(t, f.alice, "POST", "/v1/images", `{"image":{"name":"unreachable","reference":"registry.invalid/gantry/none:1"}}`)
		expect(t, res, 202)
		if get(res.body, "image", "status") != "CREATING" || get(res.body, "image", "owner") != "alice" || get(res.body, "image", "source") != "reference" {
			t.Fatalf("created: %s", res.raw)
		}
		img := waitImage(t, f, f.alice, "unreachable")
		if get(img.body, "image", "status") != "ERROR" || get(img.body, "image", "error") == "" {
			t.Fatalf("pull of an unreachable reference: %s", img.raw)
		}
		expect(t, f.as(t, f.bob, "POST", "/v1/images", `{"image":{"name":"unreachable","reference":"alpine:3"}}`), 409)
	})
}

// waitImage polls an image until it is no longer CREATING.
func waitImage(t testing.TB, f *authFixture, token, name string) response {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		res := f.as(t, token, "GET", "/v1/images/"+name, "")
		expect(t, res, 200)
		if get(res.body, "image", "status") != "CREATING" {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s still CREATING: %s\n%s", name, res.raw, f.imagesLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// uploadsLeft lists what is left in an uploads directory.
func uploadsLeft(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestImageUploadsThroughTheHTTPStack sends uploads to a real HTTP server: the management
// API's 1 MiB limit does not apply to them, the images service's does (413), whether the
// client says the length or not; refused uploads leave nothing behind.
func TestImageUploadsThroughTheHTTPStack(t *testing.T) {
	const limit = 2 << 20
	var uploads string
	f := newAuthFixtureWith(t, func(d *Deps) {
		s := d.Store.(*bolt.DB)
		uploads = filepath.Join(t.TempDir(), "uploads")
		svc, _ := startImagesWith(t, s, images.Config{Dir: uploads, MaxUpload: limit})
		d.Images, d.MaxImageUpload = svc, limit
	})
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	put := func(t *testing.T, name, query, contentType string, body io.Reader, length int64) response {
		t.Helper()
		req, err := http.NewRequest("PUT", srv.URL+"/v1/images/"+name+query, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("Authorization", "Bearer "+f.alice)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("PUT %s: %v", name, err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		out := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &out.body); err != nil {
				t.Fatalf("PUT %s: %d, not JSON: %q", name, res.StatusCode, raw)
			}
		}
		return out
	}
	pad := strings.Repeat("p", 3<<19) // 1.5 MiB: over the management API's limit, under the upload's
	ctxTar := tarOf(map[string]string{"Dockerfile": "FROM scratch\nCOPY pad.txt /\n", "pad.txt": pad})

	t.Run("an upload over the management API's 1 MiB limit is taken", func(t *testing.T) {
		res := put(t, "big-ok", "", "application/octet-stream", bytes.NewReader(ctxTar), int64(len(ctxTar)))
		expect(t, res, 202)
		if get(res.body, "image", "status") != "CREATING" || get(res.body, "image", "source") != "build" || get(res.body, "image", "kind") != "function" {
			t.Fatalf("upload: %s", res.raw)
		}
		img := waitImage(t, f, f.alice, "big-ok")
		if get(img.body, "image", "status") != "READY" || !strings.HasPrefix(fmt.Sprint(get(img.body, "image", "digest")), "sha256:") {
			t.Fatalf("build: %s", img.raw)
		}
	})
	over := append(append([]byte{}, ctxTar...), tarOf(map[string]string{"more.txt": strings.Repeat("m", 1<<20)})...)
	t.Run("an upload over the limit with its length is refused at once", func(t *testing.T) {
		res := put(t, "too-big", "", "application/octet-stream", bytes.NewReader(over), int64(len(over)))
		expect(t, res, 413)
		if get(res.body, "error", "fields") != "body" {
			t.Errorf("413: %s", res.raw)
		}
	})
	t.Run("an upload over the limit streamed without a length is refused", func(t *testing.T) {
		res := put(t, "too-big", "", "application/octet-stream", io.MultiReader(bytes.NewReader(over)), -1)
		expect(t, res, 413)
	})
	for _, c := range []struct {
		name string
		body []byte
		want string
	}{
		{"an upload that is no tar is refused", []byte(strings.Repeat("not a tar ", 100)), ""},
		{"an entry climbing out of the context is refused, named", tarOf(map[string]string{"Dockerfile": "FROM scratch\n", "../evil": "x"}), "../evil"},
		{"a context without its Dockerfile is refused", tarOf(map[string]string{"main.go": "package main"}), "Dockerfile"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := put(t, "bad", "", "application/octet-stream", bytes.NewReader(c.body), int64(len(c.body)))
			expect(t, res, 400)
			if msg, _ := get(res.body, "error", "message").(string); !strings.Contains(msg, c.want) {
				t.Errorf("400 does not name %q: %s", c.want, res.raw)
			}
			expect(t, f.as(t, f.alice, "GET", "/v1/images/bad", ""), 404)
		})
	}
	t.Run("an upload that is not octet-stream is refused", func(t *testing.T) {
		res := put(t, "typed", "", "application/json", bytes.NewReader(ctxTar), int64(len(ctxTar)))
		expect(t, res, 415)
		if get(res.body, "error", "fields") != "Content-Type" {
			t.Errorf("415: %s", res.raw)
		}
	})
	t.Run("an upload without a content type is a tarball", func(t *testing.T) {
		small := tarOf(map[string]string{"Dockerfile": "FROM scratch\nCOPY a /\n", "a": "a"})
		expect(t, put(t, "untyped", "?kind=base", "", bytes.NewReader(small), int64(len(small))), 202)
		if img := waitImage(t, f, f.alice, "untyped"); get(img.body, "image", "status") != "READY" || get(img.body, "image", "kind") != "base" {
			t.Fatalf("build: %s", img.raw)
		}
	})
	t.Run("the JSON operations keep their 1 MiB limit", func(t *testing.T) {
		body := `{"app":{"name":"big","config":{"PAD":"` + pad + `"}}}`
		req, _ := http.NewRequest("POST", srv.URL+"/v1/apps", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.alice)
		req.Header.Set("Content-Type", "application/json")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 413 {
			t.Errorf("POST /v1/apps of 1.5 MiB: %d, want 413", res.StatusCode)
		}
	})
	// A finished build's upload goes right after its outcome is written.
	deadline := time.Now().Add(10 * time.Second)
	for left := uploadsLeft(t, uploads); len(left) != 0; left = uploadsLeft(t, uploads) {
		if time.Now().After(deadline) {
			t.Fatalf("refused or finished uploads left files behind: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestImageLogAndRebuild(t *testing.T) {
	f := newAuthFixture(t)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	upload := func(token, name string, body []byte) response {
		return f.as(t, token, "PUT", "/v1/images/"+name, string(body))
	}
	v1 := tarOf(map[string]string{"Dockerfile": "FROM scratch\nCOPY v /\n", "v": "1"})
	expect(t, upload(f.alice, "logged", v1), 202)

	// Followed while CREATING: the stream ends when the image is final, with the whole log.
	req, _ := http.NewRequest("GET", srv.URL+"/v1/images/logged/log?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+f.alice)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	followed, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("followed log: %d %v %q", res.StatusCode, err, followed)
	}
	img := f.as(t, f.alice, "GET", "/v1/images/logged", "")
	if get(img.body, "image", "status") != "READY" {
		t.Fatalf("after the followed log ended: %s", img.raw)
	}
	digest := get(img.body, "image", "digest")
	req = httptest.NewRequest("GET", "/v1/images/logged/log", nil)
	req.Header.Set("Authorization", "Bearer "+f.alice)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "COPY v /") || rec.Body.String() != string(followed) {
		t.Errorf("log %d %q, followed %q", rec.Code, rec.Body.String(), followed)
	}

	t.Run("another developer cannot take the name", func(t *testing.T) {
		res := upload(f.bob, "logged", v1)
		expect(t, res, 409)
		if msg, _ := get(res.body, "error", "message").(string); !strings.Contains(msg, "taken") {
			t.Errorf("409: %s", res.raw)
		}
	})
	t.Run("the owner's upload is a new build of the image", func(t *testing.T) {
		v2 := tarOf(map[string]string{"Dockerfile": "FROM scratch\nCOPY v /\n", "v": "2"})
		res := upload(f.alice, "logged", v2)
		expect(t, res, 202)
		if get(res.body, "image", "status") != "CREATING" || get(res.body, "image", "digest") != digest {
			t.Errorf("a rebuild keeps the last good digest until it is READY: %s", res.raw)
		}
		img := waitImage(t, f, f.alice, "logged")
		if get(img.body, "image", "status") != "READY" || get(img.body, "image", "digest") == digest {
			t.Errorf("rebuilt: %s (was %v)", img.raw, digest)
		}
	})
	t.Run("a failing build ends ERROR and keeps the last good digest", func(t *testing.T) {
		img := f.as(t, f.alice, "GET", "/v1/images/logged", "")
		good := get(img.body, "image", "digest")
		bad := tarOf(map[string]string{"Dockerfile": "FROM scratch\nCOPY missing /\n"})
		expect(t, upload(f.alice, "logged", bad), 202)
		img = waitImage(t, f, f.alice, "logged")
		if get(img.body, "image", "status") != "ERROR" || get(img.body, "image", "error") == "" || get(img.body, "image", "digest") != good {
			t.Errorf("failed rebuild: %s", img.raw)
		}
	})
	t.Run("deleting: not another's, then the owner's", func(t *testing.T) {
		expect(t, f.as(t, f.bob, "DELETE", "/v1/images/logged", ""), 404)
		expect(t, f.as(t, f.alice, "DELETE", "/v1/images/logged", ""), 204)
		expect(t, f.as(t, f.alice, "GET", "/v1/images/logged", ""), 404)
		expect(t, f.as(t, f.alice, "GET", "/v1/images/logged/log", ""), 404)
	})
}

func TestPruneImagesIsForAdmins(t *testing.T) {
	f := newAuthFixture(t)
	putImage(t, f.s, "unused", "alice", store.ImageKindFunction, store.ImageError)
	putImage(t, f.s, "used", "alice", store.ImageKindFunction, store.ImageReady)
	putImage(t, f.s, "busy", "bob", store.ImageKindFunction, store.ImageCreating)
	expect(t, f.as(t, f.alice, "POST", "/v1/apps", `{"app":{"name":"shop"}}`), 201)
	expect(t, f.as(t, f.alice, "PUT", "/v1/apps/shop/routes/a", `{"route":{"image":"@used"}}`), 201)
	expect(t, f.as(t, f.alice, "POST", "/v1/images/prune", ""), 403)
	res := f.as(t, f.admin, "POST", "/v1/images/prune", "")
	expect(t, res, 200)
	if got := fmt.Sprint(get(res.body, "pruned")); got != "[unused]" {
		t.Errorf("pruned %s, want [unused]", got)
	}
	if got := names(t, f.as(t, f.admin, "GET", "/v1/images", ""), "images", "name"); got != "busy used" {
		t.Errorf("left %q", got)
	}
	res = f.as(t, f.admin, "POST", "/v1/images/prune", "")
	if expect(t, res, 200); fmt.Sprint(get(res.body, "pruned")) != "[]" {
		t.Errorf("second prune: %s", res.raw)
	}
}

// TestFollowedImageLogStreamsAndEnds follows the log of an image being built: the answer
// starts at once, each new part of the log comes as it is written, and the stream ends
// when the image is final, or when the server stops (EndStreams).
func TestFollowedImageLogStreamsAndEnds(t *testing.T) {
	f := newAuthFixture(t)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	ctx := context.Background()
	follow := func(t *testing.T, name string) (*http.Response, func(string)) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/images/"+name+"/log?follow=true", nil)
		req.Header.Set("Authorization", "Bearer "+f.alice)
		res, err := srv.Client().Do(req) // answers once the head is flushed: no log yet
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("follow: %d %s", res.StatusCode, res.Header)
		}
		var got []byte
		wait := func(want string) {
			t.Helper()
			buf := make([]byte, 1024)
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(string(got), want) {
				if time.Now().After(deadline) {
					t.Fatalf("the followed log holds %q, want %q", got, want)
				}
				n, err := res.Body.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil && !strings.Contains(string(got), want) {
					t.Fatalf("the followed log ended (%v) with %q, want %q", err, got, want)
				}
			}
		}
		return res, wait
	}
	for _, c := range []struct {
		name, image string
		end         func(t *testing.T, name, build string)
	}{
		{"the stream ends when the image is final", "final", func(t *testing.T, name, build string) {
			if _, err := f.s.UpdateImage(ctx, name, func(img *store.Image) error { img.Status = store.ImageReady; return nil }, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"the stream ends when the server stops", "stopped", func(t *testing.T, _, _ string) { f.api.EndStreams() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := c.image
			putImage(t, f.s, name, "alice", store.ImageKindFunction, store.ImageCreating)
			img, err := f.s.GetImage(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			res, wait := follow(t, name)
			defer res.Body.Close()
			if err := f.s.SetImageLog(ctx, name, img.Build, []byte("Step 1/2 : FROM scratch\n")); err != nil {
				t.Fatal(err)
			}
			wait("Step 1/2")
			if err := f.s.SetImageLog(ctx, name, img.Build, []byte("Step 1/2 : FROM scratch\nStep 2/2 : COPY a /\n")); err != nil {
				t.Fatal(err)
			}
			wait("Step 2/2")
			c.end(t, name, img.Build)
			done := make(chan error, 1)
			go func() { _, err := io.ReadAll(res.Body); done <- err }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("the stream ended with %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the followed log did not end")
			}
		})
	}
}
