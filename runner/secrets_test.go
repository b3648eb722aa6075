package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// mapSecrets is the runner's narrow Secrets interface over a map: the test double of the
// secret service.
type mapSecrets struct {
	mu   sync.Mutex
	vals map[string]map[string][]byte
}

func newMapSecrets() *mapSecrets { return &mapSecrets{vals: map[string]map[string][]byte{}} }

func (m *mapSecrets) Files(_ context.Context, refs []string) (map[string]map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]map[string][]byte, len(refs))
	for _, ref := range refs {
		v, ok := m.vals[ref]
		if !ok {
			return nil, fmt.Errorf("secret %q does not exist", ref)
		}
		out[ref] = map[string][]byte{}
		for k, b := range v {
			out[ref][k] = append([]byte(nil), b...)
		}
	}
	return out, nil
}

func (m *mapSecrets) set(ref, key, value string) *mapSecrets {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vals[ref] == nil {
		m.vals[ref] = map[string][]byte{}
	}
	m.vals[ref][key] = []byte(value)
	return m
}

// createSpy is the real Docker client that keeps what each container was created with.
type createSpy struct {
	Docker
	mu      sync.Mutex
	configs []*container.Config
	hosts   []*container.HostConfig
}

func (s *createSpy) ContainerCreate(ctx context.Context, cfg *container.Config, host *container.HostConfig, net *network.NetworkingConfig, p *ocispec.Platform, name string) (container.CreateResponse, error) {
	s.mu.Lock()
	s.configs, s.hosts = append(s.configs, cfg), append(s.hosts, host)
	s.mu.Unlock()
	return s.Docker.ContainerCreate(ctx, cfg, host, net, p, name)
}

// fileReport is what the test function tells of a path ("files").
type fileReport struct {
	SHA256 string `json:"sha256"`
	Size   *int64 `json:"size"`
	Dir    bool   `json:"dir"`
	Mode   string `json:"mode"`
	UID    *int64 `json:"uid"`
	Error  string `json:"error"`
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// files asks a container of fn about paths, and returns its report and the container's id
// (hot formats).
func files(t *testing.T, r *Runner, fn Function, paths ...string) (map[string]fileReport, string) {
	t.Helper()
	in, _ := json.Marshal(map[string][]string{"files": paths})
	res, err := r.Run(context.Background(), testCall(fn, string(in)))
	if err != nil {
		t.Fatalf("files call: %v", err)
	}
	var out map[string]fileReport
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("files call: %v: %q", err, res.Body)
	}
	return out, res.Header.Get("X-Container-Id")
}

