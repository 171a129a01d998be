package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/app"
	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/twilio/twiliotest"
)

const (
	twSID   = "AC0123456789abcdef0123456789abcdef"
	twToken = "twilioAuthToken0123456789abcdef"
	twAdmin = "admin-token-0123456789abcdef"
	aliceNo = "+15550001111"
)

// setClock is a clock the test sets.
type setClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *setClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *setClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// twilioRig is a running App whose critical incidents call alice through
// a fake Twilio REST API; base is its URL (also server.external_url).
type twilioRig struct {
	t     *testing.T
	base  string
	clock *setClock
	rest  *twiliotest.REST
}

func newTwilioRig(t *testing.T) *twilioRig {
	t.Helper()
	rest := &twiliotest.REST{T: t, SID: twSID, Token: twToken}
	srv := httptest.NewServer(rest)
	t.Cleanup(srv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
server:
  listen: 127.0.0.1:0
  external_url: %[1]s
storage: {path: %[2]s}
auth:
  tokens: [{name: admin, role: admin, token: %[3]s}]
people:
  - {id: alice, phone: "%[4]s"}
  - {id: bob, phone: "+15550002222"}
notifiers:
  twilio:
    account_sid: %[5]s
    auth_token: %[6]s
    from: "+15005550006"
    api_url: %[7]s
    voice: {attempts: 3, retry_after: 1m, silence_for: 1h}
levels:
  - name: critical
    notify: {people: [alice], via: [phone]}
  - name: info
`, base, filepath.Join(dir, "r.db"), twAdmin, aliceNo, twSID, twToken, srv.URL)
	file := filepath.Join(dir, "r.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := &setClock{now: time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)}
	a, err := app.New(context.Background(), app.Options{ConfigFile: file, Listener: l, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return &twilioRig{t: t, base: base, clock: clock, rest: rest}
}

func (g *twilioRig) do(method, path, token, contentType string, body []byte, header http.Header) (int, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, bytes.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// getJSON reads an API answer into out.
func (g *twilioRig) getJSON(path string, out any) {
	g.t.Helper()
	status, body := g.do(http.MethodGet, path, twAdmin, "", nil, nil)
	if status != http.StatusOK {
		g.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		g.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// fire opens a critical incident for alertname name.
func (g *twilioRig) fire(name string) {
	g.t.Helper()
	labels := map[string]string{"alertname": name, "severity": "critical"}
	body, _ := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "r", "groupKey": "{}:" + name,
		"groupLabels": map[string]string{"alertname": name}, "commonLabels": labels,
		"alerts": []map[string]any{{"status": "firing", "labels": labels, "annotations": map[string]string{},
			"startsAt": "2026-11-27T01:59:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "fp-" + name}},
	})
	if status, b := g.do(http.MethodPost, "/api/v1/webhook", "", "application/json", body, nil); status != http.StatusOK {
		g.t.Fatalf("webhook: %d %s", status, b)
	}
}

type rigNote struct {
	ID         uint64 `json:"id"`
	Channel    string `json:"channel"`
	Status     string `json:"status"`
	ProviderID string `json:"provider_id"`
}

// call waits until incident's phone notification has placed call number
// n (CallSid CA…n) and returns the notification.
func (g *twilioRig) call(incident uint64, n int) rigNote {
	g.t.Helper()
	sid := fmt.Sprintf("CA%032d", n)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out struct{ Notifications []rigNote }
		g.getJSON(fmt.Sprintf("/api/v1/notifications?incident=%d", incident), &out)
		for _, r := range out.Notifications {
			if r.Channel == engine.ChannelPhone && r.ProviderID == sid {
				return r
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("no call %s for incident %d: %+v", sid, incident, out.Notifications)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// twilio posts form to path (with its query) as Twilio does, signed with
// token ("" unsigned).
func (g *twilioRig) twilio(path string, form url.Values, token string) (int, string) {
	g.t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("X-Twilio-Signature", twiliotest.Sign(token, g.base+path, form))
	}
	status, body := g.do(http.MethodPost, path, "", "application/x-www-form-urlencoded", []byte(form.Encode()), h)
	return status, string(body)
}

// press posts a key pressed on call callSid of notification note of
// incident, signed as Twilio signs it.
func (g *twilioRig) press(incident uint64, note rigNote, callSid, digits string) (int, string) {
	g.t.Helper()
	return g.twilio(fmt.Sprintf("/api/v1/twilio/voice?incident=%d&notification=%d", incident, note.ID),
		url.Values{"AccountSid": {twSID}, "CallSid": {callSid}, "CallStatus": {"in-progress"}, "Digits": {digits},
			"From": {"+15005550006"}, "To": {aliceNo}, "Direction": {"outbound-api"}}, twToken)
}

// callStatus posts a status callback of call callSid.
func (g *twilioRig) callStatus(note rigNote, callSid, status string) {
	g.t.Helper()
	code, body := g.twilio(fmt.Sprintf("/api/v1/twilio/status?notification=%d", note.ID),
		url.Values{"AccountSid": {twSID}, "CallSid": {callSid}, "CallStatus": {status}}, twToken)
	if code != http.StatusNoContent {
		g.t.Fatalf("status callback: %d %s", code, body)
	}
}

func (g *twilioRig) incidentStatus(id uint64) string {
	g.t.Helper()
	var out struct {
		Incident struct{ Status string } `json:"incident"`
	}
	g.getJSON(fmt.Sprintf("/api/v1/incidents/%d", id), &out)
	return out.Incident.Status
}

func (g *twilioRig) silences() int {
	g.t.Helper()
	var out struct{ Silences []json.RawMessage }
	g.getJSON("/api/v1/silences?limit=500", &out)
	return len(out.Silences)
}

// audit lists the audit log, oldest first.
func (g *twilioRig) audit() []engine.AuditEntry {
	g.t.Helper()
	var out struct{ Entries []engine.AuditEntry }
	g.getJSON("/api/v1/audit?limit=500", &out)
	for i, j := 0, len(out.Entries)-1; i < j; i, j = i+1, j-1 {
		out.Entries[i], out.Entries[j] = out.Entries[j], out.Entries[i]
	}
	return out.Entries
}

// auditSince is the audit log's entries after the first n.
func (g *twilioRig) auditSince(n int) []engine.AuditEntry {
	g.t.Helper()
	return g.audit()[n:]
}

func describeAudit(es []engine.AuditEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  %s %s %q %s addr=%s: %s", e.Action, e.Outcome, e.Actor, e.Target, e.Addr, e.Detail)
	}
	return b.String()
}

// A signed "press 3" counts once: replayed, before or after the incident
// resolved, it creates no second silence and changes nothing, and each
// replay is audited as denied. A key pressed on a call that was replaced
// by a re-call, or on a call that has ended, is refused the same way.
func TestKeypressReplayChangesNothing(t *testing.T) {
	g := newTwilioRig(t)
	g.fire("GameServerDown")
	note := g.call(1, 1)
	callSid := note.ProviderID

	status, body := g.press(1, note, callSid, "3")
	if status != http.StatusOK || !strings.Contains(body, "Silenced. Goodbye.") {
		t.Fatalf("the live call's keypress: %d %s", status, body)
	}
	if n, st := g.silences(), g.incidentStatus(1); n != 1 || st != "acknowledged" {
		t.Fatalf("after the keypress: %d silences, incident %s", n, st)
	}
	before := len(g.audit())
	for i := range 2 {
		status, body := g.press(1, note, callSid, "3")
		if status != http.StatusOK || strings.Contains(body, "Silenced") || !strings.Contains(body, "Sorry, that did not work.") {
			t.Fatalf("replay %d: %d %s", i, status, body)
		}
	}
	if status, body := g.do(http.MethodPost, "/api/v1/incidents/1/resolve", twAdmin, "application/json", []byte(`{"by":"bob"}`), nil); status != http.StatusOK {
		t.Fatalf("resolve: %d %s", status, body)
	}
	g.press(1, note, callSid, "3")
	if n := g.silences(); n != 1 {
		t.Fatalf("%d silences after the replays, want the first one only", n)
	}
	var denied int
	for _, e := range g.auditSince(before) {
		switch {
		case e.Action == "silence.create" && e.Outcome == engine.AuditDenied:
			denied++
			if e.Target != "incident 1" || e.Addr != "127.0.0.1" || !strings.Contains(e.Detail, "already") {
				t.Errorf("denied entry %+v", e)
			}
		case e.Action == "silence.create" || e.Action == "incident.ack":
			t.Errorf("a replay was audited as %s %s", e.Action, e.Outcome)
		}
	}
	if denied != 3 {
		t.Fatalf("%d denied replays audited, want 3:%s", denied, describeAudit(g.auditSince(before)))
	}

	// A re-call replaces the call: a key of the first call is refused,
	// one of the second acknowledges.
	g.fire("DBDown")
	note = g.call(2, 2)
	g.callStatus(note, note.ProviderID, "no-answer")
	g.clock.Advance(time.Minute)
	second := g.call(2, 3)
	if status, body := g.press(2, note, note.ProviderID, "1"); status != http.StatusOK || strings.Contains(body, "Acknowledged") {
		t.Fatalf("a key of the replaced call: %d %s", status, body)
	}
	if st := g.incidentStatus(2); st != "open" {
		t.Fatalf("a key of the replaced call made the incident %s", st)
	}
	if status, body := g.press(2, second, second.ProviderID, "1"); status != http.StatusOK || !strings.Contains(body, "Acknowledged. Goodbye.") {
		t.Fatalf("a key of the live call: %d %s", status, body)
	}
	if st := g.incidentStatus(2); st != "acknowledged" {
		t.Fatalf("incident 2 is %s after its live call's keypress", st)
	}

	// A call that has ended takes no key; nor does a CallSid that is not
	// the notification's.
	g.fire("CacheDown")
	note = g.call(3, 4)
	if status, body := g.press(3, note, "CA"+strings.Repeat("9", 32), "2"); status != http.StatusOK || strings.Contains(body, "Resolved") {
		t.Fatalf("another CallSid: %d %s", status, body)
	}
	g.callStatus(note, note.ProviderID, "completed")
	if status, body := g.press(3, note, note.ProviderID, "2"); status != http.StatusOK || strings.Contains(body, "Resolved") {
		t.Fatalf("a key after the call ended: %d %s", status, body)
	}
	if st := g.incidentStatus(3); st != "open" {
		t.Fatalf("incident 3 is %s", st)
	}
}

// A silence by phone audits what happened: on an incident someone else
// acknowledged it silences and says the incident was already
// acknowledged (no incident.ack of its own); on a resolved incident it
// is refused, and nothing is silenced.
func TestPhoneSilenceAuditsWhatHappened(t *testing.T) {
	g := newTwilioRig(t)
	g.fire("GameServerDown")
	first := g.call(1, 1)
	g.fire("DBDown")
	second := g.call(2, 2)
	if status, body := g.do(http.MethodPost, "/api/v1/incidents/1/ack", twAdmin, "application/json", []byte(`{"by":"bob"}`), nil); status != http.StatusOK {
		t.Fatalf("ack: %d %s", status, body)
	}
	if status, body := g.do(http.MethodPost, "/api/v1/incidents/2/resolve", twAdmin, "application/json", []byte(`{"by":"bob"}`), nil); status != http.StatusOK {
		t.Fatalf("resolve: %d %s", status, body)
	}
	before := len(g.audit())
	if status, body := g.press(1, first, first.ProviderID, "3"); status != http.StatusOK || !strings.Contains(body, "Silenced. Goodbye.") {
		t.Fatalf("silence an acknowledged incident: %d %s", status, body)
	}
	if status, body := g.press(2, second, second.ProviderID, "3"); status != http.StatusOK || !strings.Contains(body, "Sorry, that did not work.") {
		t.Fatalf("silence a resolved incident: %d %s", status, body)
	}
	if n := g.silences(); n != 1 {
		t.Fatalf("%d silences, want the acknowledged incident's only", n)
	}
	got := g.auditSince(before)
	var ok1, failed2 bool
	for _, e := range got {
		switch {
		case e.Action == "incident.ack":
			t.Errorf("a phone silence audited an acknowledgement: %+v", e)
		case e.Action == "silence.create" && e.Target == "incident 1":
			ok1 = e.Outcome == engine.AuditOK && e.Actor == "alice" && strings.Contains(e.Detail, "already acknowledged by bob")
		case e.Action == "silence.create" && e.Target == "incident 2":
			failed2 = e.Outcome == engine.AuditFailed && e.Actor == "alice" && strings.Contains(e.Detail, "resolved")
		}
	}
	if !ok1 || !failed2 {
		t.Fatalf("audit after the phone silences:%s", describeAudit(got))
	}
}

// A callback with a wrong signature or none, and a text from a number
// nobody has, are refused and audited as denied, from the caller's
// address; past 20 a minute from one address they are counted, not
// written, and the next entry says how many were left out.
func TestRefusedTwilioCallbacksAreAudited(t *testing.T) {
	g := newTwilioRig(t)
	g.fire("GameServerDown")
	note := g.call(1, 1)
	voice := fmt.Sprintf("/api/v1/twilio/voice?incident=1&notification=%d", note.ID)
	form := url.Values{"CallSid": {note.ProviderID}, "Digits": {"2"}}
	if status, _ := g.twilio(voice, form, "0123456789abcdef0123456789abcdef"); status != http.StatusForbidden {
		t.Fatalf("forged keypress: %d", status)
	}
	if status, _ := g.twilio(fmt.Sprintf("/api/v1/twilio/status?notification=%d", note.ID), url.Values{"CallSid": {note.ProviderID}, "CallStatus": {"completed"}}, ""); status != http.StatusForbidden {
		t.Fatalf("unsigned status callback: %d", status)
	}
	sms := url.Values{"From": {"+15559990000"}, "To": {"+15005550006"}, "Body": {"RESOLVE 1"}, "MessageSid": {"SM1"}}
	if status, body := g.twilio("/api/v1/twilio/sms", sms, twToken); status != http.StatusOK || strings.Contains(body, "<Message") {
		t.Fatalf("text from an unknown number: %d %s", status, body)
	}
	if st := g.incidentStatus(1); st != "open" {
		t.Fatalf("a refused callback made the incident %s", st)
	}
	got := g.audit()
	var forged, unsigned, stranger bool
	for _, e := range got {
		if e.Outcome != engine.AuditDenied || e.Actor != "" || e.Addr != "127.0.0.1" {
			continue
		}
		switch {
		case strings.Contains(e.Detail, "signature") && strings.Contains(e.Target, "/api/v1/twilio/voice"):
			forged = true
		case strings.Contains(e.Detail, "signature") && strings.Contains(e.Target, "/api/v1/twilio/status"):
			unsigned = true
		case e.Action == "incident.resolve" && e.Target == "incident 1" && strings.Contains(e.Detail, "unknown number") &&
			strings.Contains(e.Detail, "0000") && !strings.Contains(e.Detail, "+15559990000"):
			stranger = true
		}
	}
	if !forged || !unsigned || !stranger {
		t.Fatalf("audit log:%s", describeAudit(got))
	}

	// A flood from one address is bounded.
	g.clock.Advance(time.Minute)
	before := len(g.audit())
	for range 25 {
		g.twilio(voice, form, "")
	}
	if n := len(g.auditSince(before)); n != 20 {
		t.Fatalf("%d entries for 25 forged callbacks in a minute, want 20", n)
	}
	g.clock.Advance(time.Minute)
	g.twilio(voice, form, "")
	last := g.auditSince(before + 20)
	if len(last) != 1 || !strings.Contains(last[0].Detail, "and 5 more denied attempts") {
		t.Fatalf("after the flood:%s", describeAudit(last))
	}
}
