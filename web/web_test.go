package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/oncall"
	"github.com/remediator/remediator/store/memory"
)

// The engine and the on-call set are what the console reads in
// production.
var (
	_ Data   = (*engine.Engine)(nil)
	_ OnCall = (*oncall.Set)(nil)
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// Tokens of the three roles. Their values must never show in a page, a
// log line or the audit log.
const (
	viewerToken    = "viewer-secret-token-0001"
	responderToken = "responder-secret-token-0002"
	adminToken     = "admin-secret-token-0003"
)

var testTokens = []Token{
	{Name: "vera", Role: "viewer", Value: viewerToken},
	{Name: "rita", Role: "responder", Value: responderToken},
	{Name: "ada", Role: "admin", Value: adminToken},
}

// xssLabel is an alert label value that must show as text.
const xssLabel = "<script>alert(1)</script>"

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// severityClassifier: the severity label names the level; critical is
// P1 with 15m to respond and 4h to resolve.
type severityClassifier struct{}

func (c severityClassifier) Classify(in *engine.ClassifyInput) engine.Level {
	l, _ := c.Explain(in)
	return l
}

func (severityClassifier) Explain(in *engine.ClassifyInput) (engine.Level, []engine.RuleTrace) {
	if s := in.Alert.Labels["severity"]; s != "" {
		return engine.Level(s), nil
	}
	return "info", nil
}

func (severityClassifier) SLA(l engine.Level, t time.Time) (string, time.Time, time.Time) {
	if l == "critical" {
		return "P1", t.Add(15 * time.Minute), t.Add(4 * time.Hour)
	}
	return "P3", time.Time{}, time.Time{}
}

func (severityClassifier) Rank(l engine.Level) int {
	if l == "critical" {
		return 0
	}
	return 1
}

// restartPlanner restarts the alert's service; with the label
// approval=yes the run waits for a responder.
type restartPlanner struct{}

func (restartPlanner) HasRules() bool { return true }

func (restartPlanner) Plan(*engine.ClassifyInput, engine.Level, uint64) []engine.PlannedRemediation {
	return nil
}

func (restartPlanner) Remedies(in *engine.ClassifyInput, _ engine.Level, _ uint64) []engine.Remedy {
	svc := in.Alert.Labels["service"]
	if svc == "" {
		return nil
	}
	return []engine.Remedy{{Rule: "restart", Target: svc, MaxAttempts: 1, MaxRuns: 10, MaxRunsPer: time.Hour,
		Approval: in.Alert.Labels["approval"] == "yes", ApprovalTTL: time.Hour,
		Actions: []engine.RemedyAction{{Invocation: restart(svc)}}}}
}

type restart string

func (r restart) Describe() string { return "systemctl restart " + string(r) }

func (r restart) Run(context.Context) engine.Result {
	return engine.Result{OK: true, Output: "restarted " + string(r)}
}

type notifierFunc func(context.Context, *engine.Notification) (bool, error)

func (f notifierFunc) Notify(ctx context.Context, n *engine.Notification) (bool, error) {
	return f(ctx, n)
}

// syncBuffer collects log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type harness struct {
	t     *testing.T
	clock *fakeClock
	eng   *engine.Engine
	c     *Console
	logs  *syncBuffer
}

