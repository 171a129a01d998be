package httpaction

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/template"
)

// seen is what the test endpoint received of one request.
type seen struct {
	Method      string
	Path        string // decoded
	EscapedPath string
	Query       map[string][]string
	ContentType string
	Header      http.Header
	Body        []byte
}

// endpoint is an HTTP server on 127.0.0.1 that records every request and
// answers with status and body, or, when echo is set, with the request's
// headers as JSON (as a debugging endpoint would).
type endpoint struct {
	*httptest.Server
	status   int
	body     string
	echo     bool
	location string // a Location header to send

	mu  sync.Mutex
	got []seen
}

// newEndpoint starts an endpoint answering status and body.
func newEndpoint(t *testing.T, status int, body string) *endpoint {
	t.Helper()
	return start(t, &endpoint{status: status, body: body})
}

// start starts e, configured before it serves.
func start(t *testing.T, e *endpoint) *endpoint {
	t.Helper()
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.got = append(e.got, seen{
		Method: r.Method, Path: r.URL.Path, EscapedPath: r.URL.EscapedPath(), Query: r.URL.Query(),
		ContentType: r.Header.Get("Content-Type"), Header: r.Header.Clone(), Body: b,
	})
	e.mu.Unlock()
	if e.location != "" {
		w.Header().Set("Location", e.location)
	}
	w.WriteHeader(e.status)
	if e.echo {
		_ = json.NewEncoder(w).Encode(r.Header)
		return
	}
	_, _ = io.WriteString(w, e.body)
}

// requests returns what the endpoint has received.
func (e *endpoint) requests() []seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

// request is an alert episode with labels.
func request(labels map[string]string) *engine.ActionRequest {
	return &engine.ActionRequest{
		Rule: "scale-up", Target: "host-1/game-api", Incident: 42, Level: "warning",
		Alert: engine.Alert{Fingerprint: "f00d", Labels: labels},
	}
}

