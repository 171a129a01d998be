package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
)

const (
	testSID      = "AC0123456789abcdef0123456789abcdef"
	testToken    = "f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8"
	testFrom     = "+15005550006"
	testTo       = "+14155550100"
	testExternal = "https://remediator.example.com"
)

// apiRequest is one request the fake Twilio API accepted for processing.
type apiRequest struct {
	Resource string // Calls or Messages
	Form     url.Values
}

// fakeTwilio is Twilio's REST API as far as remediator uses it: it checks
// what Twilio checks (method, path, basic auth, content type, required
// fields, phone numbers, length limits) and answers with Twilio's JSON.
type fakeTwilio struct {
	*httptest.Server
	t *testing.T
	// answer, when set, answers instead of the normal processing (after
	// the request was checked and recorded); it returns false to go on.
	answer func(w http.ResponseWriter, r apiRequest) bool

	mu   sync.Mutex
	reqs []apiRequest
}

var apiPathRE = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/(Calls|Messages)\.json$`)

func newFakeTwilio(t *testing.T) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{t: t}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// twilioError writes an error as Twilio does.
func twilioError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status,
	})
}

// utf16Len counts characters the way Twilio's limits do.
func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	m := apiPathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		f.t.Errorf("fake twilio: unexpected path %s", r.URL.Path)
		twilioError(w, 404, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if r.Method != http.MethodPost {
		f.t.Errorf("fake twilio: method %s, want POST", r.Method)
		twilioError(w, 405, 20004, "Method not allowed")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != testSID || pass != testToken || m[1] != testSID {
		twilioError(w, 401, 20003, "Authentication Error - invalid username")
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("fake twilio: content type %q", r.Header.Get("Content-Type"))
		twilioError(w, 400, 20001, "Unsupported content type")
		return
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("fake twilio: form: %v", err)
		twilioError(w, 400, 20001, "Bad form")
		return
	}
	req := apiRequest{Resource: m[2], Form: r.PostForm}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.answer != nil && f.answer(w, req) {
		return
	}

	form := r.PostForm
	if to := form.Get("To"); !regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`).MatchString(to) {
		twilioError(w, 400, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to))
		return
	}
	if form.Get("From") != testFrom {
		twilioError(w, 400, 21212, fmt.Sprintf("The 'From' number %s is not a valid phone number, shortcode, or alphanumeric sender ID.", form.Get("From")))
		return
	}
	sid := ""
	switch m[2] {
	case "Calls":
		tw := form.Get("Twiml")
		if tw == "" && form.Get("Url") == "" {
			twilioError(w, 400, 21205, "Url parameter is required.")
			return
		}
		if n := utf16Len(tw); n > 4000 {
			f.t.Errorf("fake twilio: Twiml is %d characters, over 4000", n)
			twilioError(w, 400, 21205, "Twiml exceeds 4000 characters") // the point is the limit, not the code
			return
		}
		if err := xml.Unmarshal([]byte(tw), new(struct{})); err != nil || !utf8.ValidString(tw) {
			f.t.Errorf("fake twilio: Twiml is not XML: %v", err)
			twilioError(w, 400, 12100, "Document parse failure")
			return
		}
		sid = "CA" + strings.Repeat("a1", 16)
	case "Messages":
		body := form.Get("Body")
		if body == "" {
			twilioError(w, 400, 21602, "Message body is required.")
			return
		}
		if utf16Len(body) > 1600 || !utf8.ValidString(body) {
			f.t.Errorf("fake twilio: Body is %d characters, over 1600", utf16Len(body))
			twilioError(w, 400, 21617, "The concatenated message body exceeds the 1600 character limit.")
			return
		}
		sid = "SM" + strings.Repeat("b2", 16)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sid": sid, "account_sid": testSID, "status": "queued", "to": form.Get("To"), "from": testFrom,
		"api_version": "2010-04-01", "direction": "outbound-api", "date_created": nil, "price": nil,
		"uri": "/2010-04-01/Accounts/" + testSID + "/" + m[2] + "/" + sid + ".json",
	})
}

