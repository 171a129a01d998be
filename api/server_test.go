package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/store/bolt"
)

type classifier struct{}

func (classifier) Classify(in *engine.ClassifyInput) engine.Level {
	return engine.Level(in.Alert.Labels["severity"])
}
func (c classifier) Explain(in *engine.ClassifyInput) (engine.Level, []engine.RuleTrace) {
	return c.Classify(in), nil
}
func (classifier) Rank(engine.Level) int { return 0 }

// SLA gives critical P1 and warning P2, without deadlines.
func (classifier) SLA(l engine.Level, _ time.Time) (string, time.Time, time.Time) {
	return map[engine.Level]string{"critical": "P1", "warning": "P2"}[l], time.Time{}, time.Time{}
}

type env struct {
	t       *testing.T
	srv     *httptest.Server
	store   *bolt.Store
	api     *api.Server
	auditor api.Auditor
	reloads int
	reload  error
}

const (
	webhookToken   = "webhook-token-0123456789"
	viewerToken    = "viewer-token-0123456789"
	responderToken = "responder-token-0123456"
	adminToken     = "admin-token-0123456789ab"
)

// newEnv runs the API on a real bbolt file, audited by the engine. With
// tokens=false the API is open (no tokens configured).
func newEnv(t *testing.T, tokens bool) *env {
	t.Helper()
	return newEnvWith(t, tokens, func(*api.Options) {})
}

// newEnvWith is newEnv with the options changed by opt before the server
// is built (e.g. sessions, a different auditor).
func newEnvWith(t *testing.T, tokens bool, opt func(*api.Options)) *env {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "r.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	eng, err := engine.New(context.Background(), engine.Options{Store: store, Clock: engine.SystemClock{}, Classifier: classifier{}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store}
	st := api.Settings{MaxBodyBytes: 64 << 10}
	if tokens {
		st.WebhookToken = webhookToken
		st.Tokens = []api.Token{
			{Name: "val", Role: api.RoleViewer, Value: viewerToken},
			{Name: "rita", Role: api.RoleResponder, Value: responderToken},
			{Name: "ada", Role: api.RoleAdmin, Value: adminToken},
		}
	}
	reg := prometheus.NewRegistry()
	o := api.Options{
		Engine: eng, Settings: st, Ready: store.Ping,
		Reload:     func(context.Context) error { e.reloads++; return e.reload },
		Registerer: reg, Gatherer: reg, Auditor: eng,
	}
	opt(&o)
	e.auditor = o.Auditor
	e.api, err = api.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) do(method, path, token string, body []byte) (int, []byte, http.Header) {
	e.t.Helper()
	var hdr []string
	if token != "" {
		hdr = []string{"Authorization", "Bearer " + token}
	}
	return e.doWith(method, path, body, hdr...)
}

// doWith sends a request with the given header names and values.
func (e *env) doWith(method, path string, body []byte, hdr ...string) (int, []byte, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	// A body is JSON, as Alertmanager and the console send it, unless the
	// test says otherwise.
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if http.CanonicalHeaderKey(hdr[i]) == "Content-Type" {
			req.Header.Del("Content-Type")
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func webhookFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func errorOf(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("body %q is not a JSON error", body)
	}
	return e.Error
}

func TestWebhookBadInput(t *testing.T) {
	e := newEnv(t, true)
	good := webhookFile(t, "firing.json")
	tests := []struct {
		name, method, token string
		body                []byte
		status              int
		contains            string
	}{
		// Alertmanager only POSTs.
		{"wrong method", http.MethodGet, webhookToken, nil, 405, "method GET not allowed"},
		// No token when one is configured.
		{"no token", http.MethodPost, "", good, 401, "missing or invalid bearer token"},
		// A wrong token (an API token is not the webhook token).
		{"wrong token", http.MethodPost, adminToken, good, 401, "missing or invalid bearer token"},
		// Malformed JSON.
		{"malformed", http.MethodPost, webhookToken, []byte(`{"alerts":`), 400, "malformed JSON"},
		// Wrong type, named.
		{"wrong type", http.MethodPost, webhookToken, []byte(`{"receiver":"r","alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":7}]}`), 400, "alerts[].startsAt"},
		// Missing alerts.
		{"no alerts", http.MethodPost, webhookToken, []byte(`{"receiver":"r","alerts":[]}`), 400, "alerts: at least one alert is required"},
		// Over the 64 KiB limit set for this test.
		{"too large", http.MethodPost, webhookToken, append([]byte(`{"receiver":"`), bytes.Repeat([]byte("x"), 70<<10)...), 413, "larger than the limit of 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := e.do(tt.method, "/api/v1/webhook", tt.token, tt.body)
			if status != tt.status || !strings.Contains(errorOf(t, body), tt.contains) {
				t.Fatalf("got %d %s, want %d containing %q", status, body, tt.status, tt.contains)
			}
		})
	}
	// None of the bad requests left anything behind.
	status, body, _ := e.do("GET", "/api/v1/alerts", viewerToken, nil)
	if status != 200 || !strings.Contains(string(body), `"alerts":[]`) {
		t.Fatalf("alerts after bad input: %d %s", status, body)
	}
}

