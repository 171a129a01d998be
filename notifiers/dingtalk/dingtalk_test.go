package dingtalk

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle/bundletest"
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

// reply is a scripted answer.
type reply struct {
	status int
	header http.Header
	body   string
	stall  bool // hold the request until the test ends
}

// robot is a fake DingTalk custom robot on 127.0.0.1. It checks what the
// real one checks (the access token, the signature and its age, the JSON,
// the text's length, 20 messages a minute) and answers as it does: HTTP
// 200 with an errcode.
type robot struct {
	*httptest.Server
	secret  string // "": the robot does not sign
	clock   *bundletest.Clock
	stall   chan struct{}
	release func() // lets stalled requests go; idempotent

	mu      sync.Mutex
	got     []got
	sentAt  []time.Time // accepted messages, for the rate limit
	replies []reply
}

func newRobot(t *testing.T, secret string, clock *bundletest.Clock) *robot {
	t.Helper()
	r := &robot{secret: secret, clock: clock, stall: make(chan struct{})}
	r.release = sync.OnceFunc(func() { close(r.stall) })
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	// Release stalled requests before closing the server, which waits
	// for them.
	t.Cleanup(r.Close)
	t.Cleanup(r.release)
	return r
}

// script queues answers for the next requests, before the robot's own.
func (r *robot) script(rs ...reply) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies = append(r.replies, rs...)
}

func (r *robot) requests() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]got(nil), r.got...)
}

// webhook is the robot's URL, with the access token.
func (r *robot) webhook() string { return r.URL + "/robot/send?access_token=" + token }

func respond(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	fmt.Fprintf(w, `{"errcode":%d,"errmsg":%q}`, code, msg)
}

func (r *robot) serve(w http.ResponseWriter, req *http.Request) {
	var m wireMessage
	dec := json.NewDecoder(req.Body)
	dec.DisallowUnknownFields()
	decodeErr := dec.Decode(&m)

	r.mu.Lock()
	r.got = append(r.got, got{Query: req.URL.Query(), Msg: m})
	var scripted *reply
	if len(r.replies) > 0 {
		scripted = &r.replies[0]
		r.replies = r.replies[1:]
	}
	r.mu.Unlock()
	if scripted != nil {
		if scripted.stall {
			<-r.stall
			return
		}
		for k, v := range scripted.header {
			w.Header()[k] = v
		}
		w.WriteHeader(scripted.status)
		fmt.Fprint(w, scripted.body)
		return
	}

	q := req.URL.Query()
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	now := r.clock.Now()
	switch {
	case req.Method != http.MethodPost || req.URL.Path != "/robot/send":
		http.NotFound(w, req)
	case q.Get("access_token") != token:
		respond(w, 300001, "token is not exist")
	case mt != "application/json":
		respond(w, 43004, "无效的HTTP HEADER Content-Type")
	case r.secret != "" && !r.signed(q, now):
		respond(w, 310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
	case decodeErr != nil || m.MsgType != "markdown" || m.Markdown == nil || m.Markdown.Title == "" || m.Markdown.Text == "":
		respond(w, 40035, "缺少参数 json")
	case len(m.Markdown.Text) > MaxText:
		respond(w, 460101, "message too long, exceed 20000 bytes")
	case !r.allow(now):
		respond(w, 130101, "send too fast, exceed 20 times per minute")
	default:
		respond(w, 0, "ok")
	}
}

// signed checks timestamp (milliseconds, within an hour) and sign,
// computed here from the secret as DingTalk documents it.
func (r *robot) signed(q url.Values, now time.Time) bool {
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.UnixMilli(ts)); d > time.Hour || d < -time.Hour {
		return false
	}
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write([]byte(q.Get("timestamp") + "\n" + r.secret))
	return hmac.Equal([]byte(q.Get("sign")), []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))))
}

