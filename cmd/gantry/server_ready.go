package main

// This file holds the readiness file of `gantry server --ready-file`: written once every
// listener is bound, removed when the server stops accepting (internal/readyfile).

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/gantry-dev/gantry/internal/readyfile"
)

// writeReadyFile writes --ready-file with the bound addresses of the management API's
// listeners (--addr first, as listen returns them), the gateway's and the IronFunctions API's. It returns the function
// that removes the file, safe to call more than once; without --ready-file both do nothing.
func writeReadyFile(cfg serverConfig, api, gw, ironFunctions []listener, instance string, log *slog.Logger) (remove func(), err error) {
	if cfg.readyFile == "" {
		return func() {}, nil
	}
	info := readyfile.Info{Instance: instance, DataDir: cfg.dataDir, Version: version, PID: os.Getpid(), Gateway: []readyfile.Listener{}}
	for i, ln := range api {
		switch {
		case i == 0:
			info.Addr, info.TLS = ln.Addr().String(), ln.tls
		case !ln.tls:
			info.HTTPAddr = ln.Addr().String()
		}
	}
	for _, ln := range gw {
		info.Gateway = append(info.Gateway, readyfile.Listener{Addr: ln.Addr().String(), TLS: ln.tls})
	}
	for _, ln := range ironFunctions {
		info.IronFunctionsAddr = ln.Addr().String()
	}
	if err := readyfile.Write(cfg.readyFile, info); err != nil {
		return nil, fmt.Errorf("--ready-file: %w", err)
	}
	log.Debug("ready file written", "file", cfg.readyFile)
	return sync.OnceFunc(func() {
		if err := readyfile.Remove(cfg.readyFile); err != nil {
			log.Warn("the ready file was not removed", "file", cfg.readyFile, "err", err)
		}
	}), nil
}

// removeReadyFile removes a --ready-file left by a run that did not stop cleanly.
func removeReadyFile(path string) error {
	if path == "" {
		return nil
	}
	if err := readyfile.Remove(path); err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	return nil
}
