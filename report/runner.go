package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
)

// DefaultRetryDelay is how long after a failed send its one retry waits.
const DefaultRetryDelay = time.Minute

// maxLookBack bounds the search for a schedule's previous fire: a
// February 29th schedule may skip eight years.
const maxLookBack = 10 * 366 * 24 * time.Hour

// Options are what a Runner takes from its surroundings.
type Options struct {
	Source Source
	Mailer Mailer
	// Location is the time zone of times in reports. Nil: UTC. (A cron
	// spec without CRON_TZ is in UTC, as rules.ParseReportCron says.)
	Location *time.Location
	// ConsoleURL, when set, links incidents (see RenderOptions).
	ConsoleURL string
	// Emails maps person ids to their email, for the to entries that are
	// person ids.
	Emails map[string]string
	// RetryDelay is how long after a failed send its one retry waits, at
	// the first Tick from then on. Zero: DefaultRetryDelay.
	RetryDelay time.Duration
	// Logger hears of every report sent and every failure. Nil: discard.
	Logger *slog.Logger
	// Registerer, when set, gets remediator_reports_total{report,outcome}.
	Registerer prometheus.Registerer
}

// Runner mails reports on their cron schedules. Tick runs what is due; it
// is safe for concurrent use with Status and Next.
//
// A report's first run is the first scheduled time after the time the
// Runner was built: one that fell due while remediator was down (or
// before a reload built a new Runner) is not sent afterwards. Nothing is
// persisted. When Tick comes late, past several scheduled times of a
// report, the report runs once and covers them all.
//
// A send that fails is logged and counted, and retried once, with the
// same message, at the first Tick at least RetryDelay later; if that fails
// too the report waits for its next scheduled time.
type Runner struct {
	src        Source
	mailer     Mailer
	render     RenderOptions
	retryDelay time.Duration
	log        *slog.Logger
	outcomes   *prometheus.CounterVec

	tick sync.Mutex // one Tick at a time
	mu   sync.Mutex // guards the jobs' state for Status and Next
	jobs []*job
}

// job is one report and where it stands.
type job struct {
	cfg            rules.ReportConfig
	sched          *cron.SpecSchedule
	to             []string
	levels         []engine.Level
	incidentLevels []engine.Level

	next    time.Time // the next scheduled run
	retry   *pending
	lastRun time.Time
	lastErr string
	sent    int
	failed  int
}

// pending is a failed message waiting for its retry.
type pending struct {
	at  time.Time
	msg Message
}

