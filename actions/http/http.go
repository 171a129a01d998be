// Package httpaction is the http remediation action: one request to a
// configured endpoint, its URL and JSON body rendered from the alert with
// checked, escaped values, its headers secret.
//
// The scheme and host of the URL are written out in the configuration:
// alert data may fill the path and the query, never choose where the
// request (and its secret headers) goes. Redirects are not followed.
package httpaction

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/remediator/remediator/actions/internal/webclient"
	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/template"
)

// Defaults of an HTTPActionConfig's zero values.
const (
	DefaultMethod         = http.MethodPost
	DefaultTimeout        = 10 * time.Second
	DefaultMaxOutputBytes = 65536
)

// redacted replaces userinfo, query values and secrets wherever they
// would be shown.
const redacted = "<redacted>"

// Action is one configured http action. It is safe for concurrent use.
type Action struct {
	method string
	url    *template.Template
	scheme string        // the rendered URL must keep this scheme,
	host   string        // this host,
	user   *url.Userinfo // and this userinfo (all literal in the template)
	body   *template.Template
	// headers sits behind a pointer: fmt cannot call Secret's methods
	// on an unexported field and would print the values, but it prints
	// a nested pointer as an address.
	headers   *[]header
	place     template.Placement
	expect    []int // nil: any 2xx
	timeout   time.Duration
	maxOutput int
	client    *http.Client
}

// header is one configured request header.
type header struct {
	name  string // canonical
	value rules.Secret
}

var _ engine.Action = (*Action)(nil)

// tokenRE is an HTTP token (RFC 9110 section 5.6.2): what a method and a
// header name may be.
var tokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// clientHeaders are set by the client from the request itself.
var clientHeaders = map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Connection": true}

// New checks c and builds the action. Every problem is reported, each
// prefixed "http: " and named by its configuration key, joined.
func New(c *rules.HTTPActionConfig) (*Action, error) {
	if c == nil {
		return nil, errors.New("http: no configuration")
	}
	a := &Action{
		headers:   new([]header),
		method:    strings.ToUpper(c.Method),
		timeout:   c.Timeout.D(),
		maxOutput: c.MaxOutputBytes,
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("http: "+format, args...)) }

	if a.method == "" {
		a.method = DefaultMethod
	} else if !tokenRE.MatchString(a.method) {
		fail("method %q is not an HTTP method", c.Method)
	}
	switch {
	case a.timeout == 0:
		a.timeout = DefaultTimeout
	case a.timeout < 0:
		fail("timeout %s is negative", c.Timeout)
	}
	switch {
	case a.maxOutput == 0:
		a.maxOutput = DefaultMaxOutputBytes
	case a.maxOutput < 0:
		fail("max_output_bytes %d is negative", c.MaxOutputBytes)
	}

	var refs []string
	if err := a.parseURL(c.URL); err != nil {
		fail("url: %w", err)
	} else {
		refs = append(refs, a.url.Refs()...)
	}
	if c.Body != "" {
		if err := a.parseBody(c.Body); err != nil {
			fail("body: %w", err)
		} else {
			refs = append(refs, a.body.Refs()...)
		}
	}

	patterns, err := template.CompilePatterns(c.Validate)
	if err != nil {
		fail("%w", err)
	}
	a.place = template.Placement{Patterns: patterns, LeadingDash: template.LeadingDash(c.AllowLeadingDash)}
	for _, name := range slices.Sorted(maps.Keys(c.Validate)) {
		if !slices.Contains(refs, name) {
			fail("validate.%s: not used by url or body", name)
		}
	}
	for _, name := range c.AllowLeadingDash {
		if !slices.Contains(refs, name) {
			fail("allow_leading_dash: %s: not used by url or body", name)
		}
	}

	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		v := c.Headers[name]
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !tokenRE.MatchString(name):
			fail("headers: %q is not a header name", name)
		case clientHeaders[canon]:
			fail("headers.%s: set by the client, not by configuration", name)
		case strings.ContainsAny(v.Value(), "\r\n\x00"):
			// The value is secret: name the header, never show the value.
			fail("headers.%s: the value holds a line break or NUL", name)
		default:
			*a.headers = append(*a.headers, header{name: canon, value: v})
		}
	}

	for _, s := range c.ExpectStatus {
		if s < 100 || s > 599 {
			fail("expect_status: %d is not an HTTP status", s)
		}
	}
	if len(c.ExpectStatus) > 0 {
		a.expect = slices.Clone(c.ExpectStatus)
	}

	tlsConfig := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // the user's explicit choice
	}
	if c.CAFile != "" {
		pool, err := webclient.LoadCA(c.CAFile)
		if err != nil {
			fail("ca_file: %w", err)
		}
		tlsConfig.RootCAs = pool
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// One request per call: secrets never follow a redirect elsewhere.
	a.client = webclient.Client(tlsConfig)
	return a, nil
}

