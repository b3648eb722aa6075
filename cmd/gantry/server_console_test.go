package main

import (
	"net"
	"testing"
)

// fakeAddr is a listener's bound address.
type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

type addrListener struct {
	net.Listener
	addr fakeAddr
}

func (l addrListener) Addr() net.Addr { return l.addr }

func TestConsoleGatewayURL(t *testing.T) {
	ln := func(addr string, tls bool) listener {
		return listener{Listener: addrListener{addr: fakeAddr(addr)}, tls: tls}
	}
	for _, tt := range []struct {
		name    string
		gateway []listener
		want    string
	}{
		{"the plain listener, as bound", []listener{ln("127.0.0.1:34567", false), ln("127.0.0.1:34568", true)}, "http://127.0.0.1:34567"},
		{"the plain listener wins wherever it is", []listener{ln("127.0.0.1:8443", true), ln("127.0.0.1:8081", false)}, "http://127.0.0.1:8081"},
		{"every address is shown as localhost", []listener{ln("[::]:8081", false)}, "http://localhost:8081"},
		{"HTTPS alone, on its default port", []listener{ln("10.0.0.1:443", true)}, "https://10.0.0.1"},
		{"no gateway", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := gatewayURL(tt.gateway); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
