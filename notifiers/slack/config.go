package slack

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
	DefaultMaxPerMinute = 60
	DefaultTimeout      = 10 * time.Second
)

// config is an IMConfig checked, with its defaults.
type config struct {
	name         string
	url          rules.Secret // the incoming webhook URL: its path is the secret
	maxPerMinute int
	timeout      time.Duration
	tmpl         *message.Set
}

// parseConfig checks what only the notifier can (the URL, the
// templates) and applies the defaults. No error quotes the URL.
func parseConfig(cfg *rules.IMConfig) (*config, error) {
	if cfg == nil {
		return nil, errors.New("slack: no configuration")
	}
	c := &config{name: cfg.Name, url: cfg.URL, maxPerMinute: cfg.MaxPerMinute, timeout: cfg.Timeout.D()}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("slack %q: "+format, append([]any{cfg.Name}, args...)...))
	}
	if cfg.Type != "" && cfg.Type != rules.IMSlack {
		fail("type %q is not %s", cfg.Type, rules.IMSlack)
	}
	if err := checkURL(cfg.URL.Value()); err != nil {
		fail("url: %w", err)
	}
	switch {
	case c.maxPerMinute == 0:
		c.maxPerMinute = DefaultMaxPerMinute
	case c.maxPerMinute < 0:
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
	tmpl, err := message.Compile(message.KindSlack, overrides)
	if err != nil {
		fail("%w", err)
	}
	c.tmpl = tmpl
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
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
