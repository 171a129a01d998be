package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Action record statuses.
const (
	ActionSkipped     = "skipped"     // a safeguard stopped it (Reason says which)
	ActionRefused     = "refused"     // rendering refused it (a value failed its pattern)
	ActionDryRun      = "dry_run"     // would have run (Describe)
	ActionPending     = "pending"     // decided; waits for the rule's earlier actions
	ActionRunning     = "running"     // recorded before it starts
	ActionSucceeded   = "succeeded"   //
	ActionFailed      = "failed"      //
	ActionCancelled   = "cancelled"   // the alert resolved while it ran, or an earlier action of the rule failed
	ActionInterrupted = "interrupted" // remediator stopped while it ran or waited; it is not run again
	ActionNotStarted  = "not_started" // it could not start (no such program, unit or object): a configuration fault, not a failed fix
	ActionAwaiting    = "awaiting_approval"
	ActionRejected    = "rejected" // a responder rejected it
	ActionExpired     = "expired"  // nobody approved it within the rule's approval ttl
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
	// Verification of a successful run: pending until VerifyBy, then
	// verified (the alert resolved) or failed.
	Verification string    `json:"verification,omitempty"`
	VerifyBy     time.Time `json:"verify_by,omitempty"`
	VerifyRetry  bool      `json:"verify_retry,omitempty"`
	// HoldUntil, on a run's first record, is when the run ends at the
	// latest (its start plus its actions' timeouts). If remediator stops
	// without stopping it (a crash), the run's process may live on, so its
	// target stays locked until then after the restart.
	HoldUntil time.Time `json:"hold_until,omitempty"`
	// ApproveBy is when a run awaiting approval expires; DecidedBy who
	// approved or rejected it.
	ApproveBy time.Time `json:"approve_by,omitempty"`
	DecidedBy string    `json:"decided_by,omitempty"`
}

// Verification states.
const (
	VerifyPending = "pending"
	VerifyOK      = "verified"
	VerifyFailed  = "failed"
)

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
	// VerifyWithin, when set, is how long after a successful run the
	// alert must resolve; VerifyRetry lets the rule act again when it
	// does not.
	VerifyWithin time.Duration
	VerifyRetry  bool
	// Approval makes the run wait for a responder, for ApprovalTTL.
	Approval    bool
	ApprovalTTL time.Duration
	// Queue makes a run on a busy target wait for it instead of skipping.
	Queue bool
	// Concurrency is how many runs may act on the target at once (0: 1).
	Concurrency int
}

// RemedyAction is one action of a Remedy: an invocation, or why it is
// refused.
type RemedyAction struct {
	Invocation Invocation
	Refused    string
	DryRun     bool
	// Timeout bounds how long the action may run (0: unknown, counted as
	// DefaultRunBound).
	Timeout time.Duration
}

// DefaultRunBound is how long an action whose timeout is unknown is
// assumed to run at most, for the lock a crash leaves (see HoldUntil).
const DefaultRunBound = 10 * time.Minute

// errShutdown is the cancel cause of actions stopped by StopActions.
var errShutdown = errors.New("remediator is shutting down")

// errResolved is the cancel cause of actions whose alert resolved.
var errResolved = errors.New("the alert resolved")

// remediation is the engine's remediation state, under Engine.mu.
type remediation struct {
	records  byID[ActionRecord]
	last     uint64
	running  map[uint64]map[uint64]context.CancelCauseFunc // alert → run (first record ID) → cancel
	busy     map[string]int                                // target → runs in progress
	slots    chan struct{}                                 // the global limit
	stopping bool                                          // StopActions was called: decide nothing more
	// Indexes of the runs (a rule acting on an alert: its first action
	// record), for the safeguards: kept on every new run and at restore.
	runsByRule map[string][]time.Time    // rule → start times, oldest first
	lastRun    map[[2]string]time.Time   // (rule, target) → latest start
	attempts   map[uint64]map[string]int // alert → rule → runs
	// pastRuns are the runs whose records left memory (Retention): the
	// windows of the safeguards still count them.
	pastRuns  []pastRun
	verifying map[uint64][]uint64  // alert → run records waiting for it to resolve
	freed     *sync.Cond           // on Engine.mu: a target got free
	held      map[string]time.Time // target → locked until (a run a crash left)
	awaiting  map[uint64]bool      // records awaiting approval
}

// pastRun is what the safeguards need of a run whose record has left
// memory.
type pastRun struct {
	rule, target string
	at           time.Time
}

func newRemediation(maxConcurrent int) remediation {
	return remediation{
		running: map[uint64]map[uint64]context.CancelCauseFunc{}, busy: map[string]int{},
		slots: make(chan struct{}, maxConcurrent), runsByRule: map[string][]time.Time{},
		lastRun: map[[2]string]time.Time{}, attempts: map[uint64]map[string]int{}, verifying: map[uint64][]uint64{}, awaiting: map[uint64]bool{}, held: map[string]time.Time{},
	}
}

// isRun reports whether r is the record of a run: the first action of a
// rule that started (not skipped, refused or a dry run).
func (r *ActionRecord) isRun() bool {
	if r.StartedAt.IsZero() {
		return false
	}
	switch r.Status {
	case ActionRunning, ActionSucceeded, ActionFailed, ActionCancelled, ActionInterrupted, ActionNotStarted:
		return true
	}
	return false
}