func mustNew(t *testing.T, c *rules.HTTPActionConfig) *Action {
	t.Helper()
	a, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func mustRender(t *testing.T, a *Action, req *engine.ActionRequest) engine.Invocation {
	t.Helper()
	inv, err := a.Render(req)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return inv
}

func TestNewErrors(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	const u = "https://scaler.example/api/{{ .labels.service }}"
	tests := []struct {
		name string
		cfg  rules.HTTPActionConfig
		want []string // each a line of the error
	}{
		// The URL is required.
		{"missing url", rules.HTTPActionConfig{}, []string{"http: url: is required"}},
		// A path alone says nowhere to go.
		{"relative url", rules.HTTPActionConfig{URL: "/scale"}, []string{"http: url: must be an absolute http or https URL"}},
		// Only http and https.
		{"other scheme", rules.HTTPActionConfig{URL: "ftp://files.example/x"}, []string{"http: url: must be an absolute http or https URL"}},
		// Alert data must not choose the host the secret headers go to.
		{"templated host", rules.HTTPActionConfig{URL: "https://{{ .labels.instance }}/scale"}, []string{"http: url: the scheme and host must be written out"}},
		// Not even a suffix of it ("h" + "@evil").
		{"templated host suffix", rules.HTTPActionConfig{URL: "https://scaler{{ .labels.x }}"}, []string{"http: url: the scheme and host must be written out"}},
		// A URL template must parse.
		{"url does not parse", rules.HTTPActionConfig{URL: "https://h/{{ .labels.x "}, []string{"http: url: template"}},
		// A method is an HTTP token.
		{"method not a token", rules.HTTPActionConfig{URL: u, Method: "PO ST"}, []string{`http: method "PO ST" is not an HTTP method`}},
		// A body template must parse.
		{"body does not parse", rules.HTTPActionConfig{URL: u, Body: `{"s": "{{ .labels.service "}`}, []string{"http: body: template"}},
		// A body must be JSON.
		{"body not JSON", rules.HTTPActionConfig{URL: u, Body: `{"s": 1`}, []string{"http: body: is not JSON"}},
		// A value outside a JSON string could change the document.
		{"value outside a string", rules.HTTPActionConfig{URL: u, Body: `{"n": {{ .labels.service }}}`}, []string{"http: body: is not JSON with every {{ }} inside a string"}},
		// Functions are not allowed in bodies either.
		{"function in body", rules.HTTPActionConfig{URL: u, Body: `{"s": "{{ printf "%s" .level }}"}`}, []string{"http: body: template"}},
		// A pattern must compile.
		{"bad pattern", rules.HTTPActionConfig{URL: u, Validate: map[string]string{"service": "(("}}, []string{"http: validate.service: error parsing regexp"}},
		// A pattern for a value nobody places is a typo.
		{"unused validate key", rules.HTTPActionConfig{URL: u, Validate: map[string]string{"servce": "[a-z]+"}}, []string{"http: validate.servce: not used by url or body"}},
		// The CA file must be readable.
		{"unreadable CA file", rules.HTTPActionConfig{URL: u, CAFile: "/nonexistent/ca.pem"}, []string{"http: ca_file: open /nonexistent/ca.pem"}},
		// And hold a certificate.
		{"CA file without PEM", rules.HTTPActionConfig{URL: u, CAFile: junk}, []string{"http: ca_file: " + junk + " holds no PEM certificate"}},
		// Statuses are 100-599.
		{"bad expected status", rules.HTTPActionConfig{URL: u, ExpectStatus: []int{200, 99}}, []string{"http: expect_status: 99 is not an HTTP status"}},
		// A negative timeout is a mistake, not "none".
		{"negative timeout", rules.HTTPActionConfig{URL: u, Timeout: rules.Duration(-time.Second)}, []string{"http: timeout -1s is negative"}},
		// So is a negative output bound.
		{"negative max output", rules.HTTPActionConfig{URL: u, MaxOutputBytes: -1}, []string{"http: max_output_bytes -1 is negative"}},
		// A header name is a token.
		{"bad header name", rules.HTTPActionConfig{URL: u, Headers: map[string]rules.Secret{"X Token": "abcd"}}, []string{`http: headers: "X Token" is not a header name`}},
		// Framing headers are the client's.
		{"framing header", rules.HTTPActionConfig{URL: u, Headers: map[string]rules.Secret{"Content-Length": "1"}}, []string{"http: headers.Content-Length: set by the client"}},
		// A header value with a line break would inject headers; the message names the header only.
		{"header value with CRLF", rules.HTTPActionConfig{URL: u, Headers: map[string]rules.Secret{"X-Token": "tok\r\nX-Evil: 1"}}, []string{"http: headers.X-Token: the value holds a line break or NUL"}},
		// Every problem is reported at once, one per line.
		{"several problems", rules.HTTPActionConfig{Method: "a b", ExpectStatus: []int{1000}, Validate: map[string]string{"x": "y"}}, []string{
			`http: method "a b" is not an HTTP method`,
			"http: url: is required",
			"http: validate.x: not used by url or body",
			"http: expect_status: 1000 is not an HTTP status",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(&tt.cfg)
			if err == nil {
				t.Fatalf("New = %v, want an error", a)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("error has %d lines, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, want := range tt.want {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("line %d = %q, want it to start with %q", i, lines[i], want)
				}
			}
			if strings.Contains(err.Error(), "tok") {
				t.Errorf("error shows a header value: %v", err)
			}
		})
	}
}

// TestWire checks what the endpoint receives: the method, the escaped
// path, the query, the JSON body, the content type and the headers.
func TestWire(t *testing.T) {
	ep := newEndpoint(t, http.StatusAccepted, `{"ok":true}`)
	labels := map[string]string{"alertname": "HighLoad", "service": "game-api", "instance": "host-1:9100"}
	tests := []struct {
		name     string
		cfg      rules.HTTPActionConfig
		describe string
		check    func(t *testing.T, s seen)
	}{
		{
			// The defaults: POST, a JSON body, its content type, the configured headers.
			name: "post with a body",
			cfg: rules.HTTPActionConfig{
				URL:     ep.URL + "/api/v1/services/{{ .labels.service }}/scale?reason={{ .alertname }}",
				Headers: map[string]rules.Secret{"Authorization": "Bearer tok-1234567890", "x-api-key": "key-abcdef"},
				Body:    `{"service": "{{ .labels.service }}", "instance": "{{ .labels.instance }}", "incident": "{{ .incident }}", "level": "{{ .level }}", "target": "{{ .target }}", "by": 1}`,
			},
			describe: "POST " + ep.URL + "/api/v1/services/game-api/scale?reason=<redacted>",
			check: func(t *testing.T, s seen) {
				if s.Method != http.MethodPost || s.Path != "/api/v1/services/game-api/scale" || s.Query["reason"][0] != "HighLoad" {
					t.Errorf("request %s %s %v", s.Method, s.Path, s.Query)
				}
				if s.ContentType != "application/json" {
					t.Errorf("Content-Type = %q", s.ContentType)
				}
				if got := s.Header.Get("Authorization"); got != "Bearer tok-1234567890" {
					t.Errorf("Authorization = %q", got)
				}
				if got := s.Header.Get("X-Api-Key"); got != "key-abcdef" {
					t.Errorf("X-Api-Key = %q", got)
				}
				var body map[string]any
				if err := json.Unmarshal(s.Body, &body); err != nil {
					t.Fatalf("body %q: %v", s.Body, err)
				}
				want := map[string]any{"service": "game-api", "instance": "host-1:9100", "incident": "42", "level": "warning", "target": "host-1/game-api", "by": 1.0}
				if fmt.Sprint(body) != fmt.Sprint(want) {
					t.Errorf("body = %v, want %v", body, want)
				}
			},
		},
		{
			// No body: no Content-Type; the method is upper-cased.
			name:     "get without a body",
			cfg:      rules.HTTPActionConfig{Method: "get", URL: ep.URL + "/status/{{ .labels.service }}"},
			describe: "GET " + ep.URL + "/status/game-api",
			check: func(t *testing.T, s seen) {
				if s.Method != http.MethodGet || s.ContentType != "" || len(s.Body) != 0 {
					t.Errorf("request %s, Content-Type %q, body %q", s.Method, s.ContentType, s.Body)
				}
			},
		},
		{
			// A configured Content-Type (a JSON flavour) wins over the default.
			name: "own content type",
			cfg: rules.HTTPActionConfig{Method: "PATCH", URL: ep.URL + "/x", Body: `{"a": "b"}`,
				Headers: map[string]rules.Secret{"Content-Type": "application/merge-patch+json"}},
			describe: "PATCH " + ep.URL + "/x",
			check: func(t *testing.T, s seen) {
				if s.ContentType != "application/merge-patch+json" || string(s.Body) != `{"a": "b"}` {
					t.Errorf("Content-Type %q, body %q", s.ContentType, s.Body)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(ep.requests())
			inv := mustRender(t, mustNew(t, &tt.cfg), request(labels))
			if got := inv.Describe(); got != tt.describe {
				t.Errorf("Describe = %q, want %q", got, tt.describe)
			}
			res := inv.Run(context.Background())
			if !res.OK || res.Status != http.StatusAccepted || res.Output != `{"ok":true}` || res.Err != "" {
				t.Fatalf("Result = %+v", res)
			}
			got := ep.requests()
			if len(got) != before+1 {
				t.Fatalf("%d requests, want one", len(got)-before)
			}
			tt.check(t, got[before])
		})
	}
}

// TestAllowLeadingDash: allow_leading_dash lets a value begin with "-"
// where the config says so.
func TestAllowLeadingDash(t *testing.T) {
	ep := newEndpoint(t, 200, "")
	a := mustNew(t, &rules.HTTPActionConfig{URL: ep.URL + "/scale?by={{ .labels.v }}", Validate: map[string]string{"v": "-?[0-9]+"}, AllowLeadingDash: []string{"v"}})
	inv, err := a.Render(request(map[string]string{"v": "-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if res := inv.Run(context.Background()); !res.OK {
		t.Fatalf("Result = %+v", res)
	}
	if got := ep.requests(); len(got) != 1 || strings.Join(got[0].Query["by"], ",") != "-1" {
		t.Fatalf("requests = %+v", got)
	}
	if _, err := New(&rules.HTTPActionConfig{URL: ep.URL + "/x", AllowLeadingDash: []string{"v"}}); err == nil || !strings.Contains(err.Error(), "allow_leading_dash: v: not used by url or body") {
		t.Fatalf("unused allow_leading_dash: %v", err)
	}
}

// TestDescribe: "METHOD URL" without userinfo, query values or fragment.
func TestDescribe(t *testing.T) {
	tests := []struct {
		method, url, want string
	}{
		{"", "https://h.example/scale/{{ .labels.service }}", "POST https://h.example/scale/game-api"},                                                     // the default method
		{"put", "https://h.example/a?x=1", "PUT https://h.example/a?x=<redacted>"},                                                                         // query values go
		{"", "https://u:p4ss@h.example:8443/a/{{ .labels.service }}#frag", "POST https://<redacted>@h.example:8443/a/game-api"},                            // userinfo and fragment go
		{"", "https://h.example/hook?sig=abc&svc={{ .labels.service }}&raw-token", "POST https://h.example/hook?sig=<redacted>&svc=<redacted>&<redacted>"}, // a bare item goes too
		{"", "https://h.example/p/{{ .labels.path }}", "POST https://h.example/p/a%2Fb%20c"},                                                               // values as sent, escaped
	}
	for _, tt := range tests {
		a := mustNew(t, &rules.HTTPActionConfig{Method: tt.method, URL: tt.url, Validate: validateFor(tt.url)})
		inv := mustRender(t, a, request(map[string]string{"service": "game-api", "path": "a/b c"}))
		if got := inv.Describe(); got != tt.want {
			t.Errorf("Describe = %q, want %q", got, tt.want)
		}
	}
}

// validateFor allows "a/b c" for a URL that places .labels.path.
func validateFor(u string) map[string]string {
	if strings.Contains(u, ".labels.path") {
		return map[string]string{"path": "[a-z/ ]+"}
	}
	return nil
}

// TestStatus: the expected statuses succeed, anything else fails once,
// with the status and the answer recorded.
func TestStatus(t *testing.T) {
	tests := []struct {
		name   string
		expect []int
		answer int
		ok     bool
	}{
		{"200 is 2xx", nil, 200, true},                      // the default accepts any 2xx
		{"204 is 2xx", nil, 204, true},                      // including no content
		{"299 is 2xx", nil, 299, true},                      // up to the end of the class
		{"redirect is not followed", nil, 302, false},       // a redirect is an answer, not followed
		{"403 fails", nil, 403, false},                      // forbidden
		{"404 fails", nil, 404, false},                      // the target does not exist
		{"409 fails", nil, 409, false},                      // conflict
		{"500 fails", nil, 500, false},                      // server error: failed, not retried here
		{"listed 202", []int{202}, 202, true},               // an explicit list
		{"200 not listed", []int{202}, 200, false},          // replaces the 2xx default
		{"listed 409", []int{200, 409}, 409, true},          // "already done" may count as success
		{"listed but answered 500", []int{409}, 500, false}, // and nothing else does
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := start(t, &endpoint{status: tt.answer, body: "answer body", location: "/elsewhere"})
			a := mustNew(t, &rules.HTTPActionConfig{URL: ep.URL + "/hook", ExpectStatus: tt.expect})
			res := mustRender(t, a, request(nil)).Run(context.Background())
			want := "answer body"
			if tt.answer == http.StatusNoContent {
				want = "" // a 204 has no body
			}
			if res.OK != tt.ok || res.Status != tt.answer || res.Output != want {
				t.Fatalf("Result = %+v", res)
			}
			if tt.ok != (res.Err == "") {
				t.Errorf("Err = %q", res.Err)
			}
			if !tt.ok && !strings.Contains(res.Err, fmt.Sprintf("POST %s/hook: unexpected status %d", ep.URL, tt.answer)) {
				t.Errorf("Err = %q", res.Err)
			}
			if n := len(ep.requests()); n != 1 {
				t.Errorf("%d requests, want exactly one (no retries, no redirects)", n)
			}
		})
	}
}

// TestOutput: the answer is kept up to max_output_bytes.
func TestOutput(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		status int
		body   string
		want   string
	}{
		{"short answer whole", 0, 200, "done", "done"},                                    // under the default bound
		{"default bound", 0, 200, strings.Repeat("a", 70000), strings.Repeat("a", 65536)}, // 65536 by default
		{"configured bound", 10, 200, "0123456789abcdef", "0123456789"},                   // a configured bound
		{"no half character", 4, 200, "abc\u00e9def", "abc"},                              // a cut never splits a character
		{"failure output too", 3, 500, "server exploded", "ser"},                          // failures keep their answer
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := newEndpoint(t, tt.status, tt.body)
			res := mustRender(t, mustNew(t, &rules.HTTPActionConfig{URL: ep.URL, MaxOutputBytes: tt.max}), request(nil)).Run(context.Background())
			if res.Output != tt.want || res.Status != tt.status {
				t.Errorf("Status %d, Output = %.40q (%d bytes), want %.40q (%d bytes)", res.Status, res.Output, len(res.Output), tt.want, len(tt.want))
			}
		})
	}
}

