package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/certfile"
	"github.com/gantry-dev/gantry/store"
)

// certTable holds the APIs' certificates by host, parsed once per table build (the leaf
// included). A host may have several candidates, in the order of their APIs.
type certTable struct {
	exact map[string][]*tls.Certificate
	wild  map[string][]*tls.Certificate // by the domain of "*.domain"
}

func newCertTable() certTable {
	return certTable{exact: map[string][]*tls.Certificate{}, wild: map[string][]*tls.Certificate{}}
}

// add files c as a candidate for host.
func (t certTable) add(host string, c *tls.Certificate) {
	if domain, ok := strings.CutPrefix(host, "*."); ok {
		t.wild[domain] = append(t.wild[domain], c)
	} else {
		t.exact[host] = append(t.exact[host], c)
	}
}

// lookup finds the certificate for a server name among the candidates of its hosts (by
// the same host rules as requests): the first whose leaf names it exactly, else the first
// whose leaf is valid for it through a wildcard; nil if none is valid for it.
func (t certTable) lookup(name string) *tls.Certificate {
	if c := t.first(name, namesExactly); c != nil {
		return c
	}
	return t.first(name, validFor)
}

// first is the first candidate for name, exact hosts before wildcards, that fits it.
func (t certTable) first(name string, fits func(leaf *x509.Certificate, name string) bool) *tls.Certificate {
	for _, c := range t.exact[name] {
		if fits(c.Leaf, name) {
			return c
		}
	}
	for domain := range wildcardDomains(name) {
		for _, c := range t.wild[domain] {
			if fits(c.Leaf, name) {
				return c
			}
		}
	}
	return nil
}

// namesExactly tells whether a certificate names the host itself (no wildcard).
func namesExactly(leaf *x509.Certificate, name string) bool {
	for _, n := range leaf.DNSNames {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// validFor tells whether a certificate is valid for the host, by the rules clients check.
func validFor(leaf *x509.Certificate, name string) bool { return leaf.VerifyHostname(name) == nil }

// parseCert parses an API's certificate and key, with its leaf; nil without a certificate.
func parseCert(s *store.API) (*tls.Certificate, error) {
	if s.TLSCert == "" {
		return nil, nil
	}
	c, err := certfile.ParsePair([]byte(s.TLSCert), []byte(s.TLSKey))
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return c, nil
}

// TLSConfig is the configuration of the HTTPS listener: the certificate of each handshake
// is chosen by SNI among the APIs' certificates valid for the name, then
// Options.DefaultCert; an unknown name without a default fails the handshake with the
// unrecognized_name alert.
func (g *Gateway) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: g.certificate,
	}
}

// certificate chooses the certificate of a handshake. With none, it returns nil and no
// error: crypto/tls then finds no Certificates in the config and sends unrecognized_name
// (an error returned here would send internal_error, whatever its type). Unknown names are
// logged at debug level only, as scanners send them all day.
func (g *Gateway) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name != "" {
		if c := g.table.Load().certs.lookup(name); c != nil {
			return c, nil
		}
	}
	if g.o.DefaultCert != nil {
		return g.o.DefaultCert(hello)
	}
	g.log.Debug("gateway: TLS handshake refused: no certificate for the server name", "server_name", hello.ServerName)
	return nil, nil
}
