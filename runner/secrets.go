package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/mount"
)

// Secrets gives the runner the values of a function's secrets (the secret service). The
// runner declares only what it uses.
type Secrets interface {
	// Files returns the values of refs for one container: ref → key → value. Its errors
	// name what failed, never a value (a ref that does not exist wraps store.ErrConflict;
	// a backend that cannot answer, the secret service's ErrUnavailable).
	Files(ctx context.Context, refs []string) (map[string]map[string][]byte, error)
}

// SecretsTarget is where a container finds its secrets: SecretsTarget/<ref>/<key>.
const SecretsTarget = "/run/secrets"

// functionUID owns the secret files: the uid (and gid) of functionUser.
const functionUID = 65534

// Modes of what a container gets under SecretsTarget: its user reads, nobody writes.
const (
	secretDirMode  os.FileMode = 0o500
	secretFileMode os.FileMode = 0o400
)

// errNoSecretSource: a function names secrets, but the runner was given no Options.Secrets.
var errNoSecretSource = errors.New("the function names secrets, but this runner has no secret source")

// DefaultSecretsDir is where the runner of instance writes its containers' secrets by
// default: a directory of its own on /dev/shm, a tmpfs, so that no value is written to disk.
func DefaultSecretsDir(instance string) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, instance)
	if strings.Trim(safe, ".") == "" {
		safe = "_" + safe
	}
	return filepath.Join("/dev/shm", "gantry-secrets", safe)
}

// writeSecrets writes the values of fn's secrets into a new directory of its own under
// Options.SecretsDir, for one container to mount at SecretsTarget, and returns it ("" for
// a function without secrets). The directory goes with its container: removeSecrets.
//
// Why a host directory: the container's root is read-only, and Docker cannot copy files
// into a container's tmpfs (`docker cp` writes to the container's layer, under the tmpfs
// mount: moby#22020), so the values are written on the host, on a tmpfs, and bind-mounted
// read-only. That takes a Docker daemon on this host, and a server that runs as root (to
// give the files to the function's user).
func (r *Runner) writeSecrets(ctx context.Context, fn *Function) (string, error) {
	if len(fn.Secrets) == 0 {
		return "", nil
	}
	if r.opts.Secrets == nil {
		return "", fmt.Errorf("secrets of %s: %w", fn.name(), errNoSecretSource)
	}
	files, err := r.opts.Secrets.Files(ctx, fn.Secrets)
	if err != nil {
		return "", fmt.Errorf("secrets of %s: %w", fn.name(), err)
	}
	// The directory was made and checked by New (prepareSecretsDir); one that is gone is
	// not made again here, unchecked.
	dir, err := os.MkdirTemp(r.opts.SecretsDir, "c-")
	if err != nil {
		return "", fmt.Errorf("secrets of %s: %w", fn.name(), err)
	}
	if err := fillSecrets(dir, fn.Secrets, files, functionUID); err != nil {
		r.removeSecrets(dir)
		return "", fmt.Errorf("secrets of %s: %w", fn.name(), err)
	}
	return dir, nil
}

// fillSecrets writes one directory per ref and one file per key into dir, and gives them
// all to uid: directories secretDirMode, files secretFileMode. Errors name refs, keys and
// paths, never a value.
func fillSecrets(dir string, refs []string, files map[string]map[string][]byte, uid int) error {
	for _, ref := range refs {
		if !pathSegment(ref) {
			return fmt.Errorf("secret %q cannot be a directory name", ref)
		}
		values, ok := files[ref]
		if !ok {
			return fmt.Errorf("the secret source gave no value of secret %q", ref)
		}
		refDir := filepath.Join(dir, ref)
		if err := os.Mkdir(refDir, 0o700); err != nil {
			return err
		}
		for key, value := range values {
			if !pathSegment(key) {
				return fmt.Errorf("key %q of secret %q cannot be a file name", key, ref)
			}
			if err := writeSecretFile(filepath.Join(refDir, key), value, uid); err != nil {
				return err
			}
		}
		if err := own(refDir, uid, secretDirMode); err != nil {
			return err
		}
	}
	return own(dir, uid, secretDirMode)
}

// writeSecretFile writes one value into a new file of uid's, mode secretFileMode.
func writeSecretFile(path string, value []byte, uid int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, secretFileMode) //nolint:gosec // G304: a path of the runner's own making
	if err != nil {
		return err
	}
	_, err = f.Write(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err // an *os.PathError: the path, never the value
	}
	return own(path, uid, secretFileMode)
}

// own gives path to uid (and its group of the same number) with mode.
func own(path string, uid int, mode os.FileMode) error {
	if err := os.Chown(path, uid, uid); err != nil {
		return fmt.Errorf("give the secret files to the function's user (uid %d): %w; Gantry delivers secrets only when it runs as root", uid, err)
	}
	return os.Chmod(path, mode)
}

