package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle/bundletest"
	"github.com/remediator/remediator/notifiers/internal/robot/robottest"
	"github.com/remediator/remediator/rules"
)

// The secret part of an incoming webhook URL: workspace, channel, token.
const (
	hookPath = "/services/T0SECRETWS/B0SECRETCH/xyzSecretToken1234"
	token    = "xyzSecretToken1234"
)

// deadline bounds every wait; nothing healthy comes near it.
const deadline = 10 * time.Second

// answer is one response of the fake.
type answer struct {
	status     int
	body       string
	retryAfter string
}

// fakeSlack is an incoming webhook on 127.0.0.1 that checks requests as
// Slack does (method, path, content type, JSON, Block Kit limits),
// answers like Slack, and keeps what it accepted.
type fakeSlack struct {
	*httptest.Server
	stall   chan struct{} // when set, requests wait for it (or their client)
	mu      sync.Mutex
	answers []answer // served in order before the default 200 "ok"
	got     []slackMessage
	bodies  [][]byte
}

// slackMessage is a Block Kit message as the fake decodes it; unknown fields
// are invalid_payload.
type slackMessage struct {
	Text   *string `json:"text"`
	Blocks []struct {
		Type     string       `json:"type"`
		Text     *textObject  `json:"text"`
		Elements []textObject `json:"elements"`
	} `json:"blocks"`
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func newFake(t *testing.T, answers ...answer) *fakeSlack {
	t.Helper()
	f := &fakeSlack{answers: answers}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// url is the webhook's full, secret URL.
func (f *fakeSlack) url() rules.Secret { return rules.Secret(f.URL + hookPath) }

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	if f.stall != nil {
		select {
		case <-f.stall:
		case <-r.Context().Done():
			return
		}
	}
	reply := func(status int, body string) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
	switch {
	case r.URL.Path != hookPath:
		reply(http.StatusNotFound, "no_service")
		return
	case r.Method != http.MethodPost:
		reply(http.StatusBadRequest, "invalid_payload")
		return
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		reply(http.StatusBadRequest, "invalid_payload")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var m slackMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		reply(http.StatusBadRequest, "invalid_payload")
		return
	}
	if (m.Text == nil || *m.Text == "") && len(m.Blocks) == 0 {
		reply(http.StatusBadRequest, "no_text")
		return
	}
	if !validBlocks(m) {
		reply(http.StatusBadRequest, "invalid_blocks")
		return
	}
	f.mu.Lock()
	var a answer
	if len(f.answers) > 0 {
		a, f.answers = f.answers[0], f.answers[1:]
	}
	if a.status == 0 || a.status == http.StatusOK {
		f.got = append(f.got, m)
		f.bodies = append(f.bodies, body)
	}
	f.mu.Unlock()
	if a.status == 0 {
		reply(http.StatusOK, "ok")
		return
	}
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	reply(a.status, a.body)
}

// validBlocks applies Block Kit's limits: 50 blocks; a header's
// plain_text of 1 to 150 characters; a section's text of 1 to 3000; a
// context's 1 to 10 elements of 1 to 3000.
func validBlocks(m slackMessage) bool {
	if len(m.Blocks) > 50 {
		return false
	}
	within := func(t *textObject, max int) bool {
		if t == nil {
			return false
		}
		n := utf8.RuneCountInString(t.Text)
		return n >= 1 && n <= max && (t.Type == "plain_text" || t.Type == "mrkdwn")
	}
	for _, b := range m.Blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || !within(b.Text, 150) {
				return false
			}
		case "section":
			if b.Text == nil || !within(b.Text, 3000) {
				return false
			}
		case "context":
			if len(b.Elements) < 1 || len(b.Elements) > 10 {
				return false
			}
			for i := range b.Elements {
				if !within(&b.Elements[i], 3000) {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

func (f *fakeSlack) messages() []slackMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackMessage(nil), f.got...)
}

// blockText returns the text of m's first block of type typ.
func blockText(t *testing.T, m slackMessage, typ string) string {
	t.Helper()
	for _, b := range m.Blocks {
		if b.Type != typ {
			continue
		}
		if typ == "context" {
			return b.Elements[0].Text
		}
		return b.Text.Text
	}
	t.Fatalf("no %s block in %+v", typ, m)
	return ""
}

func notification(person bool) *engine.Notification {
	n := &engine.Notification{
		ID: 7, Event: engine.NotifyFiring, Channel: engine.ChannelIM,
		Incident: engine.Incident{
			ID: 12, Title: "DiskFull on db1", Level: "critical", Priority: "P1",
			Status: engine.IncidentOpen, Labels: map[string]string{"alertname": "DiskFull"},
		},
		Alerts: []engine.Alert{{
			ID: 3, Status: engine.StatusFiring,
			Labels:      map[string]string{"alertname": "DiskFull", "instance": "db1"},
			Annotations: map[string]string{"summary": "disk / is 97% full", "runbook_url": "https://wiki.example/disk?a=1&b=2"},
		}},
		URL: "https://remediator.example/incidents/12", Attempt: 1, MessageID: "n7@remediator",
	}
	if person {
		n.Recipient = engine.Recipient{Person: "ann", Name: "Ann", Address: "U012AB3CD"}
	}
	return n
}

func newNotifier(t *testing.T, cfg *rules.IMConfig, o Options) *Notifier {
	t.Helper()
	if cfg.Type == "" {
		cfg.Type = rules.IMSlack
	}
	if cfg.Name == "" {
		cfg.Name = "ops-slack"
	}
	n, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWireFormat(t *testing.T) {
	tests := []struct {
		name    string
		person  bool
		mention string
	}{
		// A person is @-mentioned at the start of the section.
		{name: "person", person: true, mention: "<@U012AB3CD> "},
		// A room mentions nobody.
		{name: "room", person: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			n := newNotifier(t, &rules.IMConfig{URL: f.url()}, Options{})
			if retry, err := n.Notify(context.Background(), notification(tc.person)); err != nil || retry {
				t.Fatalf("Notify: retry %v, %v", retry, err)
			}
			ms := f.messages()
			if len(ms) != 1 {
				t.Fatalf("%d messages, want 1", len(ms))
			}
			m := ms[0]
			title := "[FIRING] P1 critical #12 DiskFull on db1"
			if *m.Text != title || blockText(t, m, "header") != title {
				t.Errorf("text %q, header %q: want the title %q", *m.Text, blockText(t, m, "header"), title)
			}
			if len(m.Blocks) != 3 || m.Blocks[0].Type != "header" || m.Blocks[1].Type != "section" || m.Blocks[2].Type != "context" {
				t.Errorf("blocks %+v, want header, section, context", m.Blocks)
			}
			section := blockText(t, m, "section")
			if tc.mention != "" && !strings.HasPrefix(section, tc.mention) {
				t.Errorf("section %q: want it to start with %q", section, tc.mention)
			}
			if tc.mention == "" && strings.Contains(section, "<@") {
				t.Errorf("section %q: a room mentions nobody", section)
			}
			for _, want := range []string{
				"disk / is 97% full", "*Level* critical",
				"<https://wiki.example/disk?a=1&amp;b=2|Runbook>", // & escaped inside a link too
				"<https://remediator.example/incidents/12|Incident #12>",
			} {
				if !strings.Contains(section, want) {
					t.Errorf("section %q: want %q", section, want)
				}
			}
			if c := blockText(t, m, "context"); c != "<https://remediator.example/incidents/12|Incident #12> · critical · P1" {
				t.Errorf("context %q", c)
			}
		})
	}
}

// controls matches every Slack control sequence: a link, a mention, a
// special mention.
var controls = regexp.MustCompile(`<[^>]*>`)

func TestLabelValuesCannotLinkOrMention(t *testing.T) {
	f := newFake(t)
	n := newNotifier(t, &rules.IMConfig{URL: f.url()}, Options{})
	nt := notification(false)
	evil := "<!channel> <@U999> <https://evil.example|click> a&b </x>"
	nt.Incident.Title = evil
	nt.Alerts[0].Annotations["summary"] = evil
	nt.Alerts[0].Labels["alertname"] = evil
	nt.Alerts[0].Annotations["runbook_url"] = "https://x|evil> <!here>"
	nt.By, nt.Detail = evil, evil
	nt.Event = engine.NotifyAcknowledged
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	m := f.messages()[0]
	// The only control sequences are those the templates made: the
	// runbook link (its URL escaped) and the incident's link.
	allowed := map[string]bool{
		"<https://x|evil&gt; &lt;!here&gt;|Runbook>":             true,
		"<https://remediator.example/incidents/12|Incident #12>": true,
	}
	for _, s := range []string{*m.Text, blockText(t, m, "section"), blockText(t, m, "context")} {
		for _, c := range controls.FindAllString(s, -1) {
			if !allowed[c] {
				t.Errorf("control sequence %q made from a label value in %q", c, s)
			}
		}
		if strings.Contains(s, "a&b") {
			t.Errorf("unescaped & in %q", s)
		}
	}
	escaped := "&lt;!channel&gt; &lt;@U999&gt; &lt;https://evil.example|click&gt; a&amp;b &lt;/x&gt;"
	if !strings.Contains(blockText(t, m, "section"), escaped) {
		t.Errorf("section %q: want the value escaped as %q", blockText(t, m, "section"), escaped)
	}
	// The header is plain_text: Slack shows it as it is.
	if h := blockText(t, m, "header"); !strings.HasSuffix(h, evil) {
		t.Errorf("header %q: want the raw title", h)
	}
	if nt.Incident.Title != evil || nt.Alerts[0].Labels["alertname"] != evil {
		t.Error("Notify changed the notification")
	}
}

func TestBlockLimits(t *testing.T) {
	f := newFake(t)
	n := newNotifier(t, &rules.IMConfig{URL: f.url()}, Options{})
	nt := notification(true)
	nt.Incident.Title = strings.Repeat("磁盘满 ", 60) // 240 characters, 600 bytes
	for i := range 200 {
		nt.Alerts = append(nt.Alerts, engine.Alert{
			ID: uint64(100 + i), Status: engine.StatusFiring,
			Labels:      map[string]string{"alertname": "Disk<Full>"},
			Annotations: map[string]string{"summary": "a & b & c on host " + strings.Repeat("x", i%7)},
		})
	}
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatalf("Notify: %v (the fake rejects what Slack would)", err)
	}
	m := f.messages()[0]
	h, s := blockText(t, m, "header"), blockText(t, m, "section")
	if utf8.RuneCountInString(h) > MaxHeader || !utf8.ValidString(h) || !strings.HasSuffix(h, "…") {
		t.Errorf("header of %d characters %q: want at most %d, cut with …", utf8.RuneCountInString(h), h, MaxHeader)
	}
	if len(s) > MaxSection || !strings.HasSuffix(s, "…\n<https://remediator.example/incidents/12|Full incident #12>") {
		t.Errorf("section of %d bytes ends %q: want at most %d, ending with a link to the incident", len(s), s[max(0, len(s)-80):], MaxSection)
	}
	if !strings.HasPrefix(s, "<@U012AB3CD> ") {
		t.Error("the mention was lost to the cut")
	}
	cut := strings.TrimSuffix(s, "…\n<https://remediator.example/incidents/12|Full incident #12>")
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") {
		t.Errorf("section cut inside an entity: %q", cut[i:])
	}
}

