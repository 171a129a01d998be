package robot

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// Settings are what every chat notifier reads from an IMConfig alike,
// checked and defaulted.
type Settings struct {
	Name         string
	MaxPerMinute int // 0: unlimited
	Timeout      time.Duration
	Templates    *message.Set
}

// Check collects the problems of one IMConfig, each prefixed with the
// notifier's type and name (`dingtalk "ops": `), so that a config is
// reported whole. No check quotes the URL or the secret.
type Check struct {
	kind, name string
	errs       []error
}

// NewCheck starts the check of the IMConfig named name of a kind's
// notifier.
func NewCheck(kind, name string) *Check { return &Check{kind: kind, name: name} }

// Fail adds a problem.
func (c *Check) Fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s %q: "+format, append([]any{c.kind, c.name}, args...)...))
}

// Err is every problem, joined; nil when there was none.
func (c *Check) Err() error { return errors.Join(c.errs...) }

// Type checks the config's type when it is set.
func (c *Check) Type(got, want string) {
	if got != "" && got != want {
		c.Fail("type %q is not %s", got, want)
	}
}

// URL checks a chat robot's webhook URL, which holds its access token:
// it says what is wrong without showing it. It returns the URL as
// net/url writes it, "" when it is bad.
func (c *Check) URL(s rules.Secret) string {
	u, err := ParseURL(s.Value())
	switch {
	case s.Value() == "":
		c.Fail("url is required")
	case err != nil:
		c.Fail("url is not an http(s) URL")
	default:
		return u.String()
	}
	return ""
}

// ParseURL accepts an absolute http(s) URL. Its errors never quote the
// URL nor url.Parse's error (which does).
func ParseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("missing")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("not a valid URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, errors.New("not an http or https URL")
	case u.Host == "":
		return nil, errors.New("no host")
	}
	return u, nil
}

// Settings checks max_per_minute, timeout and templates, gives a zero
// max_per_minute or timeout its default, and compiles the templates of
// kind with cfg's overrides.
func (c *Check) Settings(cfg *rules.IMConfig, maxPerMinute int, timeout time.Duration, kind message.Kind) Settings {
	s := Settings{Name: cfg.Name, MaxPerMinute: cfg.MaxPerMinute, Timeout: cfg.Timeout.D()}
	switch {
	case s.MaxPerMinute == 0:
		s.MaxPerMinute = maxPerMinute
	case s.MaxPerMinute < 0:
		c.Fail("max_per_minute %d is negative", s.MaxPerMinute)
	}
	switch {
	case s.Timeout == 0:
		s.Timeout = timeout
	case s.Timeout < 0:
		c.Fail("timeout %s is negative", cfg.Timeout)
	}
	overrides := make(map[string]message.Template, len(cfg.Templates))
	for ev, t := range cfg.Templates {
		overrides[ev] = message.Template{Title: t.Title, Body: t.Body, HTML: t.HTML}
	}
	var err error
	if s.Templates, err = message.Compile(kind, overrides); err != nil {
		c.Fail("%w", err)
	}
	return s
}
