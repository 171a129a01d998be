package api_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/oncall"
)

// realShifts answers who is on call from a real schedule set, and takes
// overrides like fakeOnCall.
type realShifts struct {
	fakeOnCall
	set *oncall.Set
}

func (r realShifts) Names() []string { return r.set.Names() }
func (r realShifts) At(name string, at time.Time) (oncall.Shift, error) {
	return r.set.At(name, at)
}

// TestTimesOutOfRange: every time the API accepts is bounded to the years
// 1970–9999 in UTC (after the zone is applied), with a 400 naming the
// field; the zero time stays accepted where it means "unset" (the endsAt
// Alertmanager sends for a firing alert).
func TestTimesOutOfRange(t *testing.T) {
	set, err := oncall.New([]string{"alice", "bob"}, oncall.Spec{Name: "first-line", Location: time.UTC,
		Layers: []oncall.Layer{{Name: "weekly", Members: []string{"alice", "bob"}, Every: 7, Anchor: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, true, func(o *api.Options) { o.OnCall = realShifts{set: set} })
	// 9999-12-31T23:59:59-23:59 is 10000-01-01T23:58:59Z.
	const late, early = "9999-12-31T23:59:59-23:59", "1969-12-31T23:59:59Z"
	alert := func(startsAt, endsAt string) []byte {
		return []byte(`{"receiver":"r","alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"` + startsAt + `","endsAt":"` + endsAt + `"}]}`)
	}
	matcher := `"matchers":[{"name":"a","value":"b","is_equal":true}]`
	bad := []struct {
		name, method, path, token, body string
		contains                        string
	}{
		// A startsAt past year 9999 once in UTC.
		{"webhook startsAt late", "POST", "/api/v1/webhook", webhookToken, string(alert(late, "0001-01-01T00:00:00Z")), "alerts[0].startsAt: " + late + " is out of range"},
		// Before 1970.
		{"webhook startsAt early", "POST", "/api/v1/webhook", webhookToken, string(alert(early, "0001-01-01T00:00:00Z")), "alerts[0].startsAt: " + early + " is out of range"},
		// An endsAt past 9999.
		{"webhook endsAt late", "POST", "/api/v1/webhook", webhookToken, string(alert("2026-11-25T10:00:00Z", late)), "alerts[0].endsAt: " + late + " is out of range"},
		// A silence's end and start.
		{"silence ends_at", "POST", "/api/v1/silences", responderToken, `{` + matcher + `,"ends_at":"` + late + `"}`, "ends_at: " + late + " is out of range"},
		{"silence starts_at", "POST", "/api/v1/silences", responderToken, `{` + matcher + `,"starts_at":"` + early + `","ends_at":"2030-01-01T00:00:00Z"}`, "starts_at: " + early + " is out of range"},
		// An override's from and to.
		{"override to", "POST", "/api/v1/schedules/first-line/overrides", responderToken, `{"person":"bob","from":"2026-11-27T10:00:00Z","to":"` + late + `"}`, "to: " + late + " is out of range"},
		{"override from", "POST", "/api/v1/schedules/first-line/overrides", responderToken, `{"person":"bob","from":"` + early + `","to":"2026-11-27T10:00:00Z"}`, "from: " + early + " is out of range"},
		// ?at= of the on-call answer.
		{"oncall at", "GET", "/api/v1/oncall?at=" + url.QueryEscape(late), viewerToken, "", "at: " + late + " is out of range"},
		// ?from= and ?to= of the SLA report.
		{"report to", "GET", "/api/v1/reports/sla?to=" + url.QueryEscape(late), viewerToken, "", "to: " + late + " is out of range"},
		{"report from", "GET", "/api/v1/reports/sla?from=" + url.QueryEscape(early) + "&to=1970-01-05T00:00:00Z", viewerToken, "", "from: " + early + " is out of range"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := e.do(tt.method, tt.path, tt.token, []byte(tt.body))
			if status != 400 || !strings.Contains(errorOf(t, body), tt.contains) {
				t.Fatalf("got %d %s, want 400 containing %q", status, body, tt.contains)
			}
		})
	}
	// Nothing was stored, and the lists still answer JSON.
	for _, path := range []string{"/api/v1/alerts", "/api/v1/silences", "/api/v1/incidents"} {
		status, body, _ := e.do("GET", path, viewerToken, nil)
		if status != 200 || !json.Valid(body) || strings.Contains(string(body), `"id"`) {
			t.Fatalf("GET %s after refused times: %d %q", path, status, body)
		}
	}

	// The edges are accepted: a firing alert with Alertmanager's zero
	// endsAt, a start at 1970, an end in 9999 (in UTC).
	if status, body, _ := e.do("POST", "/api/v1/webhook", webhookToken, alert("1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z")); status != 200 {
		t.Fatalf("webhook at the edges: %d %s", status, body)
	}
	if status, body, _ := e.do("POST", "/api/v1/silences", responderToken, []byte(`{`+matcher+`,"ends_at":"9999-12-31T23:59:59+01:00"}`)); status != 201 {
		t.Fatalf("silence until 9999: %d %s", status, body)
	}
	// The last year answers a whole JSON body, though the shift then
	// ends in the year 10000: that end is past the horizon.
	status, body, _ := e.do("GET", "/api/v1/oncall?at=9999-12-31T10:00:00Z", viewerToken, nil)
	if status != 200 || !json.Valid(body) || !strings.Contains(string(body), `"at":"9999-12-31T10:00:00Z"`) ||
		!strings.Contains(string(body), `"from":"9999-12-28T10:00:00Z","layer":"weekly"`) {
		t.Fatalf("oncall at the last year: %d %q", status, body)
	}
	for _, path := range []string{"/api/v1/alerts", "/api/v1/silences", "/api/v1/incidents/1"} {
		if status, body, _ := e.do("GET", path, viewerToken, nil); status != 200 || !json.Valid(body) || len(body) < 20 {
			t.Fatalf("GET %s: %d %q", path, status, body)
		}
	}
}