func TestTruncateDropsUnfinished(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Half an entity goes.
		{"entity", "abcdefgh&amp;ijkl&am", "abcdefgh&amp;ijkl…"},
		// Half a link goes.
		{"link", "abcdefgh&amp;ijkl<https://x|Run", "abcdefgh&amp;ijkl…"},
		// A whole entity inside half a link does not save it.
		{"entity in link", "abcdefghijkl<https://x?a=1&amp;b", "abcdefghijkl…"},
		// Half an entity inside half a link: both go.
		{"both", "abcdefghijkl<https://x?a=1&am", "abcdefghijkl…"},
		// Nothing unfinished: the cut stays.
		{"clean", "abcdefgh&amp;ijkl<https://x|y>mn", "abcdefgh&amp;ijkl<https://x|y>mn…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Room for in and the suffix "…" (3 bytes), not for the
			// z's: the cut falls right after in (no space to prefer).
			if got := truncate(tc.in+"zzzzzzz", len(tc.in)+3, "…"); got != tc.want {
				t.Errorf("truncate = %q, want %q", got, tc.want)
			}
		})
	}
}

// retryAfterer is engine.RetryAfterer.
type retryAfterer interface{ RetryAfter() time.Duration }

func TestSlackAnswers(t *testing.T) {
	tests := []struct {
		name  string
		a     answer
		retry bool
		wait  time.Duration
	}{
		// Slack's refusals of the payload are final.
		{name: "invalid_payload", a: answer{status: 400, body: "invalid_payload"}},
		{name: "too_many_attachments", a: answer{status: 400, body: "too_many_attachments"}},
		// A revoked webhook or a workspace policy: final.
		{name: "invalid_token", a: answer{status: 403, body: "invalid_token"}},
		{name: "action_prohibited", a: answer{status: 403, body: "action_prohibited"}},
		// The channel is gone: final.
		{name: "no_service", a: answer{status: 404, body: "no_service"}},
		{name: "channel_not_found", a: answer{status: 404, body: "channel_not_found"}},
		{name: "channel_is_archived", a: answer{status: 410, body: "channel_is_archived"}},
		// Rate limited: retry after Retry-After.
		{name: "rate_limited", a: answer{status: 429, body: "rate_limited", retryAfter: "30"}, retry: true, wait: 30 * time.Second},
		// Slack's own failures: retry.
		{name: "500", a: answer{status: 500, body: "internal_error"}, retry: true},
		{name: "503", a: answer{status: 503, body: "service_unavailable"}, retry: true},
		// A 200 that is not "ok" delivered nothing.
		{name: "200 not ok", a: answer{status: 200, body: "something_else"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.a)
			n := newNotifier(t, &rules.IMConfig{URL: f.url()}, Options{})
			retry, err := n.Notify(context.Background(), notification(true))
			if err == nil {
				t.Fatal("Notify: no error")
			}
			if retry != tc.retry {
				t.Errorf("retry %v, want %v (%v)", retry, tc.retry, err)
			}
			if !strings.Contains(err.Error(), tc.a.body) || !strings.HasPrefix(err.Error(), `slack "ops-slack": `) {
				t.Errorf("error %q: want the notifier's name and Slack's code %q", err, tc.a.body)
			}
			var ra retryAfterer
			if got := errors.As(err, &ra); got != (tc.wait > 0) || got && ra.RetryAfter() != tc.wait {
				t.Errorf("error %v: RetryAfterer %v, want wait %v", err, got, tc.wait)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	f := newFake(t)
	f.stall = make(chan struct{})
	t.Cleanup(func() { close(f.stall) }) // registered after f.Close: runs first
	n := newNotifier(t, &rules.IMConfig{URL: f.url()}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	retry, err := n.Notify(ctx, notification(true))
	if !retry || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Notify against a stalled server: retry %v, %v; want a retryable deadline error", retry, err)
	}
}

func TestConfigTimeout(t *testing.T) {
	f := newFake(t)
	f.stall = make(chan struct{})
	t.Cleanup(func() { close(f.stall) })
	n := newNotifier(t, &rules.IMConfig{URL: f.url(), Timeout: rules.Duration(50 * time.Millisecond)}, Options{})
	// The config's timeout bounds the request even when ctx does not.
	retry, err := n.Notify(context.Background(), notification(true))
	if !retry || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Notify: retry %v, %v; want a retryable deadline error", retry, err)
	}
}

func TestRateLimitBundles(t *testing.T) {
	f := newFake(t)
	clock := bundletest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	n := newNotifier(t, &rules.IMConfig{URL: f.url(), MaxPerMinute: 2}, Options{Clock: clock})

	titles := []string{"one", "two", "three", "four", "five"}
	nts := make([]*engine.Notification, len(titles))
	for i, title := range titles {
		nts[i] = notification(i%2 == 0)
		nts[i].ID = uint64(i + 1)
		nts[i].Incident.Title = title
	}
	// Two fit in the minute and go alone.
	for _, nt := range nts[:2] {
		if _, err := n.Notify(context.Background(), nt); err != nil {
			t.Fatal(err)
		}
	}
	// Three wait, in order, for the next slot.
	errs := make(chan error, 3)
	for i, nt := range nts[2:] {
		go func() {
			_, err := n.Notify(context.Background(), nt)
			errs <- err
		}()
		robottest.WaitFor(t, "queued", func() bool { return n.limiter.Waiting() == i+1 })
	}
	if got := len(f.messages()); got != 2 {
		t.Fatalf("%d messages inside the limit, want 2", got)
	}
	clock.Advance(time.Minute)
	for range 3 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(deadline):
			t.Fatal("the bundle was not sent")
		}
	}
	ms := f.messages()
	if len(ms) != 3 {
		t.Fatalf("%d messages, want 2 alone and 1 bundle", len(ms))
	}
	b := ms[2]
	if h := blockText(t, b, "header"); h != "[FIRING] P1 critical #12 three (+2 more)" {
		t.Errorf("bundle header %q", h)
	}
	var sections []string
	for _, bl := range b.Blocks {
		if bl.Type == "section" {
			sections = append(sections, bl.Text.Text)
		}
	}
	if len(sections) != 3 {
		t.Fatalf("%d sections, want one per notification", len(sections))
	}
	for i, s := range sections {
		title := "*[FIRING] P1 critical #12 " + titles[i+2] + "*\n"
		mention := i%2 == 0 // notifications 3 and 5 are to ann
		if !strings.HasPrefix(s, title) || strings.Contains(s, "<@U012AB3CD>") != mention {
			t.Errorf("section %d %q: want its title first and a mention %v", i, s, mention)
		}
	}
	if c := blockText(t, b, "context"); !strings.HasPrefix(c, "3 notifications") {
		t.Errorf("context %q: want the count", c)
	}
}