// newHarness builds a console on a real engine (in-memory store,
// simulated time) holding, newest first: a warning whose restart awaits
// approval (incident 3), a resolved notice (incident 2), and a critical
// incident with a <script> label, a restart that ran and an email that
// went out (incident 1); and one active silence.
func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t, clock: &fakeClock{now: t0}, logs: &syncBuffer{}}
	eng, err := engine.New(ctx, engine.Options{Store: memory.New(), Clock: h.clock, Classifier: severityClassifier{}})
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	eng.SetPlanner(restartPlanner{})
	eng.SetNotify(&engine.NotifyConfig{
		Notifiers: map[string]engine.Notifier{"email": notifierFunc(func(context.Context, *engine.Notification) (bool, error) {
			return false, nil
		})},
		People: map[string]engine.Person{"alice": {ID: "alice", Name: "Alice", Addresses: map[string]string{"email": "alice@example.com"}}},
		Routes: map[engine.Level]engine.Route{"critical": {People: []string{"alice"}, Via: []string{"email"}}},
		Jitter: func() float64 { return 1 },
	})
	h.ingest("GameDown", "critical", map[string]string{"service": "game-api", "evil": xssLabel},
		map[string]string{"summary": "game-api is down " + xssLabel})
	// One alert at a time, so that record ids are known.
	waitFor(t, "the restart of game-api", func() bool {
		acts, _ := eng.Actions(engine.ActionFilter{}, engine.Page{})
		return len(acts) == 1 && acts[0].Status == engine.ActionSucceeded
	})
	waitFor(t, "the email of incident 1", func() bool {
		notes, _ := eng.Notifications(engine.NotificationFilter{Incident: 1}, engine.Page{})
		return len(notes) == 1 && notes[0].Status == engine.NoteSent
	})
	h.ingest("Noise", "notice", nil, nil)
	if _, err := eng.Resolve(ctx, 2, engine.Transition{By: "rita", Note: "false alarm"}); err != nil {
		t.Fatal(err)
	}
	h.ingest("DiskFull", "warning", map[string]string{"service": "db", "approval": "yes"}, nil)
	waitFor(t, "the restart of db awaiting approval", func() bool {
		acts, _ := eng.Actions(engine.ActionFilter{}, engine.Page{})
		return len(acts) == 2 && acts[0].Status == engine.ActionAwaiting
	})
	if _, err := eng.CreateSilence(ctx, engine.NewSilence{Matchers: []engine.Matcher{{Name: "alertname", Value: "Flappy"}},
		EndsAt: t0.Add(2 * time.Hour), CreatedBy: "rita", Comment: "known flapping"}); err != nil {
		t.Fatal(err)
	}
	oc, err := oncall.New([]string{"alice", "bob"}, oncall.Spec{Name: "first-line", Location: time.UTC,
		Layers: []oncall.Layer{{Name: "weekly", Members: []string{"alice", "bob"}, Every: 7, Anchor: t0.Add(-24 * time.Hour)}}})
	if err != nil {
		t.Fatal(err)
	}
	h.c, err = New(Options{Tokens: testTokens, Data: eng, OnCall: oc, Clock: h.clock,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) ingest(name, severity string, labels, annotations map[string]string) {
	h.t.Helper()
	ls := map[string]string{"alertname": name, "severity": severity}
	for k, v := range labels {
		ls[k] = v
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	w := &engine.Webhook{Receiver: "r", GroupKey: "{}:" + name, Status: engine.StatusFiring, CommonLabels: ls, CommonAnnotations: annotations,
		Alerts: []engine.WebhookAlert{{Fingerprint: "fp-" + name, Status: engine.StatusFiring, StartsAt: h.clock.Now(),
			Labels: ls, Annotations: annotations}}}
	if _, err := h.eng.Ingest(context.Background(), w); err != nil {
		h.t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type response struct {
	status int
	header http.Header
	body   string
	cookie *http.Cookie // the session cookie set, if any
}

func (h *harness) do(r *http.Request) response {
	h.t.Helper()
	w := httptest.NewRecorder()
	h.c.ServeHTTP(w, r)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	out := response{status: res.StatusCode, header: res.Header, body: string(b)}
	for _, ck := range res.Cookies() {
		if ck.Name == CookieName {
			out.cookie = ck
		}
	}
	return out
}

func (h *harness) get(path, session string) response {
	h.t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if session != "" {
		r.AddCookie(&http.Cookie{Name: CookieName, Value: session})
	}
	return h.do(r)
}

func (h *harness) postForm(path, session string, form url.Values) response {
	h.t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if session != "" {
		r.AddCookie(&http.Cookie{Name: CookieName, Value: session})
	}
	return h.do(r)
}

// login logs in with token and returns the session cookie's value.
func (h *harness) login(token string) string {
	h.t.Helper()
	res := h.postForm("/login", "", url.Values{"token": {token}})
	if res.status != http.StatusSeeOther || res.cookie == nil {
		h.t.Fatalf("login: %d, cookie %v\n%s", res.status, res.cookie, res.body)
	}
	return res.cookie.Value
}

func (h *harness) auditLog() []engine.AuditEntry {
	list, _ := h.eng.AuditLog(engine.AuditFilter{}, engine.Page{Limit: 500})
	return list
}

// csrfOf reads the CSRF token from a page's <meta>.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf-token meta in\n%s", page)
	}
	return m[1]
}

func TestLogin(t *testing.T) {
	t.Run("the form has the ids the browser test drives", func(t *testing.T) {
		h := newHarness(t)
		res := h.get("/login", "")
		for _, want := range []string{`id="login-token"`, `id="login-submit"`, `name="token"`, `action="/login"`} {
			if res.status != http.StatusOK || !strings.Contains(res.body, want) {
				t.Fatalf("login page %d lacks %s:\n%s", res.status, want, res.body)
			}
		}
	})
	t.Run("a bad token is 401 and audited denied without the token", func(t *testing.T) {
		h := newHarness(t)
		res := h.postForm("/login", "", url.Values{"token": {"not-" + responderToken}})
		if res.status != http.StatusUnauthorized || res.cookie != nil || !strings.Contains(res.body, "Invalid token.") {
			t.Fatalf("got %d, cookie %v:\n%s", res.status, res.cookie, res.body)
		}
		log := h.auditLog()
		want := engine.AuditEntry{ID: 1, At: t0, Actor: "", Addr: "192.0.2.1", Action: "login", Outcome: engine.AuditDenied, Detail: "invalid token"}
		if len(log) != 1 || log[0] != want {
			t.Fatalf("audit log %+v, want %+v", log, want)
		}
		if strings.Contains(h.logs.String(), responderToken) || strings.Contains(res.body, responderToken) {
			t.Fatalf("the token leaked:\n%s", h.logs.String())
		}
	})
	t.Run("a good token sets the session cookie and goes home", func(t *testing.T) {
		h := newHarness(t)
		res := h.postForm("/login", "", url.Values{"token": {responderToken}})
		ck := res.cookie
		if res.status != http.StatusSeeOther || res.header.Get("Location") != "/" || ck == nil {
			t.Fatalf("got %d %q, cookie %v", res.status, res.header.Get("Location"), ck)
		}
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure || ck.MaxAge != 12*3600 {
			t.Fatalf("cookie %+v", ck)
		}
		if raw, err := base64.RawURLEncoding.DecodeString(ck.Value); err != nil || len(raw) != 32 {
			t.Fatalf("cookie value %q is not 32 random bytes: %v", ck.Value, err)
		}
		log := h.auditLog()
		want := engine.AuditEntry{ID: 1, At: t0, Actor: "rita", Role: "responder", Addr: "192.0.2.1", Action: "login", Outcome: engine.AuditOK}
		if len(log) != 1 || log[0] != want {
			t.Fatalf("audit log %+v, want %+v", log, want)
		}
		if strings.Contains(h.logs.String(), responderToken) {
			t.Fatalf("the token was logged:\n%s", h.logs.String())
		}
		// The session opens the console and shows who is logged in.
		page := h.get("/", ck.Value)
		if page.status != http.StatusOK || !strings.Contains(page.body, `<meta name="role" content="responder">`) {
			t.Fatalf("home %d:\n%s", page.status, page.body)
		}
	})
	t.Run("the cookie is Secure over TLS and behind an https external URL", func(t *testing.T) {
		h := newHarness(t)
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("token="+viewerToken))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.TLS = &tls.ConnectionState{}
		if res := h.do(r); res.cookie == nil || !res.cookie.Secure {
			t.Fatalf("over TLS: cookie %+v", res.cookie)
		}
		c, err := New(Options{Tokens: testTokens, Data: h.eng, Clock: h.clock, ExternalURL: "https://remediator.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		h.c = c
		if res := h.postForm("/login", "", url.Values{"token": {viewerToken}}); res.cookie == nil || !res.cookie.Secure {
			t.Fatalf("behind https: cookie %+v", res.cookie)
		}
	})
	t.Run("the form is limited to 4 KiB", func(t *testing.T) {
		h := newHarness(t)
		res := h.postForm("/login", "", url.Values{"token": {strings.Repeat("x", 5000)}})
		if res.status != http.StatusRequestEntityTooLarge || res.cookie != nil {
			t.Fatalf("got %d", res.status)
		}
	})
	t.Run("a form post from another origin is refused", func(t *testing.T) {
		for _, hdr := range [][2]string{
			{"Sec-Fetch-Site", "cross-site"},
			{"Sec-Fetch-Site", "same-site"}, // a sibling host or port: a login CSRF
			{"Origin", "http://evil.example"},
			{"Origin", "null"},
		} {
			h := newHarness(t)
			r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("token="+viewerToken))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set(hdr[0], hdr[1])
			if res := h.do(r); res.status != http.StatusForbidden || res.cookie != nil {
				t.Fatalf("%s: %s: got %d, cookie %v", hdr[0], hdr[1], res.status, res.cookie)
			}
		}
		h := newHarness(t)
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("token="+viewerToken))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		if res := h.do(r); res.status != http.StatusSeeOther || res.cookie == nil {
			t.Fatalf("same-origin: got %d", res.status)
		}
	})
	t.Run("a new login ends the browser's previous session", func(t *testing.T) {
		h := newHarness(t)
		first := h.login(viewerToken)
		res := h.postForm("/login", first, url.Values{"token": {viewerToken}})
		if res.status != http.StatusSeeOther || res.cookie == nil || res.cookie.Value == first {
			t.Fatalf("second login: %d %v", res.status, res.cookie)
		}
		if got := h.get("/", first); got.status != http.StatusSeeOther {
			t.Fatalf("the first session still works: %d", got.status)
		}
	})
	t.Run("the login goes back to the page asked for, on this site only", func(t *testing.T) {
		h := newHarness(t)
		login := h.get("/login?next=%2Fincidents%2F1%3Fx%3D1", "")
		if !strings.Contains(login.body, `<input type="hidden" name="next" value="/incidents/1?x=1">`) {
			t.Fatalf("no next field:\n%s", login.body)
		}
		for _, tc := range []struct{ next, want string }{
			{"/incidents/1?x=1", "/incidents/1?x=1"},
			{"", "/"},
			{"//evil.example.com/", "/"},
			{"/\\evil.example.com/", "/"},
			{"https://evil.example.com/", "/"},
			{"javascript:alert(1)", "/"},
			{"/login", "/"},
			{"/%0d%0aSet-Cookie:x=1", "/%0d%0aSet-Cookie:x=1"}, // escaped: a path, not a header
			{"/ok\r\nSet-Cookie: x=1", "/"},
		} {
			res := h.postForm("/login", "", url.Values{"token": {viewerToken}, "next": {tc.next}})
			if res.status != http.StatusSeeOther || res.header.Get("Location") != tc.want {
				t.Errorf("next %q: %d %q, want %q", tc.next, res.status, res.header.Get("Location"), tc.want)
			}
		}
	})
	t.Run("with a session the login page goes home", func(t *testing.T) {
		h := newHarness(t)
		s := h.login(viewerToken)
		if res := h.get("/login", s); res.status != http.StatusSeeOther || res.header.Get("Location") != "/" {
			t.Fatalf("got %d %q", res.status, res.header.Get("Location"))
		}
	})
}

func TestLogout(t *testing.T) {
	h := newHarness(t)
	s := h.login(responderToken)
	page := h.get("/", s)
	if !strings.Contains(page.body, `id="logout"`) {
		t.Fatalf("no logout button:\n%s", page.body)
	}
	csrf := csrfOf(t, page.body)

	// Without the CSRF token (or with a wrong one) nothing happens.
	for _, form := range []url.Values{{}, {"csrf": {csrf + "x"}}} {
		if res := h.postForm("/logout", s, form); res.status != http.StatusForbidden || res.cookie != nil {
			t.Fatalf("logout with %v: %d, cookie %v", form, res.status, res.cookie)
		}
	}
	if res := h.get("/", s); res.status != http.StatusOK {
		t.Fatalf("the session ended without a CSRF token: %d", res.status)
	}

	res := h.postForm("/logout", s, url.Values{"csrf": {csrf}})
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/login") {
		t.Fatalf("logout: %d %q", res.status, res.header.Get("Location"))
	}
	if res.cookie == nil || res.cookie.Value != "" || res.cookie.MaxAge >= 0 {
		t.Fatalf("the cookie was not cleared: %+v", res.cookie)
	}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/incidents", nil)
	r.AddCookie(&http.Cookie{Name: CookieName, Value: s})
	if _, _, _, ok := h.c.Sessions().Session(r); ok {
		t.Fatal("the session outlived the logout")
	}
	if res := h.get("/", s); res.status != http.StatusSeeOther || res.header.Get("Location") != "/login?next=%2F" {
		t.Fatalf("after logout: %d %q", res.status, res.header.Get("Location"))
	}

	var got []string
	for _, a := range h.auditLog() {
		got = append(got, fmt.Sprintf("%s %s %s", a.Actor, a.Action, a.Outcome))
	}
	want := "rita logout ok|rita logout denied|rita logout denied|rita login ok"
	if strings.Join(got, "|") != want {
		t.Fatalf("audit log %q, want %q", strings.Join(got, "|"), want)
	}
}

