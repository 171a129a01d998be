package report

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
)

// sourceCall is one question a report asked its source.
type sourceCall struct {
	method   string // "digest" or "sla"
	from, to time.Time
	levels   []engine.Level
}

// fakeSource answers from fixed data, as the engine would: alerts and
// incidents of the asked levels, and every SLA entry.
type fakeSource struct {
	alerts    []engine.Alert
	incidents []engine.Incident
	entries   []engine.SLAEntry

	mu    sync.Mutex
	calls []sourceCall
}

var _ Source = (*fakeSource)(nil)

func (f *fakeSource) SLAEntries(from, to time.Time) []engine.SLAEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, sourceCall{method: "sla", from: from, to: to})
	return f.entries
}

func (f *fakeSource) DigestOf(from, to time.Time, levels []engine.Level) engine.Digest {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, sourceCall{method: "digest", from: from, to: to, levels: levels})
	var d engine.Digest
	for _, a := range f.alerts {
		if slices.Contains(levels, a.Level) {
			d.Alerts = append(d.Alerts, a)
		}
	}
	for _, inc := range f.incidents {
		if slices.Contains(levels, inc.Level) {
			d.Incidents = append(d.Incidents, inc)
		}
	}
	return d
}

func (f *fakeSource) log() []sourceCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// sentMail is one message a Mailer was asked to send.
type sentMail struct {
	to                  []string
	subject, text, html string
}

// fakeMailer records every send; the first len(fail) sends fail with
// those errors.
type fakeMailer struct {
	mu    sync.Mutex
	fail  []error
	calls []sentMail
}

var _ Mailer = (*fakeMailer)(nil)

func (m *fakeMailer) SendMessage(_ context.Context, to []string, subject, text, html string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, sentMail{to: to, subject: subject, text: text, html: html})
	if len(m.fail) > 0 {
		err := m.fail[0]
		m.fail = m.fail[1:]
		return err
	}
	return nil
}

func (m *fakeMailer) sent() []sentMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

// testEmails are the people reports may name.
var testEmails = map[string]string{"zhang.qiang": "zhang.qiang@example.com", "li.na": ""}

// runnerEnv is a Runner with its fakes and its log.
type runnerEnv struct {
	r    *Runner
	src  *fakeSource
	mail *fakeMailer
	logs *syncBuffer
	reg  *prometheus.Registry
}