func TestBundleTruncates(t *testing.T) {
	long := func(id uint64) *engine.Notification {
		nt := notification(false)
		nt.ID = id
		nt.Alerts[0].Annotations["summary"] = strings.Repeat("lorem ipsum ", 400) // 4800 bytes
		return nt
	}
	ps := make([]*part, 0, maxBundle)
	n := newNotifier(t, &rules.IMConfig{URL: "https://hooks.slack.example/services/x"}, Options{})
	for i := range maxBundle {
		p, err := n.render(long(uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	m := compose(ps)
	total := 0
	for _, b := range m.Blocks {
		if b.Type != "section" {
			continue
		}
		total += len(b.Text.Text)
		if !strings.HasSuffix(b.Text.Text, "|Full incident #12>") {
			t.Errorf("section ends %q: want the incident's link", b.Text.Text[len(b.Text.Text)-40:])
		}
	}
	if len(m.Blocks) > 50 || total > maxBundleText {
		t.Errorf("%d blocks, %d bytes of sections: want at most 50 and %d", len(m.Blocks), total, maxBundleText)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  rules.IMConfig
		want string
	}{
		// The URL is secret: its problem is named, never quoted.
		{"no url", rules.IMConfig{Name: "s"}, "url: missing"},
		{"bad url", rules.IMConfig{Name: "s", URL: "https://hooks.slack.com/services/" + token + "%zz"}, "url: not a valid URL"},
		{"not http", rules.IMConfig{Name: "s", URL: "ftp://hooks.slack.com/services/" + token}, "url: not an http or https URL"},
		{"relative", rules.IMConfig{Name: "s", URL: "/services/" + token}, "url: not an http or https URL"},
		// A template that does not parse, named by event and part.
		{"bad template", rules.IMConfig{Name: "s", URL: "https://h/" + token, Templates: map[string]rules.TemplateConfig{"firing": {Title: "{{"}}}, "templates.firing.title"},
		// An unknown event.
		{"unknown event", rules.IMConfig{Name: "s", URL: "https://h/" + token, Templates: map[string]rules.TemplateConfig{"fired": {Title: "x"}}}, `unknown event "fired"`},
		{"negative rate", rules.IMConfig{Name: "s", URL: "https://h/" + token, MaxPerMinute: -1}, "max_per_minute -1 is negative"},
		{"wrong type", rules.IMConfig{Name: "s", Type: "feishu", URL: "https://h/" + token}, `type "feishu" is not slack`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&tc.cfg, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), `slack "s": `) {
				t.Fatalf("New: %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error %q holds the URL's token", err)
			}
		})
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil): no error")
	}
	t.Run("bad recipient", func(t *testing.T) {
		n := newNotifier(t, &rules.IMConfig{URL: "https://h/x"}, Options{})
		nt := notification(true)
		nt.Recipient.Address = "<!channel>"
		if retry, err := n.Notify(context.Background(), nt); err == nil || retry {
			t.Errorf("Notify to %q: retry %v, %v; want a final error", nt.Recipient.Address, retry, err)
		}
	})
}