func TestWebhookStoreFailureIs503(t *testing.T) {
	e := newEnv(t, false)
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	status, body, _ := e.do("POST", "/api/v1/webhook", "", webhookFile(t, "firing.json"))
	if status != 503 || !strings.Contains(errorOf(t, body), "alerts not stored, retry later") {
		t.Fatalf("got %d %s, want 503", status, body)
	}
	if status, _, _ := e.do("GET", "/-/ready", "", nil); status != 503 {
		t.Fatalf("ready with a closed store: %d, want 503", status)
	}
}

type incidentJSON struct {
	ID             uint64            `json:"id"`
	Key            string            `json:"key"`
	Title          string            `json:"title"`
	Level          string            `json:"level"`
	Status         string            `json:"status"`
	CreatedAt      *time.Time        `json:"created_at"`
	AcknowledgedAt *time.Time        `json:"acknowledged_at"`
	ResolvedAt     *time.Time        `json:"resolved_at"`
	Alerts         []string          `json:"alerts"`
	Labels         map[string]string `json:"labels"`
}

func (e *env) incidents(query string) ([]incidentJSON, string) {
	e.t.Helper()
	status, body, _ := e.do("GET", "/api/v1/incidents"+query, viewerToken, nil)
	if status != 200 {
		e.t.Fatalf("list incidents%s: %d %s", query, status, body)
	}
	var out struct {
		Incidents  []incidentJSON `json:"incidents"`
		NextCursor string         `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.Incidents, out.NextCursor
}

func TestIncidentLifecycleOverHTTP(t *testing.T) {
	e := newEnv(t, true)
	for i := 0; i < 3; i++ { // an HA pair plus a retry: one incident
		if status, body, _ := e.do("POST", "/api/v1/webhook", webhookToken, webhookFile(t, "firing.json")); status != 200 {
			t.Fatalf("webhook: %d %s", status, body)
		}
	}
	list, next := e.incidents("?status=open")
	if len(list) != 1 || next != "" {
		t.Fatalf("open incidents = %+v", list)
	}
	inc := list[0]
	if inc.Title != "game-api is down on gs-01" || inc.Level != "critical" || inc.Labels["service"] != "game-api" ||
		len(inc.Alerts) != 1 || inc.Alerts[0] != "c0ffee0123456789" || inc.AcknowledgedAt != nil || inc.CreatedAt == nil {
		t.Fatalf("incident = %+v", inc)
	}
	path := fmt.Sprintf("/api/v1/incidents/%d", inc.ID)

	// Roles: a viewer cannot ack; a responder can, once.
	if status, body, _ := e.do("POST", path+"/ack", viewerToken, nil); status != 403 || !strings.Contains(errorOf(t, body), "needs responder") {
		t.Fatalf("viewer ack: %d %s", status, body)
	}
	if status, body, _ := e.do("POST", path+"/ack", responderToken, []byte(`{"note":"on it"}`)); status != 200 {
		t.Fatalf("ack: %d %s", status, body)
	}
	if status, body, _ := e.do("POST", path+"/ack", responderToken, nil); status != 409 {
		t.Fatalf("ack twice: %d %s, want 409", status, body)
	}
	if list, _ := e.incidents("?status=acknowledged"); len(list) != 1 || list[0].AcknowledgedAt == nil {
		t.Fatalf("acknowledged = %+v", list)
	}
	// Alertmanager resolves it: auto-resolved.
	if status, body, _ := e.do("POST", "/api/v1/webhook", webhookToken, webhookFile(t, "resolved.json")); status != 200 {
		t.Fatalf("resolved webhook: %d %s", status, body)
	}
	status, body, _ := e.do("GET", path, viewerToken, nil)
	if status != 200 {
		t.Fatalf("get: %d %s", status, body)
	}
	var d struct {
		Incident incidentJSON
		Alerts   []struct{ Fingerprint, Status string }
		Timeline []struct{ Type, Detail, By string }
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range d.Timeline {
		types = append(types, ev.Type)
	}
	if d.Incident.Status != "resolved" || d.Incident.ResolvedAt == nil || len(d.Alerts) != 1 || d.Alerts[0].Status != "resolved" ||
		fmt.Sprint(types) != "[opened received alert_added acknowledged received alert_resolved resolved]" || d.Timeline[3].By != "rita" {
		t.Fatalf("detail = %s", body)
	}
	// Resolving again is a conflict.
	if status, body, _ := e.do("POST", path+"/resolve", responderToken, nil); status != 409 {
		t.Fatalf("resolve twice: %d %s, want 409", status, body)
	}
}

func TestAPIBadInput(t *testing.T) {
	e := newEnv(t, true)
	e.do("POST", "/api/v1/webhook", webhookToken, webhookFile(t, "firing.json"))
	tests := []struct {
		name, method, path, token, body string
		status                          int
		contains                        string
	}{
		// No token.
		{"no token", "GET", "/api/v1/incidents", "", "", 401, "missing or invalid bearer token"},
		// A token that is not configured.
		{"bad token", "GET", "/api/v1/incidents", "not-a-token-at-all", "", 401, "missing or invalid bearer token"},
		// Unknown status filter.
		{"bad status", "GET", "/api/v1/incidents?status=closed", viewerToken, "", 400, "status: must be open, acknowledged or resolved"},
		// Limit out of range.
		{"bad limit", "GET", "/api/v1/incidents?limit=0", viewerToken, "", 400, "limit: must be an integer from 1 to 500"},
		// Limit not a number.
		{"limit nan", "GET", "/api/v1/alerts?limit=ten", viewerToken, "", 400, "limit: must be an integer"},
		// A cursor we never gave out.
		{"bad cursor", "GET", "/api/v1/alerts?cursor=abc", viewerToken, "", 400, "cursor:"},
		// Unknown alert status.
		{"bad alert status", "GET", "/api/v1/alerts?status=pending", viewerToken, "", 400, "status: must be firing or resolved"},
		// Unknown incident.
		{"unknown incident", "GET", "/api/v1/incidents/999", viewerToken, "", 404, "incident 999: not found"},
		// A non-numeric id is unknown too.
		{"non-numeric id", "GET", "/api/v1/incidents/abc", viewerToken, "", 404, `incident "abc" not found`},
		// Ack of an unknown incident.
		{"ack unknown", "POST", "/api/v1/incidents/999/ack", responderToken, "", 404, "not found"},
		// Ack with a malformed body.
		{"ack bad json", "POST", "/api/v1/incidents/1/ack", responderToken, `{"by":`, 400, "invalid JSON body"},
		// Ack with an unknown field.
		{"ack unknown field", "POST", "/api/v1/incidents/1/ack", responderToken, `{"who":"x"}`, 400, `unknown field "who"`},
		// Ack by GET.
		{"ack method", "GET", "/api/v1/incidents/1/ack", responderToken, "", 405, "use POST"},
		// Reload needs admin.
		{"reload as responder", "POST", "/-/reload", responderToken, "", 403, "needs admin"},
		// Reload by GET.
		{"reload method", "GET", "/-/reload", adminToken, "", 405, "use POST"},
		// Unknown API path.
		{"unknown path", "GET", "/api/v1/nothing", viewerToken, "", 404, "no such endpoint"},
		// Notifications: unknown status, a bad incident id, no token.
		{"notification status", "GET", "/api/v1/notifications?status=lost", viewerToken, "", 400, `status: "lost" is not a notification status`},
		{"notification incident", "GET", "/api/v1/notifications?incident=x", viewerToken, "", 400, `incident: "x" is not an incident id`},
		{"notification limit", "GET", "/api/v1/notifications?limit=9999", viewerToken, "", 400, "limit:"},
		{"notifications no token", "GET", "/api/v1/notifications", "", "", 401, "missing or invalid bearer token"},
		// Twilio's callbacks without Twilio configured, and by GET.
		{"twilio unconfigured", "POST", "/api/v1/twilio/voice?incident=1", "", "Digits=1", 404, "twilio is not configured"},
		{"twilio method", "GET", "/api/v1/twilio/sms", "", "", 405, "use POST"},
		// No event stream configured.
		{"no events", "GET", "/api/v1/events", viewerToken, "", 404, "no such endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := e.do(tt.method, tt.path, tt.token, []byte(tt.body))
			if status != tt.status || !strings.Contains(errorOf(t, body), tt.contains) {
				t.Fatalf("got %d %s, want %d containing %q", status, body, tt.status, tt.contains)
			}
		})
	}
	// The incident is untouched by all of that.
	if list, _ := e.incidents(""); len(list) != 1 || list[0].Status != "open" {
		t.Fatalf("incidents = %+v", list)
	}
}

func TestReload(t *testing.T) {
	e := newEnv(t, true)
	if status, body, _ := e.do("POST", "/-/reload", adminToken, nil); status != 200 || e.reloads != 1 {
		t.Fatalf("reload: %d %s", status, body)
	}
	e.reload = errors.New("remediator.yml:3:5: unknown key \"lisen\" in server")
	status, body, _ := e.do("POST", "/-/reload", adminToken, nil)
	if status != 500 || !strings.Contains(errorOf(t, body), `the running config stays: remediator.yml:3:5`) {
		t.Fatalf("failed reload: %d %s", status, body)
	}
}

func TestPagingOverHTTP(t *testing.T) {
	e := newEnv(t, false)
	for i := 0; i < 5; i++ {
		body := fmt.Sprintf(`{"receiver":"r","groupKey":"g%d","alerts":[{"status":"firing","labels":{"alertname":"A%d"},"startsAt":"2026-11-25T10:00:00Z"}]}`, i, i)
		if status, b, _ := e.do("POST", "/api/v1/webhook", "", []byte(body)); status != 200 {
			t.Fatalf("webhook: %d %s", status, b)
		}
	}
	var ids []uint64
	cursor := ""
	for pages := 0; pages < 5; pages++ {
		q := "?limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		list, next := e.incidents(q)
		for _, inc := range list {
			ids = append(ids, inc.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(ids) != "[5 4 3 2 1]" {
		t.Fatalf("ids = %v", ids)
	}
}

func TestOperationalEndpoints(t *testing.T) {
	e := newEnv(t, true)
	e.do("POST", "/api/v1/webhook", webhookToken, webhookFile(t, "firing.json"))
	e.do("POST", "/api/v1/webhook", "", webhookFile(t, "firing.json"))
	for _, path := range []string{"/-/healthy", "/-/ready"} {
		if status, body, _ := e.do("GET", path, "", nil); status != 200 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
	}
	_, body, _ := e.do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`remediator_webhook_requests_total{code="200"} 1`,
		`remediator_webhook_requests_total{code="401"} 1`,
		`remediator_alerts_received_total{status="firing"} 1`,
		`remediator_webhook_ingest_duration_seconds_count 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
