package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/remediator/remediator/api"
)

// postGroup posts one webhook of the group name with n alerts of the
// given severity (fingerprints name-0, name-1, …, from first on),
// status firing or resolved.
func (e *env) postGroup(name, severity, status string, first, n int) {
	e.t.Helper()
	alerts := make([]string, n)
	for i := range alerts {
		alerts[i] = fmt.Sprintf(`{"status":%q,"fingerprint":"%s-%d","labels":{"alertname":%q,"severity":%q,"i":"%d"},"startsAt":"2026-11-25T10:00:00Z"}`,
			status, name, first+i, name, severity, first+i)
	}
	body := fmt.Sprintf(`{"receiver":"r","groupKey":%q,"status":%q,"commonLabels":{"alertname":%q,"severity":%q},"alerts":[%s]}`,
		"{}:"+name, status, name, severity, strings.Join(alerts, ","))
	if status, b, _ := e.do("POST", "/api/v1/webhook", webhookToken, []byte(body)); status != 200 {
		e.t.Fatalf("webhook %s: %d %s", name, status, b)
	}
}

// TestIncidentFilters: ?level= and ?priority= filter the list, whatever
// their case, with ?status=.
func TestIncidentFilters(t *testing.T) {
	e := newEnv(t, true)
	e.postGroup("DiskFull", "warning", "firing", 0, 1)  // 1: warning, P2
	e.postGroup("GameDown", "critical", "firing", 0, 1) // 2: critical, P1
	e.postGroup("Noise", "info", "firing", 0, 1)        // 3: info, no priority
	if status, body, _ := e.do("POST", "/api/v1/incidents/2/ack", responderToken, nil); status != 200 {
		t.Fatalf("ack: %d %s", status, body)
	}
	for _, tc := range []struct{ query, want string }{
		{"", "[3 2 1]"},
		// By level, in any case.
		{"?level=critical", "[2]"},
		{"?level=CRITICAL", "[2]"},
		// By priority, in any case.
		{"?priority=p2", "[1]"},
		{"?priority=P1", "[2]"},
		// With the status.
		{"?status=open&level=critical", "[]"},
		{"?status=acknowledged&level=Critical&priority=p1", "[2]"},
		// A level nobody has.
		{"?level=fatal", "[]"},
	} {
		list, _ := e.incidents(tc.query)
		ids := []uint64{}
		for _, inc := range list {
			ids = append(ids, inc.ID)
		}
		if fmt.Sprint(ids) != tc.want {
			t.Errorf("incidents%s = %v, want %s", tc.query, ids, tc.want)
		}
	}
}

// TestUnknownParameters: every read of the API answers 400 for a query
// parameter it does not take (a misspelt filter is not "no filter"), and
// for one given twice.
func TestUnknownParameters(t *testing.T) {
	e := newEnvWith(t, true, func(o *api.Options) {
		o.OnCall = fakeOnCall{}
		o.Events = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "stream") })
	})
	e.postGroup("GameDown", "critical", "firing", 0, 1)
	end := `"ends_at":"2030-01-01T00:00:00Z"`
	if status, body, _ := e.do("POST", "/api/v1/silences", responderToken, []byte(`{"matchers":[{"name":"a","value":"b","is_equal":true}],`+end+`}`)); status != 201 {
		t.Fatalf("silence: %d %s", status, body)
	}
	for _, tc := range []struct{ path, token, takes string }{
		{"/api/v1/incidents", viewerToken, "status, level, priority, limit, cursor"},
		{"/api/v1/incidents/1", viewerToken, "alerts_limit, alerts_cursor"},
		{"/api/v1/alerts", viewerToken, "status, limit, cursor"},
		{"/api/v1/actions", viewerToken, "incident, rule, status, limit, cursor"},
		{"/api/v1/notifications", viewerToken, "incident, status, channel, limit, cursor"},
		{"/api/v1/silences", viewerToken, "state, limit, cursor"},
		{"/api/v1/silences/1", viewerToken, "no parameters"},
		{"/api/v1/audit", adminToken, "actor, action, outcome, limit, cursor"},
		{"/api/v1/oncall", viewerToken, "schedule, at"},
		{"/api/v1/reports/sla", viewerToken, "from, to"},
		{"/api/v1/events", viewerToken, "kinds, last_event_id"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			status, body, _ := e.do("GET", tc.path+"?q=disk", tc.token, nil)
			want := fmt.Sprintf(`unknown parameter "q": %s takes %s`, tc.path, tc.takes)
			if status != 400 || !strings.Contains(errorOf(t, body), want) {
				t.Fatalf("?q=: got %d %s, want 400 containing %q", status, body, want)
			}
			if status, body, _ := e.do("GET", tc.path, tc.token, nil); status != 200 {
				t.Fatalf("without it: %d %s", status, body)
			}
		})
	}
	status, body, _ := e.do("GET", "/api/v1/incidents?status=open&status=resolved", viewerToken, nil)
	if status != 400 || !strings.Contains(errorOf(t, body), `parameter "status" is given 2 times; give it once`) {
		t.Fatalf("a parameter twice: %d %s", status, body)
	}
}