// pathSegment tells whether s names one entry of a directory: not empty, not . or .., no / or NUL.
func pathSegment(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

// secretsMount bind-mounts a container's secrets directory read-only at SecretsTarget:
// not recursively (nothing mounted below it comes along) and private (no mount event
// propagates either way).
func secretsMount(dir string) mount.Mount {
	return mount.Mount{
		Type: mount.TypeBind, Source: dir, Target: SecretsTarget, ReadOnly: true,
		BindOptions: &mount.BindOptions{NonRecursive: true, Propagation: mount.PropagationPrivate},
	}
}

// removeSecrets removes a container's secrets directory ("": none). The container is gone,
// or going: its call ended.
func (r *Runner) removeSecrets(dir string) {
	if dir == "" {
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		r.log.Error("remove a container's secrets", "dir", dir, "err", err)
	}
}

// removeAllSecrets removes the secrets directory of this instance, with the directories of
// its containers: at Close.
func (r *Runner) removeAllSecrets() {
	if err := os.RemoveAll(r.opts.SecretsDir); err != nil {
		r.log.Error("remove the secrets of this instance's containers", "dir", r.opts.SecretsDir, "err", err)
	}
}

// removeLeftoverSecrets removes, at start, what a previous run left in the secrets
// directory (it crashed): the directories of the containers just reaped, or of those
// Docker lost. The directory itself, checked by prepareSecretsDir, stays.
func (r *Runner) removeLeftoverSecrets() {
	entries, err := os.ReadDir(r.opts.SecretsDir)
	if err != nil {
		return // not made: prepareSecretsDir warned
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(r.opts.SecretsDir, e.Name())); err != nil {
			r.log.Error("remove the secrets of a previous run's container", "dir", filepath.Join(r.opts.SecretsDir, e.Name()), "err", err)
		}
	}
}

// sortedRefs is refs sorted, each once.
func sortedRefs(refs []string) []string {
	s := slices.Clone(refs)
	slices.Sort(s)
	return slices.Compact(s)
}

// errUnsafeSecretsDir: a directory on the way to the secrets directory could be changed by
// someone else than this process's user.
var errUnsafeSecretsDir = errors.New("unsafe secrets directory")

// prepareSecretsDir makes the secrets directory of this instance, and every directory
// missing above it, mode 0700, and then checks, without following symbolic links, every
// directory from the first one it made, and at least the secrets directory and its parent
// (/dev/shm/gantry-secrets by default: /dev/shm is writable by every user): each must be a
// directory, not a symbolic link, of this process's user (its euid), writable by no group
// or other user, and the secrets directory itself mode 0700. Else it returns an error
// wrapping errUnsafeSecretsDir that names the directory and what is wrong with it: the
// secrets of containers would be written into, and removed through, a tree someone else
// controls. Such a directory is not repaired, but refused; one the runner made is accepted
// again at the next start.
//
// A directory that cannot be made is another error: the server warns, and calls of
// functions with secrets fail.
func prepareSecretsDir(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	var paths []string // from the root down to dir
	for p := dir; ; p = filepath.Dir(p) {
		paths = append(paths, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	slices.Reverse(paths)
	made := false
	for i, p := range paths {
		_, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			made = true
			if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		} else if err != nil {
			return err
		}
		if made || i >= len(paths)-2 {
			if err := checkSecretsPath(p, i == len(paths)-1); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSecretsPath checks one directory on the way to the secrets directory (last: the
// secrets directory itself).
func checkSecretsPath(path string, last bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	unsafe := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s %s; remove it (the server makes it again, mode 0700) or choose another --secrets-dir", errUnsafeSecretsDir, path, fmt.Sprintf(format, args...))
	}
	mode := fi.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		return unsafe("is a symbolic link")
	case !mode.IsDir():
		return unsafe("is not a directory")
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		return unsafe("is owned by uid %d, not by this process's user (uid %d)", uid, os.Geteuid())
	}
	switch {
	case last && mode.Perm() != 0o700:
		return unsafe("has mode %#o, not 0700", mode.Perm())
	case mode.Perm()&0o022 != 0:
		return unsafe("has mode %#o: its group or other users may write to it", mode.Perm())
	}
	return nil
}

// checkSecretsDir warns when the secrets directory is not on a tmpfs: values would be
// written to disk.
func (r *Runner) checkSecretsDir() {
	if tmpfs, err := onTmpfs(r.opts.SecretsDir); err == nil && !tmpfs {
		r.log.Warn("the secrets directory is not on a tmpfs: secret values will be written to disk", "dir", r.opts.SecretsDir)
	}
}
