package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
)

// fakeInvocation counts runs; when block is set it runs until cancelled.
type fakeInvocation struct {
	runs  *atomic.Int32
	block bool
	start chan struct{}
}

func (f *fakeInvocation) Describe() string { return "fake restart" }

func (f *fakeInvocation) Run(ctx context.Context) engine.Result {
	f.runs.Add(1)
	if f.start != nil {
		close(f.start)
	}
	if f.block {
		<-ctx.Done()
		return engine.Result{Cancelled: true, Err: "cancelled"}
	}
	return engine.Result{OK: true}
}

// fakePlanner matches every firing alert with one rule whose target is the
// alert's service label.
type fakePlanner struct {
	mu       sync.Mutex
	actions  []engine.RemedyAction // when set, the rule's actions
	runs     atomic.Int32
	block    bool
	start    chan struct{}
	dryRun   bool
	refuse   bool
	cooldown time.Duration
	maxRuns  int
	attempts int
	verify   time.Duration
	retry    bool
	approval bool
	queue    bool
	conc     int
	fail     bool
}

func (p *fakePlanner) HasRules() bool { return true }

func (p *fakePlanner) Plan(in *engine.ClassifyInput, _ engine.Level, _ uint64) []engine.PlannedRemediation {
	return []engine.PlannedRemediation{{Rule: "restart", Matched: true, Target: in.Alert.Labels["service"],
		Actions: []engine.PlannedAction{{Describe: "fake restart"}}}}
}

func (p *fakePlanner) Remedies(in *engine.ClassifyInput, _ engine.Level, _ uint64) []engine.Remedy {
	p.mu.Lock()
	defer p.mu.Unlock()
	act := engine.RemedyAction{Invocation: &fakeInvocation{runs: &p.runs, block: p.block, start: p.start}}
	if p.refuse {
		act = engine.RemedyAction{Refused: "service=\"; rm -rf /\" does not match its pattern: refused"}
	}
	if p.fail {
		act = engine.RemedyAction{Invocation: failingInvocation{runs: &p.runs}}
	}
	p.start = nil // one start signal per planner
	acts := []engine.RemedyAction{act}
	if p.actions != nil {
		acts = p.actions
	}
	rule := "restart"
	if v := in.Alert.Labels["rule"]; v != "" {
		rule = v
	}
	return []engine.Remedy{{
		VerifyWithin: p.verify, VerifyRetry: p.retry, Approval: p.approval, ApprovalTTL: 15 * time.Minute, Queue: p.queue, Concurrency: p.conc,
		Rule: rule, Target: in.Alert.Labels["service"], Cooldown: p.cooldown, MaxAttempts: cmpOr(p.attempts, 1),
		MaxRuns: cmpOr(p.maxRuns, 10), MaxRunsPer: time.Hour, DryRun: p.dryRun, Actions: acts,
	}}
}

func (h *harness) withPlanner(p *fakePlanner) *fakePlanner {
	h.e.SetPlanner(p)
	return p
}

// actionsOf lists the action records, oldest first.
func (h *harness) actionsOf(t *testing.T) []engine.ActionRecord {
	t.Helper()
	h.e.WaitActions()
	list, _ := h.e.Actions(engine.ActionFilter{}, engine.Page{Limit: 100})
	for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
		list[i], list[j] = list[j], list[i]
	}
	return list
}

func statuses(list []engine.ActionRecord) string {
	var s []string
	for _, r := range list {
		s = append(s, r.Status)
	}
	return strings.Join(s, ",")
}

// waitDecided waits until n decisions are recorded.
func (h *harness) waitDecided(t *testing.T, n int) {
	t.Helper()
	waitUntil(t, func() bool {
		list, _ := h.e.Actions(engine.ActionFilter{}, engine.Page{Limit: 100})
		return len(list) >= n
	})
	h.e.WaitActions()
}

func svcAlert(name, service string, startsAt time.Time) engine.WebhookAlert {
	return alert(name, engine.StatusFiring, startsAt, "service", service)
}

