package main

import "testing"

func TestConsoleGatewayURL(t *testing.T) {
	for _, tt := range []struct{ plain, tls, want string }{
		{"127.0.0.1:8081", "127.0.0.1:8443", "http://127.0.0.1:8081"},
		{"", "127.0.0.1:8443", "https://127.0.0.1:8443"},
		{"", "", ""},
		{":8081", "", "http://localhost:8081"},
		{"0.0.0.0:80", "", "http://localhost"},
		{"[::]:8081", "", "http://localhost:8081"},
		{"", "gw.example.com:443", "https://gw.example.com"},
	} {
		if got := gatewayURL(serverConfig{gatewayAddr: tt.plain, gatewayTLSAddr: tt.tls}); got != tt.want {
			t.Errorf("%q %q: got %q, want %q", tt.plain, tt.tls, got, tt.want)
		}
	}
}
