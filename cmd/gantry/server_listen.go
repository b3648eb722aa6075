package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/gantry-dev/gantry/internal/certfile"
)

// newHTTPServer serves h; errLevel is the level of the server's own errors (handshakes,
// malformed requests): the gateway faces the internet, where they are routine.
func newHTTPServer(h http.Handler, log *slog.Logger, errLevel slog.Level) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a request body may not trickle in forever
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), errLevel),
	}
}

func closeListeners(ls []listener) {
	for _, ln := range ls {
		_ = ln.Close()
	}
}

// servePprof serves Go's profiler on a separate listener, for performance work only:
// set GANTRY_PPROF_ADDR (e.g. 127.0.0.1:6060). Never expose it.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Warn("profiler listening", "addr", addr)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Error("profiler", "err", err)
	}
}

// openLog opens a JSON-lines log: the file named by flag, def when it is "", stderr for "-".
func openLog(flag, def string) (*slog.Logger, func(), error) {
	if flag == "-" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil)), func() {}, nil
	}
	path := flag
	if path == "" {
		path = def
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(slog.NewJSONHandler(f, nil)), func() { _ = f.Close() }, nil
}

// listener is a listener and whether it serves TLS.
type listener struct {
	net.Listener
	tls bool
}

// listen opens --addr, with TLS when a certificate is given, and --http-addr if set.
func listen(cfg serverConfig, log *slog.Logger) ([]listener, error) {
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if cfg.tlsCert == "" && cfg.httpAddr != "" {
		return nil, errors.New("--http-addr is plain HTTP beside TLS: give --tls-cert and --tls-key too, or use --addr")
	}
	var certs *certfile.Reloader
	if cfg.tlsCert != "" {
		var err error
		if certs, err = certfile.New(cfg.tlsCert, cfg.tlsKey, log); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	if certs == nil {
		warnIfExposed(log, ln.Addr(), cfg.auth, "use --tls-cert")
		return []listener{{Listener: ln}}, nil
	}
	out := []listener{{Listener: tls.NewListener(ln, certs.TLSConfig()), tls: true}}
	if cfg.httpAddr != "" {
		plain, err := net.Listen("tcp", cfg.httpAddr)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("listen on %s: %w", cfg.httpAddr, err)
		}
		warnIfExposed(log, plain.Addr(), cfg.auth, "use --tls-cert")
		out = append(out, listener{Listener: plain})
	}
	return out, nil
}

// warnIfExposed warns when a plain-HTTP listener of the management API is reachable from
// other machines: tokens would cross the network in clear, or, with --auth=none, anyone
// there is an admin.
func warnIfExposed(log *slog.Logger, addr net.Addr, authMode, tlsHint string) {
	if tcp, ok := addr.(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		if authMode == "none" {
			log.Warn("AUTHENTICATION IS OFF on a listener other machines can reach: anyone there is an admin", "addr", addr.String())
			return
		}
		log.Warn("plain HTTP on a listener other machines can reach: API tokens cross the network in clear; "+tlsHint, "addr", addr.String())
	}
}
