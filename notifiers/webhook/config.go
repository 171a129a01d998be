package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// Defaults of an IMConfig's zero values.
const (
	DefaultSignatureHeader = "X-Remediator-Signature"
	DefaultTimeout         = 10 * time.Second
)

// TimestampHeader carries the signed timestamp, in Unix seconds.
const TimestampHeader = "X-Remediator-Timestamp"

// config is an IMConfig checked, with its defaults.
type config struct {
	name            string
	url             rules.Secret // may hold a token
	secret          rules.Secret // "": unsigned
	signatureHeader string
	maxPerMinute    int // 0: unlimited
	timeout         time.Duration
	tmpl            *message.Set
}

// parseConfig checks what only the notifier can (the URL, the header
// name, the templates) and applies the defaults. No error quotes the URL
// or the secret.
func parseConfig(cfg *rules.IMConfig) (*config, error) {
	if cfg == nil {
		return nil, errors.New("webhook: no configuration")
	}
	c := &config{
		name: cfg.Name, url: cfg.URL, secret: cfg.Secret, signatureHeader: cfg.SignatureHeader,
		maxPerMinute: cfg.MaxPerMinute, timeout: cfg.Timeout.D(),
	}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("webhook %q: "+format, append([]any{cfg.Name}, args...)...))
	}
	if cfg.Type != "" && cfg.Type != rules.IMWebhook {
		fail("type %q is not %s", cfg.Type, rules.IMWebhook)
	}
	if err := checkURL(cfg.URL.Value()); err != nil {
		fail("url: %w", err)
	}
	if c.signatureHeader == "" {
		c.signatureHeader = DefaultSignatureHeader
	} else if !validHeaderName(c.signatureHeader) {
		fail("signature_header %q is not a header name", c.signatureHeader)
	} else if h := http.CanonicalHeaderKey(c.signatureHeader); reserved[h] {
		fail("signature_header %q is a header the webhook sets itself", c.signatureHeader)
	}
	c.signatureHeader = http.CanonicalHeaderKey(c.signatureHeader)
	if c.maxPerMinute < 0 {
		fail("max_per_minute %d is negative", cfg.MaxPerMinute)
	}
	switch {
	case c.timeout == 0:
		c.timeout = DefaultTimeout
	case c.timeout < 0:
		fail("timeout %s is negative", cfg.Timeout)
	}
	overrides := make(map[string]message.Template, len(cfg.Templates))
	for ev, t := range cfg.Templates {
		overrides[ev] = message.Template{Title: t.Title, Body: t.Body, HTML: t.HTML}
	}
	tmpl, err := message.Compile(message.KindText, overrides)
	if err != nil {
		fail("%w", err)
	}
	c.tmpl = tmpl
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// reserved are the headers a request sets itself.
var reserved = map[string]bool{
	"Content-Type": true, "Content-Length": true, "User-Agent": true, "Idempotency-Key": true,
	TimestampHeader: true, "Host": true, "Transfer-Encoding": true, "Connection": true,
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 5.6.2).
func validHeaderName(s string) bool {
	const punct = "!#$%&'*+-.^_`|~"
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(punct, c) >= 0) {
			return false
		}
	}
	return s != ""
}

// checkURL accepts an absolute http(s) URL. Its errors never quote the
// URL nor url.Parse's error (which does).
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a valid URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("not an http or https URL")
	case u.Host == "":
		return errors.New("no host")
	}
	return nil
}