func (f *fakeTwilio) requests() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// last is the only request the fake received.
func (f *fakeTwilio) only(t *testing.T) apiRequest {
	t.Helper()
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("the fake received %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// config is a valid configuration against api.
func config(api string) *rules.TwilioConfig {
	return &rules.TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom, APIURL: api}
}

// newTwilio builds a Twilio on c, logging to log (nil: discard).
func newTwilio(t *testing.T, c *rules.TwilioConfig, log *slog.Logger) *Twilio {
	t.Helper()
	tw, err := New(c, Options{ExternalURL: testExternal, Logger: log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tw
}

// notification is a firing page of incident 12 to testTo.
func notification(event string) *engine.Notification {
	return &engine.Notification{
		ID: 34, Event: event, Channel: engine.ChannelPhone,
		Recipient: engine.Recipient{Person: "alice", Name: "Alice", Address: testTo},
		Incident:  engine.Incident{ID: 12, Title: "Disk full on db-1", Level: "critical", Status: engine.IncidentOpen, Priority: "P1"},
		Alerts: []engine.Alert{{Status: engine.StatusFiring, Labels: map[string]string{"alertname": "DiskFull"},
			Annotations: map[string]string{"summary": "disk /var is 99% full"}}},
		URL: testExternal + "/incidents/12", ExternalURL: testExternal,
	}
}

// Parsed TwiML, as a test reads it.
type tResponse struct {
	XMLName  xml.Name  `xml:"Response"`
	Gathers  []tGather `xml:"Gather"`
	Says     []tSay    `xml:"Say"`
	Messages []string  `xml:"Message"`
	Inner    string    `xml:",innerxml"`
}

type tGather struct {
	NumDigits string `xml:"numDigits,attr"`
	Action    string `xml:"action,attr"`
	Method    string `xml:"method,attr"`
	Timeout   string `xml:"timeout,attr"`
	Says      []tSay `xml:"Say"`
	Inner     string `xml:",innerxml"`
}

type tSay struct {
	Language string `xml:"language,attr"`
	Voice    string `xml:"voice,attr"`
	Text     string `xml:",chardata"`
}

func parseTwiML(t *testing.T, s string) tResponse {
	t.Helper()
	var r tResponse
	if err := xml.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("TwiML %q: %v", s, err)
	}
	return r
}

func TestNewErrors(t *testing.T) {
	ok := config("")
	with := func(f func(c *rules.TwilioConfig)) *rules.TwilioConfig {
		c := *ok
		f(&c)
		return &c
	}
	tests := []struct {
		name     string
		c        *rules.TwilioConfig
		external string
		want     []string
	}{
		// Nothing configured.
		{"nil config", nil, testExternal, []string{"twilio: no configuration"}},
		// The SID, token and From are required.
		{"empty", &rules.TwilioConfig{}, testExternal, []string{"twilio: account_sid is required", "twilio: auth_token is required", "twilio: from is required"}},
		// An account SID starts with AC.
		{"not an account SID", with(func(c *rules.TwilioConfig) { c.AccountSID = "SK0123" }), testExternal, []string{`twilio: account_sid "SK0123" is not an account SID`}},
		// twilio-go refuses to send other characters; the value is not shown.
		{"token with symbols", with(func(c *rules.TwilioConfig) { c.AuthToken = "tok-en/" + testToken }), testExternal, []string{"twilio: auth_token must be letters and digits only"}},
		// From must be E.164.
		{"from not E.164", with(func(c *rules.TwilioConfig) { c.From = "0155 555" }), testExternal, []string{`twilio: from "0155 555" is not an E.164 phone number`}},
		// api_url is an http(s) URL of a host.
		{"api_url scheme", with(func(c *rules.TwilioConfig) { c.APIURL = "ftp://api.twilio.com" }), testExternal, []string{`twilio: api_url: want an http or https URL, not scheme "ftp"`}},
		// Its path would be ignored, so it is refused.
		{"api_url path", with(func(c *rules.TwilioConfig) { c.APIURL = "https://api.twilio.com/2010-04-01" }), testExternal, []string{"twilio: api_url: want scheme://host[:port] only"}},
		// A URL that does not parse is not quoted.
		{"api_url unparsable", with(func(c *rules.TwilioConfig) { c.APIURL = "https://api.twilio.com:port/" }), testExternal, []string{"twilio: api_url: not a URL"}},
		// Credentials in api_url are refused without being shown.
		{"api_url userinfo", with(func(c *rules.TwilioConfig) { c.APIURL = "https://u:hunter2@api.twilio.com" }), testExternal, []string{"twilio: api_url: must not hold credentials"}},
		// The callbacks need remediator's external URL.
		{"no external URL", ok, "", []string{"twilio: server.external_url (Twilio's callbacks): required"}},
		// Durations may not be negative.
		{"negative durations", with(func(c *rules.TwilioConfig) {
			c.Timeout, c.Voice.RetryAfter, c.Voice.SilenceFor, c.Voice.Attempts = -1, -1, -1, -1
		}), testExternal, []string{"twilio: timeout -1ns is negative", "twilio: voice.retry_after -1ns is negative", "twilio: voice.silence_for -1ns is negative", "twilio: voice.attempts -1 is negative"}},
		// A voice template that does not parse names its event and part.
		{"bad voice template", with(func(c *rules.TwilioConfig) {
			c.Voice.Templates = map[string]rules.TemplateConfig{"firing": {Body: "{{.Incident.Title"}}
		}), testExternal, []string{"twilio: voice.templates.firing.body:"}},
		// So does an SMS template.
		{"bad sms template", with(func(c *rules.TwilioConfig) {
			c.SMS.Templates = map[string]rules.TemplateConfig{"resolved": {Title: "{{end}}"}}
		}), testExternal, []string{"twilio: sms.templates.resolved.title:"}},
		// An unknown event is refused.
		{"unknown event", with(func(c *rules.TwilioConfig) {
			c.SMS.Templates = map[string]rules.TemplateConfig{"fired": {Body: "x"}}
		}), testExternal, []string{`twilio: sms.templates: unknown event "fired"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.c, Options{ExternalURL: tt.external})
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, secret := range []string{testToken, "hunter2"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q holds a secret", err)
				}
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	tw := newTwilio(t, config(""), nil)
	if tw.apiURL.String() != DefaultAPIURL || tw.timeout != DefaultTimeout || tw.language != "en-US" || tw.voice != "alice" ||
		tw.silenceFor != time.Hour || tw.external != testExternal {
		t.Errorf("defaults: api %s timeout %s language %s voice %s silence %s external %s",
			tw.apiURL, tw.timeout, tw.language, tw.voice, tw.silenceFor, tw.external)
	}
	if n, pause := tw.CallAttempts(); n != 3 || pause != time.Minute {
		t.Errorf("CallAttempts = %d, %s; want 3, 1m", n, pause)
	}
	want := rules.TwilioPromptsConfig{Menu: DefaultMenu, Acknowledged: DefaultAcknowledged, Resolved: DefaultResolved, Silenced: DefaultSilenced, Invalid: DefaultInvalid, NoInput: DefaultNoInput}
	if tw.prompts != want {
		t.Errorf("prompts = %+v", tw.prompts)
	}
	// A trailing slash on the external URL is dropped.
	tw2, err := New(config(""), Options{ExternalURL: testExternal + "/rem/"})
	if err != nil || tw2.external != testExternal+"/rem" {
		t.Errorf("external = %q, %v", tw2.external, err)
	}
}

func TestVoiceWire(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTwilio(t, config(f.URL), nil)
	n := notification(engine.NotifyFiring)
	retry, err := tw.Voice().Notify(context.Background(), n)
	if err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	req := f.only(t)
	if req.Resource != "Calls" {
		t.Fatalf("resource %s, want Calls", req.Resource)
	}
	form := req.Form
	if form.Get("To") != testTo || form.Get("From") != testFrom {
		t.Errorf("To %q From %q", form.Get("To"), form.Get("From"))
	}
	if got, want := form.Get("StatusCallback"), testExternal+"/api/v1/twilio/status?notification=34"; got != want {
		t.Errorf("StatusCallback %q, want %q", got, want)
	}
	if got := form["StatusCallbackEvent"]; !slices.Equal(got, []string{"initiated", "ringing", "answered", "completed"}) {
		t.Errorf("StatusCallbackEvent %q", got)
	}
	if form.Get("MachineDetection") != "Enable" {
		t.Errorf("MachineDetection %q: a voicemail must not count as an answer", form.Get("MachineDetection"))
	}
	if form.Get("StatusCallbackMethod") != "POST" {
		t.Errorf("StatusCallbackMethod %q", form.Get("StatusCallbackMethod"))
	}
	if n.ProviderID != "CA"+strings.Repeat("a1", 16) {
		t.Errorf("ProviderID %q", n.ProviderID)
	}

	doc := parseTwiML(t, form.Get("Twiml"))
	if len(doc.Gathers) != 1 || len(doc.Says) != 1 {
		t.Fatalf("TwiML %s: want one Gather and one Say after it", form.Get("Twiml"))
	}
	if !strings.HasPrefix(doc.Inner, "<Gather") {
		t.Errorf("the Gather does not come first: %s", doc.Inner)
	}
	g := doc.Gathers[0]
	if want := testExternal + "/api/v1/twilio/voice?incident=12&notification=34"; g.Action != want {
		t.Errorf("Gather action %q, want %q", g.Action, want)
	}
	if g.NumDigits != "1" || g.Method != "POST" || g.Timeout != "10" {
		t.Errorf("Gather numDigits %q method %q timeout %q", g.NumDigits, g.Method, g.Timeout)
	}
	if len(g.Says) != 2 {
		t.Fatalf("Gather says %d things, want the incident and the menu", len(g.Says))
	}
	for _, s := range append(g.Says, doc.Says...) {
		if s.Language != "en-US" || s.Voice != "alice" {
			t.Errorf("Say language %q voice %q", s.Language, s.Voice)
		}
	}
	if !strings.Contains(g.Says[0].Text, "incident 12: Disk full on db-1") || !strings.Contains(g.Says[0].Text, "disk /var is 99% full") {
		t.Errorf("the call says %q", g.Says[0].Text)
	}
	if g.Says[1].Text != DefaultMenu || doc.Says[0].Text != DefaultNoInput {
		t.Errorf("menu %q, then %q", g.Says[1].Text, doc.Says[0].Text)
	}
}

func TestVoiceEvents(t *testing.T) {
	tests := []struct {
		event string
		menu  bool
	}{
		{engine.NotifyFiring, true},            // a new incident asks for a response
		{engine.NotifyEscalated, true},         // so does an escalation
		{engine.NotifyRemediationFailed, true}, // and a failed remediation
		{engine.NotifyAcknowledged, false},     // an acknowledgement only informs
		{engine.NotifyResolved, false},         // and so does a resolution
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			f := newFakeTwilio(t)
			tw := newTwilio(t, config(f.URL), nil)
			n := notification(tt.event)
			n.By = "bob"
			if _, err := tw.Voice().Notify(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			doc := parseTwiML(t, f.only(t).Form.Get("Twiml"))
			if got := len(doc.Gathers) == 1; got != tt.menu {
				t.Fatalf("menu = %v, want %v: %s", got, tt.menu, doc.Inner)
			}
			if !tt.menu && (len(doc.Says) != 1 || !strings.Contains(doc.Says[0].Text, "Disk full on db-1")) {
				t.Errorf("without a menu the call says only the text: %s", doc.Inner)
			}
		})
	}
}

// TestVoiceChinese: a call in Chinese keeps its UTF-8 text, language and
// voice.
func TestVoiceChinese(t *testing.T) {
	f := newFakeTwilio(t)
	c := config(f.URL)
	c.Voice.Language, c.Voice.Voice = "zh-CN", "Polly.Zhiyu"
	c.Voice.Prompts.Menu = "按1确认，按2解决，按3静默。"
	c.Voice.Templates = map[string]rules.TemplateConfig{"firing": {Body: "这里是告警系统。{{.Priority}} 事件 {{.Incident.ID}}：{{.Incident.Title}}。"}}
	tw := newTwilio(t, c, nil)
	n := notification(engine.NotifyFiring)
	n.Incident.Title = "数据库主节点宕机"
	if _, err := tw.Voice().Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	raw := f.only(t).Form.Get("Twiml")
	if !utf8.ValidString(raw) {
		t.Fatalf("the TwiML is not UTF-8: %q", raw)
	}
	doc := parseTwiML(t, raw)
	g := doc.Gathers[0]
	if g.Says[0].Text != "这里是告警系统。P1 事件 12：数据库主节点宕机。" || g.Says[1].Text != "按1确认，按2解决，按3静默。" {
		t.Errorf("the call says %q then %q", g.Says[0].Text, g.Says[1].Text)
	}
	for _, s := range append(g.Says, doc.Says...) {
		if s.Language != "zh-CN" || s.Voice != "Polly.Zhiyu" {
			t.Errorf("Say language %q voice %q", s.Language, s.Voice)
		}
	}
}

// TestNoInputIsAPrompt: what a call says when no key is pressed is the
// no_input prompt, in the call's language, also after a wrong key; the
// seed policy's call speaks Chinese to the end.
func TestNoInputIsAPrompt(t *testing.T) {
	seed, err := rules.Load("../../testdata/seed-policy.yml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeTwilio(t)
	c := config(f.URL)
	c.Voice = seed.Notifiers.Twilio.Voice
	tw := newTwilio(t, c, nil)
	if _, err := tw.Voice().Notify(context.Background(), notification(engine.NotifyFiring)); err != nil {
		t.Fatal(err)
	}
	const want = "未收到按键，再见。"
	doc := parseTwiML(t, f.only(t).Form.Get("Twiml"))
	if len(doc.Says) != 1 || doc.Says[0].Text != want || doc.Says[0].Language != "zh-CN" {
		t.Errorf("without a key the call says %+v, want %q in zh-CN", doc.Says, want)
	}
	resp, body := serve(t, tw.Handler(newResponder(), nil), signed(voiceURI, callForm("9")))
	doc = twimlReply(t, resp, body)
	if len(doc.Gathers) != 1 || len(doc.Says) != 1 || doc.Says[0].Text != want || doc.Gathers[0].Says[0].Text != "抱歉，操作未成功。" {
		t.Errorf("after a wrong key: %s", body)
	}
}

// TestVoiceHostileText: text that looks like TwiML is spoken, not obeyed.
func TestVoiceHostileText(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTwilio(t, config(f.URL), nil)
	n := notification(engine.NotifyFiring)
	n.Incident.Title = `x</Say><Dial>+19005550000</Dial><Say>&amp; "quoted" 'single'`
	if _, err := tw.Voice().Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	raw := f.only(t).Form.Get("Twiml")
	if strings.Contains(raw, "<Dial>") {
		t.Fatalf("the title became TwiML: %s", raw)
	}
	doc := parseTwiML(t, raw)
	if len(doc.Gathers) != 1 || len(doc.Gathers[0].Says) != 2 || !strings.Contains(doc.Gathers[0].Says[0].Text, n.Incident.Title) {
		t.Errorf("the title is not spoken as it is: %s", raw)
	}
}

// TestVoiceTwiMLLimit: a long text is shortened so that the TwiML fits
// Twilio's 4000 characters, menu included.
func TestVoiceTwiMLLimit(t *testing.T) {
	for _, unit := range []string{"disk & <full> ", "磁盘已满，", "🔥 "} {
		t.Run(unit, func(t *testing.T) {
			f := newFakeTwilio(t)
			tw := newTwilio(t, config(f.URL), nil)
			n := notification(engine.NotifyFiring)
			n.Alerts[0].Annotations["summary"] = strings.Repeat(unit, 3000)
			if _, err := tw.Voice().Notify(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			raw := f.only(t).Form.Get("Twiml")
			if n := utf16Len(raw); n > MaxTwiML || n < MaxTwiML-200 {
				t.Errorf("TwiML of %d characters, want at most %d and not much less", n, MaxTwiML)
			}
			doc := parseTwiML(t, raw)
			if len(doc.Gathers) != 1 || doc.Gathers[0].Says[1].Text != DefaultMenu {
				t.Errorf("the menu was cut: %s", raw[len(raw)-300:])
			}
		})
	}
	t.Run("prompts alone too long", func(t *testing.T) {
		c := config("http://127.0.0.1:1")
		c.Voice.Prompts.Menu = strings.Repeat("press one ", 500)
		tw := newTwilio(t, c, nil)
		retry, err := tw.Voice().Notify(context.Background(), notification(engine.NotifyFiring))
		if err == nil || retry || !strings.Contains(err.Error(), "shorten the prompts") {
			t.Errorf("Notify = %v, %v; want a final error", retry, err)
		}
	})
}

func TestSMSWire(t *testing.T) {
	tests := []struct {
		event string
		ack   bool
	}{
		{engine.NotifyFiring, true},            // a page says how to answer
		{engine.NotifyEscalated, true},         // so does an escalation
		{engine.NotifyRemediationFailed, true}, // and a failed remediation
		{engine.NotifyResolved, false},         // a resolution asks nothing
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			f := newFakeTwilio(t)
			tw := newTwilio(t, config(f.URL), nil)
			n := notification(tt.event)
			n.Channel = engine.ChannelSMS
			retry, err := tw.SMS().Notify(context.Background(), n)
			if err != nil || retry {
				t.Fatalf("Notify = %v, %v", retry, err)
			}
			req := f.only(t)
			if req.Resource != "Messages" {
				t.Fatalf("resource %s", req.Resource)
			}
			form := req.Form
			if form.Get("To") != testTo || form.Get("From") != testFrom {
				t.Errorf("To %q From %q", form.Get("To"), form.Get("From"))
			}
			if got, want := form.Get("StatusCallback"), testExternal+"/api/v1/twilio/status?notification=34"; got != want {
				t.Errorf("StatusCallback %q, want %q", got, want)
			}
			body := form.Get("Body")
			if !strings.Contains(body, "#12 Disk full on db-1") {
				t.Errorf("Body %q", body)
			}
			if got := strings.Contains(body, "Reply ACK 12 or RESOLVE 12"); got != tt.ack {
				t.Errorf("Body %q: ack instruction = %v, want %v", body, got, tt.ack)
			}
			if n.ProviderID != "SM"+strings.Repeat("b2", 16) {
				t.Errorf("ProviderID %q", n.ProviderID)
			}
		})
	}
}

// TestSMSTruncate: a long body is cut to Twilio's 1600 characters, on a
// character boundary, counting as Twilio counts.
func TestSMSTruncate(t *testing.T) {
	for _, unit := range []string{"disk full ", "磁盘已满", "🔥"} {
		t.Run(unit, func(t *testing.T) {
			f := newFakeTwilio(t)
			c := config(f.URL)
			c.SMS.Templates = map[string]rules.TemplateConfig{"firing": {Body: "{{.Summary}}"}}
			tw := newTwilio(t, c, nil)
			n := notification(engine.NotifyFiring)
			n.Alerts[0].Annotations["summary"] = strings.Repeat(unit, 2000)
			if _, err := tw.SMS().Notify(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			body := f.only(t).Form.Get("Body")
			if got := utf16Len(body); got > MaxSMS || got < MaxSMS-20 {
				t.Errorf("Body of %d characters, want at most %d and not much less", got, MaxSMS)
			}
			if !utf8.ValidString(body) || !strings.HasSuffix(body, "…") {
				t.Errorf("Body ends %q", body[len(body)-20:])
			}
		})
	}
}

// TestAPIErrors: Twilio's answers map to a retry decision and an error
// naming Twilio's code and message.
func TestAPIErrors(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		retry  bool
		wait   time.Duration // a RetryAfterer's wait; -1: not a RetryAfterer
		want   string
	}{
		// An invalid To number is final.
		{"invalid number", 400, nil, `{"code":21211,"message":"The 'To' number +1555 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`,
			false, -1, "twilio error 21211 (status 400): The 'To' number +1555 is not a valid phone number. (https://www.twilio.com/docs/errors/21211)"},
		// A landline cannot receive SMS: final.
		{"not a mobile number", 400, nil, `{"code":21614,"message":"'To' number is not a valid mobile number","more_info":"https://www.twilio.com/docs/errors/21614","status":400}`,
			false, -1, "twilio error 21614 (status 400): 'To' number is not a valid mobile number"},
		// Twilio's own too-many-requests code, with Retry-After in seconds.
		{"too many requests", 429, map[string]string{"Retry-After": "7"}, `{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`,
			true, 7 * time.Second, "twilio error 20429 (status 429): Too Many Requests"},
		// Retry-After as an HTTP date.
		{"too many requests until a date", 429, map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, `{"code":20429,"message":"Too Many Requests","status":429}`,
			true, 90 * time.Second, "twilio error 20429"},
		// Without Retry-After the engine's backoff decides.
		{"too many requests without Retry-After", 429, nil, `{"code":20429,"message":"Too Many Requests","status":429}`,
			true, 0, "twilio error 20429"},
		// A full queue of the From number is Twilio being busy: retry.
		{"queue full", 400, nil, `{"code":21611,"message":"This 'From' number has exceeded the maximum number of queued messages","status":400}`,
			true, 0, "twilio error 21611"},
		// Twilio's 500 retries.
		{"internal error", 500, nil, `{"code":20500,"message":"An internal server error has occurred","more_info":"https://www.twilio.com/docs/errors/20500","status":500}`,
			true, -1, "twilio error 20500 (status 500): An internal server error has occurred"},
		// A proxy's HTML page in front of Twilio: retried on its status.
		{"bad gateway page", 502, nil, "<html><body>502 Bad Gateway</body></html>",
			true, -1, "status 502: <html><body>502 Bad Gateway</body></html>"},
		// An empty 503 too.
		{"service unavailable", 503, nil, "", true, -1, "status 503"},
		// A 404 page that is not Twilio's JSON is final.
		{"not found page", 404, nil, "not found", false, -1, "status 404: not found"},
		// A redirect is not followed and not a success.
		{"redirect", 302, map[string]string{"Location": "https://elsewhere.example.com/"}, "", false, -1, "unexpected status 302"},
	}
	for _, tt := range tests {
		for _, channel := range []string{"voice", "sms"} {
			t.Run(tt.name+"/"+channel, func(t *testing.T) {
				f := newFakeTwilio(t)
				f.answer = func(w http.ResponseWriter, _ apiRequest) bool {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					if strings.HasPrefix(tt.body, "{") {
						w.Header().Set("Content-Type", "application/json; charset=utf-8")
					}
					w.WriteHeader(tt.status)
					_, _ = w.Write([]byte(tt.body))
					return true
				}
				tw, err := New(config(f.URL), Options{ExternalURL: testExternal, Now: func() time.Time { return now }})
				if err != nil {
					t.Fatal(err)
				}
				nf := tw.Voice()
				if channel == "sms" {
					nf = tw.SMS()
				}
				n := notification(engine.NotifyFiring)
				retry, err := nf.Notify(context.Background(), n)
				if err == nil {
					t.Fatal("Notify succeeded")
				}
				if retry != tt.retry {
					t.Errorf("retry = %v, want %v (%v)", retry, tt.retry, err)
				}
				if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "twilio: create ") {
					t.Errorf("error %q, want it to contain %q", err, tt.want)
				}
				var ra engine.RetryAfterer
				switch {
				case tt.wait < 0 && errors.As(err, &ra):
					t.Errorf("a RetryAfterer: %v", err)
				case tt.wait >= 0 && !errors.As(err, &ra):
					t.Errorf("not a RetryAfterer: %v", err)
				case tt.wait >= 0 && ra.RetryAfter() != tt.wait:
					t.Errorf("RetryAfter = %s, want %s", ra.RetryAfter(), tt.wait)
				}
				if n.ProviderID != "" {
					t.Errorf("ProviderID %q after a failure", n.ProviderID)
				}
				if strings.Contains(err.Error(), testToken) {
					t.Errorf("error holds the token: %v", err)
				}
			})
		}
	}
}

// TestBadCredentials: a wrong auth token is refused by the fake as by
// Twilio (20003, 401) and is final; the error holds neither token.
func TestBadCredentials(t *testing.T) {
	f := newFakeTwilio(t)
	c := config(f.URL)
	const wrong = "00000000000000000000000000000bad"
	c.AuthToken = wrong
	tw := newTwilio(t, c, nil)
	retry, err := tw.Voice().Notify(context.Background(), notification(engine.NotifyFiring))
	if err == nil || retry {
		t.Fatalf("Notify = %v, %v; want a final error", retry, err)
	}
	var api *APIError
	if !errors.As(err, &api) || api.Code != 20003 || api.Status != 401 {
		t.Errorf("error %v, want Twilio's 20003", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), testToken) {
		t.Errorf("error holds a token: %v", err)
	}
}

// stall makes f hold every request until the test ends.
func stall(t *testing.T, f *fakeTwilio) {
	t.Helper()
	release := make(chan struct{})
	f.answer = func(w http.ResponseWriter, _ apiRequest) bool {
		<-release
		return true
	}
	// Cleanups run last-in first-out: release before the server closes.
	t.Cleanup(func() { close(release) })
}

// TestTimeout: a stalled API is abandoned at the configured timeout or
// at the caller's deadline, whichever comes first, and retried.
func TestTimeout(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration // configured
		ctx     time.Duration // the caller's deadline; 0: none
	}{
		// The configured timeout bounds a request.
		{"configured timeout", 50 * time.Millisecond, 0},
		// The caller's deadline is honoured though twilio-go takes no context.
		{"caller deadline", time.Hour, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		for _, channel := range []string{"voice", "sms"} {
			t.Run(tt.name+"/"+channel, func(t *testing.T) {
				f := newFakeTwilio(t)
				stall(t, f)
				c := config(f.URL)
				c.Timeout = rules.Duration(tt.timeout)
				tw := newTwilio(t, c, nil)
				nf := tw.Voice()
				if channel == "sms" {
					nf = tw.SMS()
				}
				ctx := context.Background()
				if tt.ctx > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.ctx)
					defer cancel()
				}
				retry, err := nf.Notify(ctx, notification(engine.NotifyFiring))
				if !retry || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Notify = %v, %v; want a retried deadline error", retry, err)
				}
			})
		}
	}
	t.Run("caller cancels", func(t *testing.T) {
		f := newFakeTwilio(t)
		stall(t, f)
		tw := newTwilio(t, config(f.URL), nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := tw.Voice().Notify(ctx, notification(engine.NotifyFiring))
			done <- err
		}()
		// Cancel once the request is at the fake.
		deadline := time.Now().Add(10 * time.Second)
		for len(f.requests()) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the request never arrived")
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Notify after cancel: %v", err)
		}
	})
}

