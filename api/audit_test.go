package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/oncall"
)

// auditLog lists the audit log through the API, as an admin.
func (e *env) auditLog(query string) ([]engine.AuditEntry, string) {
	e.t.Helper()
	status, body, _ := e.do("GET", "/api/v1/audit"+query, adminToken, nil)
	if status != 200 {
		e.t.Fatalf("audit%s: %d %s", query, status, body)
	}
	var out struct {
		Entries    []engine.AuditEntry `json:"entries"`
		NextCursor string              `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.Entries, out.NextCursor
}

// last is the newest audit entry.
func (e *env) lastAudit() engine.AuditEntry {
	e.t.Helper()
	list, _ := e.auditLog("?limit=1")
	if len(list) != 1 {
		e.t.Fatal("the audit log is empty")
	}
	return list[0]
}

// entry is what a test checks of an audit entry (ID and At vary).
type entry struct{ Actor, Role, Addr, Action, Target, Outcome, Detail string }

func summary(a engine.AuditEntry) entry {
	return entry{a.Actor, a.Role, a.Addr, a.Action, a.Target, a.Outcome, a.Detail}
}

// TestAuditEveryAttempt: each attempt at a change is in the audit log
// (newest first) with who, from where, what and how it ended, written
// before the answer.
func TestAuditEveryAttempt(t *testing.T) {
	e := newEnv(t, true)
	if status, body, _ := e.do("POST", "/api/v1/webhook", webhookToken, webhookFile(t, "firing.json")); status != 200 {
		t.Fatalf("webhook: %d %s", status, body)
	}
	end := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	silence := `{"matchers":[{"name":"service","value":"game-api"}],"ends_at":"` + end.Format(time.RFC3339) + `","comment":"deploy"}`
	tests := []struct {
		name, method, path, token, body string
		status                          int
		want                            entry
	}{
		// A viewer cannot ack: denied, with the viewer's name and role.
		{"viewer ack", "POST", "/api/v1/incidents/1/ack", viewerToken, "", 403,
			entry{"val", "viewer", "127.0.0.1", "incident.ack", "incident 1", "denied", `token "val" has role viewer; this needs responder`}},
		// A token nobody has: denied, actor unknown.
		{"wrong token", "POST", "/api/v1/incidents/1/ack", "not-a-token-at-all", "", 401,
			entry{"", "", "127.0.0.1", "incident.ack", "incident 1", "denied", "missing or invalid bearer token"}},
		// No token at all.
		{"no token", "POST", "/api/v1/incidents/1/resolve", "", "", 401,
			entry{"", "", "127.0.0.1", "incident.resolve", "incident 1", "denied", "missing or invalid bearer token"}},
		// A responder acks, on someone's behalf, with a note.
		{"responder ack", "POST", "/api/v1/incidents/1/ack", responderToken, `{"by":"bob","note":"on it"}`, 200,
			entry{"rita", "responder", "127.0.0.1", "incident.ack", "incident 1", "ok", "by bob; note: on it"}},
		// Acking again fails; the error is the detail.
		{"ack twice", "POST", "/api/v1/incidents/1/ack", responderToken, "", 409,
			entry{"rita", "responder", "127.0.0.1", "incident.ack", "incident 1", "failed", "incident 1 is acknowledged, only an open incident can be acknowledged: conflict"}},
		// A bad body fails too.
		{"bad body", "POST", "/api/v1/incidents/1/resolve", responderToken, `{"who":1}`, 400,
			entry{"rita", "responder", "127.0.0.1", "incident.resolve", "incident 1", "failed", `invalid JSON body: json: unknown field "who": invalid`}},
		// A non-numeric id is named as given.
		{"bad id", "POST", "/api/v1/incidents/x/resolve", responderToken, "", 404,
			entry{"rita", "responder", "127.0.0.1", "incident.resolve", "incident x", "failed", `incident "x" not found`}},
		// A silence: its id is the target, what it mutes the detail.
		{"silence", "POST", "/api/v1/silences", responderToken, silence, 201,
			entry{"rita", "responder", "127.0.0.1", "silence.create", "silence 1", "ok", `{service="game-api"} until ` + end.Format(time.RFC3339) + "; comment: deploy"}},
		// A viewer cannot expire it.
		{"viewer expire", "DELETE", "/api/v1/silences/1", viewerToken, "", 403,
			entry{"val", "viewer", "127.0.0.1", "silence.expire", "silence 1", "denied", `token "val" has role viewer; this needs responder`}},
		// A responder can.
		{"expire", "DELETE", "/api/v1/silences/1", responderToken, "", 200,
			entry{"rita", "responder", "127.0.0.1", "silence.expire", "silence 1", "ok", ""}},
		// Approving an action that does not exist fails.
		{"approve unknown", "POST", "/api/v1/actions/7/approve", responderToken, "", 404,
			entry{"rita", "responder", "127.0.0.1", "action.approve", "action 7", "failed", "action 7: not found"}},
		// Rejecting one is audited the same way.
		{"reject unknown", "POST", "/api/v1/actions/7/reject", adminToken, "", 404,
			entry{"ada", "admin", "127.0.0.1", "action.reject", "action 7", "failed", "action 7: not found"}},
		// A responder cannot reload.
		{"responder reload", "POST", "/-/reload", responderToken, "", 403,
			entry{"rita", "responder", "127.0.0.1", "config.reload", "", "denied", `token "rita" has role responder; this needs admin`}},
		// An admin can.
		{"admin reload", "POST", "/-/reload", adminToken, "", 200,
			entry{"ada", "admin", "127.0.0.1", "config.reload", "", "ok", ""}},
		// A body over the limit fails with the limit as the detail.
		{"too large", "POST", "/api/v1/incidents/1/resolve", responderToken, `{"note":"` + strings.Repeat("x", 70<<10) + `"}`, 413,
			entry{"rita", "responder", "127.0.0.1", "incident.resolve", "incident 1", "failed", "request body larger than the limit of 65536 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := e.do(tt.method, tt.path, tt.token, []byte(tt.body))
			if status != tt.status {
				t.Fatalf("got %d %s, want %d", status, body, tt.status)
			}
			if got := summary(e.lastAudit()); got != tt.want {
				t.Fatalf("audit entry\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	// A failed reload is failed, with the reason.
	e.reload = errors.New(`remediator.yml:3:5: unknown key "lisen" in server`)
	if status, _, _ := e.do("POST", "/-/reload", adminToken, nil); status != 500 {
		t.Fatalf("failed reload: %d", status)
	}
	if got := e.lastAudit(); got.Outcome != "failed" || got.Detail != `reload failed, the running config stays: remediator.yml:3:5: unknown key "lisen" in server` {
		t.Fatalf("failed reload entry = %+v", got)
	}

	// Reads are not audited; all of the above are, and no token is in
	// any of them.
	e.do("GET", "/api/v1/incidents", viewerToken, nil)
	e.do("GET", "/api/v1/incidents", "", nil)
	list, _ := e.auditLog("?limit=500")
	if len(list) != len(tests)+1 {
		t.Fatalf("%d audit entries, want %d", len(list), len(tests)+1)
	}
	raw, _ := json.Marshal(list)
	for _, tok := range []string{viewerToken, responderToken, adminToken, webhookToken, "not-a-token-at-all"} {
		if bytes.Contains(raw, []byte(tok)) {
			t.Fatalf("a token is in the audit log: %s", raw)
		}
	}
	for i := 1; i < len(list); i++ {
		if list[i].ID >= list[i-1].ID || list[i].At.After(list[i-1].At) {
			t.Fatalf("not newest first: %d then %d", list[i-1].ID, list[i].ID)
		}
	}
}

// TestAuditEndpoint: admins only; filters; paging newest first.
func TestAuditEndpoint(t *testing.T) {
	e := newEnv(t, true)
	for i := 0; i < 5; i++ {
		e.do("POST", "/-/reload", adminToken, nil)
	}
	e.do("POST", "/-/reload", viewerToken, nil)
	e.do("POST", "/api/v1/incidents/9/ack", responderToken, nil)

	for _, tok := range []string{viewerToken, responderToken} {
		if status, body, _ := e.do("GET", "/api/v1/audit", tok, nil); status != 403 || !strings.Contains(errorOf(t, body), "needs admin") {
			t.Fatalf("audit as non-admin: %d %s", status, body)
		}
	}
	if status, _, _ := e.do("GET", "/api/v1/audit", "", nil); status != 401 {
		t.Fatalf("audit without a token: %d", status)
	}

	// Paging: 7 entries, 3 a page, newest first.
	var ids []uint64
	cursor := ""
	for pages := 0; pages < 5; pages++ {
		q := "?limit=3"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		list, next := e.auditLog(q)
		for _, a := range list {
			ids = append(ids, a.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(ids) != "[7 6 5 4 3 2 1]" {
		t.Fatalf("ids = %v", ids)
	}

	filters := []struct {
		query string
		want  string // the ids found
	}{
		// By actor.
		{"?actor=val", "[6]"},
		// By action.
		{"?action=incident.ack", "[7]"},
		// By outcome.
		{"?outcome=ok", "[5 4 3 2 1]"},
		// Combined.
		{"?action=config.reload&outcome=denied", "[6]"},
		// Nothing matches.
		{"?actor=nobody", "[]"},
	}
	for _, f := range filters {
		t.Run(f.query, func(t *testing.T) {
			list, _ := e.auditLog(f.query)
			ids := []uint64{}
			for _, a := range list {
				ids = append(ids, a.ID)
			}
			if fmt.Sprint(ids) != f.want {
				t.Fatalf("ids = %v, want %s", ids, f.want)
			}
		})
	}

	bad := []struct{ query, contains string }{
		// An action nobody records.
		{"?action=incident.delete", `action: "incident.delete" is not an audit action`},
		// An outcome that does not exist.
		{"?outcome=maybe", "outcome: must be ok, denied or failed"},
		// An actor longer than any name.
		{"?actor=" + strings.Repeat("a", 201), "actor: longer than 200 bytes"},
		// Paging as the other lists.
		{"?limit=0", "limit: must be an integer from 1 to 500"},
		{"?cursor=x", "cursor:"},
	}
	for _, b := range bad {
		t.Run("bad "+b.query[:min(len(b.query), 20)], func(t *testing.T) {
			status, body, _ := e.do("GET", "/api/v1/audit"+b.query, adminToken, nil)
			if status != 400 || !strings.Contains(errorOf(t, body), b.contains) {
				t.Fatalf("got %d %s, want 400 containing %q", status, body, b.contains)
			}
		})
	}
}

// failingAuditor is the engine's audit log on a disk that refuses writes.
type failingAuditor struct{ api.Auditor }

func (failingAuditor) Audit(context.Context, engine.AuditEntry) error {
	return errors.New("audit: write /var/lib/remediator/r.db: no space left on device")
}

var _ api.Auditor = failingAuditor{}

// syncBuffer is a log destination the server writes from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAuditFailureKeepsTheAnswer: when the audit entry cannot be
// written, the change still answers as it would, and the failure is
// logged (without a token).
func TestAuditFailureKeepsTheAnswer(t *testing.T) {
	var logs syncBuffer
	e := newEnvWith(t, true, func(o *api.Options) {
		o.Auditor = failingAuditor{o.Auditor}
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	e.do("POST", "/api/v1/webhook", webhookToken, webhookFile(t, "firing.json"))
	if status, body, _ := e.do("POST", "/api/v1/incidents/1/ack", responderToken, nil); status != 200 {
		t.Fatalf("ack with a failing audit log: %d %s", status, body)
	}
	if status, _, _ := e.do("POST", "/api/v1/incidents/1/resolve", "wrong-token-0123456789", nil); status != 401 {
		t.Fatalf("wrong token: %d", status)
	}
	out := logs.String()
	if strings.Count(out, "audit entry not stored") != 2 || !strings.Contains(out, "action=incident.ack") || !strings.Contains(out, "no space left on device") {
		t.Fatalf("logs:\n%s", out)
	}
	for _, tok := range []string{responderToken, "wrong-token-0123456789"} {
		if strings.Contains(out, tok) {
			t.Fatalf("a token is in the logs:\n%s", out)
		}
	}
}

// fakeOnCall has one schedule, first-line; overrides of others fail.
type fakeOnCall struct{}

func (fakeOnCall) Names() []string { return []string{"first-line"} }
func (fakeOnCall) At(name string, at time.Time) (oncall.Shift, error) {
	return oncall.Shift{Schedule: name}, nil
}
func (fakeOnCall) AddOverride(_ context.Context, o engine.ScheduleOverride) (engine.ScheduleOverride, error) {
	if o.Schedule != "first-line" {
		return o, fmt.Errorf("schedule %q: %w", o.Schedule, engine.ErrNotFound)
	}
	o.ID = 1
	return o, nil
}

var _ api.OnCall = fakeOnCall{}

// TestAuditScheduleOverride: an override names its schedule and what it
// does; a viewer's attempt and a failed one are there too.
func TestAuditScheduleOverride(t *testing.T) {
	e := newEnvWith(t, true, func(o *api.Options) { o.OnCall = fakeOnCall{} })
	body := []byte(`{"person":"bob","from":"2026-11-27T10:00:00+08:00","to":"2026-11-27T18:00:00+08:00"}`)
	tests := []struct {
		name, path, token string
		status            int
		want              entry
	}{
		// A viewer cannot.
		{"viewer", "/api/v1/schedules/first-line/overrides", viewerToken, 403,
			entry{"val", "viewer", "127.0.0.1", "schedule.override", "schedule first-line", "denied", `token "val" has role viewer; this needs responder`}},
		// A responder can.
		{"responder", "/api/v1/schedules/first-line/overrides", responderToken, 201,
			entry{"rita", "responder", "127.0.0.1", "schedule.override", "schedule first-line", "ok", "bob covers from 2026-11-27T02:00:00Z to 2026-11-27T10:00:00Z"}},
		// An unknown schedule fails.
		{"unknown", "/api/v1/schedules/nope/overrides", responderToken, 404,
			entry{"rita", "responder", "127.0.0.1", "schedule.override", "schedule nope", "failed", `schedule "nope": not found`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, b, _ := e.do("POST", tt.path, tt.token, body); status != tt.status {
				t.Fatalf("got %d %s, want %d", status, b, tt.status)
			}
			if got := summary(e.lastAudit()); got != tt.want {
				t.Fatalf("audit entry\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
