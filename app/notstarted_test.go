package app_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/app"
)

// warningRemediationApp runs an App whose one rule acts on warning
// alerts with action (YAML, indented for the actions list) and verifies
// within 5m, escalating on failure.
func warningRemediationApp(t *testing.T, action string) *app.App {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
storage:
  path: %s
remediations:
  - name: fix
    when: level == "warning"
    target: "{{ .labels.service }}"
    verify: {resolved_within: 5m, on_failure: escalate}
    actions:
%s`, filepath.Join(dir, "r.db"), action)
	return startApp(t, dir, cfg)
}

// postWarning posts one firing warning alert for game-api.
func postWarning(t *testing.T, a *app.App) {
	t.Helper()
	body := `{"receiver":"r","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"Down","severity":"warning","service":"game-api"},"startsAt":"2026-11-25T10:00:00Z"}]}`
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, apiRequest("POST", "/api/v1/webhook", strings.NewReader(body)))
	if rec.Code != 200 {
		t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
	}
}

func getJSON(t *testing.T, a *app.App, path string, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, apiRequest("GET", path, nil))
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, rec.Body)
	}
}

type timelineJSON struct {
	Incident struct {
		Level string `json:"level"`
	} `json:"incident"`
	Timeline []struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	} `json:"timeline"`
}

// TestNotStartedIsAConfigurationFault: a remediation that could not start
// (the program does not exist; systemctl says the unit does not) is not
// a fix that did not work: it is recorded as not_started, counted so,
// said plainly on the timeline, and it neither fails the verification
// nor raises the incident's level. Real processes: a missing program,
// and a script standing in for systemctl that answers as systemctl does
// for a unit that does not exist (exit status 5).
func TestNotStartedIsAConfigurationFault(t *testing.T) {
	dir := t.TempDir()
	systemctl := filepath.Join(dir, "systemctl")
	if err := os.WriteFile(systemctl, []byte("#!/bin/sh\necho \"Failed to $1 $3: Unit $3 not found.\" >&2\nexit 5\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, action := range map[string]string{
		"missing program": "      - exec: {command: [" + filepath.Join(dir, "no-such-fix") + `, "{{ .labels.service }}"]}` + "\n",
		"missing unit":    "      - systemd: {action: restart, unit: \"{{ .labels.service }}\", validate: {service: \"[a-z-]+\"}, systemctl: " + systemctl + "}\n",
	} {
		t.Run(name, func(t *testing.T) {
			a := warningRemediationApp(t, action)
			postWarning(t, a)
			var list []actionRecord
			deadline := time.Now().Add(20 * time.Second)
			for {
				list = actionRecords(t, a)
				if len(list) > 0 && list[0].Status != "running" && list[0].Status != "pending" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("actions %+v", list)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(list) != 1 || list[0].Status != "not_started" {
				t.Fatalf("records %+v, want one not_started", list)
			}
			var d timelineJSON
			getJSON(t, a, "/api/v1/incidents/1", &d)
			var types []string
			plain := false
			for _, ev := range d.Timeline {
				types = append(types, ev.Type)
				plain = plain || strings.Contains(ev.Detail, "could not start") && strings.Contains(ev.Detail, "configuration")
			}
			if d.Incident.Level != "warning" || strings.Contains(strings.Join(types, ","), "remediation_failed") || !plain {
				t.Fatalf("level %s, timeline %+v", d.Incident.Level, d.Timeline)
			}
			rec := httptest.NewRecorder()
			a.Handler().ServeHTTP(rec, apiRequest("GET", "/metrics", nil))
			if !strings.Contains(rec.Body.String(), `remediator_actions_total{outcome="not_started",rule="fix"} 1`) {
				t.Fatalf("metrics:\n%s", grepLines(rec.Body.String(), "remediator_actions_total"))
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTimelineIsCausal: a run that failed is finished on the timeline
// before its failure is told (remediation_failed).
func TestTimelineIsCausal(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "fix.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	a := warningRemediationApp(t, "      - exec: {command: ["+prog+"]}\n")
	postWarning(t, a)
	waitForStatus(t, a, "failed")
	var d timelineJSON
	deadline := time.Now().Add(20 * time.Second)
	for {
		getJSON(t, a, "/api/v1/incidents/1", &d)
		var types []string
		for _, ev := range d.Timeline {
			types = append(types, ev.Type)
		}
		s := strings.Join(types, ",")
		fin, failed := strings.Index(s, "action_finished"), strings.Index(s, "remediation_failed")
		if fin >= 0 && failed >= 0 {
			if failed < fin {
				t.Fatalf("remediation_failed before action_finished: %s", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeline %s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestApprovalNoteOnTimeline: the note of an approval (or a rejection) is
// on the incident's timeline, not only in the audit log.
func TestApprovalNoteOnTimeline(t *testing.T) {
	for _, verb := range []string{"approve", "reject"} {
		t.Run(verb, func(t *testing.T) {
			a, _ := remediationApp(t, "exit 0\n", "    approval: {required: true, ttl: 15m}\n")
			post(t, a, "firing", "game-api")
			waitForStatus(t, a, "awaiting_approval")
			var out struct{ Actions []struct{ ID uint64 } }
			getJSON(t, a, "/api/v1/actions", &out)
			rec := httptest.NewRecorder()
			req := apiRequest("POST", fmt.Sprintf("/api/v1/actions/%d/%s", out.Actions[0].ID, verb), strings.NewReader(`{"note":"checked the host first"}`))
			req.Header.Set("Content-Type", "application/json")
			a.Handler().ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("%s: %d %s", verb, rec.Code, rec.Body)
			}
			var d timelineJSON
			getJSON(t, a, "/api/v1/incidents/1", &d)
			for _, ev := range d.Timeline {
				if (ev.Type == "action_decided" || ev.Type == "action_started") && strings.Contains(ev.Detail, "(note: checked the host first)") {
					return
				}
			}
			t.Fatalf("the note is not on the timeline: %+v", d.Timeline)
		})
	}
}
