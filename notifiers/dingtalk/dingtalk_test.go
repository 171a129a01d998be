package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle/bundletest"
	"github.com/remediator/remediator/notifiers/internal/robot"
	"github.com/remediator/remediator/notifiers/internal/robot/robottest"
	"github.com/remediator/remediator/rules"
)

const (
	token  = "tok3n-5ecret-d1ngtalk"
	secret = "SECabc123signing5ecret"
	mobile = "13800000001"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// got is one request the fake robot received.
type got struct {
	Query url.Values
	Msg   wireMessage
}

// wireMessage is DingTalk's markdown message as the fake decodes it:
// unknown fields are an error.
type wireMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown *struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	At *struct {
		AtMobiles []string `json:"atMobiles"`
		AtUserIDs []string `json:"atUserIds"`
		IsAtAll   bool     `json:"isAtAll"`
	} `json:"at"`
}

type reply = robottest.Reply

// fake is a fake DingTalk custom robot on 127.0.0.1. It checks what the
// real one checks (the access token, the signature and its age, the JSON,
// the text's length, 20 messages a minute) and answers as it does: HTTP
// 200 with an errcode.
type fake struct {
	*robottest.Server
	secret string // "": the robot does not sign
}

func newFake(t *testing.T, secret string, clock *bundletest.Clock) *fake {
	t.Helper()
	f := &fake{secret: secret}
	f.Server = robottest.NewServer(t, clock, f.serve)
	return f
}

func (f *fake) requests() []got {
	var gs []got
	for _, r := range f.Requests() {
		g := got{Query: r.Query}
		_ = robottest.Decode(r.Body, &g.Msg)
		gs = append(gs, g)
	}
	return gs
}

// webhook is the robot's URL, with the access token.
func (f *fake) webhook() string { return f.URL + "/robot/send?access_token=" + token }

func respond(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	fmt.Fprintf(w, `{"errcode":%d,"errmsg":%q}`, code, msg)
}

func (f *fake) serve(w http.ResponseWriter, req *http.Request, body []byte) {
	var m wireMessage
	decodeErr := robottest.Decode(body, &m)
	q := req.URL.Query()
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	now := f.Clock.Now()
	switch {
	case req.Method != http.MethodPost || req.URL.Path != "/robot/send":
		http.NotFound(w, req)
	case q.Get("access_token") != token:
		respond(w, 300001, "token is not exist")
	case mt != "application/json":
		respond(w, 43004, "无效的HTTP HEADER Content-Type")
	case f.secret != "" && !f.signed(q, now):
		respond(w, 310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
	case decodeErr != nil || m.MsgType != "markdown" || m.Markdown == nil || m.Markdown.Title == "" || m.Markdown.Text == "":
		respond(w, 40035, "缺少参数 json")
	case len(m.Markdown.Text) > MaxText:
		respond(w, 460101, "message too long, exceed 20000 bytes")
	case f.Allow(now, robottest.Limit{N: 20, Window: time.Minute}) >= 0: // DingTalk's 20 a minute
		respond(w, 130101, "send too fast, exceed 20 times per minute")
	default:
		respond(w, 0, "ok")
	}
}

// signed checks timestamp (milliseconds, within an hour) and sign,
// computed here from the secret as DingTalk documents it.
func (f *fake) signed(q url.Values, now time.Time) bool {
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.UnixMilli(ts)); d > time.Hour || d < -time.Hour {
		return false
	}
	mac := hmac.New(sha256.New, []byte(f.secret))
	mac.Write([]byte(q.Get("timestamp") + "\n" + f.secret))
	return hmac.Equal([]byte(q.Get("sign")), []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))))
}

