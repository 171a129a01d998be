package report_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/email"
	"github.com/remediator/remediator/report"
	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/store/memory"
)

// TestReportsFromTheEngineBySMTP runs the whole path: a config with two
// reports parsed by rules, a real engine on the memory store that has
// ingested alerts, the email notifier, and an SMTP server in-process.
// Monday 09:00 in Shanghai sends the daily digest and the weekly SLA
// report, each once.
func TestReportsFromTheEngineBySMTP(t *testing.T) {
	srv := startSMTP(t)
	cfg, err := rules.Parse("reports.yml", []byte(fmt.Sprintf(`
calendar: {timezone: Asia/Shanghai}
people:
  - {id: zhang.qiang, email: zhang.qiang@example.com}
notifiers:
  email: {smarthost: "%s", tls: none, from: alerts@remediator.example}
reports:
  - name: daily-digest
    cron: "CRON_TZ=Asia/Shanghai 0 9 * * *"
    to: [zhang.qiang, ops@example.org]
  - name: weekly-sla
    kind: sla
    cron: "CRON_TZ=Asia/Shanghai 0 9 * * mon"
    to: [zhang.qiang]
`, srv.addr)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	sunday := time.Date(2026, 3, 8, 15, 0, 0, 0, shanghai)
	clock := &simClock{now: sunday}
	eng, err := engine.New(t.Context(), engine.Options{Store: memory.New(), Clock: clock, Classifier: rules.NewPolicy(cfg, nil)})
	if err != nil {
		t.Fatal(err)
	}

	// Sunday 15:00: an info alert, a notice incident nobody answers, and a
	// P1 that zhang.qiang acknowledges in 5 minutes and resolves in an hour.
	ingest(t, eng, "g-info", "CertExpiresSoon", "info", sunday, "instance", "<script>alert(1)</script>")
	ingest(t, eng, "g-notice", "ReplicaLag", "notice", sunday)
	p1 := ingest(t, eng, "g-crit", "MySQLDown", "critical", sunday)
	clock.set(sunday.Add(5 * time.Minute))
	if _, err := eng.Acknowledge(t.Context(), p1, engine.Transition{By: "zhang.qiang"}); err != nil {
		t.Fatal(err)
	}
	clock.set(sunday.Add(time.Hour))
	if _, err := eng.Resolve(t.Context(), p1, engine.Transition{By: "zhang.qiang"}); err != nil {
		t.Fatal(err)
	}

	mailer, err := email.New(cfg.Notifiers.Email, email.Options{Location: shanghai, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	emails := map[string]string{}
	for _, p := range cfg.People {
		emails[p.ID] = p.Email
	}
	runner, err := report.NewRunner(cfg.Reports, report.Options{Source: eng, Mailer: mailer, Location: cfg.NotifyLocation(),
		Emails: emails, ConsoleURL: "https://remediator.example.com"}, sunday)
	if err != nil {
		t.Fatal(err)
	}

	monday := time.Date(2026, 3, 9, 9, 0, 0, 0, shanghai)
	for _, now := range []time.Time{monday.Add(-time.Minute), monday, monday.Add(time.Minute)} {
		clock.set(now)
		runner.Tick(t.Context(), now)
	}
	got := srv.received()
	if len(got) != 2 {
		t.Fatalf("the server received %d messages, want 2 (digest and SLA report)", len(got))
	}
	bySubject := map[string]received{}
	for _, m := range got {
		bySubject[m.subject] = m
	}

	t.Run("digest", func(t *testing.T) {
		const subject = "[remediator] daily-digest: 1 info alert since 2026-03-08 09:00 CST, 1 open notice incident"
		m, ok := bySubject[subject]
		if !ok {
			t.Fatalf("no message %q among %v", subject, keys(bySubject))
		}
		t.Log(m.text)
		if strings.Join(m.rcpt, ",") != "zhang.qiang@example.com,ops@example.org" {
			t.Errorf("RCPT TO %q", m.rcpt)
		}
		for _, want := range []string{
			"- CertExpiresSoon {instance=<script>alert(1)</script>, severity=info}\n  first seen 2026-03-08 15:00 CST, firing",
			"- #2 ReplicaLag (notice, P3), open, open for 18h\n  respond by 2026-03-08 17:00 CST (overdue), resolve by 2026-03-09 15:00 CST\n" +
				"  https://remediator.example.com/api/v1/incidents/2",
		} {
			if !strings.Contains(m.text, want) {
				t.Errorf("text lacks %q:\n%s", want, m.text)
			}
		}
		if strings.Contains(m.html, "<script>") || !strings.Contains(m.html, "&lt;script&gt;") {
			t.Errorf("the label is not escaped in the HTML:\n%s", m.html)
		}
	})

	t.Run("sla report", func(t *testing.T) {
		const subject = "[remediator] weekly-sla: SLA report: 3 incidents, 1 breach since 2026-03-02 09:00 CST"
		m, ok := bySubject[subject]
		if !ok {
			t.Fatalf("no message %q among %v", subject, keys(bySubject))
		}
		t.Log(m.text)
		for _, want := range []string{
			"critical  P1        1          1      1         5m    1h",
			"zhang.qiang     1          1      1         5m    1h",
			"- #2 ReplicaLag (notice, P3): respond 16h late and still unacknowledged (due 2026-03-08 17:00 CST)",
		} {
			if !strings.Contains(m.text, want) {
				t.Errorf("text lacks %q:\n%s", want, m.text)
			}
		}
	})

	if st := runner.Status(); st[0].Sent != 1 || st[1].Sent != 1 || st[0].Failed+st[1].Failed != 0 {
		t.Errorf("Status() = %+v", st)
	}
}

// ingest sends a one-alert group and returns its incident.
func ingest(t *testing.T, eng *engine.Engine, group, name, severity string, at time.Time, labels ...string) uint64 {
	t.Helper()
	l := map[string]string{"alertname": name, "severity": severity}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	res, err := eng.Ingest(t.Context(), &engine.Webhook{Receiver: "remediator", GroupKey: group, Status: engine.StatusFiring,
		CommonLabels: map[string]string{"alertname": name},
		Alerts: []engine.WebhookAlert{{Fingerprint: "fp-" + group, Status: engine.StatusFiring, Labels: l,
			Annotations: map[string]string{}, StartsAt: at}}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Incident
}

// simClock is the engine's and the mailer's clock.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *simClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func keys(m map[string]received) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// received is a message the SMTP server accepted, decoded.
type received struct {
	rcpt                []string
	subject, text, html string
}

// smtpServer is a go-smtp server on 127.0.0.1 that accepts every message.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	msgs [][]byte
	rcpt [][]string
	t    *testing.T
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ss := &smtpServer{t: t}
	s := gosmtp.NewServer(ss)
	s.Domain = "mx.test"
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		_ = l.Close()
		<-done
	})
	ss.addr = l.Addr().String()
	return ss
}

func (ss *smtpServer) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return &smtpSession{srv: ss}, nil
}

// received decodes every message: subject, text and HTML parts.
func (ss *smtpServer) received() []received {
	ss.t.Helper()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []received
	for i, data := range ss.msgs {
		m, err := netmail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			ss.t.Fatal(err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			ss.t.Fatal(err)
		}
		r := received{rcpt: ss.rcpt[i], subject: subject}
		_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
		if err != nil {
			ss.t.Fatal(err)
		}
		mr := multipart.NewReader(m.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				ss.t.Fatal(err)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				ss.t.Fatal(err)
			}
			switch mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt {
			case "text/plain":
				r.text = strings.ReplaceAll(string(b), "\r\n", "\n")
			case "text/html":
				r.html = string(b)
			}
		}
		out = append(out, r)
	}
	return out
}

type smtpSession struct {
	srv  *smtpServer
	rcpt []string
}

func (s *smtpSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.rcpt = append(s.rcpt, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, b)
	s.srv.rcpt = append(s.srv.rcpt, s.rcpt)
	s.srv.mu.Unlock()
	return nil
}
func (s *smtpSession) Reset()        { s.rcpt = nil }
func (s *smtpSession) Logout() error { return nil }