func TestThreeDeliveriesRunOnce(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{cooldown: time.Minute})
	for i := 0; i < 3; i++ { // HA pair + retry
		h.ingest(group("g", svcAlert("Down", "game-api", t0)))
	}
	h.waitDecided(t, 1)
	if got := p.runs.Load(); got != 1 {
		t.Fatalf("%d runs, want 1", got)
	}
	if got := statuses(h.actionsOf(t)); got != "succeeded" {
		t.Fatalf("records %s", got)
	}
	d := h.incident(1)
	if types := timelineTypes(d); !strings.Contains(strings.Join(types, ","), "action_started,action_finished") {
		t.Fatalf("timeline %v", types)
	}
}

func TestResolveCancelsARunningAction(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{block: true, start: make(chan struct{})})
	started := p.start
	h.ingest(group("g", svcAlert("Down", "game-api", t0)))
	<-started
	r := alert("Down", engine.StatusResolved, t0, "service", "game-api")
	r.EndsAt = t0.Add(time.Minute)
	h.ingest(group("g", r))
	list := h.actionsOf(t)
	if got := statuses(list); got != "cancelled" {
		t.Fatalf("records %s, want cancelled", got)
	}
}

func TestResolvedAlertNeverStartsAnAction(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{})
	r := alert("Down", engine.StatusResolved, t0, "service", "game-api")
	h.ingest(group("g", r))
	h.ingest(group("g", svcAlert("Other", "x", t0), r)) // opens an incident; Down stays resolved
	h.waitDecided(t, 1)
	if p.runs.Load() != 1 || len(h.actionsOf(t)) != 1 {
		t.Fatalf("runs %d, records %v", p.runs.Load(), statuses(h.actionsOf(t)))
	}
}

// TestSafeguardsHoldAcrossRestart: cooldown per target and the circuit
// breaker are computed from stored records, so a restart forgets nothing.
func TestSafeguardsHoldAcrossRestart(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{cooldown: 10 * time.Minute, maxRuns: 2})
	h.ingest(group("a", svcAlert("Down", "game-api", t0)))
	h.waitDecided(t, 1)
	h.restart()
	h.withPlanner(p)
	// A new episode on the same target within the cooldown: skipped.
	h.clock.Advance(time.Minute)
	h.ingest(group("a", svcAlert("Down", "game-api", t0.Add(time.Minute))))
	h.waitDecided(t, 2)
	list := h.actionsOf(t)
	if got := statuses(list); got != "succeeded,skipped" || !strings.HasPrefix(list[1].Reason, "cooldown:") {
		t.Fatalf("records %s (%s)", got, list[len(list)-1].Reason)
	}
	// Another target runs (2 runs in the hour now), a third trips the breaker.
	h.ingest(group("b", svcAlert("Down2", "lobby", t0)))
	h.waitDecided(t, 3)
	h.restart()
	h.withPlanner(p)
	h.ingest(group("c", svcAlert("Down3", "chat", t0)))
	h.waitDecided(t, 4)
	list = h.actionsOf(t)
	if got := statuses(list); got != "succeeded,skipped,succeeded,skipped" || !strings.HasPrefix(list[3].Reason, "circuit breaker open") {
		t.Fatalf("records %s (%s)", got, list[3].Reason)
	}
	// The window passes: the rule acts again.
	h.clock.Advance(2 * time.Hour)
	h.ingest(group("d", svcAlert("Down4", "shop", t0.Add(2*time.Hour))))
	h.waitDecided(t, 5)
	if got := p.runs.Load(); got != 3 {
		t.Fatalf("%d runs, want 3", got)
	}
}

func TestBusyTargetIsSkipped(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{block: true, start: make(chan struct{})})
	started := p.start
	h.ingest(group("a", svcAlert("Down", "game-api", t0)))
	<-started
	h.ingest(group("b", svcAlert("Slow", "game-api", t0)))
	waitUntil(t, func() bool {
		list, _ := h.e.Actions(engine.ActionFilter{Status: engine.ActionSkipped}, engine.Page{})
		return len(list) == 1 && strings.Contains(list[0].Reason, "is busy")
	})
	if err := h.e.StopActions(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := statuses(h.actionsOf(t)); got != "interrupted,skipped" {
		t.Fatalf("records %s", got)
	}
}