// noteRun adds a run to the safeguard indexes. Callers hold mu.
func (m *remediation) noteRun(alert uint64, rule, target string, at time.Time) {
	m.runsByRule[rule] = append(m.runsByRule[rule], at)
	if k := [2]string{rule, target}; at.After(m.lastRun[k]) {
		m.lastRun[k] = at
	}
	if m.attempts[alert] == nil {
		m.attempts[alert] = map[string]int{}
	}
	m.attempts[alert][rule]++
}

// reindex rebuilds the safeguard indexes from the records (at restore and
// after a decision that could not be stored). Callers hold mu.
func (m *remediation) reindex() {
	m.reindexRuns()
	m.held = map[string]time.Time{}
	for _, r := range m.records.items {
		if r != nil && (r.Status == ActionRunning || r.Status == ActionInterrupted) && r.HoldUntil.After(m.held[r.Target]) {
			m.held[r.Target] = r.HoldUntil
		}
	}
}

// reindexRuns rebuilds the run indexes (not the crash holds, which only a
// restore computes: a live run's record is running too). Callers hold mu.
func (m *remediation) reindexRuns() {
	m.runsByRule, m.lastRun, m.attempts = map[string][]time.Time{}, map[[2]string]time.Time{}, map[uint64]map[string]int{}
	for _, p := range m.pastRuns {
		m.noteRun(0, p.rule, p.target, p.at)
	}
	delete(m.attempts, 0)
	m.verifying, m.awaiting = map[uint64][]uint64{}, map[uint64]bool{}
	for _, r := range m.records.items {
		if r != nil && r.Status == ActionAwaiting {
			m.awaiting[r.ID] = true
		}
		if r != nil && r.isRun() {
			m.noteRun(r.Alert, r.Rule, r.Target, r.StartedAt)
		}
		if r != nil && r.Verification == VerifyPending {
			m.verifying[r.Alert] = append(m.verifying[r.Alert], r.ID)
		}
	}
	for _, starts := range m.runsByRule {
		sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	}
}

// remediate decides, once, what to do for firing episodes, records the
// decisions durably in one write and starts the actions. It runs after
// the webhook was answered, from the stored state. Callers have done
// e.runs.Add(1).
func (e *Engine) remediate(ids []uint64) {
	defer e.runs.Done()
	reqs := make([]decideReq, len(ids))
	for i, id := range ids {
		reqs[i] = decideReq{alert: id}
	}
	e.decide(reqs)
}

// decideReq asks for a decision on one episode; with rule set, only that
// rule is decided again (a retry after a failed verification), whatever
// the episode's Decided flag, and its cooldown does not apply.
type decideReq struct {
	alert uint64
	rule  string
}

// startWork counts a goroutine that may start actions, unless the engine
// is stopping. Callers hold mu.
func (e *Engine) startWork() bool {
	if e.rem.stopping {
		return false
	}
	e.runs.Add(1)
	return true
}

// ResumeRemediation runs after a restart: actions that were running or
// pending when remediator stopped are recorded as interrupted (never run
// twice), and firing episodes that got no decision yet get one now.
func (e *Engine) ResumeRemediation() {
	e.mu.Lock()
	c := e.begin()
	for _, r := range e.rem.records.items {
		if r != nil && (r.Status == ActionRunning || r.Status == ActionPending) {
			cp := *r
			cp.Status, cp.FinishedAt, cp.Rev = ActionInterrupted, c.now, c.rev
			cp.Err = "remediator stopped before the action finished; it is not run again"
			if r.Status == ActionPending {
				cp.HoldUntil = time.Time{} // it never started: nothing of it can still run
			}
			e.rem.records.put(cp.ID, &cp)
			c.actions = append(c.actions, &cp)
			if inc := e.incidents.get(cp.Incident); inc != nil {
				c.event(inc, EventActionFinished, "remediator", "%s on %s interrupted by a restart", cp.Rule, cp.Target)
			}
		}
	}
	var pending []uint64
	// Without a rule there is nothing to decide (as on ingest): a
	// million firing alerts are not each asked for remedies at start.
	if e.planner != nil && e.planner.HasRules() {
		for _, a := range e.alerts.items {
			if a != nil && a.Status == StatusFiring && !a.Decided && a.Incident != 0 {
				pending = append(pending, a.ID)
			}
		}
	}
	t := c.commit()
	work := e.startWork()
	e.mu.Unlock()
	if err := e.wait(context.Background(), t); err != nil {
		e.log.Error("could not record interrupted actions", "err", err)
	}
	if work {
		e.remediate(pending)
	}
}

// run is one rule acting on one alert: its actions, one after another.
type run struct {
	alert  uint64
	target string
	ctx    context.Context
	cancel context.CancelCauseFunc
	steps  []step
	verify time.Duration // 0: no verification
	retry  bool
	failed bool // an action did not succeed
	// queued: the target was busy; the run waits for it before its
	// first action. holding: the run holds the target (busy counted).
	queued  bool
	holding bool
	rule    string
	limit   int     // the rule's concurrency on the target
	remedy  *Remedy // for the safeguards a queued run checks again
	skip    string  // why a queued run did not run
}

type step struct {
	rec     *ActionRecord
	inv     Invocation
	timeout time.Duration
}

