package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gateway"
	"github.com/gantry-dev/gantry/internal/certfile"
	"github.com/gantry-dev/gantry/invoke"
)

// gatewayDeps are what the gateway is built on.
type gatewayDeps struct {
	store     gateway.Store
	calls     gateway.Calls        // the invocation service
	auth      invoke.Authenticator // the server's (routes with auth token); nil: authentication off
	oidc      *auth.OIDCConfig
	passwords *auth.PasswordPool // shared with the management API
	metrics   prometheus.Registerer
	log       *slog.Logger
	// tlsKeys reads the APIs' TLS keys from the secret store (the secret service); nil: only
	// keys still in API records are served.
	tlsKeys gateway.TLSKeys
}

// startGateway opens the gateway's listeners (--gateway-addr, --gateway-tls-addr; either may be
// off) and builds the gateway over the stored APIs, and the one server of both listeners. The
// caller serves them, and calls stop once the server has drained.
func startGateway(ctx context.Context, cfg serverConfig, d gatewayDeps) (lns []listener, srv *http.Server, stop func(), err error) {
	var plain, secure net.Listener
	closeAll := func() {
		for _, ln := range []net.Listener{plain, secure} {
			if ln != nil {
				_ = ln.Close()
			}
		}
	}
	if cfg.gatewayAddr != "" {
		if plain, err = net.Listen("tcp", cfg.gatewayAddr); err != nil {
			return nil, nil, nil, fmt.Errorf("gateway: listen on %s: %w", cfg.gatewayAddr, err)
		}
	}
	httpsPort := 0
	if cfg.gatewayTLSAddr != "" {
		if secure, err = net.Listen("tcp", cfg.gatewayTLSAddr); err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("gateway: listen on %s: %w", cfg.gatewayTLSAddr, err)
		}
		_, port, _ := net.SplitHostPort(secure.Addr().String())
		httpsPort, _ = strconv.Atoi(port)
	}
	if cfg.gatewayHTTPSPort != 0 { // behind NAT or a load balancer, clients use another port
		httpsPort = cfg.gatewayHTTPSPort
	}
	if httpsPort == 0 {
		d.log.Warn("the gateway has no HTTPS listener: APIs on https only cannot be reached, and https_only redirects go to port 443")
	}
	var defaultCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	if cfg.gatewayTLSCert != "" || cfg.gatewayTLSKey != "" {
		certs, err := certfile.New(cfg.gatewayTLSCert, cfg.gatewayTLSKey, d.log)
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("--gateway-tls-cert: %w", err)
		}
		defaultCert = certs.GetCertificate
	}
	access, closeAccess, err := openLog(cfg.gatewayAccessLog, filepath.Join(cfg.dataDir, "access.log"))
	if err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("open the gateway access log: %w", err)
	}
	gw, err := gateway.New(ctx, gateway.Options{
		Store: d.store, Calls: d.calls, TLSKeys: d.tlsKeys, Auth: d.auth, OIDC: d.oidc, Passwords: d.passwords, DefaultCert: defaultCert, HTTPSPort: httpsPort,
		Log: d.log, AccessLog: access, Registerer: d.metrics,
	})
	if err != nil {
		closeAll()
		closeAccess()
		return nil, nil, nil, fmt.Errorf("gateway: %w", err)
	}
	if plain != nil {
		lns = append(lns, listener{Listener: plain})
	}
	if secure != nil {
		lns = append(lns, listener{Listener: tls.NewListener(secure, gw.TLSConfig()), tls: true})
	}
	return lns, newHTTPServer(gw.Handler(), d.log, slog.LevelDebug), func() { gw.Close(); closeAccess() }, nil
}