// TestTransitionAnswersTheAlerts: the answer of an ack and a resolve
// lists the incident's alerts like the list does.
func TestTransitionAnswersTheAlerts(t *testing.T) {
	e := newEnv(t, true)
	e.postGroup("GameDown", "critical", "firing", 0, 2)
	for _, step := range []string{"ack", "resolve"} {
		status, body, _ := e.do("POST", "/api/v1/incidents/1/"+step, responderToken, nil)
		var inc struct {
			Alerts   []string `json:"alerts"`
			Firing   int      `json:"firing"`
			Resolved int      `json:"resolved"`
		}
		if status != 200 || json.Unmarshal(body, &inc) != nil || fmt.Sprint(inc.Alerts) != "[GameDown-0 GameDown-1]" || inc.Firing != 2 || inc.Resolved != 0 {
			t.Fatalf("%s: %d %s", step, status, body)
		}
	}
}

type incidentDetail struct {
	Incident struct {
		Alerts   []string `json:"alerts"`
		Firing   int      `json:"firing"`
		Resolved int      `json:"resolved"`
	} `json:"incident"`
	Alerts []struct {
		Fingerprint string `json:"fingerprint"`
		Status      string `json:"status"`
	} `json:"alerts"`
	AlertsNextCursor string `json:"alerts_next_cursor"`
}

