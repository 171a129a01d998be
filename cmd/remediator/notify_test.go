package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/remediator/remediator/notifiers/twilio/twiliotest"
)

const (
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "twilioAuthTokenDoNotLog0123456789"
	adminToken  = "admin-token-0123456789"
)

// newTwilio is a fake of Twilio's REST API for the test account.
func newTwilio(t *testing.T) *twiliotest.REST {
	return &twiliotest.REST{T: t, SID: twilioSID, Token: twilioToken}
}

// smtpSink is a real SMTP server (go-smtp) that keeps what it receives.
type smtpSink struct {
	mu   sync.Mutex
	mail []string // "to\n\ndata"
}

func (s *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{sink: s}, nil }

type smtpSession struct {
	sink *smtpSink
	to   []string
}

func (s *smtpSession) Reset()                                    { s.to = nil }
func (s *smtpSession) Logout() error                             { return nil }
func (s *smtpSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.sink.mu.Lock()
	s.sink.mail = append(s.sink.mail, strings.Join(s.to, ",")+"\n\n"+string(b))
	s.sink.mu.Unlock()
	return nil
}

func (s *smtpSink) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.mail...)
}

func startSMTP(t *testing.T) (*smtpSink, string) {
	t.Helper()
	sink := &smtpSink{}
	srv := smtp.NewServer(sink)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sink, l.Addr().String()
}

// notifyConfig is a config that pages zhangsan for critical incidents.
func notifyConfig(port int, db, twilioURL, smtpAddr, via string) string {
	return fmt.Sprintf(`
server:
  listen: 127.0.0.1:%[1]d
  external_url: http://127.0.0.1:%[1]d
storage: {path: %[2]s}
auth:
  tokens: [{name: admin, role: admin, token: %[6]s}]
people:
  - id: zhangsan
    name: 张三
    phone: "+8613800000001"
    email: zhangsan@example.com
notifiers:
  retry: {max_attempts: 2, initial: 100ms, max: 200ms, timeout: 5s}
  twilio:
    account_sid: %[7]s
    auth_token: %[8]s
    from: "+15005550006"
    api_url: %[3]s
    voice: {language: zh-CN, voice: Polly.Zhiyu, attempts: 2, retry_after: 1s}
  email:
    smarthost: %[4]s
    tls: none
    from: remediator@example.com
levels:
  - name: critical
    priority: P1
    notify: {people: [zhangsan], via: [%[5]s]}
  - name: info
`, port, db, twilioURL, smtpAddr, via, adminToken, twilioSID, twilioToken)
}

type apiNote struct {
	ID         uint64 `json:"id"`
	Event      string `json:"event"`
	Channel    string `json:"channel"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	Error      string `json:"error"`
	FailoverOf uint64 `json:"failover_of"`
	ProviderID string `json:"provider_id"`
	Recipient  struct {
		Person string `json:"person"`
	} `json:"recipient"`
}

func notesOf(t *testing.T, base string, incident int) []apiNote {
	t.Helper()
	status, body := request(t, "GET", fmt.Sprintf("%s/api/v1/notifications?incident=%d", base, incident), adminToken, nil)
	if status != 200 {
		t.Fatalf("notifications: %d %s", status, body)
	}
	var out struct {
		Notifications []apiNote `json:"notifications"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out.Notifications, func(i, j int) bool { return out.Notifications[i].ID < out.Notifications[j].ID })
	return out.Notifications
}