// secretDirs counts the containers' secrets directories of a runner.
func secretDirs(t *testing.T, r *Runner) int {
	t.Helper()
	entries, err := os.ReadDir(r.opts.SecretsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return len(entries)
}

// wantSecretFile checks a secret file as a function sees it.
func wantSecretFile(t *testing.T, got fileReport, value string) {
	t.Helper()
	if got.Error != "" || got.SHA256 != sha(value) || got.Size == nil || *got.Size != int64(len(value)) || got.Mode != "0400" || got.UID == nil || *got.UID != functionUID {
		t.Errorf("secret file: %+v, want sha256 %s, size %d, mode 0400, uid %d", got, sha(value), len(value), functionUID)
	}
}

func TestSecretsColdCall(t *testing.T) {
	t.Parallel()
	const password, key = "s3cret-cold-password", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
	src := newMapSecrets().set("db", "password", password).set("db", "user", "app").set("ssh:alice", "private_key", key)
	spy := &createSpy{Docker: testDocker}
	r := newTestRunnerWith(t, spy, Options{Secrets: src})
	fn := testRoute(FormatDefault, func(f *Function) { f.Secrets = []string{"db", "ssh:alice"} })

	got, _ := files(t, r, fn, "/run/secrets", "/run/secrets/db", "/run/secrets/db/password", "/run/secrets/db/user", "/run/secrets/ssh:alice/private_key")
	wantSecretFile(t, got["/run/secrets/db/password"], password)
	wantSecretFile(t, got["/run/secrets/db/user"], "app")
	wantSecretFile(t, got["/run/secrets/ssh:alice/private_key"], key)
	for _, dir := range []string{"/run/secrets", "/run/secrets/db"} {
		if d := got[dir]; !d.Dir || d.Mode != "0500" || d.UID == nil || *d.UID != functionUID {
			t.Errorf("%s: %+v, want a directory of mode 0500 owned by %d", dir, d, functionUID)
		}
	}

	t.Run("the root and the secrets are read-only", func(t *testing.T) {
		res, err := r.Run(context.Background(), testCall(fn, `{"write":["/run/secrets/db/password","/run/secrets/db/new","/run/secrets/new","/new","/tmp/ok"]}`))
		if err != nil {
			t.Fatal(err)
		}
		var wrote map[string]string
		if err := json.Unmarshal(res.Body, &wrote); err != nil {
			t.Fatalf("%v: %q", err, res.Body)
		}
		if len(wrote) != 5 || wrote["/tmp/ok"] != "written" {
			t.Fatalf("writes: %v, want /tmp writable", wrote)
		}
		for path, outcome := range wrote {
			if path != "/tmp/ok" && !strings.Contains(outcome, "read-only file system") {
				t.Errorf("writing %s: %s, want a read-only file system", path, outcome)
			}
		}
	})
	t.Run("values are in no environment, label or log", func(t *testing.T) {
		spy.mu.Lock()
		defer spy.mu.Unlock()
		for i, cfg := range spy.configs {
			all := strings.Join(cfg.Env, "\n") + fmt.Sprint(cfg.Labels)
			for _, v := range []string{password, key, "abc"} {
				if strings.Contains(all, v) {
					t.Errorf("container %d was created with a secret's value in its env or labels", i)
				}
			}
			host := spy.hosts[i]
			if !host.ReadonlyRootfs || len(host.Mounts) != 1 || host.Mounts[0].Target != SecretsTarget || !host.Mounts[0].ReadOnly ||
				host.Mounts[0].BindOptions == nil || !host.Mounts[0].BindOptions.NonRecursive {
				t.Errorf("container %d: root read-only %v, mounts %+v: want the secrets bound read-only, not recursively, at %s", i, host.ReadonlyRootfs, host.Mounts, SecretsTarget)
			}
		}
	})
	eventually(t, 10*time.Second, "the secrets outlived their container", func() bool { return secretDirs(t, r) == 0 })
}

func TestSecretsFailedStartsLeaveNothing(t *testing.T) {
	t.Parallel()
	src := newMapSecrets().set("db", "password", "pw")
	withSecrets := func(format string, edit func(*Function)) Function {
		return testRoute(format, func(f *Function) {
			f.Secrets = []string{"db"}
			if edit != nil {
				edit(f)
			}
		})
	}
	t.Run("a secret that does not exist", func(t *testing.T) {
		t.Parallel()
		r := newTestRunner(t, Options{Secrets: src})
		_, err := r.Run(context.Background(), testCall(withSecrets(FormatDefault, func(f *Function) { f.Secrets = []string{"db", "nope"} }), `{}`))
		if err == nil || !strings.Contains(err.Error(), `secret "nope" does not exist`) {
			t.Fatalf("got %v, want the missing secret named", err)
		}
		if n := secretDirs(t, r); n != 0 {
			t.Fatalf("%d secrets directories left", n)
		}
	})
	t.Run("no secret source", func(t *testing.T) {
		t.Parallel()
		r := newTestRunner(t, Options{})
		if _, err := r.Run(context.Background(), testCall(withSecrets(FormatHTTP, nil), `{}`)); !errors.Is(err, errNoSecretSource) {
			t.Fatalf("got %v, want errNoSecretSource", err)
		}
	})
	t.Run("the image is missing", func(t *testing.T) {
		t.Parallel()
		r := newTestRunner(t, Options{Secrets: src})
		_, err := r.Run(context.Background(), testCall(withSecrets(FormatDefault, func(f *Function) { f.Image = "gantry-test/no-such-image:none" }), `{}`))
		if !errors.Is(err, ErrImageNotFound) {
			t.Fatalf("got %v, want ErrImageNotFound", err)
		}
		if n := secretDirs(t, r); n != 0 {
			t.Fatalf("%d secrets directories left after a failed create", n)
		}
	})
	t.Run("a hot container that never gets ready", func(t *testing.T) {
		t.Parallel()
		r := newTestRunner(t, Options{Secrets: src})
		// An http function without a network has no address: started, then destroyed.
		if _, err := r.Run(context.Background(), testCall(withSecrets(FormatHTTP, func(f *Function) { f.Network = NetworkNone }), `{}`)); err == nil {
			t.Fatal("a hot container without an address served a call")
		}
		eventually(t, 10*time.Second, "the secrets outlived a failed start", func() bool { return secretDirs(t, r) == 0 })
	})
	t.Run("an attach that fails", func(t *testing.T) {
		t.Parallel()
		r := newTestRunnerWith(t, attachFails{testDocker}, Options{Secrets: src})
		for _, format := range []string{FormatDefault, FormatJSON} {
			if _, err := r.Run(context.Background(), testCall(withSecrets(format, nil), `{}`)); err == nil {
				t.Fatalf("%s: a call whose attach failed succeeded", format)
			}
		}
		eventually(t, 10*time.Second, "the secrets outlived a failed attach", func() bool { return secretDirs(t, r) == 0 })
	})
}

func TestSecretsHot(t *testing.T) {
	t.Parallel()
	for _, format := range []string{FormatHTTP, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			src := newMapSecrets().set("db", "password", "one")
			r := newTestRunner(t, Options{Secrets: src})
			v1 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			fn := testRoute(format, func(f *Function) { f.Secrets, f.SecretsVersion = []string{"db"}, v1 })
			const path = "/run/secrets/db/password"

			got, first := files(t, r, fn, path)
			wantSecretFile(t, got[path], "one")
			if _, again := files(t, r, fn, path); again != first {
				t.Fatal("a second call of the same version got another container")
			}

			// The secret changes: a call that knows it gets a new container, with the new value.
			src.set("db", "password", "two")
			v2 := fn
			v2.SecretsVersion = v1.Add(time.Second)
			got, second := files(t, r, v2, path)
			wantSecretFile(t, got[path], "two")
			if second == first {
				t.Fatal("a call of a newer secrets version was served by a container of the old one")
			}
			if got, c := files(t, r, fn, path); c != second || got[path].SHA256 != sha("two") {
				t.Fatal("a call that read the older version brought the old container back")
			}
			eventually(t, 10*time.Second, "the drained container's secrets remain", func() bool { return secretDirs(t, r) == 1 })

			r.DrainSecret("db")
			if n := r.HotContainers(); n != 0 {
				t.Fatalf("%d hot containers after DrainSecret, want 0", n)
			}
			eventually(t, 10*time.Second, "DrainSecret left containers or secrets", func() bool {
				return secretDirs(t, r) == 0 && countContainers(t, r.opts.Instance) == 0
			})
		})
	}
}