// TestTLS: a CA file makes a private server trusted; without it the
// request fails; insecure_skip_verify skips the check.
func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "tls ok")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes fail on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cfg      rules.HTTPActionConfig
		ok       bool
		errWants string
	}{
		{"trusted by the CA file", rules.HTTPActionConfig{CAFile: ca}, true, ""},             // the private CA verifies the server
		{"unknown authority", rules.HTTPActionConfig{}, false, "certificate"},                // system roots do not
		{"insecure skip verify", rules.HTTPActionConfig{InsecureSkipVerify: true}, true, ""}, // the user's explicit choice
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.URL = srv.URL + "/hook"
			res := mustRender(t, mustNew(t, &tt.cfg), request(nil)).Run(context.Background())
			if res.OK != tt.ok || !strings.Contains(res.Err, tt.errWants) {
				t.Fatalf("Result = %+v", res)
			}
			if tt.ok && res.Output != "tls ok" {
				t.Errorf("Output = %q", res.Output)
			}
		})
	}
}

// TestCancel: the action's timeout and the caller's ctx end a request
// that hangs, and the Result says it was cancelled.
func TestCancel(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select { // say so, without ever blocking on it
		case arrived <- struct{}{}:
		default:
		}
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	tests := []struct {
		name    string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		want    string
	}{
		// And a resolve, once the request is in flight.
		{"ctx cancelled", 0, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-arrived
				cancel()
			}()
			return ctx, cancel
		}, "cancelled"},
		// The configured timeout ends it.
		{"action timeout", 50 * time.Millisecond, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, "timed out (timeout 50ms)"},
		// So does the deadline the engine puts on ctx.
		{"ctx deadline", 0, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, &rules.HTTPActionConfig{URL: srv.URL + "/slow", Timeout: rules.Duration(tt.timeout)})
			ctx, cancel := tt.ctx()
			defer cancel()
			res := mustRender(t, a, request(nil)).Run(ctx)
			if res.OK || !res.Cancelled || !strings.HasSuffix(res.Err, tt.want) {
				t.Fatalf("Result = %+v, want cancelled with %q", res, tt.want)
			}
			select { // drain the arrival of the cases that did not wait for it
			case <-arrived:
			default:
			}
		})
	}
}

