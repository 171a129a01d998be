package feishu

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle/bundletest"
	"github.com/remediator/remediator/notifiers/internal/robot/robottest"
	"github.com/remediator/remediator/rules"
)

const (
	hook   = "0b8e1d5a-hook-t0ken-feishu"
	secret = "sEcReT-feishu-signing"
	openID = "ou_7d8a6e6df7621556ce0d21922b676706"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// wireMessage is a custom bot's message as the fake decodes it: unknown
// fields are an error, and the timestamp must be a string.
type wireMessage struct {
	Timestamp string `json:"timestamp"`
	Sign      string `json:"sign"`
	MsgType   string `json:"msg_type"`
	Card      *struct {
		Header struct {
			Title struct {
				Tag     string `json:"tag"`
				Content string `json:"content"`
			} `json:"title"`
			Template string `json:"template"`
		} `json:"header"`
		Elements []struct {
			Tag     string `json:"tag"`
			Content string `json:"content"`
		} `json:"elements"`
	} `json:"card"`
	Content *struct {
		Text string `json:"text"`
	} `json:"content"`
}

// text is what the message shows: the card's markdown or the text.
func (m wireMessage) text() string {
	if m.Card != nil && len(m.Card.Elements) > 0 {
		return m.Card.Elements[0].Content
	}
	if m.Content != nil {
		return m.Content.Text
	}
	return ""
}

type reply = robottest.Reply

// bot is a fake Feishu custom bot on 127.0.0.1. It checks what the real
// one checks (the hook token, the signature and its age, 20 KB, the
// message's JSON, 5 messages a second and 100 a minute) and answers as it
// does: HTTP 200 with a code.
type bot struct {
	*robottest.Server
	secret string // "": the bot does not sign
}

func newBot(t *testing.T, secret string, clock *bundletest.Clock) *bot {
	t.Helper()
	b := &bot{secret: secret}
	b.Server = robottest.NewServer(t, clock, b.serve)
	return b
}

func (b *bot) requests() []wireMessage { return robottest.Messages[wireMessage](b.Server) }

// webhook is the bot's URL, with its token.
func (b *bot) webhook() string { return b.URL + "/open-apis/bot/v2/hook/" + hook }

func respond(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprintf(w, `{"code":%d,"data":{},"msg":%q}`, code, msg)
}

func (b *bot) serve(w http.ResponseWriter, req *http.Request, raw []byte) {
	var m wireMessage
	decodeErr := robottest.Decode(raw, &m)
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	now := b.Clock.Now()
	switch {
	case req.Method != http.MethodPost || !strings.HasPrefix(req.URL.Path, "/open-apis/bot/v2/hook/"):
		http.NotFound(w, req)
	case strings.TrimPrefix(req.URL.Path, "/open-apis/bot/v2/hook/") != hook:
		respond(w, 19001, "param invalid: incoming webhook access token invalid")
	case mt != "application/json", len(raw) > 20*1024, decodeErr != nil, !wellFormed(m):
		respond(w, 9499, "Bad Request")
	case b.secret != "" && !b.signed(m, now):
		respond(w, 19021, "sign match fail or timestamp is not within one hour from current time")
	default:
		// Feishu's 5 messages a second and 100 a minute.
		switch b.Allow(now, robottest.Limit{N: 5, Window: time.Second}, robottest.Limit{N: 100, Window: time.Minute}) {
		case 0:
			respond(w, 9499, "too many request")
			return
		case 1:
			respond(w, 11232, "frequency limited")
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprint(w, `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`)
	}
}

// headerColours are the card header templates Feishu knows.
var headerColours = "blue wathet turquoise green yellow orange red carmine violet purple indigo grey default"

// wellFormed checks a card's or a text's shape as Feishu documents it.
func wellFormed(m wireMessage) bool {
	switch m.MsgType {
	case "interactive":
		c := m.Card
		return m.Content == nil && c != nil && c.Header.Title.Tag == "plain_text" && c.Header.Title.Content != "" &&
			strings.Contains(headerColours, c.Header.Template) && len(c.Elements) == 1 &&
			c.Elements[0].Tag == "markdown" && c.Elements[0].Content != ""
	case "text":
		return m.Card == nil && m.Content != nil && m.Content.Text != ""
	}
	return false
}

// signed checks timestamp (seconds, within an hour) and sign, computed
// here as Feishu documents it: HMAC-SHA256 keyed with
// timestamp+"\n"+secret over an empty message, in base64.
func (b *bot) signed(m wireMessage, now time.Time) bool {
	ts, err := strconv.ParseInt(m.Timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > time.Hour || d < -time.Hour {
		return false
	}
	mac := hmac.New(sha256.New, []byte(m.Timestamp+"\n"+b.secret))
	mac.Write(nil)
	return hmac.Equal([]byte(m.Sign), []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))))
}