// allow applies DingTalk's 20 messages a minute.
func (r *robot) allow(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := 0
	for _, at := range r.sentAt {
		if now.Sub(at) < time.Minute {
			in++
		}
	}
	if in >= 20 {
		return false
	}
	r.sentAt = append(r.sentAt, now)
	return true
}

// syncBuffer is a log destination for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// setup starts a fake robot and a Notifier posting to it, logging at
// debug level into the returned buffer.
func setup(t *testing.T, robotSecret, notifierSecret string) (*robot, *Notifier, *bundletest.Clock, *syncBuffer) {
	t.Helper()
	clock := bundletest.NewClock(t0)
	r := newRobot(t, robotSecret, clock)
	logs := &syncBuffer{}
	n, err := New(&rules.IMConfig{
		Name: "ops", Type: rules.IMDingTalk, URL: rules.Secret(r.webhook()), Secret: rules.Secret(notifierSecret),
	}, Options{Clock: clock, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return r, n, clock, logs
}

// notification is incident id firing, for the IM handle to ("" : the
// room).
func notification(id uint64, to string) *engine.Notification {
	return &engine.Notification{
		ID: id, Event: engine.NotifyFiring, Channel: "ops",
		Recipient: engine.Recipient{Person: "alice", Name: "Alice", Address: to},
		Incident:  engine.Incident{ID: id, Title: "Disk full on db-1", Level: "critical", Priority: "P1", Status: engine.IncidentOpen},
		Alerts: []engine.Alert{{
			Status: engine.StatusFiring, Labels: map[string]string{"alertname": "DiskFull"},
			Annotations: map[string]string{"summary": "/var is 99% full"},
		}},
		URL: fmt.Sprintf("https://remediator.example/incidents/%d", id),
	}
}

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
		var a answer
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
	deadline := time.Now().Add(10 * time.Second)
	for len(r.requests()) < 20 || n.limiter.Waiting() != total-20 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests and %d waiting, want 20 and %d", len(r.requests()), n.limiter.Waiting(), total-20)
		}
		time.Sleep(time.Millisecond)
	}
	for clock.Timers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the limiter never waits for the window")
		}
		time.Sleep(time.Millisecond)
	}
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
	if got := strings.Count(last.Markdown.Text, separator); got != total-21 {
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
	tests := []struct {
		name      string
		reply     reply
		wantRetry bool
		wantWait  time.Duration // a RetryAfterer's wait; 0: none
		wantErr   string
	}{
		// A 5xx is worth retrying.
		{"500 retries", reply{status: 500, body: "oops"}, true, 0, "status 500"},
		// A 429 retries after its Retry-After.
		{"429 waits for retry-after", reply{status: 429, header: http.Header{"Retry-After": {"7"}}, body: "slow down"}, true, 7 * time.Second, "status 429"},
		// "send too fast" retries after the minute its limit counts in.
		{"130101 send too fast waits a minute", reply{status: 200, body: `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`}, true, time.Minute, "errcode 130101"},
		// "system busy" is worth retrying.
		{"-1 busy retries", reply{status: 200, body: `{"errcode":-1,"errmsg":"系统繁忙"}`}, true, 0, "errcode -1"},
		// A keyword, IP or signature check that failed will fail again.
		{"310000 is final", reply{status: 200, body: `{"errcode":310000,"errmsg":"keywords not in content"}`}, false, 0, "errcode 310000"},
		// A token that does not exist will not start to.
		{"300001 bad token is final", reply{status: 200, body: `{"errcode":300001,"errmsg":"token is not exist"}`}, false, 0, "errcode 300001"},
		// Another 4xx is final.
		{"400 is final", reply{status: 400, body: "bad"}, false, 0, "status 400"},
		// A 200 that is not DingTalk's JSON is final.
		{"unreadable answer is final", reply{status: 200, body: "<html>portal</html>"}, false, 0, "unexpected answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, n, _, _ := setup(t, secret, secret)
			r.script(tt.reply)
			retry, err := n.Notify(context.Background(), notification(1, mobile))
			if retry != tt.wantRetry || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got (%v, %v), want (%v, error with %q)", retry, err, tt.wantRetry, tt.wantErr)
			}
			var ra engine.RetryAfterer
			switch {
			case tt.wantWait == 0 && errors.As(err, &ra):
				t.Errorf("error asks to wait %s, want no wait", ra.RetryAfter())
			case tt.wantWait != 0 && (!errors.As(err, &ra) || ra.RetryAfter() != tt.wantWait):
				t.Errorf("error %v does not ask to wait %s", err, tt.wantWait)
			}
		})
	}

	t.Run("a stalled robot times out and retries", func(t *testing.T) {
		r, n, _, _ := setup(t, secret, secret)
		r.script(reply{stall: true})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		retry, err := n.Notify(ctx, notification(1, ""))
		if !retry || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got (%v, %v), want a retry of the deadline", retry, err)
		}
	})
	t.Run("the configured timeout bounds a stalled request", func(t *testing.T) {
		r := newRobot(t, "", bundletest.NewClock(t0))
		r.script(reply{stall: true})
		n, err := New(&rules.IMConfig{Name: "ops", URL: rules.Secret(r.webhook()), Timeout: rules.Duration(50 * time.Millisecond)}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		retry, err := n.Notify(context.Background(), notification(1, ""))
		if !retry || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got (%v, %v), want a retry of the timeout", retry, err)
		}
	})
	t.Run("a closed server retries", func(t *testing.T) {
		r, n, _, _ := setup(t, secret, secret)
		r.Close()
		if retry, err := n.Notify(context.Background(), notification(1, "")); !retry || err == nil {
			t.Fatalf("got (%v, %v), want a retried transport error", retry, err)
		}
	})
	t.Run("a template that fails is final", func(t *testing.T) {
		r := newRobot(t, "", bundletest.NewClock(t0))
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
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		n, err := New(&rules.IMConfig{URL: "https://oapi.dingtalk.com/robot/send?access_token=" + token}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n.timeout != DefaultTimeout || n.limiter == nil {
			t.Errorf("timeout %s, want %s", n.timeout, DefaultTimeout)
		}
	})
}