// parseURL parses the URL template and checks that its scheme and host
// are literal and make an absolute http(s) URL.
func (a *Action) parseURL(src string) error {
	if src == "" {
		return errors.New("is required")
	}
	t, err := template.Parse(src)
	if err != nil {
		return err
	}
	i := strings.Index(src, "://")
	if i < 0 {
		return errors.New("must be an absolute http or https URL")
	}
	end := len(src)
	if j := strings.IndexAny(src[i+3:], "/?#"); j >= 0 {
		end = i + 3 + j
	}
	if strings.Contains(src[:end], "{{") {
		return errors.New("the scheme and host must be written out, not templated: alert data must not choose where the request and its headers go")
	}
	u, err := url.Parse(src[:end])
	if err != nil {
		return errors.New("must be an absolute http or https URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http or https URL")
	}
	a.url, a.scheme, a.host, a.user = t, u.Scheme, u.Host, u.User
	// Every value placed as a harmless placeholder must leave the URL valid.
	if _, err := a.renderURL(&template.Data{}, matchAll(t.Refs(), func(string) string { return "x" })); err != nil {
		return fmt.Errorf("with values filled in: %w", err)
	}
	return nil
}

// placeholder stands for every value when a body template is checked: a
// JSON document can hold it only inside a string.
const placeholder = "~"

// parseBody parses the body template and checks that it is JSON with
// every reference inside a string, where JSON-string escaping keeps any
// value from changing the document's structure.
func (a *Action) parseBody(src string) error {
	t, err := template.Parse(src)
	if err != nil {
		return err
	}
	doc, err := t.Render(&template.Data{}, matchAll(t.Refs(), func(string) string { return placeholder }))
	if err != nil {
		return err
	}
	if !json.Valid([]byte(doc)) {
		if len(t.Refs()) > 0 {
			return errors.New(`is not JSON with every {{ }} inside a string: write "{{ .labels.service }}", quotes included`)
		}
		return errors.New("is not JSON")
	}
	a.body = t
	return nil
}

var anything, _ = template.CompilePattern(`(?s).*`)

// matchAll places any value of names as escape makes it: the check of a
// template with its values filled in.
func matchAll(names []string, escape func(string) string) template.Placement {
	pl := template.Placement{Patterns: make(map[string]*template.Pattern, len(names)), Escape: escape}
	for _, n := range names {
		pl.Patterns[n] = anything
	}
	return pl
}

// Timeout is the longest one request may take. Run applies it; the engine
// may use it to bound the context it passes.
func (a *Action) Timeout() time.Duration { return a.timeout }

// Render renders the URL and the body for req. A value that fails its
// pattern, a URL that would leave its host or climb its path, or a body
// that is not JSON refuses the action (template.ErrRefused).
func (a *Action) Render(req *engine.ActionRequest) (engine.Invocation, error) {
	d := template.DataFor(req)
	pl := a.place
	pl.Escape = escapeURLValue
	u, err := a.renderURL(d, pl)
	if err != nil {
		return nil, fmt.Errorf("http: url: %w", err)
	}
	inv := &invocation{a: a, url: u}
	if a.body != nil {
		pl.Escape = escapeJSONValue
		body, err := a.body.Render(d, pl)
		if err != nil {
			return nil, fmt.Errorf("http: body: %w", err)
		}
		if !json.Valid([]byte(body)) {
			return nil, fmt.Errorf("http: body: the rendered body is not JSON: %w", template.ErrRefused)
		}
		inv.body = []byte(body)
	}
	return inv, nil
}

// renderURL renders the URL template and checks the result.
func (a *Action) renderURL(d *template.Data, pl template.Placement) (*url.URL, error) {
	s, err := a.url.Render(d, pl)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != a.scheme || u.Host != a.host || u.User.String() != a.user.String() || u.Opaque != "" {
		return nil, fmt.Errorf("the rendered URL is not an http(s) URL on %s: %w", a.host, template.ErrRefused)
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if seg == "." || seg == ".." {
			return nil, fmt.Errorf("the rendered path %s has a . or .. segment: %w", quote(u.EscapedPath()), template.ErrRefused)
		}
	}
	return u, nil
}

// escapeURLValue path-escapes a value, and escapes & + = as well so that
// a value in the query stays one query value.
func escapeURLValue(v string) string {
	return queryEscaper.Replace(url.PathEscape(v))
}

var queryEscaper = strings.NewReplacer("&", "%26", "+", "%2B", "=", "%3D")

// escapeJSONValue escapes a value for its place inside a JSON string.
// Invalid UTF-8 becomes U+FFFD.
func escapeJSONValue(v string) string {
	b, _ := json.Marshal(v) // a string always marshals
	return string(b[1 : len(b)-1])
}

// invocation is one rendered request.
type invocation struct {
	a    *Action
	url  *url.URL
	body []byte // nil: no body
}

