package rules

import (
	"fmt"
	"testing"
)

func TestIsLoopback(t *testing.T) {
	cases := []struct {
		listen string
		want   bool
	}{
		{"127.0.0.1:9095", true},    // the usual loopback
		{"127.8.9.10:1", true},      // all of 127.0.0.0/8
		{"[::1]:9095", true},        // IPv6 loopback
		{"localhost:9095", true},    // the name
		{"LocalHost:9095", true},    // names are case-insensitive
		{":9095", false},            // empty host: every interface
		{"0.0.0.0:9095", false},     // every IPv4 interface
		{"[::]:9095", false},        // every IPv6 interface
		{"10.1.2.3:9095", false},    // a private address is still reachable
		{"example.com:9095", false}, // any other name
		{"127.0.0.1", false},        // not HOST:PORT
		{"", false},                 // unset
	}
	for _, tc := range cases {
		t.Run(tc.listen, func(t *testing.T) {
			c := &Config{Server: ServerConfig{Listen: tc.listen}}
			if got := c.IsLoopback(); got != tc.want {
				t.Errorf("IsLoopback(%q) = %v, want %v", tc.listen, got, tc.want)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	c := &Config{
		Server:  ServerConfig{Listen: "[::1]:1"},
		Storage: StorageConfig{Path: "x.db"},
		Auth:    AuthConfig{Tokens: []TokenConfig{{Name: "a"}}},
		Levels:  []LevelConfig{{Name: "only"}},
	}
	if got, want := c.Summary(), "ok: 1 level, 1 API token, listen [::1]:1, store x.db"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

func TestValidateAfterOverride(t *testing.T) {
	cases := []struct {
		name, listen, want string
	}{
		// Another loopback address is fine.
		{"loopback", "127.0.0.2:1", ""},
		// A bad address is reported by path, without a position.
		{"bad address", "nope", `server.listen: "nope" is not HOST:PORT`},
		// Exposing the default config needs tokens.
		{"exposed", "0.0.0.0:9095", `server.listen: "0.0.0.0:9095" is not a loopback address, so auth.tokens and server.webhook_token must be set (missing: auth.tokens, server.webhook_token)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Default()
			if err != nil {
				t.Fatal(err)
			}
			cfg.Server.Listen = tc.listen
			err = cfg.Validate()
			if got := fmt.Sprint(err); (err == nil) != (tc.want == "") || (err != nil && got != tc.want) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