// decide applies the safeguards to episodes and starts what passes. An
// episode is marked decided only when a rule matched it (then in the same
// write as the records), so that alerts no rule wants cost no write.
func (e *Engine) decide(reqs []decideReq) {
	e.mu.Lock()
	if e.planner == nil || e.rem.stopping || len(reqs) == 0 {
		e.mu.Unlock()
		return
	}
	c := e.begin()
	var runs []*run
	var decided []*Alert
	for _, q := range reqs {
		rs, ok := e.decideOne(c, q)
		if ok {
			decided = append(decided, e.alerts.get(q.alert))
		}
		runs = append(runs, rs...)
	}
	created := append([]*ActionRecord(nil), c.actions...)
	for range runs {
		e.runs.Add(1) // not stopping: checked above, under the same lock
	}
	t := c.commit()
	e.mu.Unlock()
	// The decision is durable before anything runs: a crash now leaves
	// running or pending records, which a restart marks interrupted.
	if err := e.wait(context.Background(), t); err != nil {
		e.log.Error("remediation decision not stored; nothing runs", "err", err)
		e.undecide(decided, created, runs, err)
		for range runs {
			e.runs.Done()
		}
		return
	}
	for _, r := range runs {
		go e.run(r)
	}
}

// undecide records that nothing ran after a decision that could not be
// stored, and lets the episodes be decided again (by a retried webhook or
// a restart).
func (e *Engine) undecide(decided []*Alert, created []*ActionRecord, runs []*run, cause error) {
	e.mu.Lock()
	c := e.begin()
	for _, a := range decided {
		a.Decided = false
		c.touchAlert(a)
	}
	for _, r := range runs {
		r.cancel(cause)
		if r.holding {
			e.rem.busy[r.target]--
			e.rem.freed.Broadcast()
		}
		e.forget(r)
	}
	seen := map[uint64]bool{}
	for _, rec := range created {
		if seen[rec.ID] {
			continue
		}
		seen[rec.ID] = true
		cp := *e.rem.records.get(rec.ID)
		cp.Rev, cp.Status, cp.StartedAt, cp.FinishedAt, cp.HoldUntil = c.rev, ActionSkipped, time.Time{}, c.now, time.Time{}
		cp.Reason = "the decision could not be stored (" + cause.Error() + "); nothing ran"
		e.rem.records.put(cp.ID, &cp)
		delete(e.rem.awaiting, cp.ID)
		c.actions = append(c.actions, &cp)
	}
	e.rem.reindexRuns()
	t := c.commit()
	e.mu.Unlock()
	_ = e.wait(context.Background(), t) // on failure it stays unsynced and is written later
}

// decideOne records the decisions for one episode in c and registers its
// runs (cancellable from now on). Callers hold mu.
func (e *Engine) decideOne(c *change, q decideReq) ([]*run, bool) {
	alertID := q.alert
	a := e.alerts.get(alertID)
	if a == nil || a.Status != StatusFiring || (a.Decided && q.rule == "") {
		return nil, false
	}
	inc := e.incidents.get(a.Incident)
	remedies := e.planner.Remedies(e.alertInput(a, inc, c.now), a.Level, a.Incident)
	if q.rule != "" {
		only := remedies[:0:0]
		for _, rm := range remedies {
			if rm.Rule == q.rule {
				rm.Cooldown = 0 // a retry is deliberate; max_attempts bounds it
				only = append(only, rm)
			}
		}
		remedies = only
	}
	if len(remedies) == 0 {
		return nil, false
	}
	a.Decided = true
	c.touchAlert(a)
	var runs []*run
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
			runnable = runnable || (act.Refused == "" && !rm.DryRun && !act.DryRun)
		}
		reason, queued := "", false
		if runnable {
			reason = e.safeguard(&rm, a, c.now, rm.Queue)
			queued = reason == "" && rm.Queue && (e.rem.busy[rm.Target] >= max(rm.Concurrency, 1) || c.now.Before(e.rem.held[rm.Target]))
		}
		if suppressed {
			reason = fmt.Sprintf("suppressed by %s until %s", sup.By, sup.Until.UTC().Format(time.RFC3339))
		}
		if reason != "" {
			if strings.HasPrefix(reason, "circuit breaker") {
				e.log.Warn("remediation circuit breaker open: the rule stops acting", "rule", rm.Rule, "target", rm.Target, "reason", reason)
			}
			record(-1, ActionSkipped, reason, "")
			if inc != nil {
				c.event(inc, EventActionSkipped, "remediator", "%s on %s skipped: %s", rm.Rule, rm.Target, reason)
			}
			continue
		}
		var r *run
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
			case rm.Approval:
				rec := record(i, ActionAwaiting, "", act.Invocation.Describe())
				rec.ApproveBy = c.now.Add(rm.ApprovalTTL)
				e.rem.awaiting[rec.ID] = true
				if inc != nil {
					c.event(inc, EventActionAwaiting, "remediator", "%s on %s awaits approval until %s: %s", rm.Rule, rm.Target, rec.ApproveBy.UTC().Format(time.RFC3339), rec.Describe)
				}
			default:
				status := ActionPending
				if r == nil {
					ctx, cancel := context.WithCancelCause(context.Background())
					rmc := rm
					r = &run{alert: a.ID, target: rm.Target, ctx: ctx, cancel: cancel, verify: rm.VerifyWithin, retry: rm.VerifyRetry,
						queued: queued, holding: !queued, rule: rm.Rule, limit: max(rm.Concurrency, 1), remedy: &rmc}
					if !queued {
						status = ActionRunning
					}
				}
				rec := record(i, status, "", act.Invocation.Describe())
				if queued && len(r.steps) == 0 {
					rec.Reason = "queued: target " + rm.Target + " is busy"
					if inc != nil {
						c.event(inc, EventActionStarted, "remediator", "%s on %s queued: the target is busy", rm.Rule, rm.Target)
					}
				}
				if len(r.steps) == 0 {
					rec.HoldUntil = c.now.Add(runBound(rm.Actions))
				}
				if status == ActionRunning {
					rec.StartedAt = c.now
					e.rem.noteRun(a.ID, rm.Rule, rm.Target, c.now)
					e.rem.busy[rm.Target]++
					if inc != nil {
						c.event(inc, EventActionStarted, "remediator", "%s on %s: %s", rm.Rule, rm.Target, rec.Describe)
					}
				}
				r.steps = append(r.steps, step{rec: rec, inv: act.Invocation, timeout: act.Timeout})
			}
		}
		if r != nil {
			// Registered before the write: a resolve that arrives while
			// the decision is being stored cancels it too.
			if e.rem.running[a.ID] == nil {
				e.rem.running[a.ID] = map[uint64]context.CancelCauseFunc{}
			}
			e.rem.running[a.ID][r.steps[0].rec.ID] = r.cancel
			runs = append(runs, r)
		}
	}
	return runs, true
}