// pages are every page behind the login.
var pages = []string{"/", "/?status=open", "/incidents/1", "/incidents/3", "/oncall", "/approvals", "/silences"}

func TestPagesNeedASession(t *testing.T) {
	h := newHarness(t)
	forged := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	for _, p := range append(pages, "/audit") {
		for _, s := range []string{"", forged, "garbage"} {
			res := h.get(p, s)
			if want := "/login?next=" + url.QueryEscape(p); res.status != http.StatusSeeOther || res.header.Get("Location") != want {
				t.Fatalf("GET %s with cookie %q: %d %q, want %q", p, s, res.status, res.header.Get("Location"), want)
			}
		}
	}
}

// Markers of what only a responder (or an admin) may do.
var responderOnly = []string{`id="ack"`, `id="resolve"`, `id="popup-ack"`, `class="primary approve"`, `class="reject"`,
	`id="silence-form"`, `class="expire"`}

func TestViewerSeesEverythingReadOnly(t *testing.T) {
	h := newHarness(t)
	s := h.login(viewerToken)
	for _, p := range pages {
		res := h.get(p, s)
		if res.status != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", p, res.status, res.body)
		}
		for _, m := range responderOnly {
			if strings.Contains(res.body, m) {
				t.Errorf("GET %s: a viewer is offered %s", p, m)
			}
		}
		if strings.Contains(res.body, `href="/audit"`) {
			t.Errorf("GET %s: a viewer is offered the audit log", p)
		}
		for _, tok := range testTokens {
			if strings.Contains(res.body, tok.Value) {
				t.Errorf("GET %s shows a token", p)
			}
		}
		// The pop-up is there (without its ack button).
		if !strings.Contains(res.body, `id="popup"`) || !strings.Contains(res.body, `role="alertdialog"`) {
			t.Errorf("GET %s: no pop-up", p)
		}
	}
	if res := h.get("/audit", s); res.status != http.StatusForbidden {
		t.Fatalf("a viewer reads the audit log: %d", res.status)
	}
}