func TestDryRunSuppressionAndRefusal(t *testing.T) {
	tests := []struct {
		name    string
		planner *fakePlanner
		silence bool
		want    string
	}{
		// Dry run: recorded as would-run, nothing runs.
		{"dry run", &fakePlanner{dryRun: true}, false, "dry_run"},
		// A silence stops it, and says so.
		{"silenced", &fakePlanner{}, true, "skipped"},
		// A refused rendering is recorded with its reason.
		{"refused", &fakePlanner{refuse: true}, false, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.withPlanner(tt.planner)
			if tt.silence {
				if _, err := h.e.CreateSilence(context.Background(), engine.NewSilence{Matchers: []engine.Matcher{{Name: "service", Value: "game-api"}}, EndsAt: t0.Add(time.Hour), CreatedBy: "a"}); err != nil {
					t.Fatal(err)
				}
			}
			h.ingest(group("g", svcAlert("Down", "game-api", t0)))
			h.waitDecided(t, 1)
			list := h.actionsOf(t)
			if got := statuses(list); got != tt.want || tt.planner.runs.Load() != 0 {
				t.Fatalf("records %s, runs %d", got, tt.planner.runs.Load())
			}
			if tt.silence && !strings.HasPrefix(list[0].Reason, "suppressed by silence 1") {
				t.Fatalf("reason %q", list[0].Reason)
			}
		})
	}
}

// TestCrashBeforeDecisionDecidesOnceAfterRestart: the alert was stored but
// remediator stopped before deciding; after a restart it decides once,
// and a second restart does not decide again.
func TestCrashBeforeDecisionDecidesOnceAfterRestart(t *testing.T) {
	h := newHarness(t)
	h.ingest(group("g", svcAlert("Down", "game-api", t0))) // no planner: nothing decided
	p := &fakePlanner{}
	for i := 0; i < 2; i++ {
		h.restart()
		h.withPlanner(p)
		h.e.ResumeRemediation()
		h.e.WaitActions()
	}
	if got := p.runs.Load(); got != 1 {
		t.Fatalf("%d runs after two restarts, want 1", got)
	}
}

// TestRunningAtRestartIsInterruptedNotRerun: a record left running by a
// crash is marked interrupted and not run again.
func TestRunningAtRestartIsInterruptedNotRerun(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{block: true, start: make(chan struct{})})
	started := p.start
	h.ingest(group("g", svcAlert("Down", "game-api", t0)))
	<-started
	// "Crash": build a new engine on the store while the old one runs.
	h.restart()
	p2 := h.withPlanner(&fakePlanner{})
	h.e.ResumeRemediation()
	h.e.WaitActions()
	list := h.actionsOf(t)
	if got := statuses(list); got != "interrupted" || p2.runs.Load() != 0 {
		t.Fatalf("records %s, reruns %d", got, p2.runs.Load())
	}
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// TestExplainShowsTheSafeguardThatWouldStopIt: after a run, explaining a
// new episode on the same target names the cooldown, by the engine's own
// safeguard code.
func TestExplainShowsTheSafeguardThatWouldStopIt(t *testing.T) {
	h := newHarness(t)
	h.withPlanner(&fakePlanner{cooldown: time.Hour})
	x := h.e.Explain(group("g", svcAlert("Down", "game-api", t0)), t0)
	if a := x.Alerts[0].Remediations[0].Actions[0]; a.Refused != "" || a.Describe != "fake restart" {
		t.Fatalf("before any run: %+v", a)
	}
	h.ingest(group("g", svcAlert("Down", "game-api", t0)))
	h.waitDecided(t, 1)
	x = h.e.Explain(group("g2", svcAlert("Down", "game-api", t0.Add(time.Minute))), t0.Add(time.Minute))
	if a := x.Alerts[0].Remediations[0].Actions[0]; !strings.HasPrefix(a.Refused, "cooldown:") {
		t.Fatalf("after a run: %+v", a)
	}
}

// failingInvocation fails at once.
type failingInvocation struct{ runs *atomic.Int32 }

func (f failingInvocation) Describe() string { return "fails" }
func (f failingInvocation) Run(context.Context) engine.Result {
	f.runs.Add(1)
	return engine.Result{Err: "exit status 1", ExitCode: 1}
}