// safeguard returns why a rule must not act now, or "". Callers hold mu.
// A busy target is not a reason when ignoreBusy (the rule queues).
func (e *Engine) safeguard(rm *Remedy, a *Alert, now time.Time, ignoreBusy bool) string {
	m := &e.rem
	from := now.Add(-rm.MaxRunsPer)
	starts := m.runsByRule[rm.Rule]
	for len(starts) > 0 && starts[0].Before(from) { // trim what left the window
		starts = starts[1:]
	}
	m.runsByRule[rm.Rule] = starts
	last := m.lastRun[[2]string{rm.Rule, rm.Target}]
	switch {
	case len(starts) >= rm.MaxRuns:
		return fmt.Sprintf("circuit breaker open: %d runs of %s within %s (max_runs %d): the rule stops acting until the window passes", len(starts), rm.Rule, rm.MaxRunsPer, rm.MaxRuns)
	case m.attempts[a.ID][rm.Rule] >= rm.MaxAttempts:
		return fmt.Sprintf("max_attempts %d reached for this alert", rm.MaxAttempts)
	case !last.IsZero() && now.Before(last.Add(rm.Cooldown)):
		return fmt.Sprintf("cooldown: %s ran on %s at %s; next run after %s", rm.Rule, rm.Target, last.UTC().Format(time.RFC3339), last.Add(rm.Cooldown).UTC().Format(time.RFC3339))
	case !ignoreBusy && m.busy[rm.Target] >= max(rm.Concurrency, 1):
		return fmt.Sprintf("target %s is busy with another action", rm.Target)
	case !ignoreBusy && now.Before(m.held[rm.Target]):
		return fmt.Sprintf("target %s is locked until %s by a run that a restart interrupted (its process may still run)", rm.Target, m.held[rm.Target].UTC().Format(time.RFC3339))
	}
	return ""
}

// forget drops a run's cancel func. Callers hold mu.
func (e *Engine) forget(r *run) {
	if m := e.rem.running[r.alert]; m != nil {
		delete(m, r.steps[0].rec.ID)
		if len(m) == 0 {
			delete(e.rem.running, r.alert)
		}
	}
}

// run performs a rule's actions one after another, each within the
// global limit, and records how each ended; after a failure or a cancel
// the rest are cancelled.
func (e *Engine) run(r *run) {
	defer e.runs.Done()
	defer r.cancel(nil)
	stopped := ""
	if r.queued && !e.acquire(r) {
		if stopped = r.skip; stopped == "" {
			stopped = "not run: cancelled while queued: " + context.Cause(r.ctx).Error()
		}
	}
	for i, s := range r.steps {
		var res Result
		switch {
		case stopped != "":
			res = Result{Cancelled: true, Err: stopped}
		case r.ctx.Err() != nil:
			res = Result{Cancelled: true, Err: "cancelled before it started: " + context.Cause(r.ctx).Error()}
		default:
			select {
			case e.rem.slots <- struct{}{}:
				if r.ctx.Err() != nil { // cancelled while waiting for a slot
					res = Result{Cancelled: true, Err: "cancelled before it started: " + context.Cause(r.ctx).Error()}
				} else {
					if i > 0 || r.queued {
						e.markStarted(s.rec, runBoundSteps(r.steps[i:]))
					}
					res = s.inv.Run(r.ctx)
				}
				<-e.rem.slots
			case <-r.ctx.Done():
				res = Result{Cancelled: true, Err: "cancelled before it started: " + context.Cause(r.ctx).Error()}
			}
		}
		switch {
		case res.NotStarted && stopped == "":
			// A configuration fault: the fix was not tried, so it did not
			// fail either; the rest of the rule does not run.
			stopped = fmt.Sprintf("not run: action %d of the rule could not start", s.rec.Action)
		case !res.OK && stopped == "":
			stopped = fmt.Sprintf("not run: action %d of the rule did not succeed", s.rec.Action)
			r.failed = true
		}
		e.finish(r, s.rec, res, i == len(r.steps)-1)
	}
}