// TestHostileValues: a hostile label value is refused by its pattern, or
// placed escaped: it cannot climb the path, add a query parameter or break
// out of its JSON string.
func TestHostileValues(t *testing.T) {
	ep := newEndpoint(t, 200, "")
	big := strings.Repeat("a", 1<<20)
	tests := []struct {
		name    string
		where   string // path, query or body
		value   string
		pattern string // "" for the default
		refused bool
		want    string // what the endpoint decodes ("" means value)
	}{
		{"shell in path, default pattern", "path", "; rm -rf /", "", true, ""},            // ; and space are not allowed
		{"shell in path, any pattern", "path", "; rm -rf /", ".*", false, ""},             // escaped into one segment
		{"command substitution in body", "body", "$(touch /tmp/pwned)", ".*", false, ""},  // JSON text, nothing runs it
		{"backticks in body", "body", "`id`", ".*", false, ""},                            // likewise
		{"climb, default pattern", "path", "../../etc/passwd", "", true, ""},              // .. is refused
		{"climb, any pattern", "path", "../../etc/passwd", ".*", true, ""},                // the decoded path would climb
		{"dot-dot alone", "path", "..", ".*", true, ""},                                   // a .. segment
		{"dot alone", "path", ".", ".*", true, ""},                                        // a . segment
		{"slash stays in its segment", "path", "a/b", "", false, ""},                      // %2F, one segment
		{"userinfo trick stays in the path", "path", "x@evil.example", "", false, ""},     // the host does not change
		{"template in path, default pattern", "path", "{{ .labels.x }}", "", true, ""},    // braces are refused
		{"template in body, placed once", "body", "{{ .labels.x }}", ".*", false, ""},     // literal, never re-parsed
		{"1 MiB, default pattern", "body", big, "", true, ""},                             // too long
		{"1 MiB, any pattern", "body", big, ".*", false, ""},                              // JSON stays valid
		{"non-UTF-8, default pattern", "body", "\xff\xfe", "", true, ""},                  // not in the pattern
		{"non-UTF-8, any pattern", "body", "\xff\xfe", ".*", false, "\ufffd\ufffd"},       // replaced, JSON valid
		{"quote and backslash", "body", `a"b\c", "admin": true, "x": "`, ".*", false, ""}, // escaped, no key injected
		{"newline in body", "body", "a\nb", "(?s).*", false, ""},                          // escaped as \n
		{"ampersand in query", "query", "a&admin=true", ".*", false, ""},                  // one query value
		{"plus in query", "query", "a+b c", ".*", false, ""},                              // not a space
		{"hash in query", "query", "a#frag", ".*", false, ""},                             // not a fragment
		{"leading dash in path", "path", "-rf", ".*", true, ""},                           // no value begins with -
		{"leading dash in query", "query", "-1", "-?[0-9]+", true, ""},                    // not even when the pattern admits it
		{"leading dash in body", "body", "--all", ".*", true, ""},                         // nor in a body
		{"encoded dot-dot", "path", "%2e%2e", ".*", false, ""},                            // % is escaped: a literal segment
		{"line break in query", "query", "a\r\nHost: evil", "(?s).*", false, ""},          // escaped, no header
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := rules.HTTPActionConfig{URL: ep.URL + "/svc"}
			switch tt.where {
			case "path":
				cfg.URL += "/{{ .labels.v }}"
			case "query":
				cfg.URL += "?v={{ .labels.v }}"
			case "body":
				cfg.Body = `{"v": "{{ .labels.v }}"}`
			}
			if tt.pattern != "" {
				cfg.Validate = map[string]string{"v": tt.pattern}
			}
			a := mustNew(t, &cfg)
			before := len(ep.requests())
			inv, err := a.Render(request(map[string]string{"v": tt.value}))
			if tt.refused {
				if !errors.Is(err, template.ErrRefused) {
					t.Fatalf("Render = %v, want refused", err)
				}
				if len(err.Error()) > 300 {
					t.Errorf("refusal is %d bytes long", len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if res := inv.Run(context.Background()); !res.OK {
				t.Fatalf("Result = %+v", res)
			}
			got := ep.requests()
			if len(got) != before+1 {
				t.Fatalf("%d requests", len(got)-before)
			}
			s, want := got[before], tt.want
			if want == "" {
				want = tt.value
			}
			switch tt.where {
			case "path":
				if s.Path != "/svc/"+want || strings.Count(s.EscapedPath, "/") != 2 {
					t.Errorf("path %q (escaped %q), want one segment %q", s.Path, s.EscapedPath, want)
				}
			case "query":
				if len(s.Query) != 1 || len(s.Query["v"]) != 1 || s.Query["v"][0] != want {
					t.Errorf("query %v, want v=%q only", s.Query, want)
				}
			case "body":
				var body map[string]string
				if err := json.Unmarshal(s.Body, &body); err != nil {
					t.Fatalf("body is not JSON: %v", err)
				}
				if len(body) != 1 || body["v"] != want {
					t.Errorf("body %.80q, want only v=%.40q", body, want)
				}
			}
		})
	}
}

// TestNoSecretLeaks: header values and URL credentials never reach
// Describe, an error, Result.Err or Result.Output, on success, on an
// error status, on a transport failure, on a timeout, or when the server
// echoes the headers back.
func TestNoSecretLeaks(t *testing.T) {
	const (
		bearer = "tok-SECRET-1234567890"
		apiKey = "key-SECRET-abcdef"
		pass   = "pw-SECRET-999"
		query  = "q-SECRET-777"
	)
	secrets := []string{bearer, apiKey, pass, query}
	headers := map[string]rules.Secret{"Authorization": rules.Secret("Bearer " + bearer), "X-Api-Key": apiKey}

	echo200 := start(t, &endpoint{status: 200, echo: true})
	echo500 := start(t, &endpoint{status: 500, echo: true})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake fails on purpose
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })

	withCreds := func(base string) string {
		return strings.Replace(base, "://", "://admin:"+pass+"@", 1) + "/hook/{{ .labels.service }}?token=" + query + "&svc={{ .labels.service }}"
	}
	tests := []struct {
		name    string
		url     string
		output  int           // how many echoed bytes to keep (0: default)
		timeout time.Duration // 0: default
		ok      bool
	}{
		{"echoed on success", withCreds(echo200.URL), 0, 0, true},         // the server shows the headers back
		{"echoed on failure", withCreds(echo500.URL), 0, 0, false},        // and on an error status
		{"echo cut inside a secret", withCreds(echo200.URL), 90, 0, true}, // a cut never leaves part of a secret
		{"connection refused", withCreds(closed.URL), 0, 0, false},        // a transport error
		{"TLS failure", withCreds(tlsSrv.URL), 0, 0, false},               // a TLS error
		{"timeout", withCreds(hang.URL), 0, 50 * time.Millisecond, false}, // a timeout
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, &rules.HTTPActionConfig{URL: tt.url, Headers: headers, Body: `{"s": "{{ .labels.service }}"}`,
				Timeout: rules.Duration(tt.timeout), MaxOutputBytes: tt.output})
			inv := mustRender(t, a, request(map[string]string{"service": "game-api"}))
			res := inv.Run(context.Background())
			if res.OK != tt.ok {
				t.Fatalf("Result = %+v", res)
			}
			for _, s := range secrets {
				for what, text := range map[string]string{
					"Describe": inv.Describe(), "Err": res.Err, "Output": res.Output,
					"%+v of the action": fmt.Sprintf("%+v %#v", a, a), "%+v of the invocation": fmt.Sprintf("%+v", inv),
				} {
					if what == "Output" && (s == pass || s == query) {
						continue // not headers: the server may show its own URL
					}
					if strings.Contains(text, s) {
						t.Errorf("%s shows %q: %s", what, s, text)
					}
				}
			}
			// A cut may not leave the start of a secret either.
			for _, s := range []string{bearer, apiKey} {
				if strings.Contains(res.Output, s[:6]) {
					t.Errorf("Output shows a part of %q: %s", s, res.Output)
				}
			}
		})
	}

	// Refusals and configuration errors do not show header values either.
	_, err := New(&rules.HTTPActionConfig{URL: "https://h/x", Headers: map[string]rules.Secret{"X-Api-Key": rules.Secret(apiKey + "\n")}})
	if err == nil || strings.Contains(err.Error(), apiKey) {
		t.Errorf("New: %v", err)
	}
}

// TestScrubOutput: the header secrets are replaced in the answer, and a
// truncated answer never ends in a secret's first bytes.
func TestScrubOutput(t *testing.T) {
	a := mustNew(t, &rules.HTTPActionConfig{URL: "https://h/x", MaxOutputBytes: 10,
		Headers: map[string]rules.Secret{"Authorization": "Bearer abcdefghij"}})
	tests := []struct {
		name, in, want string
	}{
		{"whole secret", "abcdefghij", "<redacted>"},               // under the bound, replaced
		{"cut inside a secret", "0123456abcdefghij", "0123456<re"}, // replaced before the cut
		{"cut after the start", "01234567abcdef", "01234567"},      // a secret's first bytes at the end are dropped
		{"no secret", "0123456789xyz", "0123456789"},               // a plain cut
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.scrubOutput([]byte(tt.in)); got != tt.want {
				t.Errorf("scrubOutput(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