func TestNoSecretLeaks(t *testing.T) {
	r, n, _, logs := setup(t, secret, secret)
	var errs []error
	notify := func() {
		t.Helper()
		if _, err := n.Notify(context.Background(), notification(1, mobile)); err != nil {
			errs = append(errs, err)
		}
	}
	notify() // success
	for _, rep := range []reply{
		{status: 500, body: "internal"},
		{status: 429, body: "slow"},
		{status: 200, body: `{"errcode":310000,"errmsg":"sign not match"}`},
		{status: 200, body: `{"errcode":130101,"errmsg":"send too fast"}`},
	} {
		r.script(rep)
		notify()
	}
	r.script(reply{stall: true})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := n.Notify(ctx, notification(1, "")); err != nil {
		errs = append(errs, err)
	}
	cancel()
	r.release()
	r.Close()
	notify() // transport error to the URL with the token
	_, err := New(&rules.IMConfig{URL: rules.Secret("https://bad host/?access_token=" + token), Secret: secret}, Options{})
	errs = append(errs, err)

	if len(errs) != 7 {
		t.Fatalf("%d errors, want 7 failures", len(errs))
	}
	for _, err := range errs {
		for _, s := range []string{token, secret} {
			if err != nil && strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), s) {
				t.Errorf("error shows a secret: %v", err)
			}
		}
	}
	out := logs.String()
	if out == "" {
		t.Fatal("nothing logged at debug level")
	}
	for _, s := range []string{token, secret} {
		if strings.Contains(out, s) {
			t.Errorf("log shows a secret:\n%s", out)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v", n, n, n); strings.Contains(s, token) || strings.Contains(s, secret) {
		t.Errorf("the notifier prints a secret: %s", s)
	}
}