// acquire waits until a queued run's target is free (or its context
// ends), then takes the target and counts the run for the safeguards.
func (e *Engine) acquire(r *run) bool {
	stop := context.AfterFunc(r.ctx, func() {
		e.mu.Lock()
		e.rem.freed.Broadcast()
		e.mu.Unlock()
	})
	defer stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	for (e.rem.busy[r.target] >= r.limit || e.clock.Now().Before(e.rem.held[r.target])) && r.ctx.Err() == nil {
		e.rem.freed.Wait()
	}
	if r.ctx.Err() != nil {
		return false
	}
	// The wait may have been long: the rule's other safeguards again.
	if a := e.alerts.get(r.alert); a != nil && r.remedy != nil {
		if reason := e.safeguard(r.remedy, a, e.clock.Now(), true); reason != "" {
			r.skip = reason
			return false
		}
	}
	e.rem.busy[r.target]++
	r.holding = true
	e.rem.noteRun(r.alert, r.rule, r.target, e.clock.Now())
	return true
}

// markStarted records that a pending action starts.
func (e *Engine) markStarted(rec *ActionRecord, bound time.Duration) {
	e.mu.Lock()
	c := e.begin()
	cp := *e.rem.records.get(rec.ID)
	cp.Rev, cp.Status, cp.StartedAt, cp.HoldUntil = c.rev, ActionRunning, c.now, c.now.Add(bound)
	e.rem.records.put(cp.ID, &cp)
	c.actions = append(c.actions, &cp)
	t := c.commit()
	e.mu.Unlock()
	if err := e.wait(context.Background(), t); err != nil {
		e.log.Error("action start not stored", "action", cp.ID, "err", err)
	}
}

// finish records how one action ended; the last one frees the target.
func (e *Engine) finish(r *run, rec *ActionRecord, res Result, last bool) {
	e.mu.Lock()
	c := e.begin()
	cp := *e.rem.records.get(rec.ID) // replaced, never mutated
	cp.Rev, cp.FinishedAt = c.rev, c.now
	cp.ExitCode, cp.HTTPStatus, cp.Output, cp.Err = res.ExitCode, res.Status, res.Output, res.Err
	switch {
	case r.skip != "":
		cp.Status, cp.Reason = ActionSkipped, r.skip
	case res.OK:
		cp.Status = ActionSucceeded
	case res.NotStarted:
		cp.Status = ActionNotStarted
	case res.Cancelled && errors.Is(context.Cause(r.ctx), errShutdown):
		cp.Status = ActionInterrupted
	case res.Cancelled:
		cp.Status = ActionCancelled
	default:
		cp.Status = ActionFailed
	}
	verify := last && r.verify > 0 && !r.failed && cp.Status == ActionSucceeded
	failedRun := last && r.verify > 0 && r.failed && !errors.Is(context.Cause(r.ctx), errShutdown) && !errors.Is(context.Cause(r.ctx), errResolved)
	if verify && cp.ID == r.steps[0].rec.ID {
		e.markVerification(c, r, &cp) // the run's record is this one
		verify = false
	}
	e.rem.records.put(cp.ID, &cp)
	c.actions = append(c.actions, &cp)
	if last {
		if r.holding {
			e.rem.busy[r.target]--
			e.rem.freed.Broadcast()
		}
		e.forget(r)
	}
	if verify {
		first := *e.rem.records.get(r.steps[0].rec.ID)
		first.Rev = c.rev
		e.markVerification(c, r, &first)
		e.rem.records.put(first.ID, &first)
		c.actions = append(c.actions, &first)
	}
	cp.HoldUntil = time.Time{} // it ended, or was stopped for sure: it holds nothing
	e.rem.records.put(cp.ID, &cp)
	e.countAction(cp.Rule, cp.Status, "")
	// The action's end is on the timeline before what follows from it.
	if inc := e.incidents.get(cp.Incident); inc != nil {
		detail := cp.Err
		if detail == "" {
			detail = "ok"
		}
		if cp.Status == ActionNotStarted {
			c.event(inc, EventActionFinished, "remediator", "%s on %s could not start: %s. This is a configuration fault, not a fix that failed: nothing was tried, and the incident is paged as usual",
				cp.Rule, cp.Target, detail)
		} else {
			c.event(inc, EventActionFinished, "remediator", "%s on %s %s: %s", cp.Rule, cp.Target, cp.Status, detail)
		}
	}
	retry := false
	if failedRun {
		// A run that failed did not fix it either.
		first := *e.rem.records.get(r.steps[0].rec.ID)
		first.VerifyRetry = r.retry
		retry = e.failVerification(c, &first, "the run failed: "+cp.Err)
	}
	t := c.commit()
	e.mu.Unlock()
	if err := e.wait(context.Background(), t); err != nil {
		e.log.Error("action result not stored", "action", cp.ID, "err", err)
	}
	e.log.Info("remediation action finished", "rule", cp.Rule, "target", cp.Target, "status", cp.Status)
	if retry {
		e.mu.Lock()
		work := e.startWork()
		e.mu.Unlock()
		if work {
			defer e.runs.Done()
			e.decide([]decideReq{{alert: r.alert, rule: r.rule}})
		}
	}
}

// cancelRuns cancels the running actions of an episode (its alert
// resolved). Callers hold mu.
func (e *Engine) cancelRuns(alertID uint64) {
	for _, cancel := range e.rem.running[alertID] {
		cancel(errResolved)
	}
}

