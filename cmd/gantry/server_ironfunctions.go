package main

// This file holds the listener of the IronFunctions compatibility API (--ironfunctions-addr):
// IronFunctions' clients take a host and call /v1, /version and /r/ at its root, so the
// surface gets a listener of its own (handlers.API.IronFunctionsHandler).

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/gantry-dev/gantry/handlers"
)

// listenIronFunctions opens --ironfunctions-addr and the server of its handler; none when
// the flag is empty.
func listenIronFunctions(cfg serverConfig, api *handlers.API, log *slog.Logger) ([]listener, *http.Server, error) {
	if cfg.ironFunctionsAddr == "" {
		return nil, nil, nil
	}
	h, err := api.IronFunctionsHandler()
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", cfg.ironFunctionsAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s (--ironfunctions-addr): %w", cfg.ironFunctionsAddr, err)
	}
	warnIfExposed(log, ln.Addr(), cfg.auth, "this listener has no TLS of its own: put a TLS proxy in front of it")
	return []listener{{Listener: ln}}, newHTTPServer(h, log, slog.LevelWarn), nil
}
