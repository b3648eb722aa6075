package runner

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
)

// hotPort is the port hot http functions listen on inside their container ($PORT).
const hotPort = 8080

// functionUser runs every function: nobody, never root in the container.
const functionUser = "65534:65534"

// functionEnv is the environment every container of a function gets: its Env, then
// Gantry's FN_ variables, then the IronFunctions names of the per-container ones (see
// ironEnv).
func functionEnv(fn *Function) map[string]string {
	env := fn.Config()
	env["FN_APP_NAME"] = fn.App
	env["FN_PATH"] = fn.Path
	env["FN_FORMAT"] = fn.Format
	env["FN_MEMORY"] = strconv.FormatInt(fn.MemoryMiB, 10)
	if fn.Format == FormatHTTP {
		env["PORT"] = strconv.Itoa(hotPort)
	}
	setIron := ironEnv(fn, env)
	setIron("APP_NAME", fn.App)
	setIron("ROUTE", fn.Path)
	setIron("FORMAT", fn.Format)
	setIron("MEMORY_MB", env["FN_MEMORY"])
	if t, ok := env["FN_TYPE"]; ok { // the route's type, a layer of its Env
		setIron("TYPE", t)
	}
	return env
}

// ironEnv returns a setter into env of names an app's or route's config may also use,
// where the config wins: the IronFunctions names of Gantry's FN_ variables (APP_NAME,
// ROUTE, FORMAT, MEMORY_MB, TYPE for every container; CALL_ID, METHOD, REQUEST_URL,
// PARAM_<NAME> and HEADER_<NAME> for a default-format call, each with the value of its FN_
// variable, so that an image written for IronFunctions runs unchanged) and CE_<NAME>.
// Unlike the FN_ names, which are Gantry's own and always set, these are ordinary names.
func ironEnv(fn *Function, env map[string]string) func(name, value string) {
	return func(name, value string) {
		for _, l := range fn.Env {
			if _, ok := l[name]; ok {
				return
			}
		}
		env[name] = value
	}
}

// callEnv adds the per-call variables of the default format: the call's metadata, its
// route params as FN_PARAM_<NAME>, its request headers as FN_HEADER_<NAME>, and the
// CloudEvents attributes of its ce-* headers as CE_<NAME> (see ceAttribute), each also
// under its IronFunctions name (CALL_ID, METHOD, REQUEST_URL, PARAM_<NAME>,
// HEADER_<NAME>), but for a name the app's or route's config sets: the config wins, a
// caller's header never changes it.
func callEnv(c *Call) map[string]string {
	env := functionEnv(&c.Function)
	setIron := ironEnv(&c.Function, env)
	env["FN_CALL_ID"] = c.ID
	env["FN_METHOD"] = c.Method
	env["FN_REQUEST_URL"] = c.URL
	env["FN_DEADLINE"] = c.Deadline.UTC().Format(time.RFC3339Nano)
	setIron("CALL_ID", c.ID)
	setIron("METHOD", c.Method)
	setIron("REQUEST_URL", c.URL)
	for k, v := range c.Params {
		env["FN_PARAM_"+envName(k)] = v
		setIron("PARAM_"+envName(k), v)
	}
	for k, v := range c.Header {
		joined := strings.Join(v, ", ")
		env["FN_HEADER_"+envName(k)] = joined
		setIron("HEADER_"+envName(k), joined)
		if name, ok := ceAttribute(k); ok && len(v) > 0 {
			setIron("CE_"+envName(name), ceValue(v[0]))
		}
	}
	return env
}

// ceAttribute is the CloudEvents attribute a ce-* request header carries (binary mode of
// the CloudEvents HTTP binding: ce-id, ce-type, an extension's ce-<name>): a
// default-format function gets each as CE_<NAME> (CE_ID, CE_SOURCE, CE_TYPE, ...), the
// way an http function reads the headers. Any call's ce-* headers are so passed, an event
// delivery's or a caller's own.
func ceAttribute(header string) (string, bool) {
	if len(header) <= 3 || !strings.EqualFold(header[:3], "ce-") {
		return "", false
	}
	return header[3:], true
}

// ceValue is a ce-* header's value as the attribute's: percent-decoded, as the binding
// encodes what a header cannot carry; a value not validly encoded is taken as it is.
func ceValue(v string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	if d, err := url.PathUnescape(v); err == nil {
		return d
	}
	return v
}

// Bounds of what a default-format call adds to its container's environment. Linux refuses
// to start a process with an environment string over 128 KiB (E2BIG), or with arguments
// and environment over a quarter of its stack limit (2 MiB under Docker's default 8 MiB).
// Within these bounds, with configs bounded by the store (32 KiB), no call can fail that
// way: no variable is over 32 KiB, and all of them together are under 200 KiB, though the
// URL, parameters and headers are each passed twice, under Gantry's FN_ name and under
// IronFunctions' (REQUEST_URL, PARAM_<NAME>, HEADER_<NAME>; see ironEnv). A call over them
// is refused before anything runs or is recorded.
const (
	// MaxHeaderEnvBytes caps the environment the request headers become, counted as
	// NAME=value strings: FN_HEADER_<NAME> and HEADER_<NAME> for each header, and CE_<NAME>
	// besides for a ce- header (431). Each header being passed twice, that is about 32 KiB
	// of request headers.
	MaxHeaderEnvBytes = 64 << 10
	// MaxURLEnvBytes caps the URL (414), passed as FN_REQUEST_URL and REQUEST_URL.
	MaxURLEnvBytes = 16 << 10
	// MaxParamEnvBytes caps the values of the path parameters as the environment holds
	// them, twice: as FN_PARAM_<NAME> and PARAM_<NAME> (414), so 16 KiB of values.
	// Parameters come from the request path, which the gateway does not pass on whole in
	// FN_REQUEST_URL, so they have a budget of their own.
	MaxParamEnvBytes = 32 << 10
)