func TestResponderIsOfferedActions(t *testing.T) {
	h := newHarness(t)
	s := h.login(responderToken)
	for _, tc := range []struct {
		path string
		want []string
	}{
		// An open incident offers ack and resolve, with the API's URLs.
		{"/incidents/1", []string{`id="ack"`, `data-api="/api/v1/incidents/1/ack"`, `id="resolve"`, `data-api="/api/v1/incidents/1/resolve"`, `id="popup-ack"`}},
		// A resolved one offers neither.
		{"/incidents/2", []string{`id="popup-ack"`}},
		// The run awaiting approval offers approve and reject.
		{"/approvals", []string{`data-api="/api/v1/actions/2/approve"`, `data-api="/api/v1/actions/2/reject"`}},
		// Silences: the create form and expire.
		{"/silences", []string{`id="silence-form"`, `data-api="/api/v1/silences"`, `data-api="/api/v1/silences/1" data-method="DELETE"`}},
	} {
		res := h.get(tc.path, s)
		for _, w := range tc.want {
			if !strings.Contains(res.body, w) {
				t.Errorf("GET %s lacks %s", tc.path, w)
			}
		}
	}
	if res := h.get("/incidents/2", s); strings.Contains(res.body, `id="ack"`) || strings.Contains(res.body, `id="resolve"`) {
		t.Error("a resolved incident offers ack or resolve")
	}
	if res := h.get("/audit", s); res.status != http.StatusForbidden || !strings.Contains(res.body, "for admins") {
		t.Fatalf("a responder reads the audit log: %d", res.status)
	}
}

