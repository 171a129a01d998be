package wecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	key    = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
	userID = "zhangsan"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// got is one request the fake robot received.
type got struct {
	Query url.Values
	Msg   wireMessage
}

// wireMessage is WeCom's markdown message as the fake decodes it:
// unknown fields are an error.
type wireMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown *struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

// reply is a scripted answer.
type reply struct {
	status int
	header http.Header
	body   string
	stall  bool // hold the request until released
}

// robot is a fake WeCom group robot on 127.0.0.1. It checks what the
// real one checks (the key, the JSON, the content's length, 20 messages a
// minute) and answers as it does: HTTP 200 with an errcode.
type robot struct {
	*httptest.Server
	clock   *bundletest.Clock
	stall   chan struct{}
	release func() // lets stalled requests go; idempotent

	mu      sync.Mutex
	got     []got
	sentAt  []time.Time
	replies []reply
}

func newRobot(t *testing.T, clock *bundletest.Clock) *robot {
	t.Helper()
	r := &robot{clock: clock, stall: make(chan struct{})}
	r.release = sync.OnceFunc(func() { close(r.stall) })
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	// Release stalled requests before closing the server, which waits
	// for them.
	t.Cleanup(r.Close)
	t.Cleanup(r.release)
	return r
}

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

// webhook is the robot's URL, with its key.
func (r *robot) webhook() string { return r.URL + "/cgi-bin/webhook/send?key=" + key }

func respond(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
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

	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	switch {
	case req.Method != http.MethodPost || req.URL.Path != "/cgi-bin/webhook/send":
		http.NotFound(w, req)
	case req.URL.Query().Get("key") != key:
		respond(w, 93000, "invalid webhook url, hint: [1740000000_1_abc], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=93000")
	case mt != "application/json":
		respond(w, 40008, "invalid message type")
	case decodeErr != nil || m.MsgType != "markdown" || m.Markdown == nil || m.Markdown.Content == "":
		respond(w, 44004, "markdown content is empty or invalid")
	case len(m.Markdown.Content) > MaxContent:
		respond(w, 40058, "markdown.content exceed max length 4096. invalid Request Parameter")
	case !r.allow(r.clock.Now()):
		respond(w, 45009, "api freq out of limit")
	default:
		respond(w, 0, "ok")
	}
}

