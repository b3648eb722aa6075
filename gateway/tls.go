package gateway

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gantry-dev/gantry/internal/certfile"
)

// certTable holds the APIs' certificates by host, parsed once per table build (the leaf
// included). A host may have several candidates, in the order of their APIs.
type certTable struct {
	exact map[string][]*apiCert
	wild  map[string][]*apiCert // by the domain of "*.domain"
}

// apiCert is an API's certificate and the API's owner.
type apiCert struct {
	*tls.Certificate
	owner string
}

// same tells whether two APIs' certificates are one: the same leaf, of the same owner.
func (c *apiCert) same(d *apiCert) bool {
	return c == d || c.owner == d.owner && bytes.Equal(c.Leaf.Raw, d.Leaf.Raw)
}

func newCertTable() certTable {
	return certTable{exact: map[string][]*apiCert{}, wild: map[string][]*apiCert{}}
}

// add files c as a candidate for host.
func (t certTable) add(host string, c *apiCert) {
	if domain, ok := strings.CutPrefix(host, "*."); ok {
		t.wild[domain] = append(t.wild[domain], c)
	} else {
		t.exact[host] = append(t.exact[host], c)
	}
}

// lookup finds the certificate for a server name among the candidates of its hosts (by
// the same host rules as requests): the first whose leaf names it exactly, else the first
// whose leaf is valid for it through a wildcard; nil if none is valid for it.
func (t certTable) lookup(name string) *apiCert {
	if c := t.first(name, namesExactly); c != nil {
		return c
	}
	return t.first(name, validFor)
}

// first is the first candidate for name, exact hosts before wildcards, that fits it.
func (t certTable) first(name string, fits func(leaf *x509.Certificate, name string) bool) *apiCert {
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

// parseCert parses an API's certificate (PEM chain) and its key, with its leaf.
func parseCert(certPEM string, key []byte) (*tls.Certificate, error) {
	c, err := certfile.ParsePair([]byte(certPEM), key)
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
	if c := g.table.Load().certs.chosen(hello.ServerName); c != nil {
		return c.Certificate, nil
	}
	if g.o.DefaultCert != nil {
		return g.o.DefaultCert(hello)
	}
	g.log.Debug("gateway: TLS handshake refused: no certificate for the server name", "server_name", hello.ServerName)
	return nil, nil
}

// chosen is the API certificate that a handshake with this server name (SNI) is served,
// nil for none (the default certificate, or a failed handshake).
func (t certTable) chosen(serverName string) *apiCert {
	name := strings.ToLower(strings.TrimSuffix(serverName, "."))
	if name == "" {
		return nil
	}
	return t.lookup(name)
}

// misdirected tells whether a request on a TLS connection whose server name (SNI) was
// serverName must not be served there, as e (nil: no API matched) would serve it: when the
// host's API has its own certificate that the SNI did not select, or when the SNI selected
// an API's certificate and e belongs to another owner. One owner's certificate never
// fronts another owner's API, and a host's own certificate is never bypassed by naming
// another host (or none) in the handshake, as HTTP/2 connection reuse and proxies may.
// An IP address host has no certificate of its own (clients send no SNI for it, so it is
// served on the default certificate): a request to one that sends no SNI, as clients do,
// is never misdirected.
func (t *table) misdirected(serverName, host string, e *entry) bool {
	served := t.certs.chosen(serverName)
	if own := t.certs.lookup(host); own != nil && !isIP(host) && (served == nil || !own.same(served)) {
		return true
	}
	return served != nil && e != nil && e.api.owner != served.owner
}

// isIP tells whether a host is an IP address rather than a name.
func isIP(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}
