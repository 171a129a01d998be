package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/remediator/remediator/app"
	"github.com/remediator/remediator/engine"
)

const (
	oldToken = "old-admin-token-0123456789"
	newToken = "new-admin-token-0123456789"
)

func configWith(dir, token string) string {
	return "server:\n  listen: 127.0.0.1:0\nstorage:\n  path: " + filepath.Join(dir, "r.db") +
		"\nauth:\n  tokens:\n    - name: admin\n      role: admin\n      token: " + token + "\n"
}

// apiRequest is a request to the handler as a local client sends it:
// to 127.0.0.1 (an open server answers only loopback names), a body as
// JSON.
func apiRequest(method, path string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, "http://127.0.0.1"+path, body)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func get(t *testing.T, url, method, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReloadSwapsTokensAndKeepsOnError runs the App itself: a reload
// through the API applies a new token; a broken file keeps the running one.
func TestReloadSwapsTokensAndKeepsOnError(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "r.yml")
	if err := os.WriteFile(file, []byte(configWith(dir, oldToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), app.Options{ConfigFile: file})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	base := "http://" + a.Addr()

	if err := os.WriteFile(file, []byte(configWith(dir, newToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, base+"/-/reload", "POST", oldToken); status != 200 {
		t.Fatalf("reload: %d %s", status, body)
	}
	if status, _ := get(t, base+"/api/v1/incidents", "GET", oldToken); status != 401 {
		t.Fatalf("old token after reload: %d, want 401", status)
	}
	if status, _ := get(t, base+"/api/v1/incidents", "GET", newToken); status != 200 {
		t.Fatalf("new token after reload: %d, want 200", status)
	}

	// A broken file: 500 with the reason, and the running config stays.
	if err := os.WriteFile(file, []byte(configWith(dir, newToken)+"surprise: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	status, body := get(t, base+"/-/reload", "POST", newToken)
	if status != 500 || !strings.Contains(body, `unknown key \"surprise\"`) {
		t.Fatalf("bad reload: %d %s", status, body)
	}
	if status, _ := get(t, base+"/api/v1/incidents", "GET", newToken); status != 200 {
		t.Fatalf("token after failed reload: %d, want 200", status)
	}
	_, metrics := get(t, base+"/metrics", "GET", "")
	if !strings.Contains(metrics, "remediator_config_last_reload_successful 0") {
		t.Fatalf("reload metric not 0 after a failed reload")
	}
}

// TestFlagsAreValidated: a --listen override is checked like the file.
func TestFlagsAreValidated(t *testing.T) {
	_, err := app.LoadConfig("", "0.0.0.0:9095", "", nil)
	if err == nil || !strings.Contains(err.Error(), "is not a loopback address") {
		t.Fatalf("err = %v", err)
	}
}

// TestReloadCannotOpenAPublicAddress: running on a public address with
// tokens, a reload to a file that says loopback and has no tokens is
// refused, because the socket stays where it is.
func TestReloadCannotOpenAPublicAddress(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "r.yml")
	public := "server:\n  listen: 0.0.0.0:9095\n  webhook_token: webhook-token-0123456789\nstorage:\n  path: " + filepath.Join(dir, "r.db") +
		"\nauth:\n  tokens:\n    - {name: admin, role: admin, token: " + oldToken + "}\n"
	if err := os.WriteFile(file, []byte(public), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0") // the test serves on loopback only
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), app.Options{ConfigFile: file, Listener: l})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	open := "server:\n  listen: 127.0.0.1:9095\nstorage:\n  path: " + filepath.Join(dir, "r.db") + "\n"
	if err := os.WriteFile(file, []byte(open), 0o600); err != nil {
		t.Fatal(err)
	}
	err = a.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "for the running listen address 0.0.0.0:9095") || !strings.Contains(err.Error(), "auth.tokens") {
		t.Fatalf("reload to an open config on a public socket: %v", err)
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, apiRequest("GET", "/api/v1/incidents", nil))
	if rec.Code != 401 {
		t.Fatalf("API without a token after the refused reload: %d, want 401", rec.Code)
	}
}

// TestUnresolvedIncidentsMetric: the gauge counts unresolved incidents by
// level and status.
func TestUnresolvedIncidentsMetric(t *testing.T) {
	dir := t.TempDir()
	a, err := app.New(context.Background(), app.Options{Listen: "127.0.0.1:0", DBPath: filepath.Join(dir, "r.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	post := func(body string) {
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, apiRequest("POST", "/api/v1/webhook", strings.NewReader(body)))
		if rec.Code != 200 {
			t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
		}
	}
	for i, sev := range []string{"critical", "critical", "warning"} {
		post(fmt.Sprintf(`{"receiver":"r","groupKey":"g%d","alerts":[{"status":"firing","labels":{"alertname":"A%d","severity":"%s"},"startsAt":"2026-11-25T10:00:00Z"}]}`, i, i, sev))
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, apiRequest("POST", "/api/v1/incidents/1/ack", nil))
	if rec.Code != 200 {
		t.Fatalf("ack: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, apiRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`remediator_incidents_unresolved{level="critical",status="acknowledged"} 1`,
		`remediator_incidents_unresolved{level="critical",status="open"} 1`,
		`remediator_incidents_unresolved{level="warning",status="open"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestLoadConfigBuildsActions: what only an action package can check (an
// unreadable CA file) is a load error too, named by its rule and action.
func TestLoadConfigBuildsActions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "r.yml")
	cfg := "remediations:\n  - name: scale\n    when: level == \"warning\"\n    target: \"{{ .labels.service }}\"\n" +
		"    actions:\n      - http: {url: \"https://scaler.example/scale\", ca_file: " + filepath.Join(dir, "missing-ca.pem") + "}\n"
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := app.LoadConfig(file, "", "", nil)
	if err == nil || !strings.Contains(err.Error(), "remediations[0].actions[0] (scale)") || !strings.Contains(err.Error(), "missing-ca.pem") {
		t.Fatalf("err = %v", err)
	}
}

// countingStore counts the writes that reach the store it wraps.
type countingStore struct {
	engine.Store
	applies atomic.Int64
}

func (s *countingStore) Apply(ctx context.Context, c *engine.Changes) error {
	s.applies.Add(1)
	return s.Store.Apply(ctx, c)
}

// TestWrapStoreSeesTheEnginesWrites: the engine writes through the
// wrapper cmd/loadgen -layers installs, and what it writes still reaches
// bbolt (a second App on the same file finds the alert).
func TestWrapStoreSeesTheEnginesWrites(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	var wrapped *countingStore
	a, err := app.New(context.Background(), app.Options{Listen: "127.0.0.1:0", DBPath: db, StoreNoSync: true,
		WrapStore: func(s engine.Store) engine.Store { wrapped = &countingStore{Store: s}; return wrapped }})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, apiRequest("POST", "/api/v1/webhook", strings.NewReader(
		`{"receiver":"r","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"A"},"startsAt":"2026-11-25T10:00:00Z"}]}`)))
	if rec.Code != 200 {
		t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
	}
	if wrapped == nil || wrapped.applies.Load() == 0 {
		t.Fatal("the engine did not write through WrapStore")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := app.New(context.Background(), app.Options{Listen: "127.0.0.1:0", DBPath: db})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec = httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, apiRequest("GET", "/api/v1/alerts", nil))
	if !strings.Contains(rec.Body.String(), `"alertname":"A"`) {
		t.Fatalf("alert not stored: %s", rec.Body)
	}
}

// TestExternalURLIsTheConsolesOrigin: server.external_url reaches the API
// and the console: a change whose Origin is the external URL's goes on
// behind a proxy (Host 127.0.0.1), one from another origin is refused.
func TestExternalURLIsTheConsolesOrigin(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "r.yml")
	cfg := "server:\n  listen: 127.0.0.1:0\n  external_url: https://remediator.example.com\nstorage:\n  path: " + filepath.Join(dir, "r.db") + "\n"
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), app.Options{ConfigFile: file})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"https://remediator.example.com", 200},
		{"https://evil.example", 403},
	} {
		for _, path := range []string{"/-/reload", "/login"} {
			r := apiRequest("POST", path, strings.NewReader(""))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Origin", tc.origin)
			rec := httptest.NewRecorder()
			a.Handler().ServeHTTP(rec, r)
			// The open default has no console logins: a login that passes
			// the origin check is a 401.
			want := tc.status
			if path == "/login" && want == 200 {
				want = 401
			}
			if rec.Code != want {
				t.Errorf("POST %s from %s: %d, want %d: %s", path, tc.origin, rec.Code, want, rec.Body)
			}
		}
	}
	// The external host is this server's too, for an open server.
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "https://remediator.example.com/api/v1/incidents", nil))
	if rec.Code != 200 {
		t.Fatalf("GET with the external host: %d %s", rec.Code, rec.Body)
	}
}