func TestAuditPageForAdmins(t *testing.T) {
	h := newHarness(t)
	h.postForm("/login", "", url.Values{"token": {"wrong"}})
	h.login(responderToken)
	s := h.login(adminToken)
	res := h.get("/", s)
	if !strings.Contains(res.body, `href="/audit"`) {
		t.Fatal("no audit link for an admin")
	}
	res = h.get("/audit", s)
	if res.status != http.StatusOK {
		t.Fatalf("GET /audit: %d", res.status)
	}
	rows := regexp.MustCompile(`data-audit-id="(\d+)"`).FindAllStringSubmatch(res.body, -1)
	if len(rows) != 3 || rows[0][1] != "3" || rows[2][1] != "1" {
		t.Fatalf("audit rows %v, want 3, 2, 1:\n%s", rows, res.body)
	}
	for _, want := range []string{"ada", "rita", "denied", "192.0.2.1"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	// Filters.
	res = h.get("/audit?outcome=denied", s)
	if rows := regexp.MustCompile(`data-audit-id="(\d+)"`).FindAllStringSubmatch(res.body, -1); len(rows) != 1 || rows[0][1] != "1" {
		t.Fatalf("denied rows %v", rows)
	}
}

func TestLabelsAreEscaped(t *testing.T) {
	h := newHarness(t)
	s := h.login(adminToken)
	for _, p := range []string{"/", "/incidents/1"} {
		res := h.get(p, s)
		if strings.Contains(res.body, xssLabel) {
			t.Fatalf("GET %s carries the raw <script> label", p)
		}
		if !strings.Contains(res.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Fatalf("GET %s does not show the label as text:\n%s", p, res.body)
		}
	}
}

var (
	tagRE          = regexp.MustCompile(`<[a-zA-Z][^>]*>`)
	scriptTagRE    = regexp.MustCompile(`(?i)^<script\b`)
	inlineAttrRE   = regexp.MustCompile(`(?i)\s(style|on[a-z]+)\s*=`)
	javascriptURLs = regexp.MustCompile(`(?i)(href|src|action)\s*=\s*"\s*javascript:`)
)

// TestNoInlineScriptOrStyle: the CSP allows no inline script or style, so
// no page may rely on one.
func TestNoInlineScriptOrStyle(t *testing.T) {
	h := newHarness(t)
	s := h.login(adminToken)
	bodies := map[string]string{"/login": h.get("/login", "").body, "/nope": h.get("/nope", s).body}
	for _, p := range append(pages, "/audit") {
		bodies[p] = h.get(p, s).body
	}
	for p, body := range bodies {
		tags := tagRE.FindAllString(body, -1)
		if len(tags) < 10 {
			t.Fatalf("GET %s: only %d tags", p, len(tags))
		}
		for _, tag := range tags {
			if scriptTagRE.MatchString(tag) && !strings.Contains(tag, ` src="/static/`) {
				t.Errorf("GET %s: inline script %s", p, tag)
			}
			if inlineAttrRE.MatchString(tag) || javascriptURLs.MatchString(tag) {
				t.Errorf("GET %s: inline style or handler in %s", p, tag)
			}
		}
		if strings.Contains(strings.ToLower(body), "<style") {
			t.Errorf("GET %s: a <style> element", p)
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("GET %s links outside (a CDN or font?)", p)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t)
	s := h.login(viewerToken)
	for _, p := range []string{"/", "/login", "/static/app.js", "/nope", "/audit"} {
		res := h.get(p, s)
		for k, v := range securityHeaders {
			if got := res.header.Get(k); got != v {
				t.Errorf("GET %s: %s %q, want %q", p, k, got, v)
			}
		}
	}
	if csp := securityHeaders["Content-Security-Policy"]; !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "style-src 'self';") {
		t.Fatalf("CSP %q", csp)
	}
	if res := h.get("/", s); res.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("a page with a CSRF token is cacheable: %q", res.header.Get("Cache-Control"))
	}
}

func TestStaticFiles(t *testing.T) {
	h := newHarness(t)
	login := h.get("/login", "").body
	for _, tc := range []struct{ name, ctype, marker string }{
		{"app.js", "text/javascript; charset=utf-8", `new EventSource("/api/v1/events")`},
		{"app.css", "text/css; charset=utf-8", "@keyframes popup-flash"},
		{"icon.svg", "image/svg+xml", "<svg"},
	} {
		u, err := h.c.static.url(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(login, `"`+u+`"`) {
			t.Errorf("the page does not link %s", u)
		}
		res := h.get(u, "")
		if res.status != http.StatusOK || res.header.Get("Content-Type") != tc.ctype || !strings.Contains(res.body, tc.marker) {
			t.Errorf("GET %s: %d %q", u, res.status, res.header.Get("Content-Type"))
		}
		if cc := res.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("GET %s: Cache-Control %q", u, cc)
		}
		// A revalidation with the ETag is a 304.
		r := httptest.NewRequest(http.MethodGet, u, nil)
		r.Header.Set("If-None-Match", res.header.Get("ETag"))
		if res := h.do(r); res.status != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d", u, res.status)
		}
	}
	if res := h.get("/static/nope.js", ""); res.status != http.StatusNotFound {
		t.Fatalf("GET /static/nope.js: %d", res.status)
	}
}

func TestSession(t *testing.T) {
	h := newHarness(t)
	value := h.login(responderToken)
	req := func(v string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/incidents/1/ack", nil)
		if v != "" {
			r.AddCookie(&http.Cookie{Name: CookieName, Value: v})
		}
		return r
	}
	sessions := h.c.Sessions()
	name, role, csrf, ok := sessions.Session(req(value))
	if !ok || name != "rita" || role != api.RoleResponder || len(csrf) != 43 {
		t.Fatalf("Session: %q %v %q %v", name, role, csrf, ok)
	}
	// The page carries the same CSRF token.
	if got := csrfOf(t, h.get("/", value).body); got != csrf {
		t.Fatalf("page CSRF %q, session %q", got, csrf)
	}
	// A second login is another session with another CSRF token.
	if _, _, csrf2, _ := sessions.Session(req(h.login(responderToken))); csrf2 == csrf {
		t.Fatal("two sessions share a CSRF token")
	}
	for _, tc := range []struct{ name, value string }{
		{"no cookie", ""},
		{"a forged id", base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))},
		{"not base64", "!!!"},
		{"too short", base64.RawURLEncoding.EncodeToString([]byte("short"))},
		{"the CSRF token as the id", csrf},
	} {
		if _, _, _, ok := sessions.Session(req(tc.value)); ok {
			t.Errorf("%s: a session", tc.name)
		}
	}
	// Sessions last 12h from login, used or not.
	h.clock.Advance(12*time.Hour - time.Second)
	if _, _, _, ok := sessions.Session(req(value)); !ok {
		t.Fatal("the session ended early")
	}
	h.clock.Advance(time.Second)
	if _, _, _, ok := sessions.Session(req(value)); ok {
		t.Fatal("the session outlived its 12h")
	}
	if res := h.get("/", value); res.status != http.StatusSeeOther {
		t.Fatalf("an expired session opens the console: %d", res.status)
	}
}