// TestRuleActionsRunInOrderAndCountOnce: a rule's actions run one after
// another as one run (the breaker counts it once); after a failure the
// rest are cancelled, not run.
func TestRuleActionsRunInOrderAndCountOnce(t *testing.T) {
	h := newHarness(t)
	var ok, bad atomic.Int32
	p := &fakePlanner{maxRuns: 2}
	p.actions = []engine.RemedyAction{{Invocation: &fakeInvocation{runs: &ok}}, {Invocation: &fakeInvocation{runs: &ok}}}
	h.withPlanner(p)
	h.ingest(group("a", svcAlert("A", "one", t0)))
	h.waitDecided(t, 2)
	h.ingest(group("b", svcAlert("B", "two", t0)))
	h.waitDecided(t, 4)
	if got := statuses(h.actionsOf(t)); got != "succeeded,succeeded,succeeded,succeeded" || ok.Load() != 4 {
		t.Fatalf("records %s, runs %d: two runs of two actions each, both within max_runs 2", got, ok.Load())
	}
	p.actions = []engine.RemedyAction{{Invocation: failingInvocation{runs: &bad}}, {Invocation: &fakeInvocation{runs: &ok}}}
	h2 := newHarness(t)
	h2.withPlanner(p)
	h2.ingest(group("a", svcAlert("A", "one", t0)))
	h2.waitDecided(t, 2)
	if got := statuses(h2.actionsOf(t)); got != "failed,cancelled" || bad.Load() != 1 || ok.Load() != 4 {
		t.Fatalf("records %s: after a failure the next action must not run", got)
	}
}

// TestResolveDuringTheDecisionWriteCancels: a resolve that arrives while
// the decision is being stored still cancels the action: it never runs.
func TestResolveDuringTheDecisionWriteCancels(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{})
	gate := make(chan error)
	h.store.mu.Lock()
	h.store.holdAt, h.store.gate, h.store.entered = h.store.calls+2, gate, make(chan struct{})
	entered := h.store.entered
	h.store.mu.Unlock()
	h.ingest(group("g", svcAlert("Down", "game-api", t0))) // write 1: the webhook
	<-entered                                              // write 2, the decision, is held
	done := make(chan error, 1)
	go func() {
		r := alert("Down", engine.StatusResolved, t0, "service", "game-api")
		r.EndsAt = t0.Add(time.Minute)
		_, err := h.e.Ingest(context.Background(), group("g", r))
		done <- err
	}()
	waitUntil(t, func() bool {
		list, _ := h.e.Alerts(engine.AlertFilter{Status: engine.StatusResolved}, engine.Page{})
		return len(list) == 1
	})
	gate <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.e.WaitActions()
	if got := statuses(h.actionsOf(t)); got != "cancelled" || p.runs.Load() != 0 {
		t.Fatalf("records %s, runs %d; want cancelled, 0", got, p.runs.Load())
	}
}

// TestFailedDecisionWriteRunsNothingAndDecidesAgain: when the decision
// cannot be stored nothing runs, the records say so, and the next
// delivery of the alert decides again.
func TestFailedDecisionWriteRunsNothingAndDecidesAgain(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{})
	gate := make(chan error)
	h.store.mu.Lock()
	h.store.holdAt, h.store.gate, h.store.entered = h.store.calls+2, gate, make(chan struct{})
	entered := h.store.entered
	h.store.mu.Unlock()
	h.ingest(group("g", svcAlert("Down", "game-api", t0)))
	<-entered
	gate <- errors.New("disk full")
	h.e.WaitActions()
	if p.runs.Load() != 0 {
		t.Fatal("an action ran although its decision was not stored")
	}
	h.ingest(group("g", svcAlert("Down", "game-api", t0))) // Alertmanager's next delivery
	h.e.WaitActions()
	if got := statuses(h.actionsOf(t)); got != "skipped,succeeded" || p.runs.Load() != 1 {
		t.Fatalf("records %s, runs %d", got, p.runs.Load())
	}
}

// levelClassifier can name its levels, so a failed verification raises
// the incident's urgency.
type levelClassifier struct{ severityClassifier }