func postCritical(t *testing.T, base, name string) {
	t.Helper()
	labels := map[string]string{"alertname": name, "severity": "critical"}
	body, err := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "r", "groupKey": fmt.Sprintf("{}:{alertname=%q}", name),
		"groupLabels": map[string]string{"alertname": name}, "commonLabels": labels,
		"alerts": []map[string]any{{"status": "firing", "labels": labels, "annotations": map[string]string{"summary": "游戏服务器宕机"},
			"startsAt": "2026-11-27T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "fp-" + name}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if status, b := request(t, "POST", base+"/api/v1/webhook", "", bytes.NewReader(body)); status != 200 {
		t.Fatalf("webhook: %d %s", status, b)
	}
}

// A Twilio outage: the call and the SMS fail (retried, then final) and
// the page fails over to email, which a real SMTP server receives. The
// incident records every step; the Twilio token appears nowhere.
func TestTwilioOutageFailsOverToEmail(t *testing.T) {
	tw := newTwilio(t)
	tw.SetDown(true)
	twSrv := httptest.NewServer(tw)
	t.Cleanup(twSrv.Close)
	sink, smtpAddr := startSMTP(t)
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeFile(t, dir, "r.yml", notifyConfig(port, filepath.Join(dir, "r.db"), twSrv.URL, smtpAddr, "phone"))
	p, base := startRemediator(t, nil, "--config", cfg)

	postCritical(t, base, "GameServerDown")
	var notes []apiNote
	waitFor(t, 30*time.Second, "the page to fail over to email", func() bool {
		notes = notesOf(t, base, 1)
		return len(notes) == 3 && notes[2].Status == "sent"
	})
	want := []string{"phone:failed", "sms:failed", "email:sent"}
	for i, n := range notes {
		if got := n.Channel + ":" + n.Status; got != want[i] {
			t.Fatalf("notification %d = %s, want %s (%+v)", i, got, want[i], notes)
		}
	}
	if notes[0].Attempts != 2 || notes[1].FailoverOf != notes[0].ID || notes[2].FailoverOf != notes[1].ID ||
		!strings.Contains(notes[0].Error, "gave up after 2 attempts") {
		t.Fatalf("failover chain = %+v", notes)
	}
	if calls, msgs := len(tw.Calls()), len(tw.Messages()); calls != 2 || msgs != 2 {
		t.Fatalf("twilio got %d calls and %d messages, want 2 and 2", calls, msgs)
	}
	mail := sink.received()
	if len(mail) != 1 || !strings.HasPrefix(mail[0], "zhangsan@example.com\n") || !strings.Contains(mail[0], "Subject:") {
		t.Fatalf("smtp received %q", mail)
	}
	status, body := request(t, "GET", base+"/api/v1/incidents/1", adminToken, nil)
	if status != 200 {
		t.Fatalf("incident: %d", status)
	}
	for _, want := range []string{"notification_failed", "failing over to sms", "failing over to email", "notification_sent"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("incident timeline lacks %q:\n%s", want, body)
		}
	}
	_, notesBody := request(t, "GET", base+"/api/v1/notifications", adminToken, nil)
	p.signal(syscall.SIGTERM)
	p.wait(30 * time.Second)
	if all := p.out.String() + string(body) + string(notesBody); strings.Contains(all, twilioToken) {
		t.Fatal("the Twilio auth token leaked into the log or the API")
	}
}

// twilioSignature is X-Twilio-Signature for the test account's token.
func twilioSignature(fullURL string, form url.Values) string {
	return twiliotest.Sign(twilioToken, fullURL, form)
}

func postTwilio(t *testing.T, fullURL string, form url.Values, sig string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", fullURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A keypress on the call, signed as Twilio signs it, acknowledges the
// incident through the real HTTP server, once: the same keypress again (a
// replay) changes nothing and is audited as denied, as are an unsigned
// and a forged one. The call's late no-answer callback cancels the
// notification instead of calling again.
func TestSignedKeypressAcknowledgesAndStopsPaging(t *testing.T) {
	tw := newTwilio(t)
	twSrv := httptest.NewServer(tw)
	t.Cleanup(twSrv.Close)
	_, smtpAddr := startSMTP(t)
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeFile(t, dir, "r.yml", notifyConfig(port, filepath.Join(dir, "r.db"), twSrv.URL, smtpAddr, "phone"))
	_, base := startRemediator(t, nil, "--config", cfg)
	postCritical(t, base, "GameServerDown")
	var call apiNote
	waitFor(t, 20*time.Second, "the call", func() bool {
		notes := notesOf(t, base, 1)
		if len(notes) == 1 && notes[0].Status == "sent" {
			call = notes[0]
			return true
		}
		return false
	})
	twiml := tw.Calls()[0].Get("Twiml")
	action := fmt.Sprintf("%s/api/v1/twilio/voice?incident=1&notification=%d", base, call.ID)
	if !strings.Contains(twiml, strings.ReplaceAll(action, "&", "&amp;")) || !strings.Contains(twiml, `language="zh-CN"`) {
		t.Fatalf("TwiML = %s", twiml)
	}
	form := url.Values{"CallSid": {call.ProviderID}, "Digits": {"1"}, "From": {"+15005550006"}, "To": {"+8613800000001"}}
	// Unsigned, and signed with another token: 403, nothing changes.
	if status, _ := postTwilio(t, action, form, ""); status != http.StatusForbidden {
		t.Fatalf("unsigned keypress: %d", status)
	}
	forged := url.Values{"Digits": {"2"}}
	if status, _ := postTwilio(t, action, form, twilioSignature(action, forged)); status != http.StatusForbidden {
		t.Fatalf("forged keypress: %d", status)
	}
	if list := listIncidents(t, base, adminToken); list[0].Status != "open" {
		t.Fatalf("a refused keypress changed the incident: %+v", list[0])
	}
	status, body := postTwilio(t, action, form, twilioSignature(action, form))
	if status != 200 || !strings.Contains(body, "Acknowledged. Goodbye.") {
		t.Fatalf("signed keypress: %d %s", status, body)
	}
	if list := listIncidents(t, base, adminToken); list[0].Status != "acknowledged" {
		t.Fatalf("after the keypress: %+v", list[0])
	}
	status, body = postTwilio(t, action, form, twilioSignature(action, form))
	if status != 200 || strings.Contains(body, "Acknowledged") {
		t.Fatalf("replayed keypress: %d %s", status, body)
	}
	status, audit := request(t, "GET", base+"/api/v1/audit?outcome=denied", adminToken, nil)
	if status != 200 {
		t.Fatalf("audit: %d %s", status, audit)
	}
	var denied struct {
		Entries []struct{ Action, Target, Detail string }
	}
	if err := json.Unmarshal(audit, &denied); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range denied.Entries {
		actions = append(actions, e.Action)
	}
	sort.Strings(actions)
	if want := []string{"callback", "callback", "incident.ack"}; !slices.Equal(actions, want) {
		t.Fatalf("denied entries %v, want %v: %s", actions, want, audit)
	}
	// The call's own no-answer callback comes after the acknowledgement:
	// the notification is cancelled, and nobody is called again.
	statusURL := fmt.Sprintf("%s/api/v1/twilio/status?notification=%d", base, call.ID)
	cb := url.Values{"CallSid": {call.ProviderID}, "CallStatus": {"no-answer"}}
	if status, body := postTwilio(t, statusURL, cb, twilioSignature(statusURL, cb)); status >= 300 {
		t.Fatalf("status callback: %d %s", status, body)
	}
	waitFor(t, 10*time.Second, "the call to be cancelled", func() bool {
		n := notesOf(t, base, 1)
		return n[0].Status == "cancelled"
	})
	if calls := len(tw.Calls()); calls != 1 {
		t.Fatalf("%d calls, want 1", calls)
	}
}

// hangingHook is a generic webhook receiver whose first request never
// gets an answer (the process is killed meanwhile); later ones are
// accepted.
type hangingHook struct {
	mu      sync.Mutex
	keys    []string
	entered chan struct{}
	release chan struct{}
}

func (h *hangingHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	h.mu.Lock()
	h.keys = append(h.keys, r.Header.Get("Idempotency-Key"))
	first := len(h.keys) == 1
	h.mu.Unlock()
	if first {
		close(h.entered)
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hangingHook) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.keys...)
}