// WaitActions waits for decisions and running actions to finish (tests).
func (e *Engine) WaitActions() { e.runs.Wait() }

// StopActions stops deciding, cancels every running action (each is
// recorded as interrupted) and waits for them, up to ctx.
func (e *Engine) StopActions(ctx context.Context) error {
	e.mu.Lock()
	e.rem.stopping = true
	for _, runs := range e.rem.running {
		for _, cancel := range runs {
			cancel(errShutdown)
		}
	}
	e.mu.Unlock()
	e.stopNotifications()
	done := make(chan struct{})
	go func() { e.runs.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("engine: actions still running at shutdown: %w", ctx.Err())
	}
}

// markVerification sets a successful run's record waiting for its alert
// to resolve by now+verify (or verified at once if it already did).
// Callers hold mu and store rec.
func (e *Engine) markVerification(c *change, r *run, rec *ActionRecord) {
	rec.Verification, rec.VerifyBy, rec.VerifyRetry = VerifyPending, c.now.Add(r.verify), r.retry
	if a := e.alerts.get(r.alert); a != nil && a.Status == StatusResolved {
		rec.Verification = VerifyOK
		return
	}
	e.rem.verifying[r.alert] = append(e.rem.verifying[r.alert], rec.ID)
}

// verifyResolved marks an episode's pending verifications verified: its
// alert resolved. Callers hold mu.
func (e *Engine) verifyResolved(c *change, alertID uint64) {
	for _, id := range e.rem.verifying[alertID] {
		r := e.rem.records.get(id)
		if r == nil || r.Verification != VerifyPending {
			continue
		}
		cp := *r
		cp.Rev, cp.Verification = c.rev, VerifyOK
		e.rem.records.put(cp.ID, &cp)
		c.actions = append(c.actions, &cp)
		if inc := e.incidents.get(cp.Incident); inc != nil {
			c.event(inc, EventActionFinished, "remediator", "%s on %s verified: the alert resolved", cp.Rule, cp.Target)
		}
	}
	delete(e.rem.verifying, alertID)
}

// ApproveAction approves the run a record awaiting approval belongs to
// (every action of that rule for that alert): the safeguards are checked
// again, the actions rendered again, and the run starts. It is a conflict
// when the run expired, the alert resolved, the rule no longer matches or
// a safeguard stops it; each of those is recorded.
func (e *Engine) ApproveAction(ctx context.Context, id uint64, t Transition) (ActionRecord, error) {
	return e.decideApproval(ctx, id, t, true)
}

// RejectAction rejects the run a record awaiting approval belongs to.
func (e *Engine) RejectAction(ctx context.Context, id uint64, t Transition) (ActionRecord, error) {
	return e.decideApproval(ctx, id, t, false)
}

// decideApproval approves or rejects; the decision's note (t.Note) is on
// the incident's timeline.
func (e *Engine) decideApproval(ctx context.Context, id uint64, d Transition, approve bool) (ActionRecord, error) {
	by, note := d.By, ""
	if d.Note != "" {
		note = " (note: " + d.Note + ")"
	}
	if by == "" {
		return ActionRecord{}, fmt.Errorf("approving or rejecting needs who did it: %w", ErrInvalid)
	}
	e.mu.Lock()
	rec := e.rem.records.get(id)
	if rec == nil {
		e.mu.Unlock()
		return ActionRecord{}, fmt.Errorf("action %d: %w", id, ErrNotFound)
	}
	if rec.Status != ActionAwaiting {
		e.mu.Unlock()
		return ActionRecord{}, e.flushFirst(ctx, fmt.Errorf("action %d is %s, not awaiting approval: %w", id, rec.Status, ErrConflict))
	}
	c := e.begin()
	group := e.awaiting(rec.Alert, rec.Rule)
	a := e.alerts.get(rec.Alert)
	inc := e.incidents.get(rec.Incident)
	settle := func(status, reason string) {
		for _, g := range group {
			cp := *g
			cp.Rev, cp.Status, cp.Reason, cp.DecidedBy, cp.FinishedAt = c.rev, status, reason, by, c.now
			e.rem.records.put(cp.ID, &cp)
			c.actions = append(c.actions, &cp)
			e.countAction(cp.Rule, status, reason)
		}
		if inc != nil {
			c.event(inc, EventActionDecided, by, "%s on %s %s%s%s", rec.Rule, rec.Target, status, noteSuffix(reason), note)
		}
	}
	var conflict string
	var r *run
	switch {
	case !c.now.Before(rec.ApproveBy):
		conflict = "the approval expired at " + rec.ApproveBy.UTC().Format(time.RFC3339)
		settle(ActionExpired, conflict)
	case !approve:
		settle(ActionRejected, "rejected by "+by)
	case a == nil || a.Status != StatusFiring:
		conflict = "the alert resolved before approval"
		settle(ActionCancelled, conflict)
	default:
		r, conflict = e.approvedRun(c, a, inc, rec, group, by, note)
		if conflict != "" {
			settle(ActionSkipped, conflict)
		}
	}
	out := *e.rem.records.get(id)
	created := append([]*ActionRecord(nil), c.actions...)
	if r != nil && !e.startWork() {
		// Stopping: the approval is recorded, the run is not started.
		r.cancel(errShutdown)
		for _, st := range r.steps {
			cp := *e.rem.records.get(st.rec.ID)
			cp.Status, cp.StartedAt, cp.HoldUntil, cp.Err = ActionInterrupted, time.Time{}, time.Time{}, errShutdown.Error()
			e.rem.records.put(cp.ID, &cp)
			c.actions = append(c.actions, &cp)
		}
		e.rem.busy[r.target]--
		e.forget(r)
		e.rem.reindexRuns()
		r = nil
	}
	t := c.commit()
	e.mu.Unlock()
	if err := e.wait(ctx, t); err != nil {
		if r != nil {
			e.undecide(nil, created, []*run{r}, err)
			e.runs.Done()
		}
		return out, err
	}
	if r != nil {
		go e.run(r)
	}
	if conflict != "" {
		return out, fmt.Errorf("action %d: %s: %w", id, conflict, ErrConflict)
	}
	return out, nil
}