// allow applies WeCom's 20 messages a minute.
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
func setup(t *testing.T) (*robot, *Notifier, *bundletest.Clock, *syncBuffer) {
	t.Helper()
	clock := bundletest.NewClock(t0)
	r := newRobot(t, clock)
	logs := &syncBuffer{}
	n, err := New(&rules.IMConfig{Name: "ops", Type: rules.IMWeCom, URL: rules.Secret(r.webhook())},
		Options{Clock: clock, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
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
		name string
		to   string
	}{
		// A person is mentioned with <@userid> in the content.
		{"a person is mentioned", userID},
		// A room's notification mentions nobody.
		{"a room mentions nobody", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, n, _, _ := setup(t)
			if retry, err := n.Notify(context.Background(), notification(7, tt.to)); err != nil {
				t.Fatalf("Notify: retry=%v, %v", retry, err)
			}
			reqs := r.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			content := reqs[0].Msg.Markdown.Content
			for _, want := range []string{"### FIRING P1 #7 Disk full on db-1", "DiskFull: /var is 99% full", "[Incident #7](https://remediator.example/incidents/7)"} {
				if !strings.Contains(content, want) {
					t.Errorf("content lacks %q:\n%s", want, content)
				}
			}
			if tt.to != "" && !strings.HasSuffix(content, "\n\n<@"+tt.to+">") {
				t.Errorf("content does not end with <@%s>:\n%s", tt.to, content)
			}
			if tt.to == "" && strings.Contains(content, "<@") {
				t.Errorf("a room's content mentions someone:\n%s", content)
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	t.Run("the fake rejects an oversize content as WeCom does", func(t *testing.T) {
		r, _, _, _ := setup(t)
		body := fmt.Sprintf(`{"msgtype":"markdown","markdown":{"content":%q}}`, strings.Repeat("磁", MaxContent/3+1))
		resp, err := http.Post(r.webhook(), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a answer
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || a.ErrCode == nil || *a.ErrCode != 40058 {
			t.Fatalf("fake answered %+v, %v; want errcode 40058", a, err)
		}
	})
	t.Run("chinese text is cut at 4096 bytes, on a character, with a link", func(t *testing.T) {
		r, n, _, _ := setup(t)
		nt := notification(9, userID)
		nt.Alerts[0].Annotations["summary"] = strings.Repeat("数据库磁盘已满，请立即处理。", 200)
		if _, err := n.Notify(context.Background(), nt); err != nil {
			t.Fatal(err)
		}
		content := r.requests()[0].Msg.Markdown.Content
		if len(content) > MaxContent || len(content) < MaxContent-100 {
			t.Errorf("content is %d bytes, want just under %d", len(content), MaxContent)
		}
		if !utf8.ValidString(content) {
			t.Error("content is cut inside a character")
		}
		if want := "…\n\n[Full incident](https://remediator.example/incidents/9)\n\n<@" + userID + ">"; !strings.HasSuffix(content, want) {
			t.Errorf("content ends %q, want the link and the mention", content[len(content)-120:])
		}
	})
}

func TestRateLimitBundles(t *testing.T) {
	r, n, clock, _ := setup(t)
	const total = 25
	errs := make(chan error, total)
	for id := uint64(1); id <= total; id++ {
		go func() {
			_, err := n.Notify(context.Background(), notification(id, fmt.Sprintf("user%02d", id)))
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(r.requests()) < 20 || n.limiter.Waiting() != total-20 || clock.Timers() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests and %d waiting, want 20 and %d", len(r.requests()), n.limiter.Waiting(), total-20)
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
	content := reqs[20].Msg.Markdown.Content
	if got := strings.Count(content, "[Incident #"); got != total-20 {
		t.Errorf("bundle carries %d incidents, want %d:\n%s", got, total-20, content)
	}
	if got := strings.Count(content, separator); got != total-21 {
		t.Errorf("bundle has %d rules between its notifications, want %d", got, total-21)
	}
	if got := strings.Count(content, "<@user"); got != total-20 {
		t.Errorf("bundle mentions %d people, want %d", got, total-20)
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
		// "api freq out of limit" retries after the minute its limit counts in.
		{"45009 freq out of limit waits a minute", reply{status: 200, body: `{"errcode":45009,"errmsg":"api freq out of limit"}`}, true, time.Minute, "errcode 45009"},
		// "system busy" is worth retrying.
		{"-1 busy retries", reply{status: 200, body: `{"errcode":-1,"errmsg":"system busy"}`}, true, 0, "errcode -1"},
		// A removed robot or a wrong key stays so.
		{"93000 invalid webhook url is final", reply{status: 200, body: `{"errcode":93000,"errmsg":"invalid webhook url"}`}, false, 0, "errcode 93000"},
		// Too long will be too long again.
		{"40058 too long is final", reply{status: 200, body: `{"errcode":40058,"errmsg":"markdown.content exceed max length 4096"}`}, false, 0, "errcode 40058"},
		// Another 4xx is final.
		{"404 is final", reply{status: 404, body: "not found"}, false, 0, "status 404"},
		// A 200 that is not WeCom's JSON is final.
		{"unreadable answer is final", reply{status: 200, body: "<html>portal</html>"}, false, 0, "unexpected answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, n, _, _ := setup(t)
			r.script(tt.reply)
			retry, err := n.Notify(context.Background(), notification(1, userID))
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

	t.Run("a wrong key is final", func(t *testing.T) {
		r, _, _, _ := setup(t)
		n, err := New(&rules.IMConfig{URL: rules.Secret(r.URL + "/cgi-bin/webhook/send?key=wrong")}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if retry, err := n.Notify(context.Background(), notification(1, "")); retry || err == nil || !strings.Contains(err.Error(), "errcode 93000") {
			t.Fatalf("got (%v, %v), want a final 93000", retry, err)
		}
	})
	t.Run("a stalled robot times out and retries", func(t *testing.T) {
		r, n, _, _ := setup(t)
		r.script(reply{stall: true})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		retry, err := n.Notify(ctx, notification(1, ""))
		if !retry || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got (%v, %v), want a retry of the deadline", retry, err)
		}
	})
	t.Run("the configured timeout bounds a stalled request", func(t *testing.T) {
		r := newRobot(t, bundletest.NewClock(t0))
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
		r, n, _, _ := setup(t)
		r.Close()
		if retry, err := n.Notify(context.Background(), notification(1, "")); !retry || err == nil {
			t.Fatalf("got (%v, %v), want a retried transport error", retry, err)
		}
	})
}

func TestNewRejects(t *testing.T) {
	good := "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key
	tests := []struct {
		name string
		cfg  rules.IMConfig
		want string
	}{
		// The URL is required.
		{"no url", rules.IMConfig{Name: "ops"}, `wecom "ops": url is required`},
		// A URL that does not parse is named without quoting it: it holds the key.
		{"bad url", rules.IMConfig{Name: "ops", URL: rules.Secret("https://qyapi weixin.qq.com/cgi-bin/webhook/send?key=" + key)}, `wecom "ops": url is not an http(s) URL`},
		// WeCom robots do not sign: a secret would be silently unused.
		{"secret", rules.IMConfig{Name: "ops", URL: rules.Secret(good), Secret: "s3cr3t-unused"}, "WeCom robots do not sign"},
		// A template that does not parse is named by its event and part.
		{"bad template", rules.IMConfig{Name: "ops", URL: rules.Secret(good), Templates: map[string]rules.TemplateConfig{"resolved": {Title: "{{"}}}, `templates.resolved.title`},
		// Negative numbers are errors.
		{"negative timeout", rules.IMConfig{Name: "ops", URL: rules.Secret(good), Timeout: -1}, "timeout -1ns is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&tt.cfg, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "s3cr3t-unused") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

func TestNoSecretLeaks(t *testing.T) {
	r, n, _, logs := setup(t)
	var errs []error
	notify := func() {
		t.Helper()
		if _, err := n.Notify(context.Background(), notification(1, userID)); err != nil {
			errs = append(errs, err)
		}
	}
	notify() // success
	for _, rep := range []reply{
		{status: 500, body: "internal"},
		{status: 429, body: "slow"},
		{status: 200, body: `{"errcode":93000,"errmsg":"invalid webhook url"}`},
		{status: 200, body: `{"errcode":45009,"errmsg":"api freq out of limit"}`},
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
	notify() // transport error to the URL with the key
	_, err := New(&rules.IMConfig{URL: rules.Secret("https://bad host/cgi-bin/webhook/send?key=" + key)}, Options{})
	errs = append(errs, err)

	if len(errs) != 7 {
		t.Fatalf("%d errors, want 7 failures", len(errs))
	}
	for _, err := range errs {
		if err != nil && strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), key) {
			t.Errorf("error shows the key: %v", err)
		}
	}
	out := logs.String()
	if out == "" {
		t.Fatal("nothing logged at debug level")
	}
	if strings.Contains(out, key) {
		t.Errorf("log shows the key:\n%s", out)
	}
	if s := fmt.Sprintf("%v %+v %#v", n, n, n); strings.Contains(s, key) {
		t.Errorf("the notifier prints the key: %s", s)
	}
}
