package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretsNeverPrinted(t *testing.T) {
	// The token values testdata/valid.yml holds, three of them from testEnv.
	secrets := []string{testWebhookToken, testViewerToken, testResponderToken, "literal-dollar-admin-token"}
	cfg, err := Load("testdata/valid.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		render func() string
	}{
		// %v on the config, by pointer and by value.
		{"%v", func() string { return fmt.Sprintf("%v %v", cfg, *cfg) }},
		// %+v adds field names.
		{"%+v", func() string { return fmt.Sprintf("%+v %+v", cfg, *cfg) }},
		// %#v uses Go syntax.
		{"%#v", func() string { return fmt.Sprintf("%#v %#v", cfg, *cfg) }},
		// %s on the tokens and on one secret.
		{"%s", func() string { return fmt.Sprintf("%s %s", cfg.Auth.Tokens, cfg.Server.WebhookToken) }},
		// %q quotes.
		{"%q", func() string { return fmt.Sprintf("%q %q", cfg.Auth.Tokens, cfg.Server.WebhookToken) }},
		// %x and %X would hex-encode a plain string.
		{"%x", func() string { return fmt.Sprintf("%x %X", cfg.Auth, cfg.Server.WebhookToken) }},
		// %d is a bad verb for a string, which would echo it.
		{"%d", func() string { return fmt.Sprintf("%d", cfg.Server.WebhookToken) }},
		// Sprint and Sprintln use %v.
		{"Sprint", func() string { return fmt.Sprint(cfg.Auth.Tokens, cfg.Server.WebhookToken) + fmt.Sprintln(cfg) }},
		// The Stringer.
		{"String", func() string { return cfg.Server.WebhookToken.String() }},
		// The GoStringer.
		{"GoString", func() string { return cfg.Server.WebhookToken.GoString() }},
		// An error built from a token and wrapped.
		{"error wrapping", func() string { return fmt.Errorf("token %v: %w", cfg.Auth.Tokens[0], errFor(cfg)).Error() }},
		// encoding/json.
		{"json", func() string { b, _ := json.Marshal(cfg); return string(b) }},
		// yaml.v3.
		{"yaml", func() string { b, _ := yaml.Marshal(cfg); return string(b) }},
		// slog's text handler, every way to pass the value.
		{"slog text", func() string { return logWith(cfg, false) }},
		// slog's JSON handler, every way to pass the value.
		{"slog json", func() string { return logWith(cfg, true) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.render()
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("output contains a secret: %s", out)
				}
			}
			// encoding/json escapes < and > in HTML-safe mode.
			if !strings.Contains(out, secretMask) && !strings.Contains(out, `\u003csecret\u003e`) {
				t.Errorf("output does not show %s: %s", secretMask, out)
			}
		})
	}
}

// errFor returns an error that mentions a secret the way careless code would.
func errFor(cfg *Config) error {
	return fmt.Errorf("webhook token %s rejected", cfg.Server.WebhookToken)
}

// logWith logs cfg and its secrets every way slog allows.
func logWith(cfg *Config, asJSON bool) string {
	var buf bytes.Buffer
	var h slog.Handler = slog.NewTextHandler(&buf, nil)
	if asJSON {
		h = slog.NewJSONHandler(&buf, nil)
	}
	log := slog.New(h)
	log.Info("config", "cfg", cfg, "value", *cfg, "tokens", cfg.Auth.Tokens)
	log.Info("secret", "webhook", cfg.Server.WebhookToken, slog.Any("any", cfg.Server.WebhookToken))
	log.With("token", cfg.Auth.Tokens[0].Token).Info("with")
	log.Info("group", slog.Group("g", "t", cfg.Auth.Tokens[1].Token))
	return buf.String()
}

func TestSecretsNotInErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
	}{
		// A duplicate token is reported by the other token's path.
		{"duplicate", "auth:\n  tokens:\n  - {name: a, role: admin, token: ${VIEWER_TOKEN}}\n  - {name: b, role: admin, token: ${VIEWER_TOKEN}}\nlevels: [{name: x}]\n"},
		// A short token is reported without its value.
		{"short", "auth:\n  tokens:\n  - {name: a, role: admin, token: sh0rt}\nlevels: [{name: x}]\n"},
		// A token in the wrong kind of node is not echoed.
		{"wrong kind", "server:\n  webhook_token: [sh0rt]\nlevels: [{name: x}]\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("s.yml", []byte(tc.yaml), testEnv)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, s := range []string{testViewerToken, "sh0rt"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error shows a secret: %v", err)
				}
			}
		})
	}
}