func TestApplyTokens(t *testing.T) {
	h := newHarness(t)
	vera, rita := h.login(viewerToken), h.login(responderToken)
	r := func(v string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: CookieName, Value: v})
		return r
	}
	// vera's token is promoted and renamed, rita's removed.
	if err := h.c.Apply([]Token{{Name: "vera2", Role: "admin", Value: viewerToken}, testTokens[2]}); err != nil {
		t.Fatal(err)
	}
	if name, role, _, ok := h.c.Sessions().Session(r(vera)); !ok || name != "vera2" || role != api.RoleAdmin {
		t.Fatalf("vera: %q %v %v", name, role, ok)
	}
	if _, _, _, ok := h.c.Sessions().Session(r(rita)); ok {
		t.Fatal("a session outlived its token")
	}
	if res := h.postForm("/login", "", url.Values{"token": {responderToken}}); res.status != http.StatusUnauthorized {
		t.Fatalf("a removed token logs in: %d", res.status)
	}
	// Bad tokens are refused, naming the token but not its value.
	err := h.c.Apply([]Token{{Name: "x", Role: "root", Value: "v-secret"}, {Name: "", Role: "viewer", Value: "v2"}, {Name: "y", Role: "viewer"}})
	if err == nil || !strings.Contains(err.Error(), `role "root"`) || !strings.Contains(err.Error(), "no name") ||
		!strings.Contains(err.Error(), `token "y": empty value`) || strings.Contains(err.Error(), "v-secret") {
		t.Fatalf("Apply: %v", err)
	}
}

func TestIncidentList(t *testing.T) {
	h := newHarness(t)
	s := h.login(viewerToken)
	rowRE := regexp.MustCompile(`<tr data-incident-id="(\d+)" data-status="(\w+)"`)
	ids := func(body string) string {
		var out []string
		for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1]+":"+m[2])
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct{ query, want string }{
		{"", "3:open,2:resolved,1:open"},               // newest first
		{"status=open", "3:open,1:open"},               // by status
		{"level=critical", "1:open"},                   // by level
		{"priority=P3", "3:open,2:resolved"},           // by priority
		{"status=resolved&level=notice", "2:resolved"}, // combined
		{"level=nothing", ""},                          // none
		{"status=open&level=warning&priority=P3", "3:open"},
	} {
		res := h.get("/?"+tc.query, s)
		if got := ids(res.body); res.status != http.StatusOK || got != tc.want {
			t.Errorf("/?%s: %d %q, want %q", tc.query, res.status, got, tc.want)
		}
	}
	if res := h.get("/?status=bogus", s); res.status != http.StatusBadRequest {
		t.Fatalf("a bad status: %d", res.status)
	}

	// Every row has a .status cell and a link to its incident.
	res := h.get("/", s)
	if !strings.Contains(res.body, `<table id="incident-list"`) || strings.Count(res.body, `<td class="status">`) != 3 ||
		!strings.Contains(res.body, `href="/incidents/1"`) {
		t.Fatalf("list:\n%s", res.body)
	}
	// The SLA countdown of the open critical incident reads without
	// JavaScript, and turns overdue.
	due := `<time class="due" datetime="2026-11-25T10:15:00Z" title="respond by 2026-11-25 10:15:00 UTC" data-due>in 15m</time>`
	if !strings.Contains(res.body, due) {
		t.Fatalf("no respond-by countdown %s in\n%s", due, res.body)
	}
	h.clock.Advance(18 * time.Minute)
	res = h.get("/", s)
	if !strings.Contains(res.body, `<time class="due overdue" datetime="2026-11-25T10:15:00Z" title="respond by 2026-11-25 10:15:00 UTC" data-due>overdue 3m</time>`) {
		t.Fatalf("no overdue countdown in\n%s", res.body)
	}
}

func TestIncidentListPages(t *testing.T) {
	h := newHarness(t)
	for i := range 60 {
		h.ingest(fmt.Sprintf("Bulk%02d", i), "warning", nil, nil)
	}
	s := h.login(viewerToken)
	rowRE := regexp.MustCompile(`<tr data-incident-id="(\d+)"`)
	res := h.get("/?level=warning", s)
	rows := rowRE.FindAllStringSubmatch(res.body, -1)
	if len(rows) != listLimit || rows[0][1] != "63" || rows[listLimit-1][1] != "14" {
		t.Fatalf("first page: %d rows, %v…", len(rows), rows[0])
	}
	next := regexp.MustCompile(`<a href="(/\?[^"]+)">Older incidents</a>`).FindStringSubmatch(res.body)
	if next == nil {
		t.Fatal("no link to the next page")
	}
	res = h.get(strings.ReplaceAll(next[1], "&amp;", "&"), s)
	var got []string
	for _, m := range rowRE.FindAllStringSubmatch(res.body, -1) {
		got = append(got, m[1])
	}
	// 13…4 are the rest of the bulk warnings, 3 the warning awaiting approval.
	if strings.Join(got, ",") != "13,12,11,10,9,8,7,6,5,4,3" || strings.Contains(res.body, "Older incidents") {
		t.Fatalf("second page %v", got)
	}
}

