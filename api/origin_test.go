package api_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/engine"
)

// send sends a request whose Host header is host ("": the server's
// address) with the given header names and values, without the
// Content-Type do adds.
func (e *env) send(method, path, host string, body string, hdr ...string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// auditOf lists the audit log straight from the engine (the audit
// endpoint of an open API is behind the same checks).
func auditOf(t *testing.T, a api.Auditor, f engine.AuditFilter) []engine.AuditEntry {
	t.Helper()
	list, _ := a.AuditLog(f, engine.Page{Limit: 500})
	return list
}

// changes is every endpoint that changes state, with a body it takes.
var changes = []struct{ method, path, action, body string }{
	{"POST", "/api/v1/webhook", "webhook", `{"receiver":"r","alerts":[{"status":"firing","labels":{"alertname":"Injected","severity":"critical"}}]}`},
	{"POST", "/api/v1/incidents/1/ack", "incident.ack", `{"note":"x"}`},
	{"POST", "/api/v1/incidents/1/resolve", "incident.resolve", `{"note":"x"}`},
	{"POST", "/api/v1/actions/1/approve", "action.approve", `{}`},
	{"POST", "/api/v1/actions/1/reject", "action.reject", `{}`},
	{"POST", "/api/v1/silences", "silence.create", `{"matchers":[{"name":"severity","value":".+","is_regex":true,"is_equal":true}],"ends_at":"2030-01-01T00:00:00Z","comment":"mute everything"}`},
	{"DELETE", "/api/v1/silences/1", "silence.expire", ``},
	{"POST", "/api/v1/schedules/first-line/overrides", "schedule.override", `{"person":"mallory","from":"2026-01-01T00:00:00Z","to":"2030-01-01T00:00:00Z"}`},
	{"POST", "/-/reload", "config.reload", ``},
	{"POST", "/api/v1/twilio/voice", "callback", `Digits=3`},
	{"POST", "/api/v1/twilio/status", "callback", `CallStatus=completed`},
	{"POST", "/api/v1/twilio/sms", "callback", `Body=ACK+1`},
}

// TestCrossOriginChangesAreRefused: in open mode (every request an
// anonymous admin), a browser's request from another origin, even a
// "simple" text/plain one, changes nothing: every state-changing endpoint
// answers 403 and audits the attempt, without an actor (so rate-limited
// per address like other anonymous denials). Same-origin requests and
// clients that are not browsers go on.
func TestCrossOriginChangesAreRefused(t *testing.T) {
	e := newEnvWith(t, false, func(o *api.Options) { o.OnCall = fakeOnCall{} })
	// One incident, from a client that is not a browser (no Origin, no
	// Sec-Fetch-Site): Alertmanager.
	if status, body := e.send("POST", "/api/v1/webhook", "", string(webhookFile(t, "firing.json")), "Content-Type", "application/json"); status != 200 {
		t.Fatalf("webhook from Alertmanager: %d %s", status, body)
	}
	foreign := [][]string{
		{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"},
		// Another port of 127.0.0.1 is the same site, not the same origin.
		{"Sec-Fetch-Site", "same-site", "Origin", "http://127.0.0.1:1"},
		// A browser without Fetch Metadata: the Origin is not this host.
		{"Origin", "http://evil.example"},
		{"Origin", "null"},
	}
	for _, c := range changes {
		for _, hdr := range foreign {
			t.Run(c.method+" "+c.path+" "+strings.Join(hdr, " "), func(t *testing.T) {
				hdr := append([]string{"Content-Type", "text/plain;charset=UTF-8"}, hdr...)
				status, body := e.send(c.method, c.path, "", c.body, hdr...)
				if status != 403 || !strings.Contains(errorOf(t, []byte(body)), "cross-origin request refused") {
					t.Fatalf("got %d %s, want 403", status, body)
				}
			})
		}
	}
	// Nothing changed: one incident, open; no silence, no reload.
	if list, _ := e.incidents(""); len(list) != 1 || list[0].Status != "open" || list[0].Title == "Injected" {
		t.Fatalf("incidents = %+v", list)
	}
	if status, body, _ := e.do("GET", "/api/v1/silences", "", nil); status != 200 || !strings.Contains(string(body), `"silences":[]`) {
		t.Fatalf("silences: %d %s", status, body)
	}
	if e.reloads != 0 {
		t.Fatalf("%d reloads", e.reloads)
	}
	// The webhook's refusals count in its metric.
	if _, body, _ := e.do("GET", "/metrics", "", nil); !strings.Contains(string(body), `remediator_webhook_requests_total{code="403"} 4`) {
		t.Fatalf("webhook refusals not counted:\n%s", body)
	}
	// Each attempt is audited, denied, without an actor; past the per-address
	// bound of anonymous denials a minute they are counted, not written.
	log := auditOf(t, e.auditor, engine.AuditFilter{Outcome: engine.AuditDenied})
	if len(log) == 0 || len(log) >= len(changes)*len(foreign) {
		t.Fatalf("%d denied entries for %d attempts", len(log), len(changes)*len(foreign))
	}
	oldest := log[len(log)-1]
	if oldest.Action != "webhook" || oldest.Actor != "" || oldest.Addr != "127.0.0.1" ||
		oldest.Detail != `cross-origin request refused (Sec-Fetch-Site "cross-site", Origin "http://evil.example"): a request that changes something must come from remediator's own pages or from a client that is not a browser` {
		t.Fatalf("first refusal audited as %+v", oldest)
	}
	for _, a := range log {
		if a.Actor != "" {
			t.Fatalf("a refusal has an actor: %+v", a)
		}
	}

	// The same requests from this origin, or from a client that sends
	// neither header, go on.
	same := [][]string{
		{"Sec-Fetch-Site", "same-origin", "Origin", e.srv.URL},
		{"Origin", e.srv.URL},
		{"Sec-Fetch-Site", "none"},
		{},
	}
	for i, hdr := range same {
		hdr := append([]string{"Content-Type", "application/json"}, hdr...)
		step := []string{"ack", "resolve"}[i%2]
		if i == 2 {
			e.postGroup("Second", "warning", "firing", 0, 1)
		}
		if status, body := e.send("POST", "/api/v1/incidents/"+[]string{"1", "1", "2", "2"}[i]+"/"+step, "", `{}`, hdr...); status != 200 {
			t.Fatalf("%s with %v: %d %s", step, hdr, status, body)
		}
	}
}

// TestExternalURLIsThisOrigin: behind a proxy the Host is not the
// browser's; the origin of server.external_url is this server's all the
// same, and its host is one an open server answers to.
func TestExternalURLIsThisOrigin(t *testing.T) {
	e := newEnvWith(t, false, func(o *api.Options) { o.Settings.ExternalURL = "https://remediator.example.com/" })
	e.send("POST", "/api/v1/webhook", "", string(webhookFile(t, "firing.json")), "Content-Type", "application/json")
	if status, body := e.send("POST", "/api/v1/incidents/1/ack", "", "", "Origin", "https://remediator.example.com"); status != 200 {
		t.Fatalf("ack from the external origin: %d %s", status, body)
	}
	if status, body := e.send("POST", "/api/v1/incidents/1/resolve", "", "", "Origin", "https://remediator.example.com.evil.example"); status != 403 {
		t.Fatalf("resolve from another origin: %d %s", status, body)
	}
	if status, body := e.send("GET", "/api/v1/incidents", "remediator.example.com", ""); status != 200 {
		t.Fatalf("the external host: %d %s", status, body)
	}
}

// TestOpenModeAnswersOnlyLoopbackHosts: without tokens, a Host that is
// not a loopback name or address is a 421 (DNS rebinding: a page of
// evil.example whose name now resolves to 127.0.0.1 reads nothing, and
// its changes are audited); with tokens, the Host does not matter.
func TestOpenModeAnswersOnlyLoopbackHosts(t *testing.T) {
	e := newEnv(t, false)
	port := e.srv.URL[strings.LastIndex(e.srv.URL, ":")+1:]
	e.send("POST", "/api/v1/webhook", "", string(webhookFile(t, "firing.json")), "Content-Type", "application/json")
	for _, host := range []string{"localhost:" + port, "LOCALHOST:" + port, "127.0.0.1:" + port, "127.0.0.2:" + port, "[::1]:" + port, "localhost", "[::1]"} {
		if status, body := e.send("GET", "/api/v1/incidents", host, ""); status != 200 {
			t.Errorf("Host %s: %d %s", host, status, body)
		}
	}
	for _, host := range []string{"evil.example:" + port, "evil.example", "localhost.evil.example:" + port, "127.0.0.1.nip.io:" + port, "192.0.2.1:" + port} {
		for _, path := range []string{"/api/v1/incidents", "/api/v1/incidents/1", "/api/v1/audit", "/metrics", "/-/ready"} {
			status, body := e.send("GET", path, host, "")
			if status != 421 || !strings.Contains(body, "is not this server") {
				t.Errorf("GET %s with Host %s: %d %s", path, host, status, body)
			}
		}
	}
	status, body := e.send("POST", "/api/v1/incidents/1/ack", "evil.example:"+port, "")
	if status != 421 {
		t.Fatalf("ack with Host evil.example: %d %s", status, body)
	}
	log := auditOf(t, e.auditor, engine.AuditFilter{Action: "incident.ack"})
	if len(log) != 1 || log[0].Outcome != engine.AuditDenied || log[0].Target != "incident 1" || !strings.Contains(log[0].Detail, `host "evil.example:`+port+`" is not this server`) {
		t.Fatalf("audit %+v", log)
	}
	if list, _ := e.incidents(""); list[0].Status != "open" {
		t.Fatalf("the ack went through: %+v", list[0])
	}
	// With tokens the API is not open: a token decides, whatever the Host.
	e = newEnv(t, true)
	if status, body := e.send("GET", "/api/v1/incidents", "remediator.internal:9095", "", "Authorization", "Bearer "+viewerToken); status != 200 {
		t.Fatalf("with tokens: %d %s", status, body)
	}
}

// TestLoopbackAnswersOnlyLoopbackHosts: with API tokens but no webhook
// token (a valid config on a loopback address), a DNS-rebinding page
// must not inject an alert or read /metrics: on a loopback listen
// address the Host must be a loopback one too, tokens or not.
func TestLoopbackAnswersOnlyLoopbackHosts(t *testing.T) {
	e := newEnvWith(t, true, func(o *api.Options) { o.Settings.WebhookToken = ""; o.Settings.LoopbackOnly = true })
	port := e.srv.URL[strings.LastIndex(e.srv.URL, ":")+1:]
	hook := string(webhookFile(t, "firing.json"))
	rebound := "evil.example:" + port
	status, body := e.send("POST", "/api/v1/webhook", rebound, hook, "Content-Type", "application/json", "Origin", "http://"+rebound, "Sec-Fetch-Site", "same-origin")
	if status != 421 {
		t.Fatalf("rebound webhook: %d %s", status, body)
	}
	for _, path := range []string{"/metrics", "/-/ready", "/-/healthy"} {
		if status, body := e.send("GET", path, rebound, ""); status != 421 {
			t.Errorf("GET %s from a rebound name: %d %s", path, status, body)
		}
	}
	if list, _ := e.incidents(""); len(list) != 0 {
		t.Fatalf("the alert was stored: %+v", list)
	}
	// Alertmanager on this host reaches it.
	if status, body := e.send("POST", "/api/v1/webhook", "127.0.0.1:"+port, hook, "Content-Type", "application/json"); status != 200 {
		t.Fatalf("local webhook: %d %s", status, body)
	}
}

// TestJSONEndpointsNeedJSON: an endpoint that reads a JSON body takes
// only Content-Type application/json (415 otherwise, audited as a failed
// change); an empty body needs none.
func TestJSONEndpointsNeedJSON(t *testing.T) {
	e := newEnvWith(t, true, func(o *api.Options) { o.OnCall = fakeOnCall{} })
	hook := string(webhookFile(t, "firing.json"))
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	for _, tc := range []struct {
		name, path, token, ctype, body string
	}{
		{"webhook as text", "/api/v1/webhook", webhookToken, "text/plain", hook},
		{"webhook as a form", "/api/v1/webhook", webhookToken, "application/x-www-form-urlencoded", hook},
		{"webhook without a type", "/api/v1/webhook", webhookToken, "", hook},
		{"silence as text", "/api/v1/silences", responderToken, "text/plain", changes[5].body},
		{"ack as a form", "/api/v1/incidents/1/ack", responderToken, "application/x-www-form-urlencoded", "note=x"},
		{"override as text", "/api/v1/schedules/first-line/overrides", responderToken, "text/plain", changes[7].body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := bearer(tc.token)
			if tc.ctype != "" {
				hdr = append(hdr, "Content-Type", tc.ctype)
			}
			status, body := e.send("POST", tc.path, "", tc.body, hdr...)
			if status != 415 || !strings.Contains(errorOf(t, []byte(body)), "the body must be JSON sent with Content-Type: application/json") {
				t.Fatalf("got %d %s, want 415", status, body)
			}
		})
	}
	if got := e.lastAudit(); got.Action != "schedule.override" || got.Outcome != engine.AuditFailed || !strings.Contains(got.Detail, "Content-Type") {
		t.Fatalf("415 audited as %+v", got)
	}
	// Alertmanager's JSON, with or without a charset, and an ack without a
	// body, go on.
	if status, body := e.send("POST", "/api/v1/webhook", "", hook, append(bearer(webhookToken), "Content-Type", "application/json; charset=utf-8")...); status != 200 {
		t.Fatalf("webhook: %d %s", status, body)
	}
	if status, body := e.send("POST", "/api/v1/incidents/1/ack", "", "", bearer(responderToken)...); status != 200 {
		t.Fatalf("ack without a body: %d %s", status, body)
	}
	if status, body, _ := e.do("GET", "/api/v1/silences", viewerToken, nil); status != 200 || !bytes.Contains(body, []byte(`"silences":[]`)) {
		t.Fatalf("silences: %d %s", status, body)
	}
}
