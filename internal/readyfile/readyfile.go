package readyfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Listener is one bound listener.
type Listener struct {
	Addr string `json:"addr"` // host:port as bound (port 0 resolved)
	TLS  bool   `json:"tls"`
}

// Info is the content of a readiness file.
type Info struct {
	// Addr is the management API's listener (--addr) as bound; TLS is whether it serves HTTPS.
	Addr string `json:"addr"`
	TLS  bool   `json:"tls"`
	// HTTPAddr is the plain-HTTP listener beside TLS (--http-addr), when there is one.
	HTTPAddr string `json:"http_addr,omitempty"`
	// Gateway lists the gateway's listeners (--gateway-addr, --gateway-tls-addr); empty
	// when both are off.
	Gateway []Listener `json:"gateway"`
	// IronFunctionsAddr is the IronFunctions compatibility listener
	// (--ironfunctions-addr), when there is one.
	IronFunctionsAddr string `json:"ironfunctions_addr,omitempty"`
	Instance          string `json:"instance"` // labels the server's containers (gantry.instance)
	DataDir           string `json:"data_dir"`
	Version           string `json:"version"`
	PID               int    `json:"pid"`
}

// GatewayAddr returns the address of the gateway's listener with the given TLS setting,
// and whether there is one.
func (i Info) GatewayAddr(tls bool) (string, bool) {
	for _, l := range i.Gateway {
		if l.TLS == tls {
			return l.Addr, true
		}
	}
	return "", false
}

// pollEvery is how often Wait looks for the file.
const pollEvery = 10 * time.Millisecond

// Write replaces path with info, atomically: a temporary file in the same directory,
// synced, then renamed over path. The file is readable by everyone (it holds no secret).
func Write(path string, info Info) error {
	if info.Gateway == nil {
		info.Gateway = []Listener{} // [] rather than null: no gateway listener
	}
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encode the ready file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write the ready file: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // nothing left once renamed
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write the ready file %s: %w", path, err)
	}
	return nil
}

// Remove removes path; a file that is already gone is no error.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the ready file: %w", err)
	}
	return nil
}

// Wait polls until path exists and returns what it says. It returns an error when the file
// cannot be read or decoded, or when ctx ends first: then the error wraps ctx's cause (say
// the server's exit, given to context.WithCancelCause), or ctx.Err().
func Wait(ctx context.Context, path string) (Info, error) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			var info Info
			if err := json.Unmarshal(b, &info); err != nil {
				return Info{}, fmt.Errorf("read the ready file %s: %w", path, err)
			}
			return info, nil
		case !errors.Is(err, fs.ErrNotExist):
			return Info{}, fmt.Errorf("read the ready file: %w", err)
		}
		select {
		case <-ctx.Done():
			return Info{}, fmt.Errorf("wait for the ready file %s: %w", path, context.Cause(ctx))
		case <-tick.C:
		}
	}
}