// TestTransportError: an API that is not there is retried.
func TestTransportError(t *testing.T) {
	f := newFakeTwilio(t)
	f.Close()
	tw := newTwilio(t, config(f.URL), nil)
	retry, err := tw.SMS().Notify(context.Background(), notification(engine.NotifyFiring))
	if err == nil || !retry {
		t.Fatalf("Notify = %v, %v; want a retried error", retry, err)
	}
	if !strings.HasPrefix(err.Error(), "twilio: create message: Post: ") {
		t.Errorf("error %q", err)
	}
}

// TestNoRecipientAddress: a recipient without a phone number is a final
// error, and nothing is sent.
func TestNoRecipientAddress(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTwilio(t, config(f.URL), nil)
	for _, nf := range []engine.Notifier{tw.Voice(), tw.SMS()} {
		n := notification(engine.NotifyFiring)
		n.Recipient.Address = ""
		if retry, err := nf.Notify(context.Background(), n); err == nil || retry {
			t.Errorf("Notify = %v, %v", retry, err)
		}
	}
	if len(f.requests()) != 0 {
		t.Error("something was sent")
	}
}

// TestAPIURL: requests go to api_url whatever twilio-go's environment
// says about edges and regions.
func TestAPIURL(t *testing.T) {
	t.Setenv("TWILIO_EDGE", "sydney")
	t.Setenv("TWILIO_REGION", "au1")
	f := newFakeTwilio(t)
	tw := newTwilio(t, config(f.URL), nil)
	if _, err := tw.SMS().Notify(context.Background(), notification(engine.NotifyFiring)); err != nil {
		t.Fatal(err)
	}
	f.only(t)
}