// TestServeRefusesExposedPlaceholders: the seed policy with its published
// placeholder tokens starts on loopback, and is refused on an address
// that is not loopback; the error names the keys, not the secrets.
func TestServeRefusesExposedPlaceholders(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"REMEDIATOR_DB": filepath.Join(dir, "r.db"), "REMEDIATOR_LISTEN": "0.0.0.0:0"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, err := app.New(context.Background(), app.Options{ConfigFile: "../testdata/seed-policy.yml", LookupEnv: lookup})
	if err == nil || !strings.Contains(err.Error(), "server.webhook_token") || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("New on 0.0.0.0 with placeholders: %v", err)
	}
	if strings.Contains(err.Error(), "change-me-webhook") {
		t.Fatalf("the error shows a secret: %v", err)
	}
	env["REMEDIATOR_LISTEN"] = "127.0.0.1:0"
	a, err := app.New(context.Background(), app.Options{ConfigFile: "../testdata/seed-policy.yml", LookupEnv: lookup})
	if err != nil {
		t.Fatalf("New on loopback: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStorePathIsLoggedAbsolute: storage.path is relative to the working
// directory; the log says where the file really is.
func TestStorePathIsLoggedAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var logs strings.Builder
	a, err := app.New(context.Background(), app.Options{DBPath: "data/r.db", Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	want := "path=" + filepath.Join(dir, "data", "r.db")
	if !strings.Contains(logs.String(), "store opened") || !strings.Contains(logs.String(), want) {
		t.Fatalf("log does not say %s:\n%s", want, logs.String())
	}
}