// settleAwaiting cancels the runs of an episode still awaiting approval:
// its alert resolved. Callers hold mu.
func (e *Engine) settleAwaiting(c *change, alertID uint64) {
	for id := range e.rem.awaiting {
		r := e.rem.records.get(id)
		if r == nil || r.Alert != alertID || r.Status != ActionAwaiting {
			continue
		}
		delete(e.rem.awaiting, id)
		cp := *r
		cp.Rev, cp.Status, cp.FinishedAt, cp.Reason = c.rev, ActionCancelled, c.now, "the alert resolved before approval"
		e.rem.records.put(cp.ID, &cp)
		c.actions = append(c.actions, &cp)
	}
}

// awaiting returns the records of a run awaiting approval, by action.
// Callers hold mu.
func (e *Engine) awaiting(alert uint64, rule string) []*ActionRecord {
	var out []*ActionRecord
	for id := range e.rem.awaiting {
		if r := e.rem.records.get(id); r != nil && r.Alert == alert && r.Rule == rule && r.Status == ActionAwaiting {
			out = append(out, r)
			delete(e.rem.awaiting, id) // settled or started by the caller
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Action < out[j].Action })
	return out
}

// approvedRun renders an approved run again and starts its first action,
// or says why it cannot run. Callers hold mu.
func (e *Engine) approvedRun(c *change, a *Alert, inc *Incident, rec *ActionRecord, group []*ActionRecord, by, note string) (*run, string) {
	var rm *Remedy
	for _, x := range e.planner.Remedies(e.alertInput(a, inc, c.now), a.Level, a.Incident) {
		if x.Rule == rec.Rule {
			rm = &x
			break
		}
	}
	if rm == nil {
		return nil, "the rule no longer matches the alert"
	}
	if reason := e.safeguard(rm, a, c.now, false); reason != "" {
		return nil, reason
	}
	if rm.DryRun {
		return nil, "dry run now (the configuration changed): nothing runs"
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &run{alert: a.ID, target: rm.Target, ctx: ctx, cancel: cancel, verify: rm.VerifyWithin, retry: rm.VerifyRetry, holding: true, rule: rm.Rule}
	for _, g := range group {
		if g.Action < 0 || g.Action >= len(rm.Actions) || rm.Actions[g.Action].Invocation == nil {
			cancel(nil)
			return nil, "the rule's actions changed or are refused now"
		}
		cp := *g
		cp.Rev, cp.DecidedBy, cp.Status = c.rev, by, ActionPending
		if len(r.steps) == 0 {
			cp.Status, cp.StartedAt, cp.HoldUntil = ActionRunning, c.now, c.now.Add(runBound(rm.Actions))
		}
		e.rem.records.put(cp.ID, &cp)
		c.actions = append(c.actions, &cp)
		r.steps = append(r.steps, step{rec: &cp, inv: rm.Actions[g.Action].Invocation})
	}
	e.rem.noteRun(a.ID, rm.Rule, rm.Target, c.now)
	e.rem.busy[rm.Target]++
	if e.rem.running[a.ID] == nil {
		e.rem.running[a.ID] = map[uint64]context.CancelCauseFunc{}
	}
	e.rem.running[a.ID][r.steps[0].rec.ID] = cancel
	if inc != nil {
		c.event(inc, EventActionStarted, by, "%s on %s approved by %s%s: %s", rm.Rule, rm.Target, by, note, r.steps[0].rec.Describe)
	}
	return r, ""
}

// levelLister is what a Classifier that can name its levels, most urgent
// first, also implements; it lets a failed verification raise urgency.
type levelLister interface {
	Levels() []Level
}

// Tick fires the verification deadlines due at now: a run whose alert
// still fires did not fix it. The incident records that, becomes one level
// more urgent (with that level's SLA), and with on_failure retry the rule
// may act again. App calls Tick every second; tests call it with
// simulated time. Deadlines live in the stored records, so a restart
// fires overdue ones at the next Tick, once.
func (e *Engine) Tick(now time.Time) {
	e.mu.Lock()
	c := e.begin()
	c.now = now
	var retry []decideReq
	for alertID, ids := range e.rem.verifying {
		keep := ids[:0]
		for _, id := range ids {
			r := e.rem.records.get(id)
			if r == nil || r.Verification != VerifyPending {
				continue
			}
			if now.Before(r.VerifyBy) {
				keep = append(keep, id)
				continue
			}
			if e.failVerification(c, r, fmt.Sprintf("the alert still fires %s after the run", r.VerifyBy.Sub(r.FinishedAt))) {
				retry = append(retry, decideReq{alert: alertID, rule: r.Rule})
			}
		}
		if len(keep) == 0 {
			delete(e.rem.verifying, alertID)
		} else {
			e.rem.verifying[alertID] = keep
		}
	}
	e.rem.freed.Broadcast() // a held target may be free now
	// Runs awaiting approval past their ttl expire.
	for id := range e.rem.awaiting {
		if r := e.rem.records.get(id); r != nil && r.Status == ActionAwaiting && !now.Before(r.ApproveBy) {
			delete(e.rem.awaiting, id)
			cp := *r
			cp.Rev, cp.Status, cp.FinishedAt, cp.Reason = c.rev, ActionExpired, now, "nobody approved it before "+r.ApproveBy.UTC().Format(time.RFC3339)
			e.rem.records.put(cp.ID, &cp)
			c.actions = append(c.actions, &cp)
			e.countAction(cp.Rule, ActionExpired, "")
			if inc := e.incidents.get(cp.Incident); inc != nil {
				c.event(inc, EventActionDecided, "remediator", "%s on %s expired: %s", cp.Rule, cp.Target, cp.Reason)
			}
		}
	}
	e.escalationTick(c)
	t := c.commit()
	if now.Sub(e.lastEvict) >= evictEvery {
		e.evict(now)
	}
	work := len(retry) > 0 && e.startWork()
	e.mu.Unlock()
	if err := e.wait(context.Background(), t); err != nil {
		e.log.Error("verification result and escalation steps not stored", "err", err)
	}
	e.deliverDue(now)
	if work {
		defer e.runs.Done()
		e.decide(retry)
	}
}

// failVerification records that a run did not fix its alert: the
// incident says so and becomes more urgent. It reports whether the rule
// may act again (on_failure retry; the caller re-decides that rule only). Callers
// hold mu and commit c.
func (e *Engine) failVerification(c *change, r *ActionRecord, why string) bool {
	cp := *r
	cp.Rev, cp.Verification = c.rev, VerifyFailed
	e.rem.records.put(cp.ID, &cp)
	c.actions = append(c.actions, &cp)
	e.countAction(cp.Rule, "verification_failed", "")
	if inc := e.incidents.get(cp.Incident); inc != nil {
		c.event(inc, EventRemediationFailed, "remediator", "%s on %s did not fix it: %s", cp.Rule, cp.Target, why)
		e.raiseUrgency(c, inc)
		e.onRemediationFailed(c, inc, cp.ID, fmt.Sprintf("%s on %s did not fix it: %s", cp.Rule, cp.Target, why))
	}
	if !cp.VerifyRetry {
		return false
	}
	a := e.alerts.get(cp.Alert)
	return a != nil && a.Status == StatusFiring
}

// runBoundSteps is how long the given steps of a run may still take.
func runBoundSteps(steps []step) time.Duration {
	var d time.Duration
	for _, st := range steps {
		if st.timeout > 0 {
			d += st.timeout
		} else {
			d += DefaultRunBound
		}
	}
	return d
}

// runBound is how long a rule's actions may run at most.
func runBound(acts []RemedyAction) time.Duration {
	var d time.Duration
	for _, a := range acts {
		if a.Timeout > 0 {
			d += a.Timeout
		} else {
			d += DefaultRunBound
		}
	}
	return d
}

// raiseUrgency moves an unresolved incident one level up, when the
// classifier can name its levels. Callers hold mu.
func (e *Engine) raiseUrgency(c *change, inc *Incident) {
	ll, ok := e.classifier.(levelLister)
	if !ok || inc.Status == IncidentResolved {
		return
	}
	levels := ll.Levels()
	r := e.classifier.Rank(inc.Level)
	if r <= 0 || r > len(levels) {
		return
	}
	from := inc.Level
	inc.Level = levels[r-1]
	inc.Priority, inc.RespondBy, inc.ResolveBy = e.classifier.SLA(inc.Level, inc.CreatedAt)
	c.touchIncident(inc)
	c.event(inc, EventLevelRaised, "remediator", "level raised from %s to %s: the remediation did not fix it", from, inc.Level)
	e.page(c, inc)
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

// ActionFilter selects action records; empty fields select all.
type ActionFilter struct {
	Incident uint64
	Rule     string
	Status   string
}

// Actions lists action records newest first.
func (e *Engine) Actions(f ActionFilter, p Page) (out []ActionRecord, next uint64) {
	match := func(r *ActionRecord) bool {
		return (f.Incident == 0 || r.Incident == f.Incident) && (f.Rule == "" || r.Rule == f.Rule) && (f.Status == "" || r.Status == f.Status)
	}
	need := func() bool { // what may change stays in memory, and with it its incident's records
		return f.Status != ActionRunning && f.Status != ActionPending && f.Status != ActionAwaiting &&
			(f.Incident == 0 || e.incidents.get(f.Incident) == nil)
	}
	return listPage(e, p, need, func(limit int) (out []ActionRecord) {
		e.rem.records.newestFirst(p.Cursor, func(r *ActionRecord) bool {
			if match(r) {
				out = append(out, *r)
			}
			return len(out) < limit
		})
		return out
	}, func(id uint64) bool { return e.rem.records.get(id) != nil }, e.store.ScanActions, match, func(r *ActionRecord) uint64 { return r.ID })
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
