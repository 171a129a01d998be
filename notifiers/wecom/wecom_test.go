package wecom

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
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
	key    = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
	userID = "zhangsan"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// wireMessage is WeCom's markdown message as the fake decodes it:
// unknown fields are an error.
type wireMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown *struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

type reply = robottest.Reply

// fake is a fake WeCom group robot on 127.0.0.1. It checks what the
// real one checks (the key, the JSON, the content's length, 20 messages a
// minute) and answers as it does: HTTP 200 with an errcode.
type fake struct {
	*robottest.Server
}

func newFake(t *testing.T, clock *bundletest.Clock) *fake {
	t.Helper()
	f := &fake{}
	f.Server = robottest.NewServer(t, clock, f.serve)
	return f
}

func (f *fake) requests() []wireMessage { return robottest.Messages[wireMessage](f.Server) }

// webhook is the robot's URL, with its key.
func (f *fake) webhook() string { return f.URL + "/cgi-bin/webhook/send?key=" + key }

func respond(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	fmt.Fprintf(w, `{"errcode":%d,"errmsg":%q}`, code, msg)
}

func (f *fake) serve(w http.ResponseWriter, req *http.Request, body []byte) {
	var m wireMessage
	decodeErr := robottest.Decode(body, &m)
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
	case f.Allow(f.Clock.Now(), robottest.Limit{N: 20, Window: time.Minute}) >= 0: // WeCom's 20 a minute
		respond(w, 45009, "api freq out of limit")
	default:
		respond(w, 0, "ok")
	}
}

// setup starts a fake robot and a Notifier posting to it, logging at
// debug level into the returned buffer.
func setup(t *testing.T) (*fake, *Notifier, *bundletest.Clock, *robottest.Logs) {
	t.Helper()
	clock := bundletest.NewClock(t0)
	f := newFake(t, clock)
	logs := &robottest.Logs{}
	n, err := New(&rules.IMConfig{Name: "ops", Type: rules.IMWeCom, URL: rules.Secret(f.webhook())},
		Options{Clock: clock, Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	return f, n, clock, logs
}

var notification = robottest.Notification

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
			content := reqs[0].Markdown.Content
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
		var a struct {
			ErrCode *int `json:"errcode"`
		}
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
		content := r.requests()[0].Markdown.Content
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
	robottest.WaitFor(t, "20 sent, 5 waiting for the window", func() bool {
		return len(r.requests()) >= 20 && n.robot.Limiter.Waiting() == total-20 && clock.Timers() > 0
	})
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
	content := reqs[20].Markdown.Content
	if got := strings.Count(content, "[Incident #"); got != total-20 {
		t.Errorf("bundle carries %d incidents, want %d:\n%s", got, total-20, content)
	}
	if got := strings.Count(content, robot.Separator); got != total-21 {
		t.Errorf("bundle has %d rules between its notifications, want %d", got, total-21)
	}
	if got := strings.Count(content, "<@user"); got != total-20 {
		t.Errorf("bundle mentions %d people, want %d", got, total-20)
	}
}

func TestFailures(t *testing.T) {
	robottest.Failures(t, append(robottest.HTTPFailures(), []robottest.Failure{
		// "api freq out of limit" retries after the minute its limit counts in.
		{Name: "45009 freq out of limit waits a minute", Reply: reply{Status: 200, Body: `{"errcode":45009,"errmsg":"api freq out of limit"}`}, Retry: true, Wait: time.Minute, Err: "errcode 45009"},
		// "system busy" is worth retrying.
		{Name: "-1 busy retries", Reply: reply{Status: 200, Body: `{"errcode":-1,"errmsg":"system busy"}`}, Retry: true, Err: "errcode -1"},
		// A removed robot or a wrong key stays so.
		{Name: "93000 invalid webhook url is final", Reply: reply{Status: 200, Body: `{"errcode":93000,"errmsg":"invalid webhook url"}`}, Err: "errcode 93000"},
		// Too long will be too long again.
		{Name: "40058 too long is final", Reply: reply{Status: 200, Body: `{"errcode":40058,"errmsg":"markdown.content exceed max length 4096"}`}, Err: "errcode 40058"},
		// Another 4xx is final.
		{Name: "404 is final", Reply: reply{Status: 404, Body: "not found"}, Err: "status 404"},
	}...), func(t *testing.T, rep reply) (bool, error) {
		r, n, _, _ := setup(t)
		r.Script(rep)
		return n.Notify(context.Background(), notification(1, userID))
	})
	robottest.Unreachable(t, func(t *testing.T) (*robottest.Server, string) {
		f := newFake(t, bundletest.NewClock(t0))
		return f.Server, f.webhook()
	}, func(cfg *rules.IMConfig) (engine.Notifier, error) { return New(cfg, Options{}) })
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
			robottest.Rejected(t, err, tt.want, key, "s3cr3t-unused")
		})
	}
}

func TestNoSecretLeaks(t *testing.T) {
	r, n, _, logs := setup(t)
	errs := robottest.CollectErrors(r.Server, []reply{
		{Status: 500, Body: "internal"},
		{Status: 429, Body: "slow"},
		{Status: 200, Body: `{"errcode":93000,"errmsg":"invalid webhook url"}`},
		{Status: 200, Body: `{"errcode":45009,"errmsg":"api freq out of limit"}`},
	}, func(ctx context.Context) error {
		_, err := n.Notify(ctx, notification(1, userID))
		return err
	})
	_, err := New(&rules.IMConfig{URL: rules.Secret("https://bad host/cgi-bin/webhook/send?key=" + key)}, Options{})
	errs = append(errs, err)
	if len(errs) != 7 {
		t.Fatalf("%d errors, want 7 failures", len(errs))
	}
	robottest.NoSecrets(t, errs, logs.String(), n, key)
}

// TestLabelValuesCannotMention: a value with WeCom's mention syntax
// (<@userid>) in the title, labels, annotations, by or detail mentions
// nobody; only the recipient's own mention, which remediator adds, is one.
func TestLabelValuesCannotMention(t *testing.T) {
	r, n, _, _ := setup(t)
	if _, err := n.Notify(context.Background(), robottest.HostileNotification(7, userID)); err != nil {
		t.Fatal(err)
	}
	content := r.requests()[0].Markdown.Content
	if got := strings.Count(content, "<@"); got != 1 || !strings.HasSuffix(content, "\n\n<@"+userID+">") {
		t.Errorf("%d mentions, want the recipient's alone at the end:\n%s", got, content)
	}
	if !strings.Contains(content, "@13900000000") || !strings.Contains(content, "all") {
		t.Errorf("the value is not shown:\n%s", content)
	}
}