// TestConcurrentNotify: notifications in parallel, each with its own
// context, all arrive (run with -race).
func TestConcurrentNotify(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTwilio(t, config(f.URL), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			n := notification(engine.NotifyFiring)
			n.ID = uint64(i)
			nf := tw.Voice()
			if i%2 == 0 {
				nf = tw.SMS()
			}
			if _, err := nf.Notify(ctx, n); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(f.requests()); got != 16 {
		t.Errorf("%d requests, want 16", got)
	}
}

// TestNoSecretLeaks: the auth token reaches no error and no log line, on
// success and on every failure path, nor the printed notifier.
func TestNoSecretLeaks(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	answers := map[string]func(w http.ResponseWriter){
		"ok":      nil,
		"401":     func(w http.ResponseWriter) { twilioError(w, 401, 20003, "Authentication Error - invalid username") },
		"429":     func(w http.ResponseWriter) { twilioError(w, 429, 20429, "Too Many Requests") },
		"500":     func(w http.ResponseWriter) { twilioError(w, 500, 20500, "An internal server error has occurred") },
		"garbage": func(w http.ResponseWriter) { w.WriteHeader(201); _, _ = w.Write([]byte("{not json")) },
	}
	var errs []error
	for name, answer := range answers {
		f := newFakeTwilio(t)
		if answer != nil {
			f.answer = func(w http.ResponseWriter, _ apiRequest) bool { answer(w); return true }
		}
		tw := newTwilio(t, config(f.URL), log)
		for _, nf := range []engine.Notifier{tw.Voice(), tw.SMS()} {
			_, err := nf.Notify(context.Background(), notification(engine.NotifyFiring))
			if (err == nil) != (name == "ok" || name == "garbage") {
				t.Errorf("%s: %v", name, err)
			}
			errs = append(errs, err)
		}
		if s := fmt.Sprintf("%v %+v %#v", tw, tw, tw); strings.Contains(s, testToken) {
			t.Errorf("the printed notifier holds the token: %s", s)
		}
	}
	// A closed server and a stalled one.
	closed := newFakeTwilio(t)
	closed.Close()
	stalled := newFakeTwilio(t)
	stall(t, stalled)
	for _, u := range []string{closed.URL, stalled.URL} {
		c := config(u)
		c.Timeout = rules.Duration(20 * time.Millisecond)
		tw := newTwilio(t, c, log)
		_, err := tw.Voice().Notify(context.Background(), notification(engine.NotifyFiring))
		errs = append(errs, err)
	}
	// The handler refusing and serving.
	tw := newTwilio(t, config(closed.URL), log)
	h := tw.Handler(&fakeResponder{people: map[string]string{testTo: "alice"}}, log)
	for _, signed := range []bool{false, true} {
		form := url.Values{"From": {testTo}, "Body": {"ACK 12"}}
		req := httptest.NewRequest(http.MethodPost, PathSMS, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if signed {
			req.Header.Set("X-Twilio-Signature", sign(testToken, testExternal+PathSMS, form))
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}

	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Errorf("error holds the token: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if buf.Len() == 0 {
		t.Fatal("nothing was logged: the test proves nothing")
	}
	if strings.Contains(buf.String(), testToken) {
		t.Errorf("the log holds the token:\n%s", buf.String())
	}
}

// lockedWriter serializes writes to a buffer shared by goroutines.
type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		s    string
		max  int
		want string
	}{
		// What fits is kept as it is.
		{"fits", "abc", 3, "abc"},
		// ASCII is cut, suffix included.
		{"ascii", "abcdef", 4, "abc…"},
		// A break near the end is preferred.
		{"at a space", "abcdefgh ijk", 11, "abcdefgh…"},
		// Chinese counts one per character, not per byte.
		{"chinese", "磁盘已满磁盘已满", 5, "磁盘已满…"},
		// An emoji counts two and is never split.
		{"emoji", "🔥🔥🔥", 4, "🔥…"},
		// A suffix longer in bytes than what is dropped.
		{"short tail", "abcde", 4, "abc…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncate(tt.s, tt.max, "…"); got != tt.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
			}
		})
	}
}

