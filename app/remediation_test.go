package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/remediator/remediator/app"
)

// remediationApp runs an App whose one rule runs script (a real process)
// for critical alerts, with the service label as its argument.
func remediationApp(t *testing.T, script string, extra ...string) (*app.App, string) {
	t.Helper()
	dir := t.TempDir()
	prog := filepath.Join(dir, "fix.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"+script), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
storage:
  path: %s
remediations:
  - name: restart
    when: level == "critical"
    target: "{{ .labels.service }}"
    cooldown: 1h
%s    actions:
      - exec:
          command: [%s, "{{ .labels.service }}"]
          validate: {service: "[a-z-]+"}
          timeout: 30s
`, filepath.Join(dir, "r.db"), strings.Join(extra, ""), prog)
	return startApp(t, dir, cfg), dir
}

// startApp writes cfg to dir and runs an App on it (closed at the end of
// the test).
func startApp(t *testing.T, dir, cfg string) *app.App {
	t.Helper()
	file := filepath.Join(dir, "r.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), app.Options{ConfigFile: file, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func post(t *testing.T, a *app.App, status, service string) {
	t.Helper()
	end := ""
	if status == "resolved" {
		end = `,"endsAt":"2026-11-25T10:05:00Z"`
	}
	body := fmt.Sprintf(`{"receiver":"r","groupKey":"g","alerts":[{"status":%q,"labels":{"alertname":"Down","severity":"critical","service":%q},"startsAt":"2026-11-25T10:00:00Z"%s}]}`, status, service, end)
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, apiRequest("POST", "/api/v1/webhook", strings.NewReader(body)))
	if rec.Code != 200 {
		t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
	}
}

type actionRecord struct {
	Status, Describe, Reason, Output, Error string
}

func actionRecords(t *testing.T, a *app.App) []actionRecord {
	t.Helper()
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, apiRequest("GET", "/api/v1/actions", nil))
	var out struct{ Actions []actionRecord }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	return out.Actions
}

func waitForStatus(t *testing.T, a *app.App, want string) []actionRecord {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		list := actionRecords(t, a)
		if len(list) > 0 && list[0].Status == want {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("actions %+v, want the newest %s", list, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExecRemediationRunsOncePerEpisode: a real process runs once for
// three deliveries of one firing alert; its argument is the label value.
func TestExecRemediationRunsOncePerEpisode(t *testing.T) {
	a, dir := remediationApp(t, `echo "$1 $REMEDIATOR_LEVEL" >> "$(dirname "$0")/ran"`+"\n")
	for i := 0; i < 3; i++ {
		post(t, a, "firing", "game-api")
	}
	list := waitForStatus(t, a, "succeeded")
	b, err := os.ReadFile(filepath.Join(dir, "ran"))
	if err != nil || string(b) != "game-api critical\n" || len(list) != 1 {
		t.Fatalf("ran %q (%v), records %+v", b, err, list)
	}
}

// TestResolveKillsTheRunningProcess: a resolve that arrives while the
// action runs cancels it; the process is gone and the record says so.
func TestResolveKillsTheRunningProcess(t *testing.T) {
	a, dir := remediationApp(t, `echo $$ > "$(dirname "$0")/pid"; exec sleep 1000`+"\n")
	post(t, a, "firing", "game-api")
	var pid int
	deadline := time.Now().Add(20 * time.Second)
	for pid == 0 {
		if b, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
			fmt.Sscan(string(b), &pid)
		}
		if time.Now().After(deadline) {
			t.Fatal("the action did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	post(t, a, "resolved", "game-api")
	waitForStatus(t, a, "cancelled")
	deadline = time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs after the resolve", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHostileLabelIsRefusedAndRecorded: a label value that is a shell
// injection never reaches a process; the refusal is recorded.
func TestHostileLabelIsRefusedAndRecorded(t *testing.T) {
	a, dir := remediationApp(t, `touch "$(dirname "$0")/ran"`+"\n")
	post(t, a, "firing", "$(touch /tmp/pwned)")
	list := waitForStatus(t, a, "refused")
	if !strings.Contains(list[0].Reason, "refused") {
		t.Fatalf("record %+v", list[0])
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Fatal("the action ran")
	}
}

// TestApprovalOverHTTP: a rule that needs approval waits; POST approve runs
// the real process; approving again is a conflict; an unknown id is 404.
func TestApprovalOverHTTP(t *testing.T) {
	a, dir := remediationApp(t, `echo ran >> "$(dirname "$0")/ran"`+"\n", "    approval: {required: true, ttl: 15m}\n")
	post(t, a, "firing", "game-api")
	list := waitForStatus(t, a, "awaiting_approval")
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Fatal("ran before approval")
	}
	do := func(path string) int {
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, apiRequest("POST", path, strings.NewReader(`{"note":"go"}`)))
		return rec.Code
	}
	var id uint64
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, apiRequest("GET", "/api/v1/actions", nil))
	var out struct{ Actions []struct{ ID uint64 } }
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	id = out.Actions[0].ID
	if code := do(fmt.Sprintf("/api/v1/actions/%d/approve", id)); code != 200 {
		t.Fatalf("approve: %d (%+v)", code, list)
	}
	waitForStatus(t, a, "succeeded")
	if b, err := os.ReadFile(filepath.Join(dir, "ran")); err != nil || string(b) != "ran\n" {
		t.Fatalf("ran %q %v", b, err)
	}
	if code := do(fmt.Sprintf("/api/v1/actions/%d/approve", id)); code != 409 {
		t.Fatalf("approve twice: %d", code)
	}
	if code := do("/api/v1/actions/999/reject"); code != 404 {
		t.Fatalf("reject unknown: %d", code)
	}
}
