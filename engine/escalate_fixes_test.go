package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
)

// A reload that gives the level another chain mid-chain starts that
// chain at the next due step, with a timeline event, instead of stopping.
func TestReloadMidChainStartsTheNewChain(t *testing.T) {
	h := newEscalationHarness(t)
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	h.cfg.Chains = map[engine.Level]engine.Chain{"critical": {Name: "p1b", Steps: []engine.ChainStep{
		{Targets: []string{"person:bob"}, Via: []string{"sms"}, Wait: 10 * time.Minute},
	}}}
	h.install()
	h.tick(15 * time.Minute)
	if got := h.pages(id); !slices.Equal(got, []string{"phone:alice", "sms:bob"}) {
		t.Fatalf("pages = %v", got)
	}
	if ev := h.timeline(id, engine.EventEscalation); !strings.Contains(strings.Join(ev, "|"), "now escalates by p1b (was p1)") {
		t.Fatalf("timeline: %q", ev)
	}
}

// A silence made mid-chain pauses the chain until it ends, instead of
// climbing with pages nobody gets.
func TestSilenceMidChainPausesIt(t *testing.T) {
	h := newEscalationHarness(t)
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	if _, err := h.e.CreateSilence(context.Background(), engine.NewSilence{
		Matchers: []engine.Matcher{{Name: "alertname", Value: "Down"}}, EndsAt: t0.Add(time.Hour), CreatedBy: "ops",
	}); err != nil {
		t.Fatal(err)
	}
	h.tick(30 * time.Minute)
	if got := h.pages(id); !slices.Equal(got, []string{"phone:alice"}) {
		t.Fatalf("pages while silenced: %v", got)
	}
	if ev := h.timeline(id, engine.EventEscalation); !strings.Contains(strings.Join(ev, "|"), "p1 paused: the incident's alerts are silenced until 2026-11-25T11:00:00Z") {
		t.Fatalf("timeline: %q", ev)
	}
	h.tick(30 * time.Minute) // the silence ends: step 2, once
	h.tick(time.Minute)
	if got := h.pages(id); !slices.Equal(got, []string{"phone:alice", "phone:bob", "sms:bob"}) {
		t.Fatalf("after the silence: %v", got)
	}
}

// When no step finds anyone, the chain tries again later instead of
// using itself up; when someone is on call again, they are paged.
func TestChainFindingNobodyTriesAgain(t *testing.T) {
	h := newEscalationHarness(t)
	h.onCall = nil
	h.cfg.Chains["critical"] = engine.Chain{Name: "p1", Repeat: 2, Steps: []engine.ChainStep{
		{Targets: []string{"schedule:first-line"}, Via: []string{"phone"}, Wait: 15 * time.Minute},
	}}
	h.install()
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	if ev := h.timeline(id, engine.EventEscalation); len(ev) != 1 || !strings.Contains(ev[0], "no step finds anyone to page (schedule:first-line has nobody); trying again at 2026-11-25T10:05:00Z") {
		t.Fatalf("timeline: %q", ev)
	}
	h.onCall = []string{"alice"} // the gap ends
	h.tick(5 * time.Minute)
	if got := h.pages(id); !slices.Equal(got, []string{"phone:alice"}) {
		t.Fatalf("pages = %v", got)
	}
}

// After an acknowledgement expires and the chain starts over, a second
// acknowledgement is told to those paged again.
func TestSecondAcknowledgementAfterExpiryIsTold(t *testing.T) {
	h := newEscalationHarness(t)
	ch := h.cfg.Chains["critical"]
	ch.AckTimeout = 30 * time.Minute
	h.cfg.Chains["critical"] = ch
	h.install()
	ctx := context.Background()
	id := h.ingest(group("g", critical("Down"))).Incident
	h.tick(15 * time.Minute) // step 2: bob
	if _, err := h.e.Acknowledge(ctx, id, engine.Transition{By: "bob"}); err != nil {
		t.Fatal(err)
	}
	h.tick(30 * time.Minute) // expires; alice is called again
	if _, err := h.e.Acknowledge(ctx, id, engine.Transition{By: "bob"}); err != nil {
		t.Fatal(err)
	}
	h.e.WaitActions()
	var toAlice int
	for _, r := range h.notes(id) {
		if r.Event == engine.NotifyAcknowledged && r.Recipient.Person == "alice" && r.Status == engine.NoteSent {
			toAlice++
		}
	}
	if toAlice != 2 {
		t.Fatalf("alice heard of %d acknowledgements, want 2", toAlice)
	}
}

// A failed remediation that raises the level starts the new level's
// chain; it does not also jump that chain a step in the same instant.
func TestRaisedLevelDoesNotFireTwoStepsAtOnce(t *testing.T) {
	h := &harness{t: t, store: newMemStore(), clock: &fakeClock{now: t0}}
	e, err := engine.New(context.Background(), engine.Options{Store: h.store, Clock: h.clock, Classifier: levelClassifier{}})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	h.withPlanner(&fakePlanner{verify: 5 * time.Minute})
	n := &notifyHarness{harness: h, n: map[string]*fakeNotifier{"phone": {}, "sms": {}}}
	n.cfg = engine.NotifyConfig{
		Notifiers: map[string]engine.Notifier{"phone": n.n["phone"], "sms": n.n["sms"]},
		People: map[string]engine.Person{
			"alice": {ID: "alice", Addresses: map[string]string{"phone": "+1", "sms": "+1"}},
			"bob":   {ID: "bob", Addresses: map[string]string{"phone": "+2", "sms": "+2"}},
		},
		Chains: map[engine.Level]engine.Chain{
			"warning": {Name: "p2", Steps: []engine.ChainStep{{Targets: []string{"person:alice"}, Via: []string{"sms"}, Wait: time.Hour}}},
			"critical": {Name: "p1", Steps: []engine.ChainStep{
				{Targets: []string{"person:alice"}, Via: []string{"phone"}, Wait: 15 * time.Minute},
				{Targets: []string{"person:bob"}, Via: []string{"phone"}, Wait: 15 * time.Minute},
			}},
		},
		Resolve:        func(target string, _ time.Time) []string { return []string{strings.TrimPrefix(target, "person:")} },
		CallStatusWait: 24 * time.Hour, Jitter: func() float64 { return 1 },
	}
	n.install()
	id := h.ingest(group("g", alert("Down", engine.StatusFiring, t0, "severity", "warning", "service", "game-api"))).Incident
	h.waitDecided(t, 1)
	h.clock.Advance(6 * time.Minute) // verification fails: warning → critical
	h.e.Tick(h.clock.Now())
	h.e.WaitActions()
	if lvl := h.incident(id).Level; lvl != "critical" {
		t.Fatalf("level %s", lvl)
	}
	var phones []string
	for _, nt := range n.n["phone"].got() {
		phones = append(phones, nt.Recipient.Person)
	}
	if !slices.Equal(phones, []string{"alice"}) {
		t.Fatalf("calls right after the raise: %v; want only step 1 (alice)", phones)
	}
}