func TestIncidentPage(t *testing.T) {
	h := newHarness(t)
	s := h.login(viewerToken)
	res := h.get("/incidents/1", s)
	for _, want := range []string{
		// alerts with their labels as text
		`<span class="k">service</span>=<span class="v">game-api</span>`,
		// the timeline
		`<span class="type">opened</span>`,
		// the action and its output
		`<code>systemctl restart game-api</code>`, `<pre class="output">restarted game-api</pre>`, `badge-succeeded`,
		// the notification with its delivery status
		`<td>Alice</td>`, `<td>email</td>`, `<span class="badge badge-sent">sent</span>`,
		// the SLA
		`Respond by</dt><dd>2026-11-25 10:15:00 UTC`,
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("incident page lacks %s", want)
		}
	}
	// Notes, acks and resolves show.
	res = h.get("/incidents/2", s)
	if !strings.Contains(res.body, "resolved by rita: false alarm") || !strings.Contains(res.body, "Resolved</dt><dd>by rita") {
		t.Errorf("incident 2 lacks its resolve note:\n%s", res.body)
	}
	for _, p := range []string{"/incidents/99", "/incidents/x", "/incidents/0"} {
		if res := h.get(p, s); res.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, res.status)
		}
	}
}

func TestOtherPages(t *testing.T) {
	h := newHarness(t)
	s := h.login(viewerToken)
	for _, tc := range []struct{ path, want string }{
		// alice is on call on the weekly layer until the handoff
		{"/oncall", `<tr data-schedule="first-line">`},
		{"/oncall", `<strong>alice</strong>`},
		{"/oncall", `layer weekly`},
		// the run awaiting approval
		{"/approvals", `<code>systemctl restart db</code>`},
		// the silence
		{"/silences", `<span class="k">alertname</span>=<span class="v">Flappy</span>`},
		{"/silences", `known flapping`},
		{"/silences?state=expired", `No silences.`},
	} {
		res := h.get(tc.path, s)
		if res.status != http.StatusOK || !strings.Contains(res.body, tc.want) {
			t.Errorf("GET %s: %d, lacks %s", tc.path, res.status, tc.want)
		}
	}
	if res := h.get("/silences?state=bogus", s); res.status != http.StatusBadRequest {
		t.Errorf("a bad state: %d", res.status)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Options{Tokens: testTokens}); err == nil {
		t.Fatal("New without data")
	}
	eng, err := engine.New(context.Background(), engine.Options{Store: memory.New(), Clock: &fakeClock{now: t0}, Classifier: severityClassifier{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Data: eng, Tokens: []Token{{Name: "x", Role: "superuser", Value: "v"}}}); err == nil {
		t.Fatal("New with a bad role")
	}
	// Without tokens nobody can log in, and the page says why.
	c, err := New(Options{Data: eng})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/login", nil))
	if !strings.Contains(w.Body.String(), "No API tokens are configured") {
		t.Fatalf("login page without tokens:\n%s", w.Body.String())
	}
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("token="))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	c.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("an empty token logs in: %d", w.Code)
	}
}

// brokenAudit is the engine with a store that cannot take audit entries.
type brokenAudit struct{ *engine.Engine }

func (brokenAudit) Audit(context.Context, engine.AuditEntry) error {
	return errors.New("store: disk full")
}