// Describe is "METHOD URL", the URL without userinfo, query values or
// fragment.
func (inv *invocation) Describe() string {
	return inv.a.method + " " + redactURL(inv.url)
}

// redactURL shows u with its userinfo and query values replaced.
func redactURL(u *url.URL) string {
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString(redacted + "@")
	}
	b.WriteString(u.Host)
	b.WriteString(u.EscapedPath())
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteByte('?')
		for i, kv := range strings.Split(u.RawQuery, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			if k, _, ok := strings.Cut(kv, "="); ok {
				b.WriteString(k + "=" + redacted)
			} else if kv != "" {
				b.WriteString(redacted) // a bare item may be a token
			}
		}
	}
	return b.String()
}

// Run sends the request once, within the action's timeout and ctx.
func (inv *invocation) Run(ctx context.Context) (res engine.Result) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			res = engine.Result{Err: fmt.Sprintf("%s: internal error: %v", inv.Describe(), r)}
		}
		res.Err = inv.a.scrub(res.Err)
		res.Duration = time.Since(start)
	}()
	a := inv.a
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()

	var body io.Reader
	if inv.body != nil {
		body = bytes.NewReader(inv.body)
	}
	req, err := http.NewRequestWithContext(ctx, a.method, inv.url.String(), body)
	if err != nil {
		return engine.Result{Err: fmt.Sprintf("%s: %v", inv.Describe(), err)}
	}
	req.Header.Set("User-Agent", "remediator")
	if inv.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range *a.headers {
		if h.name == "Host" {
			req.Host = h.value.Value()
			continue
		}
		req.Header.Set(h.name, h.value.Value())
	}

	resp, err := a.client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // its URL would show the query
		}
		res := engine.Result{Err: fmt.Sprintf("%s: %v", inv.Describe(), err)}
		if ctx.Err() != nil {
			res.Cancelled = true
			res.Err = fmt.Sprintf("%s: %s", inv.Describe(), webclient.Ended(parent, a.timeout))
		}
		return res
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, int64(a.maxOutput+a.longestSecret())+1))
	res = engine.Result{Status: resp.StatusCode, Output: a.scrubOutput(out)}
	if a.expected(resp.StatusCode) {
		res.OK = true
		return res
	}
	res.Err = fmt.Sprintf("%s: unexpected status %s (expected %s)", inv.Describe(), resp.Status, a.expectation())
	return res
}

// expected reports whether status means success.
func (a *Action) expected(status int) bool {
	if a.expect == nil {
		return status >= 200 && status <= 299
	}
	return slices.Contains(a.expect, status)
}

// expectation describes the expected statuses.
func (a *Action) expectation() string {
	if a.expect == nil {
		return "2xx"
	}
	s := make([]string, len(a.expect))
	for i, v := range a.expect {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ", ")
}

// minScrub is the shortest header value scrubbed from output: shorter
// ones would mangle it and are no secret worth the name.
const minScrub = 4

// secrets returns the strings no output may show: each header value and,
// for "Scheme credentials" values, the credentials alone.
func (a *Action) secrets() []string {
	var out []string
	for _, h := range *a.headers {
		v := h.value.Value()
		if len(v) >= minScrub {
			out = append(out, v)
		}
		if _, cred, ok := strings.Cut(v, " "); ok && len(strings.TrimSpace(cred)) >= minScrub {
			out = append(out, strings.TrimSpace(cred))
		}
	}
	// Longest first, so a value is replaced before a part of it.
	slices.SortFunc(out, func(x, y string) int { return len(y) - len(x) })
	return out
}

func (a *Action) longestSecret() int {
	n := 0
	for _, h := range *a.headers {
		n = max(n, len(h.value.Value()))
	}
	return n
}

// scrub replaces every secret in s.
func (a *Action) scrub(s string) string {
	for _, sec := range a.secrets() {
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return s
}

// scrubOutput scrubs a response body read up to maxOutput+longestSecret+1
// bytes, then truncates it to maxOutput, dropping a tail that could be
// the start of a secret cut off by the read limit.
func (a *Action) scrubOutput(b []byte) string {
	truncated := len(b) > a.maxOutput
	s := a.scrub(string(b))
	if !truncated {
		return s
	}
	for _, sec := range a.secrets() {
		for k := min(len(sec)-1, len(s)); k > 0; k-- {
			if strings.HasSuffix(s, sec[:k]) {
				s = s[:len(s)-k]
				break
			}
		}
	}
	if len(s) > a.maxOutput {
		s = s[:a.maxOutput]
	}
	// Do not end in the middle of a character.
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				s = s[:i]
			}
			break
		}
	}
	return s
}

// quote shows at most 40 bytes of a value.
func quote(v string) string {
	if len(v) > 40 {
		return fmt.Sprintf("%q… (%d bytes)", v[:40], len(v))
	}
	return strconv.Quote(v)
}