// Status is where one report stands.
type Status struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Cron string `json:"cron"`
	// Next is the next scheduled run.
	Next time.Time `json:"next"`
	// RetryAt is when a failed send is retried (zero: none pending).
	RetryAt time.Time `json:"retry_at,omitzero"`
	// LastRun is the last scheduled run; LastError its failure, if any.
	LastRun   time.Time `json:"last_run,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// Sent counts messages sent; Failed the sends that failed (retries
	// included) and the reports that could not be made.
	Sent   int `json:"sent"`
	Failed int `json:"failed"`
}

// NewRunner builds a Runner for reports, with the defaults of
// rules.ReportConfig.SetDefaults for fields left zero, scheduling each
// report's first run after start. Every problem (a cron spec that does
// not parse, an unknown kind, a recipient that is neither a person with
// an email nor an address) is reported, joined.
func NewRunner(reports []rules.ReportConfig, o Options, start time.Time) (*Runner, error) {
	var errs []error
	if o.Source == nil && len(reports) > 0 {
		errs = append(errs, errors.New("report: no source"))
	}
	if o.Mailer == nil && len(reports) > 0 {
		errs = append(errs, errors.New("report: no mailer (reports need notifiers.email)"))
	}
	r := &Runner{src: o.Source, mailer: o.Mailer, render: RenderOptions{Location: o.Location, ConsoleURL: o.ConsoleURL},
		retryDelay: o.RetryDelay, log: o.Logger}
	if r.retryDelay <= 0 {
		r.retryDelay = DefaultRetryDelay
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	names := map[string]bool{}
	for i := range reports {
		cfg := reports[i]
		cfg.SetDefaults(nil)
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("report %q: "+format, append([]any{cfg.Name}, args...)...))
		}
		if cfg.Name == "" {
			fail("name is required")
		} else if names[cfg.Name] {
			fail("duplicate name")
		}
		names[cfg.Name] = true
		j := &job{cfg: cfg}
		sched, err := rules.ParseReportCron(cfg.Cron)
		if err != nil {
			fail("cron %q: %w", cfg.Cron, err)
		} else {
			j.sched = sched
			j.next = sched.Next(start)
		}
		switch cfg.Kind {
		case rules.ReportDigest:
			j.levels, j.incidentLevels = toLevels(cfg.Levels), toLevels(cfg.IncidentLevels)
		case rules.ReportSLA:
			if cfg.Period <= 0 {
				fail("period %s is not positive", cfg.Period)
			}
		default:
			fail("unknown kind %q", cfg.Kind)
		}
		if len(cfg.To) == 0 {
			fail("no recipients")
		}
		for _, to := range cfg.To {
			addr, err := recipient(to, o.Emails)
			if err != nil {
				fail("to: %w", err)
				continue
			}
			j.to = append(j.to, addr)
		}
		r.jobs = append(r.jobs, j)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if o.Registerer != nil {
		r.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_reports_total",
			Help: "Periodic reports by outcome: sent, failed (a send that failed, retries included), skipped (could not be made).",
		}, []string{"report", "outcome"})
		if err := o.Registerer.Register(r.outcomes); err != nil {
			// A reload builds a new Runner: it counts on the same series.
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("report: register metrics: %w", err)
			}
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				r.outcomes = existing
			}
		}
	}
	return r, nil
}

// recipient resolves a to entry: a person id (their email; ids may hold
// '@', so a known id wins), else a bare email address.
func recipient(to string, emails map[string]string) (string, error) {
	if addr, ok := emails[to]; ok {
		if addr == "" {
			return "", fmt.Errorf("person %q has no email", to)
		}
		return addr, nil
	}
	if !strings.Contains(to, "@") {
		return "", fmt.Errorf("%q is neither a known person nor an email address", to)
	}
	if a, err := mail.ParseAddress(to); err != nil || a.Address != to {
		return "", fmt.Errorf("%q is not an email address", to)
	}
	return to, nil
}

func toLevels(names []string) []engine.Level {
	out := make([]engine.Level, len(names))
	for i, n := range names {
		out[i] = engine.Level(n)
	}
	return out
}

// Tick runs every report whose scheduled time is at or before now, once,
// and schedules its next run after now; first it retries the failed sends
// whose retry is due. It sends synchronously: ctx bounds the sends.
func (r *Runner) Tick(ctx context.Context, now time.Time) {
	r.tick.Lock()
	defer r.tick.Unlock()
	for _, j := range r.jobs {
		r.mu.Lock()
		retry, next := j.retry, j.next
		if retry != nil && !now.Before(retry.at) {
			j.retry = nil
		} else {
			retry = nil
		}
		r.mu.Unlock()

		if retry != nil {
			r.send(ctx, j, retry.msg, now, true)
		}
		if next.IsZero() || now.Before(next) {
			continue
		}
		r.run(ctx, j, next, now)
	}
}

// run makes and sends the report due at due. The period ends at the
// latest scheduled time at or before now (due, unless Tick came late);
// a digest's starts at the scheduled time before due, an SLA report's
// period before its end.
func (r *Runner) run(ctx context.Context, j *job, due, now time.Time) {
	end := due
	if n := j.sched.Next(due); !n.After(now) {
		end = prevFire(j.sched, j.sched.Next(now))
		r.log.Warn("report ran late, covering the scheduled times it missed", "report", j.cfg.Name, "due", due, "now", now)
	}
	r.mu.Lock()
	j.next = j.sched.Next(now)
	j.lastRun, j.lastErr = end, ""
	r.mu.Unlock()

	var msg Message
	var err error
	switch j.cfg.Kind {
	case rules.ReportDigest:
		from := prevFire(j.sched, due)
		if from.IsZero() {
			from = due.Add(-j.sched.Next(due).Sub(due))
		}
		d := &DigestData{Name: j.cfg.Name, From: from, To: end, Levels: j.levels, IncidentLevels: j.incidentLevels}
		if len(j.levels) > 0 {
			d.Alerts = r.src.DigestOf(from, end, j.levels).Alerts
		}
		if len(j.incidentLevels) > 0 {
			d.Incidents = r.src.DigestOf(from, end, j.incidentLevels).Incidents
		}
		msg, err = RenderDigest(d, r.render)
	case rules.ReportSLA:
		from := end.Add(-j.cfg.Period.D())
		s := Summarize(r.src.SLAEntries(from, end), from, end)
		msg, err = RenderSLA(j.cfg.Name, &s, r.render)
	}
	if err != nil {
		r.log.Error("report not made", "report", j.cfg.Name, "err", err)
		r.count(j, "skipped")
		r.mu.Lock()
		j.failed++
		j.lastErr = err.Error()
		r.mu.Unlock()
		return
	}
	r.send(ctx, j, msg, now, false)
}

// send mails msg; a failed first attempt is kept for its one retry.
func (r *Runner) send(ctx context.Context, j *job, msg Message, now time.Time, isRetry bool) {
	err := r.mailer.SendMessage(ctx, j.to, msg.Subject, msg.Text, msg.HTML)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		j.sent++
		j.lastErr = ""
		r.count(j, "sent")
		r.log.Info("report sent", "report", j.cfg.Name, "kind", j.cfg.Kind, "recipients", len(j.to), "retry", isRetry)
		return
	}
	j.failed++
	j.lastErr = err.Error()
	r.count(j, "failed")
	if isRetry {
		r.log.Error("report not sent; giving up until its next scheduled time", "report", j.cfg.Name, "next", j.next, "err", err)
		return
	}
	j.retry = &pending{at: now.Add(r.retryDelay), msg: msg}
	r.log.Error("report not sent; retrying once", "report", j.cfg.Name, "retry_at", j.retry.at, "err", err)
}

func (r *Runner) count(j *job, outcome string) {
	if r.outcomes != nil {
		r.outcomes.WithLabelValues(j.cfg.Name, outcome).Inc()
	}
}

// Next returns the earliest time Tick has something to do: a scheduled
// run or a retry. Zero when there are no reports.
func (r *Runner) Next() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var next time.Time
	for _, j := range r.jobs {
		for _, t := range []time.Time{j.next, retryAt(j)} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next
}

// Status returns where each report stands, in config order.
func (r *Runner) Status() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.jobs))
	for _, j := range r.jobs {
		out = append(out, Status{Name: j.cfg.Name, Kind: j.cfg.Kind, Cron: j.cfg.Cron, Next: j.next, RetryAt: retryAt(j),
			LastRun: j.lastRun, LastError: j.lastErr, Sent: j.sent, Failed: j.failed})
	}
	return out
}

func retryAt(j *job) time.Time {
	if j.retry == nil {
		return time.Time{}
	}
	return j.retry.at
}

// prevFire returns the latest time s fires before t, or zero if it does
// not within maxLookBack. cron only answers "the first time after x", so
// it widens a window back from t until one fires in it, then
// binary-searches the last second x whose next fire is still before t.
func prevFire(s cron.Schedule, t time.Time) time.Time {
	step := time.Minute
	lo := t.Add(-step)
	for !s.Next(lo).Before(t) {
		if step *= 2; step > maxLookBack {
			return time.Time{}
		}
		lo = t.Add(-step)
	}
	hi := t
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if s.Next(mid).Before(t) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return s.Next(lo)
}