// CheckCallEnv refuses a default-format call whose URL, path parameters or headers would
// not fit in its container's environment (ErrURLTooLong, ErrHeadersTooLarge). The
// invocation service checks it before anything runs or is recorded. It counts every copy
// callEnv makes, whether or not a config name takes the place of an IronFunctions one.
func CheckCallEnv(url string, params map[string]string, header http.Header) error {
	if len(url) > MaxURLEnvBytes {
		return fmt.Errorf("%w: a function of the default format takes a URL of at most %d bytes (its FN_REQUEST_URL and REQUEST_URL)", ErrURLTooLong, MaxURLEnvBytes)
	}
	p := 0
	for _, v := range params { // their names come from the route, bounded with it
		p += 2 * len(v) // FN_PARAM_<NAME> and PARAM_<NAME>
	}
	if p > MaxParamEnvBytes {
		return fmt.Errorf("%w: a function of the default format takes at most %d bytes of path parameters (%d bytes of its environment: each value is passed twice, as FN_PARAM_<NAME> and PARAM_<NAME>)", ErrURLTooLong, MaxParamEnvBytes/2, MaxParamEnvBytes)
	}
	n := 0
	for k, v := range header {
		value := 0
		for i, s := range v {
			value += len(s) + min(i, 1)*len(", ")
		}
		n += len("FN_HEADER_=") + len(k) + value       // FN_HEADER_<NAME>=value
		n += len("HEADER_=") + len(k) + value          // HEADER_<NAME>=value
		if _, ok := ceAttribute(k); ok && len(v) > 0 { // CE_<NAME>=value besides
			n += len("CE_=") + len(k) + len(v[0])
		}
	}
	if n > MaxHeaderEnvBytes {
		return fmt.Errorf("%w: a function of the default format takes request headers of at most %d bytes of environment (each header is passed as FN_HEADER_<NAME> and HEADER_<NAME>, a ce- header as CE_<NAME> besides: about %d bytes of headers)", ErrHeadersTooLarge, MaxHeaderEnvBytes, MaxHeaderEnvBytes/2)
	}
	return nil
}

// envName turns a header or parameter name into an environment variable suffix.
func envName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// containerSpec is the Docker configuration of a function's container. The limits are
// Docker's to enforce: memory without swap, CPUs, pids, a read-only root with a tmpfs
// /tmp, no capabilities, no new privileges, the route's network (by default Gantry's
// function network, where no container reaches another). The daemon keeps no
// logs: Gantry reads the streams itself. netMode is what networkMode resolved the route's
// network to.
func (r *Runner) containerSpec(fn *Function, env map[string]string, callID, netMode string) (*container.Config, *container.HostConfig) {
	labels := map[string]string{
		LabelManaged:  "true",
		LabelInstance: r.opts.Instance,
		LabelApp:      fn.App,
		LabelRoute:    fn.Path,
		LabelFormat:   fn.Format,
	}
	if callID != "" {
		labels[LabelCall] = callID
	}
	if fn.ImageName != "" {
		labels[LabelImage] = fn.ImageName
	}
	all := make(map[string]string, len(labels)+len(r.opts.Labels))
	maps.Copy(all, r.opts.Labels)
	maps.Copy(all, labels) // Gantry's own labels win
	labels = all
	interactive := fn.Format != FormatHTTP // default and json talk over stdin
	cfg := &container.Config{
		Image:        fn.Image,
		User:         functionUser,
		Env:          envList(env),
		Labels:       labels,
		AttachStdin:  interactive,
		OpenStdin:    interactive,
		StdinOnce:    fn.Format == FormatDefault,
		AttachStdout: true,
		AttachStderr: true,
	}
	memory := fn.MemoryMiB << 20
	pids := r.opts.PidsLimit
	host := &container.HostConfig{
		NetworkMode:    container.NetworkMode(netMode),
		ReadonlyRootfs: true,
		Tmpfs:          map[string]string{"/tmp": fmt.Sprintf("rw,nosuid,nodev,size=%s", r.opts.TmpfsSize)},
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		LogConfig:      container.LogConfig{Type: "none"},
		Resources: container.Resources{
			Memory:     memory,
			MemorySwap: memory, // equal to Memory: no swap
			NanoCPUs:   int64(fn.CPUs * 1e9),
			PidsLimit:  &pids,
			Ulimits:    []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 1024}},
		},
	}
	return cfg, host
}