func (levelClassifier) Levels() []engine.Level {
	return []engine.Level{"critical", "warning", "notice", "info"}
}

// TestVerification in simulated time: a run whose alert resolves in time
// is verified; one whose alert still fires at the deadline records that
// the remediation did not fix it, raises the incident one level (with that
// level's SLA), and with retry the rule acts again. The deadline survives
// a restart.
func TestVerification(t *testing.T) {
	newH := func(p *fakePlanner) *harness {
		h := &harness{t: t, store: newMemStore(), clock: &fakeClock{now: t0}}
		e, err := engine.New(context.Background(), engine.Options{Store: h.store, Clock: h.clock, Classifier: levelClassifier{}})
		if err != nil {
			t.Fatal(err)
		}
		h.e = e
		h.withPlanner(p)
		return h
	}
	verification := func(h *harness) string {
		for _, r := range h.actionsOf(t) {
			if r.Verification != "" {
				return r.Verification
			}
		}
		return ""
	}
	t.Run("resolved in time", func(t *testing.T) {
		h := newH(&fakePlanner{verify: 5 * time.Minute})
		h.ingest(group("g", svcAlert("Down", "game-api", t0)))
		h.waitDecided(t, 1)
		h.clock.Advance(2 * time.Minute)
		r := alert("Down", engine.StatusResolved, t0, "service", "game-api")
		r.EndsAt = h.clock.Now()
		h.ingest(group("g", r))
		h.e.Tick(h.clock.Now().Add(time.Hour))
		if got := verification(h); got != engine.VerifyOK {
			t.Fatalf("verification %q", got)
		}
	})
	t.Run("still firing: escalate, across a restart", func(t *testing.T) {
		h := newH(&fakePlanner{verify: 5 * time.Minute})
		id := h.ingest(group("g", svcAlert("Down", "game-api", t0))).Incident
		h.waitDecided(t, 1)
		h.e.Tick(t0.Add(4 * time.Minute)) // not due yet
		if got := verification(h); got != engine.VerifyPending {
			t.Fatalf("before the deadline: %q", got)
		}
		// Restart between the run and the deadline.
		e, err := engine.New(context.Background(), engine.Options{Store: h.store, Clock: h.clock, Classifier: levelClassifier{}})
		if err != nil {
			t.Fatal(err)
		}
		h.e = e
		h.withPlanner(&fakePlanner{verify: 5 * time.Minute})
		h.e.Tick(t0.Add(6 * time.Minute))
		h.e.Tick(t0.Add(7 * time.Minute)) // once, not twice
		d := h.incident(id)
		types := strings.Join(timelineTypes(d), ",")
		if got := verification(h); got != engine.VerifyFailed || strings.Count(types, "remediation_failed") != 1 {
			t.Fatalf("verification %q, timeline %s", got, types)
		}
		// svcAlert has no severity: info; raised one level to notice.
		if d.Level != "notice" || !strings.Contains(types, "level_raised") {
			t.Fatalf("level %s, timeline %s", d.Level, types)
		}
	})
	t.Run("still firing: retry", func(t *testing.T) {
		p := &fakePlanner{verify: 5 * time.Minute, retry: true, attempts: 2}
		h := newH(p)
		h.ingest(group("g", svcAlert("Down", "game-api", t0)))
		h.waitDecided(t, 1)
		h.clock.Advance(6 * time.Minute)
		h.e.Tick(h.clock.Now())
		h.e.WaitActions()
		if got := p.runs.Load(); got != 2 {
			t.Fatalf("%d runs, want 2 (the retry)", got)
		}
		h.clock.Advance(6 * time.Minute)
		h.e.Tick(h.clock.Now())
		h.e.WaitActions()
		if got := p.runs.Load(); got != 2 {
			t.Fatalf("%d runs after max_attempts, want 2", got)
		}
	})
}