func TestSecretsPoolsPerSetOfSecrets(t *testing.T) {
	t.Parallel()
	src := newMapSecrets().set("a", "k", "value-a").set("b", "k", "value-b").set("ssh:alice", "private_key", "key-a")
	r := newTestRunner(t, Options{Secrets: src})
	// One route, called by two workflow steps that add different secrets, and directly.
	stepA := testRoute(FormatHTTP, func(f *Function) { f.Secrets = []string{"a", "ssh:alice"} })
	stepB := testRoute(FormatHTTP, func(f *Function) { f.Secrets = []string{"b"} })
	plain := testRoute(FormatHTTP, nil)

	gotA, ca := files(t, r, stepA, "/run/secrets/a/k", "/run/secrets/b/k")
	gotB, cb := files(t, r, stepB, "/run/secrets/a/k", "/run/secrets/b/k")
	_, cp := files(t, r, plain, "/run/secrets")
	if ca == cb || ca == cp || cb == cp {
		t.Fatal("calls that name different secrets shared a container")
	}
	wantSecretFile(t, gotA["/run/secrets/a/k"], "value-a")
	wantSecretFile(t, gotB["/run/secrets/b/k"], "value-b")
	if gotA["/run/secrets/b/k"].Error == "" || gotB["/run/secrets/a/k"].Error == "" {
		t.Fatal("a container got secrets its call did not name")
	}
	reordered := stepA
	reordered.Secrets = []string{"ssh:alice", "a", "a"}
	if _, c := files(t, r, reordered, "/run/secrets"); c != ca {
		t.Fatal("the same secrets named in another order got another container")
	}

	r.DrainSecret("ssh:alice")
	if _, c := files(t, r, stepB, "/run/secrets"); c != cb {
		t.Fatal("draining a secret drained a pool that does not hold it")
	}
	if _, c := files(t, r, stepA, "/run/secrets"); c == ca {
		t.Fatal("draining a secret left a container that holds it")
	}

	r.DrainRoute(plain.App, plain.Path)
	if n := r.HotContainers(); n != 0 {
		t.Fatalf("%d hot containers after DrainRoute, want 0: every pool of the route goes, whatever its secrets", n)
	}
	eventually(t, 10*time.Second, "DrainRoute left secrets", func() bool { return secretDirs(t, r) == 0 })
}