// TestIncidentAlertPaging: an incident's alerts come in pages (100 by
// default, oldest first, alerts_limit and alerts_cursor), so the answer
// for an incident with thousands of alerts is bounded by the page: the
// count of alerts and fingerprints it carries, not the incident's size.
// The counts say how many fire and how many resolved.
func TestIncidentAlertPaging(t *testing.T) {
	e := newEnv(t, true)
	const total, resolved = 3000, 250
	for first := 0; first < total; first += 150 {
		e.postGroup("Flood", "warning", "firing", first, 150)
	}
	for first := 0; first < resolved; first += 125 {
		e.postGroup("Flood", "warning", "resolved", first, 125)
	}
	detail := func(query string) (incidentDetail, int) {
		t.Helper()
		status, body, _ := e.do("GET", "/api/v1/incidents/1"+query, viewerToken, nil)
		var d incidentDetail
		if status != 200 || json.Unmarshal(body, &d) != nil {
			t.Fatalf("incident%s: %d %.300s", query, status, body)
		}
		return d, len(body)
	}
	d, size := detail("")
	if len(d.Alerts) != 100 || len(d.Incident.Alerts) != 100 || d.Alerts[0].Fingerprint != "Flood-0" || d.Alerts[99].Fingerprint != "Flood-99" ||
		d.AlertsNextCursor == "" || d.Incident.Firing != total-resolved || d.Incident.Resolved != resolved {
		t.Fatalf("first page: %d alerts, %d fingerprints, next %q, firing %d, resolved %d",
			len(d.Alerts), len(d.Incident.Alerts), d.AlertsNextCursor, d.Incident.Firing, d.Incident.Resolved)
	}
	// A page of 100 alerts is about 100 × 250 bytes whatever the total;
	// all 3000 would be 30 times that.
	if size > 64<<10 {
		t.Fatalf("the first page is %d bytes", size)
	}
	// Every alert once, in order, through the pages.
	var seen []string
	cursor := ""
	for pages := 0; pages < 20; pages++ {
		q := "?alerts_limit=500"
		if cursor != "" {
			q += "&alerts_cursor=" + cursor
		}
		d, _ := detail(q)
		if len(d.Alerts) > 500 {
			t.Fatalf("page %d has %d alerts", pages, len(d.Alerts))
		}
		for _, a := range d.Alerts {
			seen = append(seen, a.Fingerprint)
		}
		if cursor = d.AlertsNextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != total || seen[0] != "Flood-0" || seen[total-1] != fmt.Sprintf("Flood-%d", total-1) {
		t.Fatalf("paged %d alerts, want %d", len(seen), total)
	}
	for i, fp := range seen {
		if fp != fmt.Sprintf("Flood-%d", i) {
			t.Fatalf("alert %d is %s", i, fp)
		}
	}
	// The list, too, carries at most 100 fingerprints an incident.
	if list, _ := e.incidents(""); len(list) != 1 || len(list[0].Alerts) != 100 {
		t.Fatalf("list: %d incidents, %d fingerprints", len(list), len(list[0].Alerts))
	}
	for _, tc := range []struct{ query, contains string }{
		{"?alerts_limit=0", "alerts_limit: must be an integer from 1 to 500"},
		{"?alerts_limit=501", "alerts_limit: must be an integer from 1 to 500"},
		{"?alerts_cursor=abc", `alerts_cursor: "abc" is not a cursor this API returned`},
		{"?alerts_cursor=999999", "alerts cursor 999999: not an alert of incident 1"},
	} {
		status, body, _ := e.do("GET", "/api/v1/incidents/1"+tc.query, viewerToken, nil)
		if status != 400 || !strings.Contains(errorOf(t, body), tc.contains) {
			t.Errorf("%s: %d %s, want 400 containing %q", tc.query, status, body, tc.contains)
		}
	}
}

// TestIncidentTimelinePaging: an incident's timeline comes in pages too
// (500 events by default, oldest first, timeline_limit and
// timeline_cursor), with the total, so a sender of many small webhooks
// cannot make one incident's answer grow without bound.
func TestIncidentTimelinePaging(t *testing.T) {
	e := newEnv(t, true)
	for first := 0; first < 400; first++ {
		e.postGroup("Drip", "warning", "firing", first, 1) // each adds received and alert_added
	}
	type page struct {
		Timeline []struct {
			Type string `json:"type"`
		} `json:"timeline"`
		Next  string `json:"timeline_next_cursor"`
		Total int    `json:"timeline_total"`
	}
	get := func(q string) page {
		t.Helper()
		status, body, _ := e.do("GET", "/api/v1/incidents/1"+q, viewerToken, nil)
		var p page
		if status != 200 || json.Unmarshal(body, &p) != nil {
			t.Fatalf("incident%s: %d %.300s", q, status, body)
		}
		return p
	}
	first := get("")
	if len(first.Timeline) != 500 || first.Total <= 800 || first.Next == "" || first.Timeline[0].Type != "opened" {
		t.Fatalf("first page: %d events of %d, next %q", len(first.Timeline), first.Total, first.Next)
	}
	seen, cursor := 0, ""
	for range 100 {
		q := "?timeline_limit=300"
		if cursor != "" {
			q += "&timeline_cursor=" + cursor
		}
		p := get(q)
		seen += len(p.Timeline)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if seen != first.Total {
		t.Fatalf("paged %d events, total %d", seen, first.Total)
	}
	for _, q := range []string{"?timeline_limit=0", "?timeline_limit=501", "?timeline_cursor=x"} {
		if status, body, _ := e.do("GET", "/api/v1/incidents/1"+q, viewerToken, nil); status != 400 {
			t.Errorf("%s: %d %s", q, status, body)
		}
	}
}
