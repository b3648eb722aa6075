package gateway

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// certTable holds the APIs' certificates by host, parsed once per table build.
type certTable struct {
	exact map[string]*tls.Certificate
	wild  map[string]*tls.Certificate // by the domain of "*.domain"
	owner map[string]string           // host → the API whose certificate it is
}

func newCertTable() certTable {
	return certTable{exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}, owner: map[string]string{}}
}

// add files c under host unless another API's certificate has it: then it returns that API.
func (t certTable) add(host string, c *tls.Certificate, api string) string {
	if other, taken := t.owner[host]; taken {
		return other
	}
	t.owner[host] = api
	if domain, ok := cutWildcard(host); ok {
		t.wild[domain] = c
	} else {
		t.exact[host] = c
	}
	return ""
}

// lookup finds the certificate for a server name, by the same host rules as requests.
func (t certTable) lookup(name string) *tls.Certificate {
	if c := t.exact[name]; c != nil {
		return c
	}
	for domain := range wildcardDomains(name) {
		if c := t.wild[domain]; c != nil {
			return c
		}
	}
	return nil
}

// TLSConfig is the configuration of the HTTPS listener: the certificate of each handshake
// is chosen by SNI among the APIs' hosts, then Options.DefaultCert; an unknown name
// without a default fails the handshake.
func (g *Gateway) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: g.certificate,
	}
}

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
	return nil, fmt.Errorf("gateway: no certificate for server name %q", hello.ServerName)
}