// TestVoiceHostileLabels: label and annotation values that try to close
// the <Say> and add <Redirect>, <Dial> or <Play>, end a CDATA section, or
// hold characters XML cannot carry are spoken as text: the call's TwiML
// keeps one Gather with the message and the menu, and a final Say.
func TestVoiceHostileLabels(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTwilio(t, config(f.URL), nil)
	n := notification(engine.NotifyFiring)
	evil := `</Say><Redirect method="POST">https://evil.example/twiml</Redirect><Dial>+19005550000</Dial><Play>x</Play><Say>]]>` + "\x00\x0b\ufffe"
	n.Incident.Title = "Disk " + evil
	n.Alerts[0].Labels["instance"] = evil
	n.Alerts[0].Annotations["summary"] = evil
	if _, err := tw.Voice().Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	raw := f.only(t).Form.Get("Twiml")
	for _, verb := range []string{"<Redirect", "<Dial", "<Play", "\x00", "\x0b"} {
		if strings.Contains(raw, verb) {
			t.Errorf("the TwiML holds %q: %s", verb, raw)
		}
	}
	doc := parseTwiML(t, raw)
	if len(doc.Gathers) != 1 || len(doc.Gathers[0].Says) != 2 || len(doc.Says) != 1 ||
		!strings.Contains(doc.Gathers[0].Says[0].Text, `</Say><Redirect method="POST">https://evil.example/twiml</Redirect>`) {
		t.Errorf("the values are not spoken as text: %s", raw)
	}
	if !strings.Contains(doc.Inner, "</Gather><Say") || strings.Count(raw, "<Say") != 3 {
		t.Errorf("the TwiML's verbs changed: %s", raw)
	}
}

// TestSMSHostileLabels: an SMS is one form field (Body) of the API
// request: a title that tries to add form fields (another To, a
// StatusCallback) or holds line breaks reaches Twilio as the Body's text,
// and the request's own fields are unchanged.
func TestSMSHostileLabels(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTwilio(t, config(f.URL), nil)
	n := notification(engine.NotifyFiring)
	evil := "x&To=%2B19005550000&StatusCallback=https://evil.example/\r\nBody: y {{.Recipient}} <Message>"
	n.Incident.Title = evil
	if _, err := tw.SMS().Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	form := f.only(t).Form
	if to := form["To"]; len(to) != 1 || to[0] != testTo {
		t.Errorf("To = %q, want only %s", to, testTo)
	}
	if cb := form["StatusCallback"]; len(cb) != 1 || !strings.HasPrefix(cb[0], testExternal+PathStatus) {
		t.Errorf("StatusCallback = %q", cb)
	}
	if body := form["Body"]; len(body) != 1 || !strings.Contains(body[0], evil) {
		t.Errorf("Body = %q, want it to hold the title as written", body)
	}
}
