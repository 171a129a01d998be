// Package robottest is what the chat notifiers' tests share: a fake
// robot server on 127.0.0.1 that records requests and plays scripted
// replies before its service's own, the service's rate limits, a log
// buffer, and the checks every notifier's failures must pass.
package robottest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle/bundletest"
	"github.com/remediator/remediator/rules"
)

// Reply is a scripted answer.
type Reply struct {
	Status int
	Header http.Header
	Body   string
	Stall  bool // hold the request until Release
}

// Request is one request a Server received.
type Request struct {
	Query url.Values
	Body  []byte
}

// Handler answers a request as the service does, body being what it
// carried.
type Handler func(w http.ResponseWriter, req *http.Request, body []byte)

// Server is a fake robot. It records every request, answers it with the
// next scripted reply if any, else with its service's Handler.
type Server struct {
	*httptest.Server
	Clock   *bundletest.Clock
	stall   chan struct{}
	Release func() // lets stalled requests go; idempotent

	mu      sync.Mutex
	got     []Request
	sentAt  []time.Time // messages the service accepted, for its rate limits
	replies []Reply
}

// NewServer starts a Server whose service reads the time from clock.
func NewServer(t *testing.T, clock *bundletest.Clock, service Handler) *Server {
	t.Helper()
	s := &Server{Clock: clock, stall: make(chan struct{})}
	s.Release = sync.OnceFunc(func() { close(s.stall) })
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		s.mu.Lock()
		s.got = append(s.got, Request{Query: req.URL.Query(), Body: body})
		var scripted *Reply
		if len(s.replies) > 0 {
			scripted = &s.replies[0]
			s.replies = s.replies[1:]
		}
		s.mu.Unlock()
		if scripted == nil {
			service(w, req, body)
			return
		}
		if scripted.Stall {
			<-s.stall
			return
		}
		for k, v := range scripted.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(scripted.Status)
		fmt.Fprint(w, scripted.Body)
	}))
	// Release stalled requests before closing the server, which waits
	// for them.
	t.Cleanup(s.Close)
	t.Cleanup(s.Release)
	return s
}

// Script queues answers for the next requests, before the service's own.
func (s *Server) Script(rs ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, rs...)
}

// Requests are the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.got...)
}

// Messages decodes the body of each request s received as Decode does,
// which leaves what it could decode of a body it rejects.
func Messages[M any](s *Server) []M {
	var ms []M
	for _, r := range s.Requests() {
		var m M
		_ = Decode(r.Body, &m)
		ms = append(ms, m)
	}
	return ms
}

// Limit is a service's rate limit: N messages a Window.
type Limit struct {
	N      int
	Window time.Duration
}

// Allow applies limits to a message at now: it returns the index of the
// first limit the message would exceed, else -1, counting the message.
func (s *Server) Allow(now time.Time, limits ...Limit) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range limits {
		in := 0
		for _, at := range s.sentAt {
			if now.Sub(at) < l.Window {
				in++
			}
		}
		if in >= l.N {
			return i
		}
	}
	s.sentAt = append(s.sentAt, now)
	return -1
}

