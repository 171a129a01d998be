package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// toolPath finds a binary the test command installs (see the Makefile).
// Outside `make test` the test skips; in CI a missing binary fails it.
func toolPath(t *testing.T, env string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set; run the tests with `make test`", env)
		}
		t.Skipf("%s is not set; `make test` installs Alertmanager v0.31.1 and sets it", env)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	return p
}

// TestRealAlertmanager fires an alert through a real Alertmanager v0.31.1
// (amtool alert add), sees remediator open an incident with the alert's
// labels, resolves the alert through Alertmanager and sees the incident
// resolve.
func TestRealAlertmanager(t *testing.T) {
	amBin, amtool := toolPath(t, "ALERTMANAGER_BIN"), toolPath(t, "AMTOOL_BIN")
	dir := t.TempDir()
	const (
		webhookTok = "e2e-webhook-token-0123456789"
		adminTok   = "e2e-admin-token-0123456789"
	)
	cfg := writeFile(t, dir, "remediator.yml", fmt.Sprintf(`
server:
  listen: 127.0.0.1:0
  webhook_token: ${E2E_WEBHOOK_TOKEN}
storage:
  path: %s
auth:
  tokens:
    - name: e2e-admin
      role: admin
      token: ${E2E_ADMIN_TOKEN}
`, filepath.Join(dir, "remediator.db")))
	_, base := startRemediator(t, []string{"E2E_WEBHOOK_TOKEN=" + webhookTok, "E2E_ADMIN_TOKEN=" + adminTok}, "--config", cfg)

	amPort := freePort(t)
	amURL := fmt.Sprintf("http://127.0.0.1:%d", amPort)
	amCfg := writeFile(t, dir, "alertmanager.yml", fmt.Sprintf(`
route:
  receiver: remediator
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: remediator
    webhook_configs:
      - url: %s/api/v1/webhook
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: %s
`, base, webhookTok))
	am := start(t, nil, amBin,
		"--config.file="+amCfg,
		"--storage.path="+filepath.Join(dir, "am-data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", amPort),
		"--cluster.listen-address=",
		"--log.level=debug")
	waitFor(t, 30*time.Second, "alertmanager to be ready", func() bool {
		select {
		case <-am.done:
			t.Fatalf("alertmanager exited: %v", am.err)
		default:
		}
		status, _ := requestNoFail(amURL + "/-/ready")
		return status == 200
	})

	labels := []string{"alertname=E2EGameServerDown", "severity=critical", "service=game-api", "instance=gs-01:9100"}
	amtoolRun(t, amtool, amURL, append(append([]string{"alert", "add"}, labels...), "--annotation=summary=game-api down on gs-01")...)

	var inc apiIncident
	waitFor(t, 30*time.Second, "the incident to appear in remediator", func() bool {
		for _, i := range listIncidents(t, base, adminTok) {
			if i.Labels["alertname"] == "E2EGameServerDown" {
				inc = i
				return true
			}
		}
		return false
	})
	if inc.Status != "open" || inc.Level != "critical" || inc.Title != "game-api down on gs-01" ||
		inc.Labels["service"] != "game-api" || inc.Labels["instance"] != "gs-01:9100" || len(inc.Alerts) != 1 {
		t.Fatalf("incident = %+v", inc)
	}

	// Resolve through Alertmanager: the same alert with an end time of now.
	end := time.Now().UTC().Format(time.RFC3339)
	amtoolRun(t, amtool, amURL, append(append([]string{"alert", "add"}, labels...), "--end="+end, "--annotation=summary=game-api down on gs-01")...)
	waitFor(t, 30*time.Second, "the incident to resolve", func() bool {
		for _, i := range listIncidents(t, base, adminTok) {
			if i.ID == inc.ID {
				return i.Status == "resolved"
			}
		}
		return false
	})
	if n := len(listIncidents(t, base, adminTok)); n != 1 {
		t.Fatalf("%d incidents, want exactly 1 (redeliveries must not open more)", n)
	}
}

func amtoolRun(t *testing.T, amtool, amURL string, args ...string) {
	t.Helper()
	cmd := exec.Command(amtool, append([]string{"--alertmanager.url=" + amURL}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("amtool %v: %v\n%s", args, err, out)
	}
}

func requestNoFail(url string) (int, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