func TestSecretsLeftoversRemovedAtStart(t *testing.T) {
	t.Parallel()
	needDocker(t)
	instance := "test-secrets-leftovers-" + time.Now().Format("150405.000000000")
	left := filepath.Join(DefaultSecretsDir(instance), "c-crashed", "db")
	if err := os.MkdirAll(left, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(left, "password"), []byte("left behind"), 0o400); err != nil {
		t.Fatal(err)
	}
	r := newTestRunner(t, Options{Instance: instance})
	if r.opts.SecretsDir != DefaultSecretsDir(instance) {
		t.Fatalf("secrets directory %s, want the default %s", r.opts.SecretsDir, DefaultSecretsDir(instance))
	}
	if n := secretDirs(t, r); n != 0 {
		t.Fatalf("%d secrets directories of a previous run survived the start", n)
	}
}

func TestSecretsDirOfSomeoneElseIsRefused(t *testing.T) {
	t.Parallel()
	needDocker(t)
	// Each case makes base/secrets/node (the parent and the secrets directory), or something
	// else in their place, and returns what New must name.
	tests := []struct {
		name string
		make func(t *testing.T, base, parent, dir string) (path, problem string)
	}{
		{"a symbolic link in place of the secrets directory", func(t *testing.T, base, parent, dir string) (string, string) {
			mkdir(t, parent, 0o700)
			other := filepath.Join(base, "other")
			mkdir(t, other, 0o700)
			symlink(t, other, dir)
			return dir, "is a symbolic link"
		}},
		{"a symbolic link in place of the parent", func(t *testing.T, base, parent, dir string) (string, string) {
			other := filepath.Join(base, "other")
			mkdir(t, filepath.Join(other, "node", "c-1"), 0o700)
			symlink(t, other, parent)
			return parent, "is a symbolic link"
		}},
		{"a file in place of the secrets directory", func(t *testing.T, base, parent, dir string) (string, string) {
			mkdir(t, parent, 0o700)
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return dir, "is not a directory"
		}},
		{"a secrets directory anyone may write to", func(t *testing.T, base, parent, dir string) (string, string) {
			mkdir(t, dir, 0o700)
			chmod(t, dir, 0o777)
			return dir, "has mode 0777, not 0700"
		}},
		{"a secrets directory others may read", func(t *testing.T, base, parent, dir string) (string, string) {
			mkdir(t, dir, 0o700)
			chmod(t, dir, 0o755)
			return dir, "has mode 0755, not 0700"
		}},
		{"a parent anyone may write to", func(t *testing.T, base, parent, dir string) (string, string) {
			mkdir(t, dir, 0o700)
			chmod(t, parent, 0o1777)
			return parent, "has mode 0777: its group or other users may write to it"
		}},
		{"a secrets directory of another user", func(t *testing.T, base, parent, dir string) (string, string) {
			mkdir(t, dir, 0o700)
			chown(t, dir, functionUID)
			return dir, fmt.Sprintf("is owned by uid %d, not by this process's user", functionUID)
		}},
		{"a parent of another user", func(t *testing.T, base, parent, dir string) (string, string) {
			mkdir(t, dir, 0o700)
			chown(t, parent, functionUID)
			return parent, fmt.Sprintf("is owned by uid %d, not by this process's user", functionUID)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			parent := filepath.Join(base, "secrets")
			dir := filepath.Join(parent, "node")
			path, problem := tt.make(t, base, parent, dir)
			before := tree(t, base)
			r, err := New(context.Background(), testDocker, Options{Instance: fmt.Sprintf("test-%s-%d", t.Name(), time.Now().UnixNano()), SecretsDir: dir})
			if err == nil {
				_ = r.Close(context.Background())
				t.Fatalf("New accepted the secrets directory %s", dir)
			}
			if !errors.Is(err, errUnsafeSecretsDir) || !strings.Contains(err.Error(), path+" "+problem) {
				t.Fatalf("got %v, want an error saying %s %s", err, path, problem)
			}
			if after := tree(t, base); after != before {
				t.Fatalf("New changed what it refused:\n%s\nwant\n%s", after, before)
			}
		})
	}
}