// TestApproval in simulated time: a run waits for approval; approve runs
// it (after a restart too), reject and expiry run nothing, and approving
// after the alert resolved is a conflict.
func TestApproval(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*harness, *fakePlanner, uint64) {
		h := newHarness(t)
		p := h.withPlanner(&fakePlanner{approval: true})
		h.ingest(group("g", svcAlert("Down", "game-api", t0)))
		h.waitDecided(t, 1)
		list := h.actionsOf(t)
		if statuses(list) != engine.ActionAwaiting || !list[0].ApproveBy.Equal(t0.Add(15*time.Minute)) || p.runs.Load() != 0 {
			t.Fatalf("records %+v", list)
		}
		return h, p, list[0].ID
	}
	t.Run("approve after a restart", func(t *testing.T) {
		h, p, id := setup(t)
		h.restart()
		h.withPlanner(p)
		h.clock.Advance(5 * time.Minute)
		rec, err := h.e.ApproveAction(ctx, id, engine.Transition{By: "rita"})
		if err != nil || rec.DecidedBy != "rita" {
			t.Fatalf("approve: %+v %v", rec, err)
		}
		h.e.WaitActions()
		if got := statuses(h.actionsOf(t)); got != "succeeded" || p.runs.Load() != 1 {
			t.Fatalf("records %s, runs %d", got, p.runs.Load())
		}
		if _, err := h.e.ApproveAction(ctx, id, engine.Transition{By: "rita"}); !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("approve twice: %v", err)
		}
	})
	t.Run("reject", func(t *testing.T) {
		h, p, id := setup(t)
		if _, err := h.e.RejectAction(ctx, id, engine.Transition{By: "rita"}); err != nil {
			t.Fatal(err)
		}
		if got := statuses(h.actionsOf(t)); got != "rejected" || p.runs.Load() != 0 {
			t.Fatalf("records %s", got)
		}
	})
	t.Run("expires", func(t *testing.T) {
		h, p, id := setup(t)
		h.e.Tick(t0.Add(16 * time.Minute))
		if got := statuses(h.actionsOf(t)); got != "expired" {
			t.Fatalf("records %s", got)
		}
		if _, err := h.e.ApproveAction(ctx, id, engine.Transition{By: "rita"}); !errors.Is(err, engine.ErrConflict) || p.runs.Load() != 0 {
			t.Fatalf("approve after expiry: %v", err)
		}
	})
	t.Run("approve too late", func(t *testing.T) {
		h, p, id := setup(t)
		h.clock.Advance(20 * time.Minute) // past the ttl, before any Tick
		if _, err := h.e.ApproveAction(ctx, id, engine.Transition{By: "rita"}); !errors.Is(err, engine.ErrConflict) || !strings.Contains(err.Error(), "expired") || p.runs.Load() != 0 {
			t.Fatalf("late approve: %v", err)
		}
	})
	t.Run("alert resolved first", func(t *testing.T) {
		h, p, id := setup(t)
		r := alert("Down", engine.StatusResolved, t0, "service", "game-api")
		r.EndsAt = t0.Add(time.Minute)
		h.ingest(group("g", r))
		if _, err := h.e.ApproveAction(ctx, id, engine.Transition{By: "rita"}); !errors.Is(err, engine.ErrConflict) || p.runs.Load() != 0 {
			t.Fatalf("approve after resolve: %v", err)
		}
		if got := statuses(h.actionsOf(t)); got != "cancelled" {
			t.Fatalf("records %s", got)
		}
	})
	t.Run("unknown and anonymous", func(t *testing.T) {
		h, _, id := setup(t)
		if _, err := h.e.ApproveAction(ctx, 999, engine.Transition{By: "rita"}); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
		if _, err := h.e.ApproveAction(ctx, id, engine.Transition{By: ""}); !errors.Is(err, engine.ErrInvalid) {
			t.Fatalf("anonymous: %v", err)
		}
	})
}