// setup starts a fake bot and a Notifier posting to it, logging at debug
// level into the returned buffer.
func setup(t *testing.T, botSecret string, cfg rules.IMConfig) (*bot, *Notifier, *bundletest.Clock, *robottest.Logs) {
	t.Helper()
	clock := bundletest.NewClock(t0)
	b := newBot(t, botSecret, clock)
	logs := &robottest.Logs{}
	cfg.Name, cfg.Type, cfg.URL = "ops", rules.IMFeishu, rules.Secret(b.webhook())
	n, err := New(&cfg, Options{Clock: clock, Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	return b, n, clock, logs
}

// signedCard is the default configuration, with the signing secret.
var signedCard = rules.IMConfig{Secret: secret}

var notification = robottest.Notification

func TestNotifyWire(t *testing.T) {
	off := false
	tests := []struct {
		name        string
		card        *bool
		to          string
		wantType    string
		wantHeading string // the heading as the message writes it
		wantMention string // "": none
	}{
		// The default: a card, the heading bold (JSON 1.0 markdown has no "#"), <at id=…>.
		{"card mentions a person", nil, openID, "interactive", "**FIRING P1 #7 Disk full on db-1**", "<at id=" + openID + "></at>"},
		// A room's card mentions nobody.
		{"card to a room mentions nobody", nil, "", "interactive", "**FIRING P1 #7 Disk full on db-1**", ""},
		// card: false sends text, the heading plain, <at user_id="…">name</at>.
		{"text mentions a person by name", &off, openID, "text", "FIRING P1 #7 Disk full on db-1", `<at user_id="` + openID + `">Alice</at>`},
		// A room's text mentions nobody.
		{"text to a room mentions nobody", &off, "", "text", "FIRING P1 #7 Disk full on db-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, n, _, _ := setup(t, secret, rules.IMConfig{Secret: secret, Card: tt.card})
			if retry, err := n.Notify(context.Background(), notification(7, tt.to)); err != nil {
				t.Fatalf("Notify: retry=%v, %v", retry, err)
			}
			reqs := b.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			m := reqs[0]
			if m.MsgType != tt.wantType {
				t.Errorf("msg_type = %q, want %q", m.MsgType, tt.wantType)
			}
			if m.Timestamp != strconv.FormatInt(t0.Unix(), 10) {
				t.Errorf("timestamp = %q, want the clock's in seconds", m.Timestamp)
			}
			text := m.text()
			if !strings.HasPrefix(text, tt.wantHeading+"\n") || strings.Contains(text, "###") {
				t.Errorf("text does not open with %q:\n%s", tt.wantHeading, text)
			}
			for _, want := range []string{"DiskFull: /var is 99% full", "[Incident #7](https://remediator.example/incidents/7)"} {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
			}
			if tt.wantMention != "" && !strings.HasSuffix(text, "\n\n"+tt.wantMention) {
				t.Errorf("text does not end with %s:\n%s", tt.wantMention, text)
			}
			if tt.wantMention == "" && strings.Contains(text, "<at") {
				t.Errorf("a room's message mentions someone:\n%s", text)
			}
			if m.Card != nil && (m.Card.Header.Title.Content != "[FIRING] P1 critical #7 Disk full on db-1" || m.Card.Header.Template != "red") {
				t.Errorf("header = %+v, want the title in red", m.Card.Header)
			}
		})
	}
}

func TestHeaderColour(t *testing.T) {
	tests := []struct {
		events []string
		want   string
	}{
		{[]string{engine.NotifyFiring}, "red"},                               // firing is red
		{[]string{engine.NotifyEscalated}, "red"},                            // escalated is red
		{[]string{engine.NotifyRemediationFailed}, "orange"},                 // a failed remediation is orange
		{[]string{engine.NotifyAcknowledged}, "blue"},                        // acknowledged is blue
		{[]string{engine.NotifyResolved}, "green"},                           // resolved is green
		{[]string{engine.NotifyResolved, engine.NotifyFiring}, "red"},        // a bundle takes its most urgent
		{[]string{engine.NotifyResolved, engine.NotifyAcknowledged}, "blue"}, // even when not first
	}
	for _, tt := range tests {
		var batch []*engine.Notification
		for _, ev := range tt.events {
			nt := notification(1, "")
			nt.Event = ev
			batch = append(batch, nt)
		}
		if got := colour(batch); got != tt.want {
			t.Errorf("colour(%v) = %q, want %q", tt.events, got, tt.want)
		}
	}
}

func TestSignature(t *testing.T) {
	tests := []struct {
		name           string
		botSecret      string
		notifierSecret string
		wantCode       string // "": accepted
	}{
		// Signed with the bot's secret: accepted.
		{"signed with the right secret", secret, secret, ""},
		// A bot that does not sign takes unsigned messages, and the
		// notifier adds no timestamp or sign.
		{"unsigned bot", "", "", ""},
		// A wrong secret: 19021, final.
		{"wrong secret is rejected", secret, "wrong", "code 19021"},
		// No signature on a signing bot: 19021, final.
		{"absent signature is rejected", secret, "", "code 19021"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, n, _, _ := setup(t, tt.botSecret, rules.IMConfig{Secret: rules.Secret(tt.notifierSecret)})
			retry, err := n.Notify(context.Background(), notification(1, ""))
			if tt.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if retry || err == nil || !strings.Contains(err.Error(), tt.wantCode) {
				t.Fatalf("got (%v, %v), want a final %s", retry, err, tt.wantCode)
			}
			if m := b.requests()[0]; tt.notifierSecret == "" && (m.Timestamp != "" || m.Sign != "") {
				t.Errorf("unsigned request carries timestamp %q, sign %q", m.Timestamp, m.Sign)
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	t.Run("the fake rejects a body over 20 KB as Feishu does", func(t *testing.T) {
		b := newBot(t, "", bundletest.NewClock(t0))
		body := fmt.Sprintf(`{"msg_type":"text","content":{"text":%q}}`, strings.Repeat("x", 20*1024))
		resp, err := http.Post(b.webhook(), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a answer
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || a.Code == nil || *a.Code != 9499 {
			t.Fatalf("fake answered %+v, %v; want code 9499", a, err)
		}
	})
	off := false
	for _, tt := range []struct {
		name    string
		card    *bool
		mention string
	}{
		// A card's markdown is cut so the body stays under 20 KB.
		{"card", nil, "<at id=" + openID + "></at>"},
		// So is a text.
		{"text", &off, `<at user_id="` + openID + `">Alice</at>`},
	} {
		t.Run("chinese "+tt.name+" is cut under 20 KB, on a character, with a link", func(t *testing.T) {
			b, n, _, _ := setup(t, secret, rules.IMConfig{Secret: secret, Card: tt.card})
			nt := notification(9, openID)
			// Quotes and line breaks grow when JSON escapes them.
			nt.Alerts[0].Annotations["summary"] = strings.Repeat("数据库磁盘已满，\"请\"立即处理。\n", 1000)
			if _, err := n.Notify(context.Background(), nt); err != nil {
				t.Fatal(err)
			}
			size := len(b.Requests()[0].Body)
			if size > MaxBody || size < MaxBody-200 {
				t.Errorf("body is %d bytes, want just under %d", size, MaxBody)
			}
			text := b.requests()[0].text()
			if !utf8.ValidString(text) {
				t.Error("text is cut inside a character")
			}
			if want := "…\n\n[Full incident](https://remediator.example/incidents/9)\n\n" + tt.mention; !strings.HasSuffix(text, want) {
				t.Errorf("text ends %q, want the link and the mention", text[len(text)-120:])
			}
		})
	}
}

func TestRateLimitBundles(t *testing.T) {
	t.Run("past 5 a second, the rest go as one message a second later", func(t *testing.T) {
		b, n, clock, _ := setup(t, secret, signedCard)
		const total = 25
		errs := make(chan error, total)
		for id := uint64(1); id <= total; id++ {
			go func() {
				_, err := n.Notify(context.Background(), notification(id, fmt.Sprintf("ou_%02d", id)))
				errs <- err
			}()
		}
		robottest.WaitFor(t, "5 sent and 20 waiting", func() bool {
			return len(b.requests()) == 5 && n.robot.Limiter.Waiting() == total-5 && clock.Timers() == 1
		})
		clock.Advance(time.Second)
		for range total {
			if err := <-errs; err != nil {
				t.Errorf("Notify: %v", err)
			}
		}
		reqs := b.requests()
		if len(reqs) != 6 {
			t.Fatalf("%d requests, want 6: 5, then the other 20 as one", len(reqs))
		}
		text := reqs[5].text()
		if got := strings.Count(text, "[Incident #"); got != total-5 {
			t.Errorf("bundle carries %d incidents, want %d", got, total-5)
		}
		if got := strings.Count(text, "<at id=ou_"); got != total-5 {
			t.Errorf("bundle mentions %d people, want %d", got, total-5)
		}
		if got := reqs[5].Card.Header.Title.Content; !strings.HasSuffix(got, "(+19 more)") {
			t.Errorf("bundle title = %q, want it to count the rest", got)
		}
	})
	t.Run("past 100 a minute, the rest wait for the minute", func(t *testing.T) {
		b, n, clock, _ := setup(t, secret, signedCard)
		// 5 a second for 20 seconds: 100, each at once.
		for id := uint64(1); id <= 100; id++ {
			if _, err := n.Notify(context.Background(), notification(id, "")); err != nil {
				t.Fatalf("notification %d: %v", id, err)
			}
			if id%5 == 0 {
				clock.Advance(time.Second)
			}
		}
		errs := make(chan error, 5)
		for id := uint64(101); id <= 105; id++ {
			go func() {
				_, err := n.Notify(context.Background(), notification(id, ""))
				errs <- err
			}()
		}
		robottest.WaitFor(t, "5 waiting", func() bool { return n.robot.Limiter.Waiting() == 5 && clock.Timers() == 1 })
		clock.Advance(39 * time.Second) // 59s
		if got := len(b.requests()); got != 100 {
			t.Fatalf("%d requests within the minute, want 100", got)
		}
		robottest.WaitFor(t, "the limiter sleeps on", func() bool { return clock.Timers() == 1 })
		clock.Advance(time.Second)
		for range 5 {
			if err := <-errs; err != nil {
				t.Errorf("Notify: %v", err)
			}
		}
		reqs := b.requests()
		if len(reqs) != 101 || strings.Count(reqs[100].text(), "[Incident #") != 5 {
			t.Fatalf("%d requests, want 101, the last carrying the 5 that waited", len(reqs))
		}
	})
}

func TestFailures(t *testing.T) {
	robottest.Failures(t, append(robottest.HTTPFailures(), []robottest.Failure{
		// "frequency limited" retries after a minute.
		{Name: "11232 frequency limited waits", Reply: reply{Status: 200, Body: `{"code":11232,"msg":"frequency limited psm[lark.oapi.app_platform_runtime]"}`}, Retry: true, Wait: time.Minute, Err: "code 11232"},
		// 9499 "too many request" is a rate limit too.
		{Name: "9499 too many request waits", Reply: reply{Status: 200, Body: `{"code":9499,"msg":"too many request","data":{}}`}, Retry: true, Wait: time.Minute, Err: "code 9499"},
		// 9499 "Bad Request" (malformed, over 20 KB) is final.
		{Name: "9499 bad request is final", Reply: reply{Status: 200, Body: `{"code":9499,"msg":"Bad Request","data":{}}`}, Err: "code 9499"},
		// A signature that did not match will not.
		{Name: "19021 sign match fail is final", Reply: reply{Status: 200, Body: `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`}, Err: "code 19021"},
		// An address outside the allow-list stays outside.
		{Name: "19022 ip not allowed is final", Reply: reply{Status: 200, Body: `{"code":19022,"msg":"Ip Not Allowed"}`}, Err: "code 19022"},
		// The keyword check fails again on a retry.
		{Name: "19024 key words not found is final", Reply: reply{Status: 200, Body: `{"code":19024,"msg":"Key Words Not Found"}`}, Err: "code 19024"},
		// Older deployments answer with StatusCode alone.
		{Name: "StatusCode 0 alone is success", Reply: reply{Status: 200, Body: `{"Extra":null,"StatusCode":0,"StatusMessage":"success"}`}},
		// And fail with it too.
		{Name: "StatusCode alone carries the error", Reply: reply{Status: 200, Body: `{"StatusCode":19021,"StatusMessage":"sign match fail"}`}, Err: "code 19021"},
		// Another 4xx is final.
		{Name: "400 is final", Reply: reply{Status: 400, Body: `{"code":9499,"msg":"Bad Request"}`}, Err: "status 400"},
	}...), func(t *testing.T, rep reply) (bool, error) {
		b, n, _, _ := setup(t, secret, signedCard)
		b.Script(rep)
		return n.Notify(context.Background(), notification(1, openID))
	})
	robottest.Unreachable(t, func(t *testing.T) (*robottest.Server, string) {
		b := newBot(t, "", bundletest.NewClock(t0))
		return b.Server, b.webhook()
	}, func(cfg *rules.IMConfig) (engine.Notifier, error) { return New(cfg, Options{}) })
	t.Run("a wrong hook token is final", func(t *testing.T) {
		b := newBot(t, "", bundletest.NewClock(t0))
		n, err := New(&rules.IMConfig{URL: rules.Secret(b.URL + "/open-apis/bot/v2/hook/wrong")}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if retry, err := n.Notify(context.Background(), notification(1, "")); retry || err == nil || !strings.Contains(err.Error(), "code 19001") {
			t.Fatalf("got (%v, %v), want a final 19001", retry, err)
		}
	})
}

func TestNewRejects(t *testing.T) {
	good := rules.Secret("https://open.feishu.cn/open-apis/bot/v2/hook/" + hook)
	tests := []struct {
		name string
		cfg  rules.IMConfig
		want string
	}{
		// The URL is required.
		{"no url", rules.IMConfig{Name: "ops"}, `feishu "ops": url is required`},
		// A URL that does not parse is named without quoting it: it holds the token.
		{"bad url", rules.IMConfig{Name: "ops", URL: rules.Secret("https://open feishu.cn/open-apis/bot/v2/hook/" + hook)}, `feishu "ops": url is not an http(s) URL`},
		// A template that does not parse is named by its event and part.
		{"bad template", rules.IMConfig{Name: "ops", URL: good, Templates: map[string]rules.TemplateConfig{"escalated": {Body: "{{end}}"}}}, `templates.escalated.body`},
		// An unknown event is an error.
		{"unknown event", rules.IMConfig{Name: "ops", URL: good, Templates: map[string]rules.TemplateConfig{"fired": {Body: "x"}}}, `unknown event "fired"`},
		// Negative numbers are errors.
		{"negative limit", rules.IMConfig{Name: "ops", URL: good, MaxPerMinute: -5}, "max_per_minute -5 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&tt.cfg, Options{})
			robottest.Rejected(t, err, tt.want, hook)
		})
	}
	t.Run("defaults", func(t *testing.T) {
		n, err := New(&rules.IMConfig{URL: good}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !n.card || n.robot.Timeout != DefaultTimeout {
			t.Errorf("card %v, timeout %s; want a card and %s", n.card, n.robot.Timeout, DefaultTimeout)
		}
	})
}

func TestNoSecretLeaks(t *testing.T) {
	b, n, clock, logs := setup(t, secret, signedCard)
	errs := robottest.CollectErrors(b.Server, []reply{
		{Status: 500, Body: "internal"},
		{Status: 429, Body: "slow"},
		{Status: 200, Body: `{"code":19021,"msg":"sign match fail"}`},
		{Status: 200, Body: `{"code":11232,"msg":"frequency limited"}`},
	}, func(ctx context.Context) error {
		clock.Advance(time.Second) // within 5 a second
		_, err := n.Notify(ctx, notification(1, openID))
		return err
	})
	_, err := New(&rules.IMConfig{URL: rules.Secret("https://bad host/open-apis/bot/v2/hook/" + hook), Secret: secret}, Options{})
	errs = append(errs, err)
	if len(errs) != 7 {
		t.Fatalf("%d errors, want 7 failures", len(errs))
	}
	robottest.NoSecrets(t, errs, logs.String(), n, hook, secret)
}

// TestLabelValuesCannotMention: a value with Feishu's mention syntax
// (<at id=all></at>, <at user_id="all">) in the title, labels,
// annotations, by or detail mentions nobody, in a card or a text; only
// the recipient's own mention, which remediator adds, is one.
func TestLabelValuesCannotMention(t *testing.T) {
	off := false
	for _, card := range []*bool{nil, &off} {
		b, n, _, _ := setup(t, secret, rules.IMConfig{Secret: secret, Card: card})
		if _, err := n.Notify(context.Background(), robottest.HostileNotification(7, openID)); err != nil {
			t.Fatal(err)
		}
		m := b.requests()[0]
		text := m.text()
		if got := len(atTagRE.FindAllString(text, -1)); got != 1 || !strings.Contains(text[strings.LastIndex(text, "\n\n"):], openID) {
			t.Errorf("%s: %d mentions, want the recipient's alone at the end:\n%s", m.MsgType, got, text)
		}
		if m.Card != nil && atTagRE.MatchString(m.Card.Header.Title.Content) {
			t.Errorf("the header mentions: %q", m.Card.Header.Title.Content)
		}
		if !strings.Contains(text, "所有人") {
			t.Errorf("%s: the value is not shown:\n%s", m.MsgType, text)
		}
	}
}

// atTagRE is Feishu's mention tag, as loosely as a parser might read it.
var atTagRE = regexp.MustCompile(`(?i)<\s*at[\s>]`)
