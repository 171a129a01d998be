package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const (
	viewerToken    = "viewer-token-0123456789ab"
	responderToken = "responder-token-0123456789"
	consoleAdmin   = "admin-token-console-01234"
)

// chromiumPath finds Debian's chromium (make test installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_BIN"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: `make test` installs it (apt-get install chromium), or set CHROMIUM_BIN")
	return ""
}

// browser starts a headless chromium on loopback with a fresh profile
// (and the extra options); it is stopped (its process killed) when the
// test ends.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// Start the browser now, then watch for any JavaScript dialog (an
	// alert() smuggled in through a label): one fails the test.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			t.Errorf("a JavaScript dialog opened: %q", ev.Message)
		}
	}()
	return ctx
}

func consoleConfig(t *testing.T) (string, int) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	return writeFile(t, dir, "r.yml", fmt.Sprintf(`
server:
  listen: 127.0.0.1:%[1]d
  external_url: http://127.0.0.1:%[1]d
storage: {path: %[2]s}
auth:
  tokens:
    - {name: val, role: viewer, token: %[3]s}
    - {name: rita, role: responder, token: %[4]s}
    - {name: ada, role: admin, token: %[5]s}
`, port, filepath.Join(dir, "r.db"), viewerToken, responderToken, consoleAdmin)), port
}

func postAlert(t *testing.T, base, name string, labels map[string]string) {
	t.Helper()
	labels["alertname"] = name
	body, _ := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "r", "groupKey": "{}:" + name,
		"groupLabels": map[string]string{"alertname": name}, "commonLabels": labels,
		"alerts": []map[string]any{{"status": "firing", "labels": labels, "annotations": map[string]string{"summary": "game servers down"},
			"startsAt": time.Now().UTC().Format(time.RFC3339), "endsAt": "0001-01-01T00:00:00Z"}},
	})
	if status, b := request(t, "POST", base+"/api/v1/webhook", "", bytes.NewReader(body)); status != 200 {
		t.Fatalf("webhook: %d %s", status, b)
	}
}

func login(base, token string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/login"),
		chromedp.WaitVisible(chromedp.ID("login-token")),
		chromedp.SendKeys(chromedp.ID("login-token"), token),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("incident-list")),
		// The event stream is connected (events before it are not replayed).
		chromedp.WaitReady(chromedp.CSS(`body[data-live="true"]`)),
	}
}

// The console in a real browser: a responder logs in, a critical incident
// arrives and pops up live, the responder acknowledges it from the pop-up,
// the list and the API show it acknowledged, and a label with <script>
// shows as text. A viewer gets no Acknowledge button and a 403 from the
// API; every attempt is in the audit log. The screenshot of the console
// with the live pop-up is saved for the README.
func TestConsoleInABrowser(t *testing.T) {
	cfg, _ := consoleConfig(t)
	_, base := startRemediator(t, nil, "--config", cfg)
	ctx := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx, login(base, responderToken)...); err != nil {
		t.Fatalf("login: %v", err)
	}
	postAlert(t, base, "GameServerDown", map[string]string{"severity": "critical", "service": "game-api", "note": "<script>alert(1)</script>"})

	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("popup")),
		chromedp.WaitVisible(chromedp.CSS(`#incident-list [data-incident-id="1"]`))); err != nil {
		t.Fatalf("pop-up: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("popup-title")))
	if err != nil || !strings.Contains(title, "GameServerDown") {
		t.Fatalf("pop-up title %q: %v", title, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveArtifact(t, "console.png", shot)

	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("popup-ack")),
		chromedp.WaitNotVisible(chromedp.ID("popup")),
		chromedp.WaitVisible(chromedp.CSS(`#incident-list [data-incident-id="1"][data-status="acknowledged"]`)),
	); err != nil {
		t.Fatalf("acknowledge from the pop-up: %v", err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#incident-list [data-incident-id="1"] .status`)))
	if err != nil || strings.TrimSpace(status) != "acknowledged" {
		t.Fatalf("list status %q: %v", status, err)
	}
	if list := listIncidents(t, base, consoleAdmin); len(list) != 1 || list[0].Status != "acknowledged" {
		t.Fatalf("API after the ack: %+v", list)
	}

	// The label with <script> is text on the incident page.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/incidents/1"), chromedp.WaitVisible(chromedp.ID("incident-live"))); err != nil {
		t.Fatalf("incident page: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil || !strings.Contains(text, "<script>alert(1)</script>") {
		t.Fatalf("the label is not shown as text (%v): %q", err, text)
	}
	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('script:not([src])').length`))
	if err != nil || scripts != 0 {
		t.Fatalf("%d inline scripts on the page (%v)", scripts, err)
	}

	// A viewer: no Acknowledge button, and the API says 403.
	postAlert(t, base, "HighLoad", map[string]string{"severity": "critical"})
	vctx := browser(t)
	vctx, vcancel := context.WithTimeout(vctx, 60*time.Second)
	defer vcancel()
	if err := chromedp.Do(vctx, append(login(base, viewerToken),
		chromedp.Navigate(base+"/incidents/2"), chromedp.WaitVisible(chromedp.ID("incident-live")))...); err != nil {
		t.Fatalf("viewer: %v", err)
	}
	buttons, err := chromedp.Run(vctx, chromedp.Evaluate[int](`document.querySelectorAll('#ack, #resolve, #popup-ack').length`))
	if err != nil || buttons != 0 {
		t.Fatalf("the viewer's page offers %d acknowledge or resolve buttons (%v)", buttons, err)
	}
	// The viewer's own session, with its CSRF token, cannot ack either:
	// the API checks the role, not the page.
	fromPage, err := chromedp.Run(vctx, chromedp.Evaluate[int](`(async () => {
		const csrf = document.querySelector('meta[name="csrf-token"]').content;
		const r = await fetch('/api/v1/incidents/2/ack', {method: 'POST', headers: {'X-CSRF-Token': csrf, 'Content-Type': 'application/json'}, body: '{}'});
		return r.status;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || fromPage != 403 {
		t.Fatalf("viewer ack from the page's session: %d (%v)", fromPage, err)
	}
	if status, body := request(t, "POST", base+"/api/v1/incidents/2/ack", viewerToken, nil); status != 403 {
		t.Fatalf("viewer ack: %d %s", status, body)
	}
	// Logout ends the session.
	if err := chromedp.Do(vctx, chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-token"))); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if status, body := request(t, "POST", base+"/-/reload", consoleAdmin, nil); status != 200 {
		t.Fatalf("admin reload: %d %s", status, body)
	}
	code, body := request(t, "GET", base+"/api/v1/audit", consoleAdmin, nil)
	if code != 200 {
		t.Fatalf("audit: %d %s", code, body)
	}
	var audit struct {
		Entries []struct{ Actor, Action, Outcome, Target string } `json:"entries"`
	}
	if err := json.Unmarshal(body, &audit); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"rita login ok": false, "rita incident.ack ok": false, "val login ok": false,
		"val incident.ack denied": false, "val logout ok": false, "ada config.reload ok": false}
	for _, e := range audit.Entries {
		k := e.Actor + " " + e.Action + " " + e.Outcome
		if _, ok := want[k]; ok {
			want[k] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("audit log lacks %q: %s", k, body)
		}
	}
}

// saveArtifact writes a test artifact under the repository's test-artifacts/
// folder (REMEDIATOR_ARTIFACTS overrides it).
func saveArtifact(t *testing.T, name string, b []byte) {
	t.Helper()
	dir := os.Getenv("REMEDIATOR_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s", filepath.Join(dir, name))
}
