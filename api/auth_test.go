package api_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/api"
)

// fakeSessions is the console's session store: cookie value → session.
type fakeSessions map[string]struct {
	name string
	role api.Role
	csrf string
}

func (f fakeSessions) Session(r *http.Request) (string, api.Role, string, bool) {
	c, err := r.Cookie("remediator_session")
	if err != nil {
		return "", api.RoleNone, "", false
	}
	s, ok := f[c.Value]
	return s.name, s.role, s.csrf, ok
}

var _ api.SessionAuth = fakeSessions{}

const (
	responderCookie = "remediator_session=cookie-of-rita"
	viewerCookie    = "remediator_session=cookie-of-val"
	ritaCSRF        = "csrf-of-rita-0123456789"
	valCSRF         = "csrf-of-val-0123456789"
)

func newSessionEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, true, func(o *api.Options) {
		o.Sessions = fakeSessions{
			"cookie-of-rita": {"rita", api.RoleResponder, ritaCSRF},
			"cookie-of-val":  {"val", api.RoleViewer, valCSRF},
		}
		o.Events = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, ": stream of "+r.URL.Path+"\n\n")
		})
	})
}

// TestSessionAuth: the console's cookie authenticates like a token;
// a change by cookie needs the session's CSRF token; a bearer token,
// when present, decides.
func TestSessionAuth(t *testing.T) {
	e := newSessionEnv(t)
	e.do("POST", "/api/v1/webhook", webhookToken, webhookFile(t, "firing.json"))
	tests := []struct {
		name, method, path string
		hdr                []string
		status             int
		contains           string // in the body
		audit              *entry // the newest audit entry afterwards, when one is written
	}{
		// A read by cookie needs no CSRF token.
		{"cookie get", "GET", "/api/v1/incidents", []string{"Cookie", viewerCookie}, 200, `"incidents":[{"id":1`, nil},
		// The event stream takes the cookie too (EventSource sends it).
		{"cookie events", "GET", "/api/v1/events", []string{"Cookie", viewerCookie}, 200, "stream of /api/v1/events", nil},
		// A cookie the console never set.
		{"unknown cookie", "GET", "/api/v1/incidents", []string{"Cookie", "remediator_session=forged"}, 401, "missing or invalid bearer token or session", nil},
		// A change by cookie without the CSRF token.
		{"no csrf", "POST", "/api/v1/incidents/1/ack", []string{"Cookie", responderCookie}, 403, "missing or invalid CSRF token",
			&entry{"rita", "responder", "127.0.0.1", "incident.ack", "incident 1", "denied", "missing or invalid CSRF token"}},
		// With another session's CSRF token.
		{"wrong csrf", "POST", "/api/v1/incidents/1/ack", []string{"Cookie", responderCookie, "X-CSRF-Token", valCSRF}, 403, "missing or invalid CSRF token",
			&entry{"rita", "responder", "127.0.0.1", "incident.ack", "incident 1", "denied", "missing or invalid CSRF token"}},
		// A prefix of the right one.
		{"short csrf", "DELETE", "/api/v1/silences/1", []string{"Cookie", responderCookie, "X-CSRF-Token", ritaCSRF[:10]}, 403, "missing or invalid CSRF token",
			&entry{"rita", "responder", "127.0.0.1", "silence.expire", "silence 1", "denied", "missing or invalid CSRF token"}},
		// A viewer's session with its CSRF token still has a viewer's role.
		{"viewer session", "POST", "/api/v1/incidents/1/ack", []string{"Cookie", viewerCookie, "X-CSRF-Token", valCSRF}, 403, "needs responder",
			&entry{"val", "viewer", "127.0.0.1", "incident.ack", "incident 1", "denied", `session of "val" has role viewer; this needs responder`}},
		// A wrong bearer token is refused even with a good cookie.
		{"bad bearer and cookie", "POST", "/api/v1/incidents/1/ack", []string{"Authorization", "Bearer nope-nope-nope", "Cookie", responderCookie, "X-CSRF-Token", ritaCSRF}, 401, "missing or invalid",
			&entry{"", "", "127.0.0.1", "incident.ack", "incident 1", "denied", "missing or invalid bearer token or session"}},
		// The right cookie and CSRF token: acked, audited as the session's person.
		{"cookie ack", "POST", "/api/v1/incidents/1/ack", []string{"Cookie", responderCookie, "X-CSRF-Token", ritaCSRF}, 200, `"acknowledged_by":"rita"`,
			&entry{"rita", "responder", "127.0.0.1", "incident.ack", "incident 1", "ok", ""}},
		// A bearer token needs no CSRF token, cookie or not.
		{"bearer resolve", "POST", "/api/v1/incidents/1/resolve", []string{"Authorization", "Bearer " + responderToken, "Cookie", viewerCookie}, 200, `"status":"resolved"`,
			&entry{"rita", "responder", "127.0.0.1", "incident.resolve", "incident 1", "ok", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := e.auditLog("?limit=1")
			status, body, _ := e.doWith(tt.method, tt.path, nil, tt.hdr...)
			if status != tt.status || !strings.Contains(string(body), tt.contains) {
				t.Fatalf("got %d %s, want %d containing %q", status, body, tt.status, tt.contains)
			}
			after, _ := e.auditLog("?limit=1")
			switch {
			case tt.audit == nil && len(after) != len(before):
				t.Fatalf("a read was audited: %+v", after)
			case tt.audit == nil:
			case len(after) == 0 || (len(before) == 1 && after[0].ID == before[0].ID):
				t.Fatal("not audited")
			case summary(after[0]) != *tt.audit:
				t.Fatalf("audit entry\n got %+v\nwant %+v", summary(after[0]), *tt.audit)
			}
		})
	}
}

// TestSecurityHeaders: every answer, success or error, carries them.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, true)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	}
	tests := []struct {
		name, method, path, token string
		status                    int
	}{
		// A JSON answer.
		{"json", "GET", "/api/v1/incidents", viewerToken, 200},
		// An unknown API path.
		{"api 404", "GET", "/api/v1/nothing", viewerToken, 404},
		// A path outside the API.
		{"404", "GET", "/nothing", "", 404},
		// A refusal.
		{"401", "POST", "/-/reload", "", 401},
		// A text answer.
		{"healthy", "GET", "/-/healthy", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, hdr := e.do(tt.method, tt.path, tt.token, nil)
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			for k, v := range want {
				if got := hdr.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// revocable is a session store whose session can end while in use.
type revocable struct {
	mu    sync.Mutex
	valid bool
}

func (r *revocable) Session(*http.Request) (string, api.Role, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "val", api.RoleViewer, "csrf", r.valid
}

// An open event stream ends once its session does (a logout, an expiry,
// a token removed by a reload): the stream does not outlive the right to
// read it.
func TestEventStreamEndsWithItsSession(t *testing.T) {
	sess := &revocable{valid: true}
	started := make(chan struct{})
	e := newEnvWith(t, true, func(o *api.Options) {
		o.Sessions = sess
		o.Events = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			close(started)
			<-r.Context().Done() // streams until the request's context ends
		})
	})
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/events", nil)
	req.Header.Set("Cookie", "remediator_session=x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-started
	ended := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, resp.Body); close(ended) }()
	sess.mu.Lock()
	sess.valid = false // logged out
	sess.mu.Unlock()
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream outlived its session")
	}
}