// TestQueueWaitsForTheTarget: with on_busy queue a run on a busy target
// waits (pending) and runs when the target frees; a resolve cancels a
// queued run before it runs.
func TestQueueWaitsForTheTarget(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{block: true, start: make(chan struct{}), queue: true})
	started := p.start
	h.ingest(group("a", svcAlert("A", "game-api", t0)))
	<-started
	// Two more runs on the same target queue behind the first.
	h.ingest(group("b", svcAlert("B", "game-api", t0)))
	h.ingest(group("c", svcAlert("C", "game-api", t0)))
	waitUntil(t, func() bool {
		list, _ := h.e.Actions(engine.ActionFilter{Status: engine.ActionPending}, engine.Page{})
		return len(list) == 2
	})
	// C resolves while queued: cancelled, never run.
	r := alert("C", engine.StatusResolved, t0, "service", "game-api")
	r.EndsAt = t0.Add(time.Minute)
	h.ingest(group("c", r))
	waitUntil(t, func() bool {
		list, _ := h.e.Actions(engine.ActionFilter{Status: engine.ActionCancelled}, engine.Page{})
		return len(list) == 1
	})
	if p.runs.Load() != 1 {
		t.Fatalf("%d runs while the target was busy", p.runs.Load())
	}
	// A finishes (resolved): B takes the target and runs.
	ra := alert("A", engine.StatusResolved, t0, "service", "game-api")
	ra.EndsAt = t0.Add(time.Minute)
	h.ingest(group("a", ra))
	waitUntil(t, func() bool { return p.runs.Load() == 2 })
	if err := h.e.StopActions(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range h.actionsOf(t) {
		got[r.Fingerprint] = r.Status
	}
	if got["fp-A"] != "cancelled" || got["fp-B"] != "interrupted" || got["fp-C"] != "cancelled" {
		t.Fatalf("records by alert %v: A resolved while running, B stopped at shutdown, C resolved while queued", got)
	}
}