// SIGKILL between "recorded as sending" and "sent": after the restart the
// notification is sent once more (with the same idempotency key), and
// only once.
func TestNotificationInFlightAtSIGKILLIsSentOnceAfterRestart(t *testing.T) {
	hook := &hangingHook{entered: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(hook)
	t.Cleanup(func() { close(hook.release); srv.Close() })
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeFile(t, dir, "r.yml", fmt.Sprintf(`
server: {listen: 127.0.0.1:%d}
storage: {path: %s}
auth:
  tokens: [{name: admin, role: admin, token: %s}]
notifiers:
  retry: {timeout: 1m}
  im:
    - {name: ops-hook, type: webhook, url: %q}
levels:
  - name: critical
    notify: {rooms: [ops-hook]}
  - name: info
`, port, filepath.Join(dir, "r.db"), adminToken, srv.URL+"/hook"))
	p, base := startRemediator(t, nil, "--config", cfg)
	postCritical(t, base, "GameServerDown")
	select {
	case <-hook.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the webhook notifier was never called")
	}
	p.kill() // SIGKILL while the notifier waits for its answer

	p2, base := startRemediator(t, nil, "--config", cfg)
	var notes []apiNote
	waitFor(t, 20*time.Second, "the notification to be sent after the restart", func() bool {
		notes = notesOf(t, base, 1)
		return len(notes) == 1 && notes[0].Status == "sent"
	})
	got := hook.received()
	if len(got) != 2 || got[0] == "" || got[0] != got[1] || notes[0].Attempts != 2 {
		t.Fatalf("hook received keys %q, record %+v; want the same key twice, 2 attempts", got, notes[0])
	}
	p2.signal(syscall.SIGTERM)
	if code := p2.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := hook.received(); len(got) != 2 {
		t.Fatalf("sent again after it was sent: %q", got)
	}
}

// The embedded default pops critical incidents up in the console: a
// client of /api/v1/events sees the notification arrive live.
func TestDefaultConfigStreamsCriticalNotificationToTheConsole(t *testing.T) {
	dir := t.TempDir()
	_, base := startRemediator(t, nil, "--listen", "127.0.0.1:0", "--db", filepath.Join(dir, "r.db"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/events?kinds=notification", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	postCritical(t, base, "GameServerDown")
	sc := bufio.NewScanner(resp.Body)
	var event string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok && event == "notification" {
			var n struct {
				Incident uint64 `json:"incident"`
				Event    string `json:"event"`
				Critical bool   `json:"critical"`
				Title    string `json:"title"`
			}
			if err := json.Unmarshal([]byte(v), &n); err != nil {
				t.Fatalf("data %q: %v", v, err)
			}
			if n.Incident != 1 || n.Event != "firing" || !n.Critical || !strings.Contains(n.Title, "GameServerDown") {
				t.Fatalf("notification = %+v", n)
			}
			return
		}
	}
	t.Fatalf("the stream ended without a notification: %v", sc.Err())
}

// Acknowledging through the API and through a signed keypress stops the
// escalation: of three incidents whose chains call zhangsan and, five
// seconds later, text lisi, only the one nobody acknowledged texts lisi
// (the 5 seconds leave room for the two acknowledgements on a slow machine).
func TestAcknowledgementStopsEscalationOverHTTP(t *testing.T) {
	tw := newTwilio(t)
	twSrv := httptest.NewServer(tw)
	t.Cleanup(twSrv.Close)
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeFile(t, dir, "r.yml", fmt.Sprintf(`
server:
  listen: 127.0.0.1:%[1]d
  external_url: http://127.0.0.1:%[1]d
storage: {path: %[2]s}
auth:
  tokens: [{name: admin, role: admin, token: %[3]s}]
people:
  - {id: zhangsan, phone: "+8613800000001"}
  - {id: lisi, phone: "+8613800000002"}
notifiers:
  twilio:
    account_sid: %[4]s
    auth_token: %[5]s
    from: "+15005550006"
    api_url: %[6]s
escalations:
  fast:
    steps:
      - {notify: ["person:zhangsan"], via: [phone], wait: 5s}
      - {notify: ["person:lisi"], via: [sms]}
levels:
  - name: critical
    escalation: fast
  - name: info
`, port, filepath.Join(dir, "r.db"), adminToken, twilioSID, twilioToken, twSrv.URL))
	_, base := startRemediator(t, nil, "--config", cfg)
	for _, name := range []string{"ByAPI", "ByKeypress", "Nobody"} {
		postCritical(t, base, name)
	}
	calls := map[int]apiNote{}
	waitFor(t, 20*time.Second, "three calls to zhangsan", func() bool {
		for id := 1; id <= 3; id++ {
			if n := notesOf(t, base, id); len(n) == 1 && n[0].Status == "sent" {
				calls[id] = n[0]
			}
		}
		return len(calls) == 3
	})
	// Incident 1: acknowledged through the API.
	if status, body := request(t, "POST", base+"/api/v1/incidents/1/ack", adminToken, strings.NewReader(`{"by":"zhangsan"}`)); status != 200 {
		t.Fatalf("ack: %d %s", status, body)
	}
	// Incident 2: acknowledged by pressing 1 on the call.
	action := fmt.Sprintf("%s/api/v1/twilio/voice?incident=2&notification=%d", base, calls[2].ID)
	form := url.Values{"CallSid": {calls[2].ProviderID}, "Digits": {"1"}}
	if status, body := postTwilio(t, action, form, twilioSignature(action, form)); status != 200 {
		t.Fatalf("keypress: %d %s", status, body)
	}
	for id := 1; id <= 2; id++ {
		status, body := request(t, "GET", fmt.Sprintf("%s/api/v1/incidents/%d", base, id), adminToken, nil)
		var d struct {
			Incident   struct{ Status string } `json:"incident"`
			Escalation struct {
				DueAt *time.Time `json:"due_at"`
			} `json:"escalation"`
		}
		if err := json.Unmarshal(body, &d); err != nil || status != 200 {
			t.Fatalf("incident %d: %d %s", id, status, body)
		}
		if d.Incident.Status != "acknowledged" || d.Escalation.DueAt != nil {
			t.Fatalf("incident %d after the ack: %s", id, body)
		}
	}
	// Incident 3's second step texts lisi: by then the others' would have.
	lisi := func() []string {
		var out []string
		for _, m := range tw.Messages() {
			if m.Get("To") == "+8613800000002" {
				out = append(out, m.Get("Body"))
			}
		}
		return out
	}
	waitFor(t, 20*time.Second, "incident 3 to climb to lisi", func() bool { return len(lisi()) > 0 })
	toLisi := lisi()
	// Records are written before they are sent, and a step's records in
	// the same write as the step: incident 3's text exists, so any of
	// incidents 1 and 2, due earlier, would too.
	for id := 1; id <= 2; id++ {
		for _, n := range notesOf(t, base, id) {
			if n.Recipient.Person == "lisi" {
				t.Fatalf("incident %d escalated after its acknowledgement: %+v", id, n)
			}
		}
	}
	if len(toLisi) != 1 || !strings.Contains(toLisi[0], "#3") {
		t.Fatalf("texts to lisi: %q; want one, about incident 3", toLisi)
	}
}