// TestLoginNeedsTheAuditLog: a login that cannot be audited does not
// happen.
func TestLoginNeedsTheAuditLog(t *testing.T) {
	h := newHarness(t)
	c, err := New(Options{Tokens: testTokens, Data: brokenAudit{h.eng}, Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	res := h.postForm("/login", "", url.Values{"token": {adminToken}})
	if res.status != http.StatusServiceUnavailable || res.cookie != nil {
		t.Fatalf("got %d, cookie %v", res.status, res.cookie)
	}
	if n := len(c.sessions.byID); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

// TestIncidentListFiltersIgnoreCase: the level and priority filters match
// in any case, as the API's do.
func TestIncidentListFiltersIgnoreCase(t *testing.T) {
	h := newHarness(t)
	s := h.login(viewerToken)
	rowRE := regexp.MustCompile(`<tr data-incident-id="(\d+)"`)
	for _, tc := range []struct{ query, want string }{
		{"level=CRITICAL", "1"},
		{"level=Warning", "3"},
		{"priority=p3", "3,2"},
		{"status=open&level=WARNING&priority=p3", "3"},
	} {
		res := h.get("/?"+tc.query, s)
		var got []string
		for _, m := range rowRE.FindAllStringSubmatch(res.body, -1) {
			got = append(got, m[1])
		}
		if res.status != http.StatusOK || strings.Join(got, ",") != tc.want {
			t.Errorf("/?%s: %d %v, want %s", tc.query, res.status, got, tc.want)
		}
	}
}

// TestIncidentPageAlertPaging: an incident's page shows its first 100
// alerts and the counts, with a link to the next 100; the page's size
// follows the 100 alerts it shows, not the incident's 1,000.
func TestIncidentPageAlertPaging(t *testing.T) {
	h := newHarness(t)
	alerts := make([]engine.WebhookAlert, 1000)
	for i := range alerts {
		ls := map[string]string{"alertname": "Flood", "severity": "warning", "i": fmt.Sprint(i)}
		alerts[i] = engine.WebhookAlert{Fingerprint: fmt.Sprintf("flood-%04d", i), Status: engine.StatusFiring, StartsAt: t0, Labels: ls, Annotations: map[string]string{}}
	}
	w := &engine.Webhook{Receiver: "r", GroupKey: "{}:Flood", Status: engine.StatusFiring,
		CommonLabels: map[string]string{"alertname": "Flood"}, CommonAnnotations: map[string]string{}, Alerts: alerts}
	if _, err := h.eng.Ingest(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	// Ten of them resolve.
	w.Alerts = alerts[:10]
	for i := range w.Alerts {
		w.Alerts[i].Status, w.Alerts[i].EndsAt = engine.StatusResolved, t0
	}
	if _, err := h.eng.Ingest(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	s := h.login(viewerToken)
	rowRE := regexp.MustCompile(`<tr data-alert-id="(\d+)">`)
	res := h.get("/incidents/4", s)
	rows := rowRE.FindAllStringSubmatch(res.body, -1)
	if res.status != http.StatusOK || len(rows) != 100 {
		t.Fatalf("first page: %d, %d alert rows", res.status, len(rows))
	}
	if !strings.Contains(res.body, `1000 alerts: 990 firing, 10 resolved; these are 100 of them, oldest first.`) {
		t.Fatalf("no counts in\n%.2000s", res.body)
	}
	more := regexp.MustCompile(`<a href="(/incidents/4\?alerts_cursor=\d+#alerts)" id="more-alerts">More alerts</a>`).FindStringSubmatch(res.body)
	if more == nil {
		t.Fatal("no link to more alerts")
	}
	// The alerts shown are 100 of the 1000: the page holds 100 label sets.
	if n := strings.Count(res.body, `<span class="k">i</span>`); n != 100 {
		t.Fatalf("%d alerts' labels on the page", n)
	}
	last, _ := strconv.Atoi(rows[99][1])
	res = h.get(strings.TrimSuffix(more[1], "#alerts"), s)
	next := rowRE.FindAllStringSubmatch(res.body, -1)
	if len(next) != 100 || next[0][1] != strconv.Itoa(last+1) || !strings.Contains(res.body, `(<a href="/incidents/4#alerts">from the first</a>)`) {
		t.Fatalf("second page: %d rows from %v (the first ended at %d)", len(next), next[0], last)
	}
	if res := h.get("/incidents/4?alerts_cursor=x", s); res.status != http.StatusBadRequest {
		t.Fatalf("a bad cursor: %d", res.status)
	}
}

// TestLoginFormOrigin: behind a proxy the browser's Origin is the external
// URL's, not the Host the console sees: that origin is the console's own.
// A form from another origin is refused and audited, without an actor.
func TestLoginFormOrigin(t *testing.T) {
	h := newHarness(t)
	c, err := New(Options{Tokens: testTokens, Data: h.eng, Clock: h.clock, ExternalURL: "https://remediator.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	post := func(origin string) response {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9095/login", strings.NewReader("token="+viewerToken))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", origin)
		return h.do(r)
	}
	if res := post("https://remediator.example.com"); res.status != http.StatusSeeOther || res.cookie == nil {
		t.Fatalf("from the external URL's origin: %d", res.status)
	}
	if res := post("https://evil.example"); res.status != http.StatusForbidden || res.cookie != nil {
		t.Fatalf("from another origin: %d", res.status)
	}
	log := h.auditLog()
	want := engine.AuditEntry{ID: 2, At: t0, Addr: "192.0.2.1", Action: "login", Outcome: engine.AuditDenied,
		Detail: `form posted from another origin (Origin "https://evil.example")`}
	if len(log) != 2 || log[0] != want {
		t.Fatalf("audit log %+v, want %+v first", log, want)
	}
}

// TestIncidentPageTimelinePaging: the page shows 500 events of a long
// timeline, says how many there are, and links the next ones.
func TestIncidentPageTimelinePaging(t *testing.T) {
	h := newHarness(t)
	for i := range 300 { // each delivery adds two events
		ls := map[string]string{"alertname": "Drip", "severity": "warning", "i": fmt.Sprint(i)}
		w := &engine.Webhook{Receiver: "r", GroupKey: "{}:Drip", Status: engine.StatusFiring, CommonLabels: map[string]string{"alertname": "Drip"},
			CommonAnnotations: map[string]string{}, Alerts: []engine.WebhookAlert{{Fingerprint: fmt.Sprintf("drip-%d", i), Status: engine.StatusFiring,
				StartsAt: t0, Labels: ls, Annotations: map[string]string{}}}}
		if _, err := h.eng.Ingest(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	s := h.login(viewerToken)
	res := h.get("/incidents/4", s)
	evRE := regexp.MustCompile(`<li class="ev ev-`)
	if n := len(evRE.FindAllString(res.body, -1)); res.status != http.StatusOK || n != 500 {
		t.Fatalf("first page: %d, %d events", res.status, n)
	}
	m := regexp.MustCompile(`500 of (\d+) events. <a href="(/incidents/4\?timeline_cursor=\d+#timeline)" id="more-events">`).FindStringSubmatch(res.body)
	if m == nil {
		t.Fatalf("no count or link in\n%.3000s", res.body[strings.Index(res.body, "Timeline"):])
	}
	total, _ := strconv.Atoi(m[1])
	res = h.get(strings.TrimSuffix(m[2], "#timeline"), s)
	if n := len(evRE.FindAllString(res.body, -1)); n != total-500 || strings.Contains(res.body, "more-events") {
		t.Fatalf("second page: %d events, want %d", n, total-500)
	}
}