// TestConcurrencyPerTarget: concurrency 2 lets two runs act on one target;
// a third is skipped.
func TestConcurrencyPerTarget(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{block: true, conc: 2})
	for i, n := range []string{"A", "B", "C"} {
		h.ingest(group(n, svcAlert(n, "game-api", t0)))
		waitUntil(t, func() bool {
			list, _ := h.e.Actions(engine.ActionFilter{}, engine.Page{})
			return len(list) == i+1
		})
	}
	waitUntil(t, func() bool { return p.runs.Load() == 2 })
	list, _ := h.e.Actions(engine.ActionFilter{Status: engine.ActionSkipped}, engine.Page{})
	if len(list) != 1 || !strings.Contains(list[0].Reason, "is busy") {
		t.Fatalf("skipped = %+v", list)
	}
	if err := h.e.StopActions(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestFailedRunIsNotFixed: with verify, a run that fails counts as not
// fixed at once: the incident says so and becomes more urgent, and the
// record keeps verification failed across a restart.
func TestFailedRunIsNotFixed(t *testing.T) {
	h := &harness{t: t, store: newMemStore(), clock: &fakeClock{now: t0}}
	e, err := engine.New(context.Background(), engine.Options{Store: h.store, Clock: h.clock, Classifier: levelClassifier{}})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	h.withPlanner(&fakePlanner{fail: true, verify: 5 * time.Minute})
	id := h.ingest(group("g", svcAlert("Down", "game-api", t0))).Incident
	h.waitDecided(t, 1)
	h.restart()
	list := h.actionsOf(t)
	d := h.incident(id)
	if len(list) != 1 || list[0].Status != engine.ActionFailed || list[0].Verification != engine.VerifyFailed || d.Level != "notice" {
		t.Fatalf("records %+v, level %s", list, d.Level)
	}
}

// TestLockHoldsAcrossACrash: a run that a crash interrupted may still have
// its process running, so after the restart its target stays locked until
// the run's bound (start + timeouts) has passed; a graceful stop holds
// nothing.
func TestLockHoldsAcrossACrash(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{block: true, start: make(chan struct{})})
	started := p.start
	h.ingest(group("a", svcAlert("A", "game-api", t0)))
	<-started
	// Crash: a new engine on the same store, the old run never stopped.
	h.restart()
	p2 := h.withPlanner(&fakePlanner{})
	h.e.ResumeRemediation()
	h.ingest(group("b", svcAlert("B", "game-api", t0)))
	h.waitDecided(t, 2)
	list, _ := h.e.Actions(engine.ActionFilter{Status: engine.ActionSkipped}, engine.Page{})
	if len(list) != 1 || !strings.Contains(list[0].Reason, "locked until") || p2.runs.Load() != 0 {
		t.Fatalf("skipped %+v, runs %d", list, p2.runs.Load())
	}
	// Past the bound (DefaultRunBound for an action without a timeout).
	h.clock.Advance(engine.DefaultRunBound + time.Minute)
	h.ingest(group("c", svcAlert("C", "game-api", t0.Add(time.Hour))))
	waitUntil(t, func() bool { return p2.runs.Load() == 1 })

	// A graceful stop leaves no lock.
	g := newHarness(t)
	gp := g.withPlanner(&fakePlanner{block: true, start: make(chan struct{})})
	gstarted := gp.start
	g.ingest(group("a", svcAlert("A", "game-api", t0)))
	<-gstarted
	if err := g.e.StopActions(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.restart()
	gp2 := g.withPlanner(&fakePlanner{})
	g.e.ResumeRemediation()
	g.ingest(group("b", svcAlert("B", "game-api", t0)))
	waitUntil(t, func() bool { return gp2.runs.Load() == 1 })
}

// TestApprovalAfterStopDoesNotRun: once the engine is stopping, an
// approval is recorded but starts nothing.
func TestApprovalAfterStopDoesNotRun(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{approval: true})
	h.ingest(group("g", svcAlert("Down", "game-api", t0)))
	h.waitDecided(t, 1)
	id := h.actionsOf(t)[0].ID
	if err := h.e.StopActions(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, _ = h.e.ApproveAction(context.Background(), id, engine.Transition{By: "rita"})
	h.e.WaitActions()
	if p.runs.Load() != 0 {
		t.Fatal("an approval after StopActions ran the action")
	}
	if got := statuses(h.actionsOf(t)); got != engine.ActionInterrupted {
		t.Fatalf("records %s", got)
	}
}

// TestQueuedRunChecksTheCooldownAgain: two runs of one rule queue behind
// another rule's run on the target; when it frees, the first runs and the
// second, re-checked after its wait, is skipped by the cooldown the first
// started, instead of running right after it.
func TestQueuedRunChecksTheCooldownAgain(t *testing.T) {
	h := newHarness(t)
	p := h.withPlanner(&fakePlanner{block: true, start: make(chan struct{}), queue: true, cooldown: time.Hour})
	started := p.start
	h.ingest(group("x", alert("X", engine.StatusFiring, t0, "service", "game-api", "rule", "other")))
	<-started
	for _, n := range []string{"B", "C"} {
		h.ingest(group(n, svcAlert(n, "game-api", t0)))
	}
	waitUntil(t, func() bool {
		list, _ := h.e.Actions(engine.ActionFilter{Status: engine.ActionPending}, engine.Page{})
		return len(list) == 2
	})
	resolve := func(name string) {
		r := alert(name, engine.StatusResolved, t0, "service", "game-api")
		if name == "X" {
			r.Labels["rule"] = "other"
		}
		r.EndsAt = t0.Add(time.Minute)
		h.ingest(group(strings.ToLower(name), r))
	}
	resolve("X") // the target frees: one of B and C runs, the other waits for it
	waitUntil(t, func() bool { return p.runs.Load() == 2 })
	// Resolve whichever runs; the other then takes the target and re-checks.
	running, _ := h.e.Actions(engine.ActionFilter{Status: engine.ActionRunning}, engine.Page{})
	if len(running) != 1 {
		t.Fatalf("running = %+v", running)
	}
	resolve(strings.TrimPrefix(running[0].Fingerprint, "fp-"))
	waitUntil(t, func() bool {
		list, _ := h.e.Actions(engine.ActionFilter{Status: engine.ActionSkipped}, engine.Page{})
		return len(list) == 1
	})
	if err := h.e.StopActions(context.Background()); err != nil {
		t.Fatal(err)
	}
	statusesBy := map[string]string{}
	for _, r := range h.actionsOf(t) {
		statusesBy[r.Fingerprint] = r.Status + " " + r.Reason
	}
	skipped := 0
	for _, n := range []string{"fp-B", "fp-C"} {
		if strings.HasPrefix(statusesBy[n], "skipped cooldown:") {
			skipped++
		}
	}
	if skipped != 1 || p.runs.Load() != 2 {
		t.Fatalf("records %v, runs %d: want one of B and C skipped by the cooldown", statusesBy, p.runs.Load())
	}
}
