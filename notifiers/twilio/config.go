package twilio

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// Defaults of a TwilioConfig's zero values.
const (
	DefaultAPIURL     = "https://api.twilio.com"
	DefaultTimeout    = 15 * time.Second
	DefaultLanguage   = "en-US"
	DefaultVoice      = "alice"
	DefaultAttempts   = 3
	DefaultRetryAfter = time.Minute
	DefaultSilenceFor = time.Hour

	DefaultMenu         = "Press 1 to acknowledge, 2 to resolve, 3 to silence."
	DefaultAcknowledged = "Acknowledged. Goodbye."
	DefaultResolved     = "Resolved. Goodbye."
	DefaultSilenced     = "Silenced. Goodbye."
	DefaultInvalid      = "Sorry, that did not work."
	DefaultNoInput      = "No key was pressed. Goodbye."
)

// Options are what New needs besides the configuration.
type Options struct {
	// ExternalURL is remediator's server.external_url, without a trailing
	// slash. Twilio's callbacks go to it, and the handler checks their
	// signatures against it. Required.
	ExternalURL string
	// Location is the time zone of times in messages (nil: UTC).
	Location *time.Location
	// Transport carries the API requests (nil: a clone of
	// http.DefaultTransport). Every request is sent to the configured
	// api_url whatever its URL, and redirects are never followed.
	Transport http.RoundTripper
	// Now is the clock (nil: time.Now); it reads Retry-After dates.
	Now func() time.Time
	// Logger logs at debug what was sent (nil: discard).
	Logger *slog.Logger
}

var (
	// e164RE is an E.164 phone number: + then up to 15 digits.
	e164RE = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	// alnumRE is what twilio-go accepts as a user name and password: it
	// refuses to send anything else.
	alnumRE = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// settings is a checked TwilioConfig with its defaults applied.
type settings struct {
	sid string
	// token sits behind a pointer so that printing a Twilio with %+v
	// shows an address, not the value (fmt cannot call Secret's methods
	// on an unexported field).
	token      *rules.Secret
	from       string
	apiURL     *url.URL // scheme and host only
	external   string   // without a trailing slash
	timeout    time.Duration
	language   string
	voice      string
	attempts   int
	retryAfter time.Duration
	silenceFor time.Duration
	prompts    rules.TwilioPromptsConfig
	voiceTpl   *message.Set
	smsTpl     *message.Set
}

// newSettings checks c and applies the defaults. Every problem is
// reported, prefixed "twilio: " and named by its configuration key,
// joined. No error holds the auth token.
func newSettings(c *rules.TwilioConfig, externalURL string) (*settings, error) {
	if c == nil {
		return nil, errors.New("twilio: no configuration")
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("twilio: "+format, args...)) }

	tok := c.AuthToken
	s := &settings{
		sid: c.AccountSID, token: &tok, from: c.From,
		timeout: c.Timeout.D(), language: c.Voice.Language, voice: c.Voice.Voice,
		attempts: c.Voice.Attempts, retryAfter: c.Voice.RetryAfter.D(), silenceFor: c.Voice.SilenceFor.D(),
		prompts: c.Voice.Prompts,
	}
	switch {
	case s.sid == "":
		fail("account_sid is required")
	case !strings.HasPrefix(s.sid, "AC") || !alnumRE.MatchString(s.sid):
		fail("account_sid %q is not an account SID (AC followed by letters and digits)", s.sid)
	}
	switch tv := tok.Value(); {
	case tv == "":
		fail("auth_token is required")
	case !alnumRE.MatchString(tv):
		// twilio-go refuses to send a password of other characters.
		fail("auth_token must be letters and digits only")
	}
	switch {
	case s.from == "":
		fail("from is required")
	case !e164RE.MatchString(s.from):
		fail("from %q is not an E.164 phone number (+ and up to 15 digits)", s.from)
	}

	api := c.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	if u, err := parseBaseURL(api); err != nil {
		fail("api_url: %w", err)
	} else if u.Path != "" {
		fail("api_url: want scheme://host[:port] only; the API paths are fixed")
	} else {
		s.apiURL = u
	}
	if u, err := parseBaseURL(externalURL); err != nil {
		fail("server.external_url (Twilio's callbacks): %w", err)
	} else {
		s.external = strings.TrimRight(u.String(), "/")
	}

	durations := []struct {
		key string
		d   *time.Duration
		def time.Duration
	}{
		{"timeout", &s.timeout, DefaultTimeout},
		{"voice.retry_after", &s.retryAfter, DefaultRetryAfter},
		{"voice.silence_for", &s.silenceFor, DefaultSilenceFor},
	}
	for _, d := range durations {
		switch {
		case *d.d == 0:
			*d.d = d.def
		case *d.d < 0:
			fail("%s %s is negative", d.key, *d.d)
		}
	}
	switch {
	case s.attempts == 0:
		s.attempts = DefaultAttempts
	case s.attempts < 0:
		fail("voice.attempts %d is negative", s.attempts)
	}
	def := func(v *string, d string) {
		if strings.TrimSpace(*v) == "" {
			*v = d
		}
	}
	def(&s.language, DefaultLanguage)
	def(&s.voice, DefaultVoice)
	def(&s.prompts.Menu, DefaultMenu)
	def(&s.prompts.Acknowledged, DefaultAcknowledged)
	def(&s.prompts.Resolved, DefaultResolved)
	def(&s.prompts.Silenced, DefaultSilenced)
	def(&s.prompts.Invalid, DefaultInvalid)
	def(&s.prompts.NoInput, DefaultNoInput)

	var err error
	if s.voiceTpl, err = message.Compile(message.KindVoice, templates(c.Voice.Templates)); err != nil {
		fail("voice.%w", err)
	}
	if s.smsTpl, err = message.Compile(message.KindSMS, templates(c.SMS.Templates)); err != nil {
		fail("sms.%w", err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// parseBaseURL parses an http(s) URL of a server. Its errors never quote
// the URL, which may hold credentials.
func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("required")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("want an http or https URL, not scheme %q", u.Scheme)
	case u.Host == "":
		return nil, errors.New("no host")
	case u.User != nil:
		return nil, errors.New("must not hold credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("must not have a query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// templates converts the config's overrides.
func templates(in map[string]rules.TemplateConfig) map[string]message.Template {
	out := make(map[string]message.Template, len(in))
	for ev, t := range in {
		out[ev] = message.Template{Title: t.Title, Body: t.Body, HTML: t.HTML}
	}
	return out
}
