package webhook

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/remediator/remediator/notifiers/internal/robot"
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
	url             rules.Secret // may hold a token
	secret          rules.Secret // "": unsigned
	signatureHeader string
	robot.Settings  // MaxPerMinute 0: unlimited
}

// parseConfig checks what only the notifier can (the URL, the header
// name, the templates) and applies the defaults. No error quotes the URL
// or the secret.
func parseConfig(cfg *rules.IMConfig) (*config, error) {
	if cfg == nil {
		return nil, errors.New("webhook: no configuration")
	}
	check := robot.NewCheck("webhook", cfg.Name)
	check.Type(cfg.Type, rules.IMWebhook)
	if _, err := robot.ParseURL(cfg.URL.Value()); err != nil {
		check.Fail("url: %w", err)
	}
	c := &config{url: cfg.URL, secret: cfg.Secret, signatureHeader: cfg.SignatureHeader}
	if c.signatureHeader == "" {
		c.signatureHeader = DefaultSignatureHeader
	} else if !validHeaderName(c.signatureHeader) {
		check.Fail("signature_header %q is not a header name", c.signatureHeader)
	} else if h := http.CanonicalHeaderKey(c.signatureHeader); reserved[h] {
		check.Fail("signature_header %q is a header the webhook sets itself", c.signatureHeader)
	}
	c.signatureHeader = http.CanonicalHeaderKey(c.signatureHeader)
	// A zero max_per_minute stays 0: unlimited.
	c.Settings = check.Settings(cfg, 0, DefaultTimeout, message.KindText)
	if err := check.Err(); err != nil {
		return nil, err
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
