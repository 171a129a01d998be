package engine

import (
	"context"
	"fmt"
	"time"
)

// Action record statuses.
const (
	ActionSkipped     = "skipped"     // a safeguard stopped it (Reason says which)
	ActionRefused     = "refused"     // rendering refused it (a value failed its pattern)
	ActionDryRun      = "dry_run"     // would have run (Describe)
	ActionRunning     = "running"     // recorded before it starts
	ActionSucceeded   = "succeeded"   //
	ActionFailed      = "failed"      //
	ActionCancelled   = "cancelled"   // the alert resolved while it ran, or its timeout
	ActionInterrupted = "interrupted" // remediator stopped while it ran; it is not run again
)

// ActionRecord is one remediation decision or run, persisted: what the
// automation did, to what, and why.
type ActionRecord struct {
	ID          uint64    `json:"id"`
	Rev         uint64    `json:"rev"`
	Incident    uint64    `json:"incident"`
	Alert       uint64    `json:"alert"`
	Fingerprint string    `json:"fingerprint"`
	Rule        string    `json:"rule"`
	Action      int       `json:"action"`
	Target      string    `json:"target"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason,omitempty"`
	Describe    string    `json:"describe,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	ExitCode    int       `json:"exit_code,omitempty"`
	HTTPStatus  int       `json:"http_status,omitempty"`
	Output      string    `json:"output,omitempty"`
	Err         string    `json:"error,omitempty"`
}

// started reports whether the record counts as a run for the safeguards.
func (r *ActionRecord) started() bool {
	switch r.Status {
	case ActionRunning, ActionSucceeded, ActionFailed, ActionCancelled, ActionInterrupted:
		return true
	}
	return false
}

// Remedy is a matched remediation rule, ready to act on one alert.
type Remedy struct {
	Rule        string
	Target      string
	Cooldown    time.Duration
	MaxAttempts int
	MaxRuns     int
	MaxRunsPer  time.Duration
	DryRun      bool
	Actions     []RemedyAction
}

// RemedyAction is one action of a Remedy: an invocation, or why it is
// refused.
type RemedyAction struct {
	Invocation Invocation
	Refused    string
	DryRun     bool
}

// remediation is the engine's remediation state, under Engine.mu.
type remediation struct {
	records byID[ActionRecord]
	last    uint64
	running map[uint64][]context.CancelFunc // alert episode → its running actions
	busy    map[string]int                  // target → running actions
	slots   chan struct{}                   // the global limit
}

// remediate decides, once, what to do for new firing episodes, records
// the decisions durably in one write and starts the actions. It runs after
// the webhook was answered, from the stored state.
func (e *Engine) remediate(ids []uint64) {
	e.decide(ids)
}

// ResumeRemediation runs after a restart: actions that were running when
// remediator stopped are recorded as interrupted (never run twice), and
// firing episodes that got no decision yet get one now.
func (e *Engine) ResumeRemediation() {
	e.mu.Lock()
	c := e.begin()
	for _, r := range e.rem.records.items {
		if r != nil && r.Status == ActionRunning {
			cp := *r
			cp.Status, cp.FinishedAt, cp.Rev = ActionInterrupted, c.now, c.rev
			cp.Err = "remediator stopped while the action ran; it is not run again"
			e.rem.records.put(cp.ID, &cp)
			c.actions = append(c.actions, &cp)
			if inc := e.incidents.get(cp.Incident); inc != nil {
				c.event(inc, EventActionFinished, "remediator", "%s on %s interrupted by a restart", cp.Rule, cp.Target)
			}
		}
	}
	var pending []uint64
	for _, a := range e.alerts.items {
		if a != nil && a.Status == StatusFiring && !a.Decided && a.Incident != 0 {
			pending = append(pending, a.ID)
		}
	}
	t := c.commit()
	e.mu.Unlock()
	if err := e.wait(context.Background(), t); err != nil {
		e.log.Error("could not record interrupted actions", "err", err)
	}
	e.remediate(pending)
}

// start is an action to run once its decision is durable.
type start struct {
	alert uint64
	rec   *ActionRecord
	inv   Invocation
}

// decide applies the safeguards to episodes and starts what passes. An
// episode is marked decided only when a rule matched it (then in the same
// write as the records), so that alerts no rule wants cost no write.
func (e *Engine) decide(ids []uint64) {
	e.mu.Lock()
	if e.planner == nil {
		e.mu.Unlock()
		return
	}
	c := e.begin()
	var starts []start
	for _, id := range ids {
		starts = append(starts, e.decideOne(c, id)...)
	}
	t := c.commit()
	e.mu.Unlock()
	// The decision is durable before anything runs: a crash now leaves
	// "running" records, which a restart marks interrupted, never re-runs.
	if err := e.wait(context.Background(), t); err != nil {
		e.log.Error("remediation decision not stored; nothing runs", "err", err)
		e.mu.Lock()
		for _, s := range starts {
			e.rem.busy[s.rec.Target]--
		}
		e.mu.Unlock()
		return
	}
	for _, s := range starts {
		ctx, cancel := context.WithCancel(context.Background())
		e.mu.Lock()
		e.rem.running[s.alert] = append(e.rem.running[s.alert], cancel)
		e.mu.Unlock()
		e.runs.Add(1)
		go e.run(ctx, cancel, s.rec, s.inv)
	}
}

// decideOne records the decisions for one episode in c. Callers hold mu.
func (e *Engine) decideOne(c *change, alertID uint64) []start {
	a := e.alerts.get(alertID)
	if a == nil || a.Status != StatusFiring || a.Decided {
		return nil
	}
	inc := e.incidents.get(a.Incident)
	remedies := e.planner.Remedies(e.alertInput(a, inc, c.now), a.Level, a.Incident)
	if len(remedies) == 0 {
		return nil
	}
	a.Decided = true
	c.touchAlert(a)
	var starts []start
	sup, suppressed := e.suppressed(a.Labels, c.now)
	for _, rm := range remedies {
		record := func(i int, status, reason, describe string) *ActionRecord {
			e.rem.last++
			r := &ActionRecord{ID: e.rem.last, Rev: c.rev, Incident: a.Incident, Alert: a.ID, Fingerprint: a.Fingerprint,
				Rule: rm.Rule, Action: i, Target: rm.Target, Status: status, Reason: reason, Describe: describe, CreatedAt: c.now}
			e.rem.records.put(r.ID, r)
			c.actions = append(c.actions, r)
			e.countAction(rm.Rule, status, reason)
			return r
		}
		runnable := false
		for _, act := range rm.Actions {
			runnable = runnable || act.Refused == ""
		}
		reason := ""
		if runnable {
			reason = e.safeguard(&rm, a, c.now)
		}
		if suppressed {
			reason = fmt.Sprintf("suppressed by %s until %s", sup.By, sup.Until.UTC().Format(time.RFC3339))
		}
		if reason != "" {
			record(-1, ActionSkipped, reason, "")
			if inc != nil {
				c.event(inc, EventActionSkipped, "remediator", "%s on %s skipped: %s", rm.Rule, rm.Target, reason)
			}
			continue
		}
		for i, act := range rm.Actions {
			switch {
			case act.Refused != "":
				record(i, ActionRefused, act.Refused, "")
				if inc != nil {
					c.event(inc, EventActionSkipped, "remediator", "%s action %d refused: %s", rm.Rule, i, act.Refused)
				}
			case rm.DryRun || act.DryRun:
				record(i, ActionDryRun, "dry run", act.Invocation.Describe())
				if inc != nil {
					c.event(inc, EventActionStarted, "remediator", "dry run: %s would run %s", rm.Rule, act.Invocation.Describe())
				}
			default:
				r := record(i, ActionRunning, "", act.Invocation.Describe())
				r.StartedAt = c.now
				e.rem.busy[rm.Target]++
				if inc != nil {
					c.event(inc, EventActionStarted, "remediator", "%s on %s: %s", rm.Rule, rm.Target, r.Describe)
				}
				starts = append(starts, start{alert: a.ID, rec: r, inv: act.Invocation})
			}
		}
	}
	return starts
}

// safeguard returns why a rule must not act now, or "".
func (e *Engine) safeguard(rm *Remedy, a *Alert, now time.Time) string {
	var attempts, window int
	var last time.Time
	for _, r := range e.rem.records.items {
		if r == nil || r.Rule != rm.Rule || !r.started() {
			continue
		}
		if r.Alert == a.ID {
			attempts++
		}
		if !r.StartedAt.Before(now.Add(-rm.MaxRunsPer)) {
			window++
		}
		if r.Target == rm.Target && r.StartedAt.After(last) {
			last = r.StartedAt
		}
	}
	switch {
	case window >= rm.MaxRuns:
		return fmt.Sprintf("circuit breaker open: %d runs of %s within %s (max_runs %d): the rule stops acting until the window passes", window, rm.Rule, rm.MaxRunsPer, rm.MaxRuns)
	case attempts >= rm.MaxAttempts:
		return fmt.Sprintf("max_attempts %d reached for this alert", rm.MaxAttempts)
	case !last.IsZero() && now.Before(last.Add(rm.Cooldown)):
		return fmt.Sprintf("cooldown: %s ran on %s at %s; next run after %s", rm.Rule, rm.Target, last.UTC().Format(time.RFC3339), last.Add(rm.Cooldown).UTC().Format(time.RFC3339))
	case e.rem.busy[rm.Target] > 0:
		return fmt.Sprintf("target %s is busy with another action", rm.Target)
	}
	return ""
}

// run performs one invocation within the global limit and records how it
// ended.
func (e *Engine) run(ctx context.Context, cancel context.CancelFunc, rec *ActionRecord, inv Invocation) {
	defer e.runs.Done()
	defer cancel()
	var res Result
	select {
	case e.rem.slots <- struct{}{}:
		res = inv.Run(ctx)
		<-e.rem.slots
	case <-ctx.Done():
		res = Result{Cancelled: true, Err: "cancelled before it started: " + context.Cause(ctx).Error()}
	}
	e.mu.Lock()
	c := e.begin()
	cp := *rec // replaced, never mutated
	cp.Rev, cp.FinishedAt = c.rev, c.now
	cp.ExitCode, cp.HTTPStatus, cp.Output, cp.Err = res.ExitCode, res.Status, res.Output, res.Err
	switch {
	case res.OK:
		cp.Status = ActionSucceeded
	case res.Cancelled:
		cp.Status = ActionCancelled
	default:
		cp.Status = ActionFailed
	}
	e.rem.records.put(cp.ID, &cp)
	e.rem.busy[cp.Target]--
	c.actions = append(c.actions, &cp)
	e.countAction(cp.Rule, cp.Status, "")
	if inc := e.incidents.get(cp.Incident); inc != nil {
		detail := cp.Err
		if detail == "" {
			detail = "ok"
		}
		c.event(inc, EventActionFinished, "remediator", "%s on %s %s: %s", cp.Rule, cp.Target, cp.Status, detail)
	}
	t := c.commit()
	e.mu.Unlock()
	if err := e.wait(context.Background(), t); err != nil {
		e.log.Error("action result not stored", "action", cp.ID, "err", err)
	}
	e.log.Info("remediation action finished", "rule", cp.Rule, "target", cp.Target, "status", cp.Status)
}

// cancelRuns cancels the running actions of an episode (its alert
// resolved). Callers hold mu.
func (e *Engine) cancelRuns(alertID uint64) {
	for _, cancel := range e.rem.running[alertID] {
		cancel()
	}
	delete(e.rem.running, alertID)
}

// WaitActions waits for running actions to finish (tests, shutdown).
func (e *Engine) WaitActions() { e.runs.Wait() }

// StopActions cancels every running action (at shutdown: each is
// recorded as cancelled) and waits for them, up to ctx.
func (e *Engine) StopActions(ctx context.Context) error {
	e.mu.Lock()
	for id := range e.rem.running {
		e.cancelRuns(id)
	}
	e.mu.Unlock()
	done := make(chan struct{})
	go func() { e.runs.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("engine: actions still running at shutdown: %w", ctx.Err())
	}
}

// ActionFilter selects action records; empty fields select all.
type ActionFilter struct {
	Incident uint64
	Rule     string
	Status   string
}

// Actions lists action records newest first.
func (e *Engine) Actions(f ActionFilter, p Page) (out []ActionRecord, next uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rem.records.newestFirst(p.Cursor, func(r *ActionRecord) bool {
		if (f.Incident != 0 && r.Incident != f.Incident) || (f.Rule != "" && r.Rule != f.Rule) || (f.Status != "" && r.Status != f.Status) {
			return true
		}
		if len(out) == p.limit() {
			next = out[len(out)-1].ID
			return false
		}
		out = append(out, *r)
		return true
	})
	return out, next
}

// alertInput rebuilds the classifier input of a stored episode.
func (e *Engine) alertInput(a *Alert, inc *Incident, now time.Time) *ClassifyInput {
	w := &Webhook{}
	if inc != nil {
		w.Receiver, w.GroupKey, w.ExternalURL, w.CommonLabels = inc.Receiver, inc.GroupKey, inc.ExternalURL, inc.Labels
	}
	wa := &WebhookAlert{Fingerprint: a.Fingerprint, Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
		StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL}
	return e.classifyInput(now, wa, w)
}

// countAction counts a decision for the metrics. Callers hold mu.
func (e *Engine) countAction(rule, status, reason string) {
	if e.actionsRun == nil {
		return
	}
	outcome := status
	if status == ActionSkipped {
		switch {
		case len(reason) >= 10 && reason[:10] == "suppressed":
			outcome = "skipped:suppressed"
		case len(reason) >= 15 && reason[:15] == "circuit breaker":
			outcome = "skipped:breaker"
		case len(reason) >= 8 && reason[:8] == "cooldown":
			outcome = "skipped:cooldown"
		case len(reason) >= 12 && reason[:12] == "max_attempts":
			outcome = "skipped:max_attempts"
		default:
			outcome = "skipped:busy"
		}
	}
	e.actionsRun.WithLabelValues(rule, outcome).Inc()
}
