package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// attackPage is a page of another site open in the operator's browser. With
// "simple" requests (no CORS preflight: text/plain fetches in no-cors mode
// and a text/plain form) it tries to mute everything until 2030, inject a
// critical alert, acknowledge incident 1 and reload the config of the
// remediator at %[1]s, then shows #done.
const attackPage = `<!doctype html>
<title>cat pictures</title>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="POST" enctype="text/plain" target="sink" action="%[1]s/api/v1/silences">
<input type="hidden" name='{"matchers":[{"name":"severity","value":".+","is_regex":true,"is_equal":true}],"ends_at":"2030-01-01T00:00:00Z","comment":"' value='"}'>
</form>
<script>
const target = %[1]q;
const post = (path, body) => fetch(target + path, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body});
Promise.allSettled([
  post("/api/v1/silences", JSON.stringify({matchers: [{name: "severity", value: ".+", is_regex: true, is_equal: true}], ends_at: "2030-01-01T00:00:00Z", comment: "x"})),
  post("/api/v1/webhook", JSON.stringify({receiver: "r", groupKey: "injected", alerts: [{status: "firing", labels: {alertname: "Injected", severity: "critical"}}]})),
  post("/api/v1/incidents/1/ack", ""),
  post("/-/reload", ""),
]).then(() => {
  document.getElementById("sink").addEventListener("load", () => {
    const p = document.createElement("p");
    p.id = "done";
    p.textContent = "done";
    document.body.appendChild(p);
  });
  document.getElementById("f").submit();
});
</script>`

// TestCrossSitePagesChangeNothing: remediator on its open default (no
// tokens: every request an anonymous admin) and a real browser. A page of
// another loopback port (same site) and one of another site try, with
// fetch and a form, to create a silence, inject an alert, acknowledge an
// incident and reload the config: each is refused and audited, and
// nothing changes. A page whose name resolves to 127.0.0.1 (DNS
// rebinding, made with chromium's host resolver rules) reads nothing and
// changes nothing either.
func TestCrossSitePagesChangeNothing(t *testing.T) {
	dir := t.TempDir()
	_, base := startRemediator(t, nil, "--listen", "127.0.0.1:0", "--db", filepath.Join(dir, "r.db"))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	postAlert(t, base, "GameServerDown", map[string]string{"severity": "critical"})
	reloadedAt := func() string {
		_, body := request(t, "GET", base+"/metrics", "", nil)
		m := regexp.MustCompile(`(?m)^remediator_config_last_reload_success_timestamp_seconds (\S+)$`).FindStringSubmatch(string(body))
		if m == nil {
			t.Fatalf("no reload timestamp in the metrics")
		}
		return m[1]
	}
	before := reloadedAt()

	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, attackPage, base)
	}))
	defer attacker.Close()
	_, aport, _ := net.SplitHostPort(strings.TrimPrefix(attacker.URL, "http://"))

	ctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP attacker.example 127.0.0.1, MAP evil.example 127.0.0.1"))
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, page := range []string{
		attacker.URL,                             // another port of 127.0.0.1: same site
		"http://attacker.example:" + aport + "/", // another site
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitReady(chromedp.ID("done"))); err != nil {
			t.Fatalf("%s: %v", page, err)
		}
	}

	// DNS rebinding: evil.example now resolves to 127.0.0.1, so a page of
	// evil.example:PORT is same-origin with remediator to the browser.
	if err := chromedp.Do(ctx, chromedp.Navigate("http://evil.example:"+port+"/login"), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		t.Fatalf("evil.example: %v", err)
	}
	type answers struct {
		Read, Silence int
		Body          string
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[answers](`(async () => {
		const read = await fetch("/api/v1/incidents");
		const silence = await fetch("/api/v1/silences", {method: "POST", headers: {"Content-Type": "application/json"},
			body: JSON.stringify({matchers: [{name: "severity", value: ".+", is_regex: true, is_equal: true}], ends_at: "2030-01-01T00:00:00Z"})});
		return {Read: read.status, Silence: silence.status, Body: await read.text()};
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || got.Read != 421 || got.Silence != 421 || strings.Contains(got.Body, "GameServerDown") {
		t.Fatalf("from evil.example: %+v (%v)", got, err)
	}

	// Nothing changed: the one incident is open, no silence, no injected
	// alert, no reload.
	if list := listIncidents(t, base, ""); len(list) != 1 || list[0].Status != "open" {
		t.Fatalf("incidents: %+v", list)
	}
	if status, body := request(t, "GET", base+"/api/v1/silences", "", nil); status != 200 || !strings.Contains(string(body), `"silences":[]`) {
		t.Fatalf("silences: %d %s", status, body)
	}
	if status, body := request(t, "GET", base+"/api/v1/alerts", "", nil); status != 200 || strings.Contains(string(body), "Injected") {
		t.Fatalf("alerts: %d %s", status, body)
	}
	if after := reloadedAt(); after != before {
		t.Fatalf("the config was reloaded: %s, then %s", before, after)
	}
	// Every attempt is in the audit log, refused.
	status, body := request(t, "GET", base+"/api/v1/audit?outcome=denied&limit=500", "", nil)
	var audit struct {
		Entries []struct{ Action, Detail string } `json:"entries"`
	}
	if status != 200 || json.Unmarshal(body, &audit) != nil {
		t.Fatalf("audit: %d %s", status, body)
	}
	counts := map[string]int{}
	for _, e := range audit.Entries {
		site := regexp.MustCompile(`Sec-Fetch-Site "([^"]*)"`).FindStringSubmatch(e.Detail)
		if site == nil {
			site = []string{"", "host"}
		}
		counts[e.Action+" "+site[1]]++
	}
	// Chromium sends a request refused with 421 once more, on a new
	// connection: the silence from evil.example is refused once or twice.
	if n := counts["silence.create host"]; n < 1 || n > 2 {
		t.Fatalf("%d refusals of the silence from evil.example", n)
	}
	delete(counts, "silence.create host")
	want := map[string]int{
		"silence.create same-site": 2, "webhook same-site": 1, "incident.ack same-site": 1, "config.reload same-site": 1,
		"silence.create cross-site": 2, "webhook cross-site": 1, "incident.ack cross-site": 1, "config.reload cross-site": 1,
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("denied attempts %v, want %v:\n%s", counts, want, body)
	}
}