// newRunner builds a Runner over fakes, started at start.
func newRunner(t *testing.T, reports []rules.ReportConfig, start time.Time) *runnerEnv {
	t.Helper()
	env := &runnerEnv{
		src: &fakeSource{
			alerts: []engine.Alert{{ID: 1, Level: "info", Status: engine.StatusFiring, FirstSeen: start,
				Labels: map[string]string{"alertname": "CertExpiresSoon"}}},
			incidents: []engine.Incident{{ID: 7, Level: "notice", Title: "replica lag", Status: engine.IncidentOpen, CreatedAt: start}},
			entries:   slaEntries(),
		},
		mail: &fakeMailer{},
		logs: &syncBuffer{},
		reg:  prometheus.NewRegistry(),
	}
	r, err := NewRunner(reports, Options{
		Source: env.src, Mailer: env.mail, Location: shanghai, Emails: testEmails, Registerer: env.reg,
		Logger: slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, start)
	if err != nil {
		t.Fatalf("NewRunner: %v", err)
	}
	env.r = r
	return env
}

// step is one Tick and how many messages have been sent after it.
type step struct {
	at   time.Time
	sent int
}

// run ticks through steps, checking the count after each.
func (env *runnerEnv) run(t *testing.T, steps []step) {
	t.Helper()
	for _, s := range steps {
		env.r.Tick(t.Context(), s.at)
		if got := len(env.mail.sent()); got != s.sent {
			t.Fatalf("after Tick(%s): %d messages, want %d", s.at.In(shanghai).Format(time.RFC3339Nano), got, s.sent)
		}
	}
}

var dailyDigest = rules.ReportConfig{Name: "daily-digest", Cron: "CRON_TZ=Asia/Shanghai 0 9 * * *",
	To: []string{"zhang.qiang", "ops@example.org"}}

func TestDailyDigestAtNineInShanghai(t *testing.T) {
	env := newRunner(t, []rules.ReportConfig{dailyDigest}, cst(2026, 3, 9, 8, 0))
	if next := env.r.Next(); !next.Equal(cst(2026, 3, 9, 9, 0)) {
		t.Fatalf("Next() = %s, want 09:00 in Shanghai", next)
	}
	env.run(t, []step{
		{cst(2026, 3, 9, 8, 59), 0},                      // a minute early
		{cst(2026, 3, 9, 9, 0).Add(-time.Nanosecond), 0}, // a nanosecond early
		{cst(2026, 3, 9, 9, 0), 1},                       // on time: 01:00 UTC
		{cst(2026, 3, 9, 9, 0), 1},                       // the same instant again
		{cst(2026, 3, 9, 9, 0).Add(30 * time.Second), 1}, // later in the same minute
		{cst(2026, 3, 9, 9, 1), 1},                       // the next minute
		{cst(2026, 3, 9, 23, 59), 1},                     // the rest of the day
		{cst(2026, 3, 10, 8, 59), 1},                     // the next morning, early
		{cst(2026, 3, 10, 9, 0), 2},                      // the next day's
	})

	t.Run("each covers the day since the previous scheduled time", func(t *testing.T) {
		want := []sourceCall{
			{"digest", cst(2026, 3, 8, 9, 0), cst(2026, 3, 9, 9, 0), []engine.Level{"info"}},
			{"digest", cst(2026, 3, 8, 9, 0), cst(2026, 3, 9, 9, 0), []engine.Level{"notice"}},
			{"digest", cst(2026, 3, 9, 9, 0), cst(2026, 3, 10, 9, 0), []engine.Level{"info"}},
			{"digest", cst(2026, 3, 9, 9, 0), cst(2026, 3, 10, 9, 0), []engine.Level{"notice"}},
		}
		assertCalls(t, env.src.log(), want)
	})
	t.Run("the mail goes to the person's email and the address", func(t *testing.T) {
		m := env.mail.sent()[0]
		if strings.Join(m.to, ",") != "zhang.qiang@example.com,ops@example.org" {
			t.Errorf("to %q", m.to)
		}
		if want := "[remediator] daily-digest: 1 info alert since 2026-03-08 09:00 CST, 1 open notice incident"; m.subject != want {
			t.Errorf("subject %q, want %q", m.subject, want)
		}
		if !strings.Contains(m.text, "CertExpiresSoon") || !strings.Contains(m.html, "replica lag") {
			t.Errorf("the message lacks the digest:\n%s\n%s", m.text, m.html)
		}
	})
	t.Run("status and metrics count two sent", func(t *testing.T) {
		st := env.r.Status()
		if len(st) != 1 || st[0].Sent != 2 || st[0].Failed != 0 || !st[0].LastRun.Equal(cst(2026, 3, 10, 9, 0)) ||
			!st[0].Next.Equal(cst(2026, 3, 11, 9, 0)) || st[0].Kind != rules.ReportDigest {
			t.Errorf("Status() = %+v", st)
		}
		if got := counter(t, env.reg, "daily-digest", "sent"); got != 2 {
			t.Errorf("remediator_reports_total{outcome=sent} = %v, want 2", got)
		}
	})
}

func TestWeeklySLAReportOnMondays(t *testing.T) {
	weekly := rules.ReportConfig{Name: "weekly-sla", Kind: rules.ReportSLA, Cron: "CRON_TZ=Asia/Shanghai 0 9 * * mon", To: []string{"ops@example.org"}}
	start := cst(2026, 3, 4, 12, 0) // a Wednesday
	env := newRunner(t, []rules.ReportConfig{weekly}, start)
	// Hourly ticks for two weeks: only the two Monday mornings send.
	var sentAt []time.Time
	for now := start; now.Before(cst(2026, 3, 18, 0, 0)); now = now.Add(time.Hour) {
		before := len(env.mail.sent())
		env.r.Tick(t.Context(), now)
		if len(env.mail.sent()) != before {
			sentAt = append(sentAt, now)
		}
	}
	if want := []time.Time{cst(2026, 3, 9, 9, 0), cst(2026, 3, 16, 9, 0)}; !slices.EqualFunc(sentAt, want, time.Time.Equal) {
		t.Fatalf("sent at %v, want %v", sentAt, want)
	}
	t.Run("each covers the week before it (period defaults to 1w)", func(t *testing.T) {
		assertCalls(t, env.src.log(), []sourceCall{
			{"sla", cst(2026, 3, 2, 9, 0), cst(2026, 3, 9, 9, 0), nil},
			{"sla", cst(2026, 3, 9, 9, 0), cst(2026, 3, 16, 9, 0), nil},
		})
	})
	t.Run("the mail is the SLA summary", func(t *testing.T) {
		m := env.mail.sent()[0]
		if want := "[remediator] weekly-sla: SLA report: 5 incidents, 5 breaches since 2026-03-02 09:00 CST"; m.subject != want {
			t.Errorf("subject %q, want %q", m.subject, want)
		}
		if !strings.Contains(m.text, "#3 queue slow (warning, P2): respond 15m late") {
			t.Errorf("the text lacks a breach:\n%s", m.text)
		}
	})
}

func TestMailerFailure(t *testing.T) {
	smtpDown := errors.New("email: send via smtp.example.com:587: connect: connection refused")
	nine := cst(2026, 3, 9, 9, 0)

	t.Run("retried once at the first tick after the delay, with the same message", func(t *testing.T) {
		env := newRunner(t, []rules.ReportConfig{dailyDigest}, nine.Add(-time.Hour))
		env.mail.fail = []error{smtpDown}
		env.run(t, []step{{nine, 1}}) // the attempt, which fails
		st := env.r.Status()[0]
		if st.Sent != 0 || st.Failed != 1 || st.LastError != smtpDown.Error() || !st.RetryAt.Equal(nine.Add(time.Minute)) {
			t.Fatalf("after the failure: %+v", st)
		}
		if next := env.r.Next(); !next.Equal(nine.Add(time.Minute)) {
			t.Errorf("Next() = %s, want the retry", next)
		}
		env.run(t, []step{
			{nine.Add(30 * time.Second), 1}, // before the retry delay
			{nine.Add(time.Minute), 2},      // the retry, which succeeds
			{nine.Add(2 * time.Minute), 2},  // no more
		})
		sent := env.mail.sent()
		if sent[0].subject != sent[1].subject || sent[0].text != sent[1].text {
			t.Errorf("the retry is not the same message:\n%+v\n%+v", sent[0], sent[1])
		}
		st = env.r.Status()[0]
		if st.Sent != 1 || st.Failed != 1 || st.LastError != "" || !st.RetryAt.IsZero() {
			t.Errorf("after the retry: %+v", st)
		}
		if !strings.Contains(env.logs.String(), "report not sent; retrying once") {
			t.Errorf("the failure is not logged:\n%s", env.logs)
		}
		if s, f := counter(t, env.reg, "daily-digest", "sent"), counter(t, env.reg, "daily-digest", "failed"); s != 1 || f != 1 {
			t.Errorf("metrics sent %v, failed %v; want 1 and 1", s, f)
		}
	})

	t.Run("a failed retry gives up until the next scheduled time", func(t *testing.T) {
		env := newRunner(t, []rules.ReportConfig{dailyDigest}, nine.Add(-time.Hour))
		env.mail.fail = []error{smtpDown, smtpDown}
		env.run(t, []step{
			{nine, 1},                                 // fails
			{nine.Add(time.Minute), 2},                // the one retry fails
			{nine.Add(10 * time.Minute), 2},           // no third attempt
			{nine.Add(24*time.Hour - time.Minute), 2}, // nor all day
			{nine.Add(24 * time.Hour), 3},             // the next day's report
		})
		st := env.r.Status()[0]
		if st.Sent != 1 || st.Failed != 2 {
			t.Errorf("Status %+v, want 1 sent and 2 failed", st)
		}
		if !strings.Contains(env.logs.String(), "giving up until its next scheduled time") {
			t.Errorf("giving up is not logged:\n%s", env.logs)
		}
	})
}

func TestScheduleEdges(t *testing.T) {
	t.Run("a late tick runs once and covers the runs it missed", func(t *testing.T) {
		env := newRunner(t, []rules.ReportConfig{dailyDigest}, cst(2026, 3, 8, 20, 0))
		env.run(t, []step{
			{cst(2026, 3, 12, 10, 0), 1}, // first tick in three and a half days
			{cst(2026, 3, 12, 10, 1), 1}, // nothing more
		})
		assertCalls(t, env.src.log(), []sourceCall{
			{"digest", cst(2026, 3, 8, 9, 0), cst(2026, 3, 12, 9, 0), []engine.Level{"info"}},
			{"digest", cst(2026, 3, 8, 9, 0), cst(2026, 3, 12, 9, 0), []engine.Level{"notice"}},
		})
		if next := env.r.Next(); !next.Equal(cst(2026, 3, 13, 9, 0)) {
			t.Errorf("Next() = %s, want the next morning", next)
		}
	})
	t.Run("a report due while remediator was down is not sent afterwards", func(t *testing.T) {
		env := newRunner(t, []rules.ReportConfig{dailyDigest}, cst(2026, 3, 9, 9, 0).Add(30*time.Second))
		env.run(t, []step{
			{cst(2026, 3, 9, 9, 1), 0},  // started after 09:00
			{cst(2026, 3, 10, 9, 0), 1}, // the next day's
		})
	})
	t.Run("reports run independently", func(t *testing.T) {
		hourly := rules.ReportConfig{Name: "hourly", Cron: "0 * * * *", Levels: []string{"info"}, IncidentLevels: []string{}, To: []string{"ops@example.org"}}
		env := newRunner(t, []rules.ReportConfig{dailyDigest, hourly}, cst(2026, 3, 9, 7, 30))
		if next := env.r.Next(); !next.Equal(cst(2026, 3, 9, 8, 0)) {
			t.Errorf("Next() = %s, want the hourly report's", next)
		}
		env.run(t, []step{
			{cst(2026, 3, 9, 8, 0), 1}, // hourly
			{cst(2026, 3, 9, 9, 0), 3}, // hourly and daily
		})
		st := env.r.Status()
		if st[0].Name != "daily-digest" || st[0].Sent != 1 || st[1].Name != "hourly" || st[1].Sent != 2 {
			t.Errorf("Status() = %+v", st)
		}
	})
}

func TestNewRunnerRejects(t *testing.T) {
	start := cst(2026, 3, 9, 8, 0)
	for _, tc := range []struct {
		name string
		cfg  rules.ReportConfig
		want string
	}{
		// Seconds are not a cron field.
		{"six-field cron", rules.ReportConfig{Name: "r", Cron: "0 0 9 * * *", To: []string{"ops@example.org"}}, `report "r": cron "0 0 9 * * *"`},
		// @every has no place in time.
		{"@every", rules.ReportConfig{Name: "r", Cron: "@every 1h", To: []string{"ops@example.org"}}, "@every"},
		// A kind that does not exist.
		{"unknown kind", rules.ReportConfig{Name: "r", Cron: "@daily", Kind: "monthly", To: []string{"ops@example.org"}}, `unknown kind "monthly"`},
		// An SLA report that looks back a negative time.
		{"negative period", rules.ReportConfig{Name: "r", Cron: "@daily", Kind: rules.ReportSLA, Period: -1, To: []string{"ops@example.org"}}, "period"},
		// A person who does not exist.
		{"unknown person", rules.ReportConfig{Name: "r", Cron: "@daily", To: []string{"nobody"}}, `"nobody" is neither a known person nor an email address`},
		// A person without an email.
		{"person without email", rules.ReportConfig{Name: "r", Cron: "@daily", To: []string{"li.na"}}, `person "li.na" has no email`},
		// An address with a display name.
		{"bad address", rules.ReportConfig{Name: "r", Cron: "@daily", To: []string{"Ops <ops@example.org>"}}, "is not an email address"},
		// Nobody to send to.
		{"no recipients", rules.ReportConfig{Name: "r", Cron: "@daily"}, "no recipients"},
		// No name.
		{"no name", rules.ReportConfig{Cron: "@daily", To: []string{"ops@example.org"}}, "name is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRunner([]rules.ReportConfig{tc.cfg}, Options{Source: &fakeSource{}, Mailer: &fakeMailer{}, Emails: testEmails}, start)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewRunner error %v, want one containing %q", err, tc.want)
			}
		})
	}
	t.Run("every problem is reported", func(t *testing.T) {
		_, err := NewRunner([]rules.ReportConfig{{Name: "a", Cron: "bad", To: []string{"nobody"}}, {Name: "a", Cron: "@daily", To: []string{"ops@example.org"}}},
			Options{Source: &fakeSource{}}, start)
		for _, want := range []string{"no mailer", `report "a": cron "bad"`, `"nobody"`, `report "a": duplicate name`} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want it to contain %q", err, want)
			}
		}
	})
	t.Run("no reports need nothing", func(t *testing.T) {
		r, err := NewRunner(nil, Options{}, start)
		if err != nil {
			t.Fatal(err)
		}
		r.Tick(t.Context(), start.Add(time.Hour))
		if !r.Next().IsZero() || len(r.Status()) != 0 {
			t.Errorf("Next %s, Status %+v", r.Next(), r.Status())
		}
	})
	t.Run("a reload registers the same metrics again", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		for range 2 {
			if _, err := NewRunner([]rules.ReportConfig{dailyDigest}, Options{Source: &fakeSource{}, Mailer: &fakeMailer{}, Emails: testEmails, Registerer: reg}, start); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestPrevFire(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		before     time.Time
		want       time.Time
	}{
		// The previous morning.
		{"daily", "CRON_TZ=Asia/Shanghai 0 9 * * *", cst(2026, 3, 9, 9, 0), cst(2026, 3, 8, 9, 0)},
		// Just after a fire: that fire.
		{"just after", "CRON_TZ=Asia/Shanghai 0 9 * * *", cst(2026, 3, 9, 9, 0).Add(time.Second), cst(2026, 3, 9, 9, 0)},
		// The previous Monday.
		{"weekly", "CRON_TZ=Asia/Shanghai 0 9 * * mon", cst(2026, 3, 9, 9, 0), cst(2026, 3, 2, 9, 0)},
		// Every minute.
		{"every minute", "* * * * *", time.Date(2026, 3, 9, 9, 0, 30, 0, time.UTC), time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)},
		// Leap days: four years back.
		{"february 29th", "0 0 29 2 *", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		// Across the spring-forward change in Berlin: 09:00 local both days.
		{"across DST", "CRON_TZ=Europe/Berlin 0 9 * * *", time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := rules.ParseReportCron(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := prevFire(s, tc.before); !got.Equal(tc.want) {
				t.Errorf("prevFire(%s) = %s, want %s", tc.before, got, tc.want)
			}
		})
	}
}

func assertCalls(t *testing.T, got, want []sourceCall) {
	t.Helper()
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		g, w := got[i], want[i]
		same = g.method == w.method && g.from.Equal(w.from) && g.to.Equal(w.to) && slices.Equal(g.levels, w.levels)
	}
	if !same {
		t.Errorf("source calls\n%v\nwant\n%v", got, want)
	}
}

// counter reads remediator_reports_total{report, outcome} from reg.
func counter(t *testing.T, reg *prometheus.Registry, report, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "remediator_reports_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["report"] == report && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// syncBuffer is a strings.Builder safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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