// setup starts a fake robot and a Notifier posting to it, logging at
// debug level into the returned buffer.
func setup(t *testing.T, robotSecret, notifierSecret string) (*fake, *Notifier, *bundletest.Clock, *robottest.Logs) {
	t.Helper()
	clock := bundletest.NewClock(t0)
	f := newFake(t, robotSecret, clock)
	logs := &robottest.Logs{}
	n, err := New(&rules.IMConfig{
		Name: "ops", Type: rules.IMDingTalk, URL: rules.Secret(f.webhook()), Secret: rules.Secret(notifierSecret),
	}, Options{Clock: clock, Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	return f, n, clock, logs
}

var notification = robottest.Notification

func TestNotifyWire(t *testing.T) {
	tests := []struct {
		name        string
		to          string
		wantMobiles []string
		wantUserIDs []string
	}{
		// A person's mobile is in atMobiles and, as "@mobile", in the text.
		{"a person is mentioned by mobile", mobile, []string{mobile}, nil},
		// A handle that is not a number is a DingTalk user id.
		{"a user id is mentioned in atUserIds", "manager4421", nil, []string{"manager4421"}},
		// A room's notification mentions nobody.
		{"a room mentions nobody", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, n, _, _ := setup(t, secret, secret)
			if retry, err := n.Notify(context.Background(), notification(7, tt.to)); err != nil {
				t.Fatalf("Notify: retry=%v, %v", retry, err)
			}
			reqs := r.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			m := reqs[0].Msg
			if m.Markdown.Title != "[FIRING] P1 critical #7 Disk full on db-1" {
				t.Errorf("title = %q", m.Markdown.Title)
			}
			for _, want := range []string{"### FIRING P1 #7 Disk full on db-1", "DiskFull: /var is 99% full", "[Incident #7](https://remediator.example/incidents/7)"} {
				if !strings.Contains(m.Markdown.Text, want) {
					t.Errorf("text lacks %q:\n%s", want, m.Markdown.Text)
				}
			}
			if m.At == nil || m.At.IsAtAll || fmt.Sprint(m.At.AtMobiles) != fmt.Sprint(tt.wantMobiles) || fmt.Sprint(m.At.AtUserIDs) != fmt.Sprint(tt.wantUserIDs) {
				t.Errorf("at = %+v, want mobiles %v, user ids %v, not all", m.At, tt.wantMobiles, tt.wantUserIDs)
			}
			for _, h := range append(tt.wantMobiles, tt.wantUserIDs...) {
				if !strings.HasSuffix(m.Markdown.Text, "@"+h) {
					t.Errorf("text does not end with @%s, so DingTalk would not ping:\n%s", h, m.Markdown.Text)
				}
			}
			if tt.to == "" && strings.Contains(m.Markdown.Text, "@") {
				t.Errorf("a room's text mentions someone:\n%s", m.Markdown.Text)
			}
			if q := reqs[0].Query; q.Get("timestamp") != strconv.FormatInt(t0.UnixMilli(), 10) {
				t.Errorf("timestamp = %q, want the clock's in milliseconds", q.Get("timestamp"))
			}
		})
	}
}

func TestSignature(t *testing.T) {
	tests := []struct {
		name           string
		robotSecret    string
		notifierSecret string
		wantCode       string // "": accepted
	}{
		// Signed with the robot's secret: accepted.
		{"signed with the right secret", secret, secret, ""},
		// A robot that does not sign takes unsigned messages, and the
		// notifier adds no timestamp or sign.
		{"unsigned robot", "", "", ""},
		// A wrong secret: 310000, final.
		{"wrong secret is rejected", secret, "SECwrong", "errcode 310000"},
		// No signature on a signing robot: 310000, final.
		{"absent signature is rejected", secret, "", "errcode 310000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, n, _, _ := setup(t, tt.robotSecret, tt.notifierSecret)
			retry, err := n.Notify(context.Background(), notification(1, ""))
			if tt.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if retry || err == nil || !strings.Contains(err.Error(), tt.wantCode) {
				t.Fatalf("got (%v, %v), want a final %s", retry, err, tt.wantCode)
			}
			if q := r.requests()[0].Query; tt.notifierSecret == "" && (q.Has("timestamp") || q.Has("sign")) {
				t.Errorf("unsigned request carries %v", q)
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	t.Run("the fake rejects an oversize text as DingTalk does", func(t *testing.T) {
		r, _, _, _ := setup(t, "", "")
		body := fmt.Sprintf(`{"msgtype":"markdown","markdown":{"title":"t","text":%q},"at":{"isAtAll":false}}`, strings.Repeat("x", MaxText+1))
		resp, err := http.Post(r.webhook(), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a struct {
			ErrCode *int `json:"errcode"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || a.ErrCode == nil || *a.ErrCode != 460101 {
			t.Fatalf("fake answered %+v, %v; want errcode 460101", a, err)
		}
	})
	t.Run("chinese text is cut at the limit, on a character, with a link", func(t *testing.T) {
		r, n, _, _ := setup(t, secret, secret)
		nt := notification(9, mobile)
		nt.Alerts[0].Annotations["summary"] = strings.Repeat("数据库磁盘已满，请立即处理。", 2000) // 42 bytes × 2000
		if _, err := n.Notify(context.Background(), nt); err != nil {
			t.Fatal(err)
		}
		text := r.requests()[0].Msg.Markdown.Text
		if len(text) > MaxText {
			t.Errorf("text is %d bytes, more than %d", len(text), MaxText)
		}
		if len(text) < MaxText-100 {
			t.Errorf("text is %d bytes, cut far below %d", len(text), MaxText)
		}
		if !utf8.ValidString(text) {
			t.Error("text is cut inside a character")
		}
		if want := "…\n\n[Full incident](https://remediator.example/incidents/9)\n\n@" + mobile; !strings.HasSuffix(text, want) {
			t.Errorf("text ends %q, want the link and the mention", text[len(text)-120:])
		}
	})
}

func TestRateLimitBundles(t *testing.T) {
	r, n, clock, _ := setup(t, secret, secret)
	const total = 25
	errs := make(chan error, total)
	for id := uint64(1); id <= total; id++ {
		to := fmt.Sprintf("1380000%04d", id)
		go func() {
			_, err := n.Notify(context.Background(), notification(id, to))
			errs <- err
		}()
	}
	robottest.WaitFor(t, "20 sent and 5 waiting", func() bool {
		return len(r.requests()) >= 20 && n.robot.Limiter.Waiting() == total-20
	})
	robottest.WaitFor(t, "the limiter waits for the window", func() bool { return clock.Timers() > 0 })
	if got := len(r.requests()); got != 20 {
		t.Fatalf("%d requests in the first minute, want 20", got)
	}
	clock.Advance(time.Minute)
	for range total {
		if err := <-errs; err != nil {
			t.Errorf("Notify: %v", err)
		}
	}
	reqs := r.requests()
	if len(reqs) != 21 {
		t.Fatalf("%d requests, want 21: the last 5 bundled into one", len(reqs))
	}
	last := reqs[20].Msg
	if got := strings.Count(last.Markdown.Text, "[Incident #"); got != total-20 {
		t.Errorf("bundle carries %d incidents, want %d:\n%s", got, total-20, last.Markdown.Text)
	}
	if got := strings.Count(last.Markdown.Text, robot.Separator); got != total-21 {
		t.Errorf("bundle has %d rules between its notifications, want %d", got, total-21)
	}
	if !strings.HasSuffix(last.Markdown.Title, "(+4 more)") {
		t.Errorf("bundle title = %q, want it to count the rest", last.Markdown.Title)
	}
	// Bundled waiters are mentioned, each once.
	if last.At == nil || len(last.At.AtMobiles) != total-20 || strings.Count(last.Markdown.Text, "@1380000") != total-20 {
		t.Errorf("bundle at = %+v, want the 5 mobiles of its notifications", last.At)
	}
}

func TestFailures(t *testing.T) {
	robottest.Failures(t, append(robottest.HTTPFailures(), []robottest.Failure{
		// "send too fast" retries after the minute its limit counts in.
		{Name: "130101 send too fast waits a minute", Reply: reply{Status: 200, Body: `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`}, Retry: true, Wait: time.Minute, Err: "errcode 130101"},
		// "system busy" is worth retrying.
		{Name: "-1 busy retries", Reply: reply{Status: 200, Body: `{"errcode":-1,"errmsg":"系统繁忙"}`}, Retry: true, Err: "errcode -1"},
		// A keyword, IP or signature check that failed will fail again.
		{Name: "310000 is final", Reply: reply{Status: 200, Body: `{"errcode":310000,"errmsg":"keywords not in content"}`}, Err: "errcode 310000"},
		// A token that does not exist will not start to.
		{Name: "300001 bad token is final", Reply: reply{Status: 200, Body: `{"errcode":300001,"errmsg":"token is not exist"}`}, Err: "errcode 300001"},
		// Another 4xx is final.
		{Name: "400 is final", Reply: reply{Status: 400, Body: "bad"}, Err: "status 400"},
	}...), func(t *testing.T, rep reply) (bool, error) {
		r, n, _, _ := setup(t, secret, secret)
		r.Script(rep)
		return n.Notify(context.Background(), notification(1, mobile))
	})
	robottest.Unreachable(t, func(t *testing.T) (*robottest.Server, string) {
		f := newFake(t, "", bundletest.NewClock(t0))
		return f.Server, f.webhook()
	}, func(cfg *rules.IMConfig) (engine.Notifier, error) { return New(cfg, Options{}) })
	t.Run("a template that fails is final", func(t *testing.T) {
		r := newFake(t, "", bundletest.NewClock(t0))
		n, err := New(&rules.IMConfig{Name: "ops", URL: rules.Secret(r.webhook()), Templates: map[string]rules.TemplateConfig{
			engine.NotifyFiring: {Body: `{{index .Alerts 5}}`},
		}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if retry, err := n.Notify(context.Background(), notification(1, "")); retry || err == nil {
			t.Fatalf("got (%v, %v), want a final render error", retry, err)
		}
		if len(r.requests()) != 0 {
			t.Error("a notification that did not render was sent")
		}
	})
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  rules.IMConfig
		want string
	}{
		// The URL is required.
		{"no url", rules.IMConfig{Name: "ops"}, `dingtalk "ops": url is required`},
		// A URL that does not parse is named without quoting it: it holds the token.
		{"bad url", rules.IMConfig{Name: "ops", URL: "https://oapi dingtalk.com/robot/send?access_token=" + token}, `dingtalk "ops": url is not an http(s) URL`},
		// Only http(s).
		{"not http", rules.IMConfig{Name: "ops", URL: "ftp://oapi.dingtalk.com/?access_token=" + token}, `dingtalk "ops": url is not an http(s) URL`},
		// A template that does not parse is named by its event and part.
		{"bad template", rules.IMConfig{Name: "ops", URL: "https://oapi.dingtalk.com/robot/send?access_token=" + token, Templates: map[string]rules.TemplateConfig{"firing": {Body: "{{.Nope"}}}, `templates.firing.body`},
		// Negative numbers are errors.
		{"negative limit", rules.IMConfig{Name: "ops", URL: "https://oapi.dingtalk.com/robot/send?access_token=" + token, MaxPerMinute: -1}, "max_per_minute -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&tt.cfg, Options{})
			robottest.Rejected(t, err, tt.want, token)
		})
	}
	t.Run("defaults", func(t *testing.T) {
		n, err := New(&rules.IMConfig{URL: "https://oapi.dingtalk.com/robot/send?access_token=" + token}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n.robot.Timeout != DefaultTimeout || n.robot.Limiter == nil {
			t.Errorf("timeout %s, want %s", n.robot.Timeout, DefaultTimeout)
		}
	})
}

func TestNoSecretLeaks(t *testing.T) {
	r, n, _, logs := setup(t, secret, secret)
	errs := robottest.CollectErrors(r.Server, []reply{
		{Status: 500, Body: "internal"},
		{Status: 429, Body: "slow"},
		{Status: 200, Body: `{"errcode":310000,"errmsg":"sign not match"}`},
		{Status: 200, Body: `{"errcode":130101,"errmsg":"send too fast"}`},
	}, func(ctx context.Context) error {
		_, err := n.Notify(ctx, notification(1, mobile))
		return err
	})
	_, err := New(&rules.IMConfig{URL: rules.Secret("https://bad host/?access_token=" + token), Secret: secret}, Options{})
	errs = append(errs, err)
	if len(errs) != 7 {
		t.Fatalf("%d errors, want 7 failures", len(errs))
	}
	robottest.NoSecrets(t, errs, logs.String(), n, token, secret)
}

// TestLabelValuesCannotMention: DingTalk pings only the numbers and ids
// in "at" (and everyone only with isAtAll); those come from the
// recipients alone, so "@all", "@所有人" or another number in a label,
// annotation, by or detail is text that pings nobody.
func TestLabelValuesCannotMention(t *testing.T) {
	r, n, _, _ := setup(t, secret, secret)
	if _, err := n.Notify(context.Background(), robottest.HostileNotification(7, mobile)); err != nil {
		t.Fatal(err)
	}
	m := r.requests()[0].Msg
	if m.At == nil || m.At.IsAtAll || fmt.Sprint(m.At.AtMobiles) != fmt.Sprint([]string{mobile}) || len(m.At.AtUserIDs) != 0 {
		t.Errorf("at = %+v, want the recipient's mobile alone, not all", m.At)
	}
	if !strings.Contains(m.Markdown.Text, "@13900000000") || !strings.HasSuffix(m.Markdown.Text, "@"+mobile) {
		t.Errorf("text:\n%s", m.Markdown.Text)
	}
}
