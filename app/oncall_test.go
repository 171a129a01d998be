package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/app"
)

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

const onCallConfig = `
server: {listen: "127.0.0.1:0"}
storage: {path: %DB%}
auth:
  tokens:
    - {name: ops, role: responder, token: responder-token-0123456789}
    - {name: val, role: viewer, token: viewer-token-0123456789ab}
people:
  - {id: wang.wei, email: wang.wei@example.com}
  - {id: li.na, email: li.na@example.com}
  - {id: zhang.qiang, email: zhang.qiang@example.com}
  - {id: guest}
notifiers:
  email: {smarthost: "127.0.0.1:25", tls: none, from: remediator@example.com}
escalations:
  p3:
    steps:
      - {notify: ["schedule:first-line"], via: [email], wait: 1h}
schedules:
  - name: first-line
    timezone: Asia/Shanghai
    layers:
      - {name: rota, members: [wang.wei, li.na], rotation: {every: 1w, anchor: "2026-11-23T09:00"}}
`

// The on-call API over the App's HTTP handler: who is on call, an
// override that takes effect at once and survives a restart, and the bad
// inputs.
func TestOnCallAndOverridesOverHTTP(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "r.yml")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(onCallConfig, "%DB%", filepath.Join(dir, "r.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC) // Wed 10:00 in Shanghai
	open := func() (*app.App, *httptest.Server) {
		a, err := app.New(context.Background(), app.Options{ConfigFile: file, Clock: fixedClock(now)})
		if err != nil {
			t.Fatal(err)
		}
		return a, httptest.NewServer(a.Handler())
	}
	do := func(srv *httptest.Server, method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	who := func(srv *httptest.Server, at string) []string {
		t.Helper()
		status, body := do(srv, "GET", "/api/v1/oncall?schedule=first-line&at="+at, "viewer-token-0123456789ab", "")
		var out struct {
			OnCall []struct {
				People []string `json:"people"`
			} `json:"oncall"`
		}
		if status != 200 || json.Unmarshal([]byte(body), &out) != nil || len(out.OnCall) != 1 {
			t.Fatalf("oncall: %d %s", status, body)
		}
		return out.OnCall[0].People
	}
	a, srv := open()
	if got := who(srv, "2026-11-25T10:00:00%2B08:00"); len(got) != 1 || got[0] != "wang.wei" {
		t.Fatalf("on call: %v", got)
	}
	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		contains                        string
	}{
		{"unknown schedule", "GET", "/api/v1/oncall?schedule=nope", "viewer-token-0123456789ab", "", 404, `schedule "nope"`},
		{"bad time", "GET", "/api/v1/oncall?at=tomorrow", "viewer-token-0123456789ab", "", 400, "not an RFC 3339 time"},
		{"viewer cannot override", "POST", "/api/v1/schedules/first-line/overrides", "viewer-token-0123456789ab", `{}`, 403, "needs responder"},
		{"unknown person", "POST", "/api/v1/schedules/first-line/overrides", "responder-token-0123456789",
			`{"person":"nobody","from":"2026-11-25T12:00:00+08:00","to":"2026-11-25T18:00:00+08:00"}`, 400, `person "nobody" is not defined`},
		{"end before start", "POST", "/api/v1/schedules/first-line/overrides", "responder-token-0123456789",
			`{"person":"li.na","from":"2026-11-25T18:00:00+08:00","to":"2026-11-25T12:00:00+08:00"}`, 400, "must be after from"},
		{"cover without the address", "POST", "/api/v1/schedules/first-line/overrides", "responder-token-0123456789",
			`{"person":"guest","from":"2026-11-25T12:00:00+08:00","to":"2026-11-25T18:00:00+08:00"}`, 400,
			`escalations.p3.steps[0] pages schedule "first-line" by email, and "guest" has no email`},
		{"missing times", "POST", "/api/v1/schedules/first-line/overrides", "responder-token-0123456789", `{"person":"li.na"}`, 400, "from and to: required"},
		{"unknown field", "POST", "/api/v1/schedules/first-line/overrides", "responder-token-0123456789", `{"who":"li.na"}`, 400, `unknown field "who"`},
		{"unknown schedule override", "POST", "/api/v1/schedules/nope/overrides", "responder-token-0123456789",
			`{"person":"li.na","from":"2026-11-25T12:00:00+08:00","to":"2026-11-25T18:00:00+08:00"}`, 404, `schedule "nope"`},
		{"sla bad range", "GET", "/api/v1/reports/sla?from=2026-11-25T00:00:00Z&to=2026-11-24T00:00:00Z", "viewer-token-0123456789ab", "", 400, "to must be after from"},
		{"sla bad time", "GET", "/api/v1/reports/sla?from=yesterday", "viewer-token-0123456789ab", "", 400, "from:"},
		{"sla too long", "GET", "/api/v1/reports/sla?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "viewer-token-0123456789ab", "", 400, "at most 366 days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(srv, tc.method, tc.path, tc.token, tc.body)
			if status != tc.status || !strings.Contains(strings.ReplaceAll(body, `\"`, `"`), tc.contains) {
				t.Fatalf("got %d %s, want %d containing %q", status, body, tc.status, tc.contains)
			}
		})
	}
	status, body := do(srv, "POST", "/api/v1/schedules/first-line/overrides", "responder-token-0123456789",
		`{"person":"zhang.qiang","from":"2026-11-25T12:00:00+08:00","to":"2026-11-25T18:00:00+08:00","comment":"covering"}`)
	if status != 201 || !strings.Contains(body, `"created_by":"ops"`) {
		t.Fatalf("override: %d %s", status, body)
	}
	if got := who(srv, "2026-11-25T13:00:00%2B08:00"); len(got) != 1 || got[0] != "zhang.qiang" {
		t.Fatalf("during the override: %v", got)
	}
	status, body = do(srv, "GET", "/api/v1/reports/sla", "viewer-token-0123456789ab", "")
	if status != 200 || !strings.Contains(body, `"levels"`) {
		t.Fatalf("sla report: %d %s", status, body)
	}
	srv.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// The override is stored: a restart applies it again.
	a, srv = open()
	defer func() { srv.Close(); _ = a.Close() }()
	if got := who(srv, "2026-11-25T13:00:00%2B08:00"); len(got) != 1 || got[0] != "zhang.qiang" {
		t.Fatalf("after a restart: %v", got)
	}
	if got := who(srv, "2026-11-25T19:00:00%2B08:00"); len(got) != 1 || got[0] != "wang.wei" {
		t.Fatalf("after the override: %v", got)
	}
}