// Decode decodes a request's JSON body into v as a strict service does:
// an unknown field is an error.
func Decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Logs is a log destination for concurrent writers.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger logs into l at debug level.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Notification is incident id firing, for the IM handle to ("": the
// room).
func Notification(id uint64, to string) *engine.Notification {
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

// Mentions is a label value that tries every chat service's way to
// mention a person or everyone.
const Mentions = `<@U999> <@all> <at id=all></at> <AT user_id="all">所有人</AT> < at id=ou_1></at> @all @所有人 @13900000000 <!channel> <!here>`

// HostileNotification is Notification with Mentions in every value that
// alert data or a person's action reaches: the title, labels,
// annotations, who acted and the detail.
func HostileNotification(id uint64, to string) *engine.Notification {
	nt := Notification(id, to)
	nt.Event = engine.NotifyAcknowledged
	nt.Incident.Title = "Disk full " + Mentions
	nt.Incident.Labels = map[string]string{"alertname": "DiskFull", "instance": Mentions}
	nt.Alerts[0].Labels["instance"] = Mentions
	nt.Alerts[0].Annotations["summary"] = "full " + Mentions
	nt.Alerts[0].Annotations["runbook_url"] = "https://runbooks.example/" + Mentions
	nt.By, nt.Detail = Mentions, Mentions
	return nt
}

// WaitFor polls cond until it holds, failing after a deadline far beyond
// any healthy wait.
func WaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Failure is a reply and what Notify must make of it.
type Failure struct {
	Name  string
	Reply Reply
	Retry bool
	Wait  time.Duration // a RetryAfterer's wait; 0: none
	Err   string        // what the error holds; "": no error
}

// HTTPFailures are the failures every robot meets alike.
func HTTPFailures() []Failure {
	return []Failure{
		// A 5xx is worth retrying.
		{Name: "500 retries", Reply: Reply{Status: 500, Body: "oops"}, Retry: true, Err: "status 500"},
		// A 429 retries after its Retry-After.
		{Name: "429 waits for retry-after", Reply: Reply{Status: 429, Header: http.Header{"Retry-After": {"7"}}, Body: "slow down"}, Retry: true, Wait: 7 * time.Second, Err: "status 429"},
		// A 200 that is not the service's JSON is final.
		{Name: "unreadable answer is final", Reply: Reply{Status: 200, Body: "<html>portal</html>"}, Err: "unexpected answer"},
	}
}

// Failures runs a subtest per failure: notify plays its reply to a
// notification, on a fresh fake.
func Failures(t *testing.T, fs []Failure, notify func(t *testing.T, r Reply) (bool, error)) {
	t.Helper()
	for _, f := range fs {
		t.Run(f.Name, func(t *testing.T) {
			retry, err := notify(t, f.Reply)
			if f.Err == "" {
				if err != nil || retry {
					t.Fatalf("got (%v, %v), want success", retry, err)
				}
				return
			}
			if retry != f.Retry || err == nil || !strings.Contains(err.Error(), f.Err) {
				t.Fatalf("got (%v, %v), want (%v, error with %q)", retry, err, f.Retry, f.Err)
			}
			var ra engine.RetryAfterer
			switch {
			case f.Wait == 0 && errors.As(err, &ra):
				t.Errorf("error asks to wait %s, want no wait", ra.RetryAfter())
			case f.Wait != 0 && (!errors.As(err, &ra) || ra.RetryAfter() != f.Wait):
				t.Errorf("error %v does not ask to wait %s", err, f.Wait)
			}
		})
	}
}

// Unreachable checks that Notify retries a robot that does not answer:
// one that stalls past ctx's deadline or past the configured timeout,
// and one that is gone. serve starts a fake and returns its webhook URL;
// build makes a notifier of cfg.
func Unreachable(t *testing.T, serve func(t *testing.T) (*Server, string), build func(cfg *rules.IMConfig) (engine.Notifier, error)) {
	t.Helper()
	start := func(t *testing.T, timeout time.Duration) (*Server, engine.Notifier) {
		t.Helper()
		s, url := serve(t)
		n, err := build(&rules.IMConfig{Name: "ops", URL: rules.Secret(url), Timeout: rules.Duration(timeout)})
		if err != nil {
			t.Fatal(err)
		}
		return s, n
	}
	t.Run("a stalled robot times out and retries", func(t *testing.T) {
		s, n := start(t, 0)
		s.Script(Reply{Stall: true})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		retry, err := n.Notify(ctx, Notification(1, ""))
		if !retry || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got (%v, %v), want a retry of the deadline", retry, err)
		}
	})
	t.Run("the configured timeout bounds a stalled request", func(t *testing.T) {
		s, n := start(t, 50*time.Millisecond)
		s.Script(Reply{Stall: true})
		retry, err := n.Notify(context.Background(), Notification(1, ""))
		if !retry || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got (%v, %v), want a retry of the timeout", retry, err)
		}
	})
	t.Run("a closed server retries", func(t *testing.T) {
		s, n := start(t, 0)
		s.Close()
		if retry, err := n.Notify(context.Background(), Notification(1, "")); !retry || err == nil {
			t.Fatalf("got (%v, %v), want a retried transport error", retry, err)
		}
	})
}

// Rejected checks New's error on a bad config: it holds want, and none
// of secrets.
func Rejected(t *testing.T, err error, want string, secrets ...string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("New: %v, want %q", err, want)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
}

// CollectErrors runs notify through a success, each of replies, a stall
// cut by a 50ms deadline, then a transport error to s closed, and returns
// the errors notify returned.
func CollectErrors(s *Server, replies []Reply, notify func(ctx context.Context) error) []error {
	var errs []error
	try := func(ctx context.Context) {
		if err := notify(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	try(context.Background()) // success
	for _, r := range replies {
		s.Script(r)
		try(context.Background())
	}
	s.Script(Reply{Stall: true})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	try(ctx)
	cancel()
	s.Release()
	s.Close()
	try(context.Background()) // transport error to the URL with its token
	return errs
}

// NoSecrets fails t when one of secrets shows in an error of errs (as
// %v, %+v or %#v), in logs, or in how notifier prints; logs must not be
// empty, or it proves nothing.
func NoSecrets(t *testing.T, errs []error, logs string, notifier any, secrets ...string) {
	t.Helper()
	for _, err := range errs {
		for _, s := range secrets {
			if err != nil && strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), s) {
				t.Errorf("error shows a secret: %v", err)
			}
		}
	}
	if logs == "" {
		t.Fatal("nothing logged at debug level")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log shows a secret:\n%s", logs)
		}
	}
	p := fmt.Sprintf("%v %+v %#v", notifier, notifier, notifier)
	for _, s := range secrets {
		if strings.Contains(p, s) {
			t.Errorf("the notifier prints a secret: %s", p)
		}
	}
}