func TestSecretsDirOfAnEarlierStartIsAccepted(t *testing.T) {
	t.Parallel()
	parent := filepath.Join(t.TempDir(), "made", "secrets")
	dir := filepath.Join(parent, "node")
	if err := prepareSecretsDir(dir); err != nil { // a start that crashed, and left a container's secrets
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(parent), parent, dir} {
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v %v, want a directory of mode 0700", p, fi.Mode(), err)
		}
	}
	mkdir(t, filepath.Join(dir, "c-crashed", "db"), 0o700)
	r := newTestRunner(t, Options{SecretsDir: dir})
	if n := secretDirs(t, r); n != 0 {
		t.Fatalf("%d secrets directories of a previous run survived the start", n)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	newTestRunner(t, Options{SecretsDir: dir}) // the parent the first runner made, the second accepts
}

func mkdir(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving a directory to another user takes root")
	}
	if err := os.Lchown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// tree lists what is under dir: paths, modes and owners, without following links.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		uid, _ := fileOwner(fi)
		fmt.Fprintf(&b, "%s %v %d\n", path, fi.Mode(), uid)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The rules below need no Docker.

func TestFillSecretsRefusesWhatIsNoFileName(t *testing.T) {
	t.Parallel()
	uid := os.Getuid() // root or not, a file can be given to oneself
	tests := []struct {
		name  string
		refs  []string
		files map[string]map[string][]byte
		want  string
	}{
		{"a ref that climbs out", []string{".."}, map[string]map[string][]byte{"..": {"k": []byte("v4lue")}}, `secret ".."`},
		{"a ref with a slash", []string{"a/b"}, map[string]map[string][]byte{"a/b": {"k": []byte("v4lue")}}, `secret "a/b"`},
		{"a key with a slash", []string{"a"}, map[string]map[string][]byte{"a": {"../k": []byte("v4lue")}}, `key "../k"`},
		{"a ref the source did not give", []string{"a", "b"}, map[string]map[string][]byte{"a": {"k": []byte("v4lue")}}, `secret "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fillSecrets(t.TempDir(), tt.refs, tt.files, uid)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "v4lue") {
				t.Fatalf("got %v, want an error naming %s, and no value", err, tt.want)
			}
		})
	}
	t.Run("modes", func(t *testing.T) {
		dir := t.TempDir()
		if err := fillSecrets(dir, []string{"a"}, map[string]map[string][]byte{"a": {"k": []byte("v")}}, uid); err != nil {
			t.Fatal(err)
		}
		for path, want := range map[string]os.FileMode{dir: secretDirMode, filepath.Join(dir, "a"): secretDirMode, filepath.Join(dir, "a", "k"): secretFileMode} {
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: %v %v, want mode %v", path, fi.Mode(), err, want)
			}
		}
	})
}

func TestPoolKeyIsTheFunctionAndItsSetOfSecrets(t *testing.T) {
	t.Parallel()
	plain := Function{App: "app", Path: "/fn"}
	ab := Function{App: "app", Path: "/fn", Secrets: []string{"b", "a"}}
	ba := Function{App: "app", Path: "/fn", Secrets: []string{"a", "b", "a"}}
	a := Function{App: "app", Path: "/fn", Secrets: []string{"a"}}
	if plain.poolKey() != "app/fn" || ab.poolKey() != ba.poolKey() || ab.poolKey() == a.poolKey() || a.poolKey() == plain.poolKey() {
		t.Fatalf("keys: %q %q %q %q", plain.poolKey(), ab.poolKey(), ba.poolKey(), a.poolKey())
	}
}

func TestDefaultSecretsDirIsOneDirectoryOnTmpfs(t *testing.T) {
	t.Parallel()
	for instance, want := range map[string]string{
		"01JNODE":             "/dev/shm/gantry-secrets/01JNODE",
		"test-TestX/sub-case": "/dev/shm/gantry-secrets/test-TestX_sub-case",
		"..":                  "/dev/shm/gantry-secrets/_..",
	} {
		if got := DefaultSecretsDir(instance); got != want {
			t.Errorf("DefaultSecretsDir(%q) = %s, want %s", instance, got, want)
		}
	}
}
