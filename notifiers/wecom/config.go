package wecom

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// Defaults of an IMConfig's zero values.
const (
	DefaultMaxPerMinute = 20
	DefaultTimeout      = 10 * time.Second
)

// config is an IMConfig checked and defaulted.
type config struct {
	name         string
	url          *url.URL
	maxPerMinute int
	timeout      time.Duration
	templates    *message.Set
}

// parseConfig checks what only the notifier can check, applies the
// defaults, and reports every problem, joined. No error quotes the URL
// or the secret.
func parseConfig(cfg *rules.IMConfig) (*config, error) {
	if cfg == nil {
		return nil, errors.New("wecom: no configuration")
	}
	c := &config{name: cfg.Name, maxPerMinute: cfg.MaxPerMinute, timeout: cfg.Timeout.D()}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("wecom %q: "+format, append([]any{cfg.Name}, args...)...))
	}
	u, err := url.Parse(cfg.URL.Value())
	switch {
	case cfg.URL.Value() == "":
		fail("url is required")
	case err != nil, u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		// The URL holds the access token: say what is wrong, never show it.
		fail("url is not an http(s) URL")
	default:
		c.url = u
	}
	if cfg.Secret.Value() != "" {
		fail("secret is set, but WeCom robots do not sign: the key in the url is their only credential")
	}
	switch {
	case c.maxPerMinute == 0:
		c.maxPerMinute = DefaultMaxPerMinute
	case c.maxPerMinute < 0:
		fail("max_per_minute %d is negative", c.maxPerMinute)
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
	if c.templates, err = message.Compile(message.KindMarkdown, overrides); err != nil {
		fail("%w", err)
	}
	return c, errors.Join(errs...)
}