func TestNoSecretInErrorsOrLogs(t *testing.T) {
	closed := newFake(t)
	closedURL := closed.url()
	closed.Close()
	tests := []struct {
		name  string
		url   func(t *testing.T) rules.Secret
		setup func(f *fakeSlack)
	}{
		// A transport error: net/http's error quotes the whole URL.
		{name: "closed server", url: func(*testing.T) rules.Secret { return closedURL }},
		// Refusals and failures.
		{name: "invalid_token", url: func(t *testing.T) rules.Secret { return newFake(t, answer{status: 403, body: "invalid_token"}).url() }},
		{name: "500", url: func(t *testing.T) rules.Secret { return newFake(t, answer{status: 500, body: "x"}).url() }},
		{name: "429", url: func(t *testing.T) rules.Secret {
			return newFake(t, answer{status: 429, body: "rate_limited", retryAfter: "5"}).url()
		}},
		// A wrong path: Slack's 404.
		{name: "no_service", url: func(t *testing.T) rules.Secret {
			return rules.Secret(newFake(t).URL + "/services/T0SECRETWS/B0SECRETCH/wrong" + token)
		}},
		// Success logs too.
		{name: "ok", url: func(t *testing.T) rules.Secret { return newFake(t).url() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			n := newNotifier(t, &rules.IMConfig{URL: tc.url(t)}, Options{Logger: log})
			_, err := n.Notify(context.Background(), notification(true))
			if tc.name != "ok" && err == nil {
				t.Fatal("Notify: no error")
			}
			if logs.Len() == 0 {
				t.Error("nothing logged at debug level: the test proves nothing")
			}
			for _, where := range []string{errString(err), logs.String()} {
				for _, secret := range []string{token, "T0SECRETWS", "B0SECRETCH"} {
					if strings.Contains(where, secret) {
						t.Errorf("%q leaks %s", where, secret)
					}
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestFakeEnforcesLimits(t *testing.T) {
	f := newFake(t)
	tests := []struct {
		name string
		body string
		want string
	}{
		// A header of 151 characters.
		{"long header", `{"blocks":[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("é", 151) + `"}}]}`, "invalid_blocks"},
		// A section of 3001 characters.
		{"long section", `{"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("x", 3001) + `"}}]}`, "invalid_blocks"},
		// A header must be plain_text.
		{"mrkdwn header", `{"blocks":[{"type":"header","text":{"type":"mrkdwn","text":"x"}}]}`, "invalid_blocks"},
		// Neither text nor blocks.
		{"empty", `{}`, "no_text"},
		// Not JSON.
		{"not json", `text=hi`, "invalid_payload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(f.URL+hookPath, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || string(b) != tc.want {
				t.Errorf("status %d %q, want 400 %q", resp.StatusCode, b, tc.want)
			}
		})
	}
}

// A digest's other pages are escaped like the first one's.
func TestDigestPagesAreEscaped(t *testing.T) {
	nt := &engine.Notification{Incident: engine.Incident{ID: 1, Title: "a"}}
	nt.Digest = []engine.Notification{{Incident: engine.Incident{ID: 2, Title: "<!channel> <https://evil|x>"},
		Alerts: []engine.Alert{{Labels: map[string]string{"x": "<@U999>"}}}}}
	esc := escapeNotification(nt)
	d := esc.Digest[0]
	if d.Incident.Title != "&lt;!channel&gt; &lt;https://evil|x&gt;" || d.Alerts[0].Labels["x"] != "&lt;@U999&gt;" {
		t.Fatalf("digest page not escaped: %+v", d)
	}
	if nt.Digest[0].Incident.Title != "<!channel> <https://evil|x>" {
		t.Fatal("the caller's notification was changed")
	}
}
