package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/remediator/remediator/engine"
)

// escalationHarness: critical climbs first-line (alice, by phone) → bob
// (phone and SMS) → everyone paged so far (SMS), 15 minutes apart.
// onCall answers schedule:first-line; empty means a gap.
type escalationHarness struct {
	*notifyHarness
	onCall []string
}

func newEscalationHarness(t *testing.T) *escalationHarness {
	t.Helper()
	h := &escalationHarness{notifyHarness: newNotifyHarness(t), onCall: []string{"alice"}}
	h.cfg.Routes = map[engine.Level]engine.Route{"critical": {Rooms: []string{"im-ops"}}}
	h.cfg.Chains = map[engine.Level]engine.Chain{"critical": {Name: "p1", Steps: []engine.ChainStep{
		{Targets: []string{"schedule:first-line"}, Via: []string{"phone"}, Wait: 15 * time.Minute},
		{Targets: []string{"person:bob"}, Via: []string{"phone", "sms"}, Wait: 15 * time.Minute},
		{Targets: []string{engine.TargetPaged}, Via: []string{"sms"}, Wait: 15 * time.Minute},
	}}}
	h.cfg.CallStatusWait = 24 * time.Hour // no Twilio callbacks here: calls stay "sent"
	h.cfg.Resolve = func(target string, _ time.Time) []string {
		switch target {
		case "schedule:first-line":
			return h.onCall
		case "person:bob":
			return []string{"bob"}
		}
		return nil
	}
	h.install()
	return h
}

// pages lists the person pages sent so far as "channel:person", in order.
func (h *escalationHarness) pages(incident uint64) []string {
	var out []string
	for _, r := range h.notes(incident) {
		if r.Recipient.Person != "" && (r.Event == engine.NotifyFiring || r.Event == engine.NotifyEscalated) && r.Status != engine.NoteCancelled {
			out = append(out, r.Channel+":"+r.Recipient.Person)
		}
	}
	return out
}

func (h *escalationHarness) timeline(incident uint64, typ string) []string {
	var out []string
	for _, ev := range h.incident(incident).Timeline {
		if ev.Type == typ {
			out = append(out, ev.Detail)
		}
	}
	return out
}

func TestChainClimbsUntilAcknowledged(t *testing.T) {
	h := newEscalationHarness(t)
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	if got := h.pages(id); !slices.Equal(got, []string{"phone:alice"}) {
		t.Fatalf("at once: %v", got)
	}
	h.tick(14 * time.Minute)
	if got := h.pages(id); len(got) != 1 {
		t.Fatalf("before the wait ended: %v", got)
	}
	h.tick(time.Minute)
	if got := h.pages(id); !slices.Equal(got, []string{"phone:alice", "phone:bob", "sms:bob"}) {
		t.Fatalf("after 15 minutes: %v", got)
	}
	if _, err := h.e.Acknowledge(context.Background(), id, engine.Transition{By: "bob"}); err != nil {
		t.Fatal(err)
	}
	h.e.WaitActions()
	h.tick(time.Hour)
	if got := h.pages(id); len(got) != 3 {
		t.Fatalf("paged after the acknowledgement: %v", got)
	}
	// alice, who was paged, hears who acknowledged (by SMS: she was called).
	var acks []string
	for _, r := range h.notes(id) {
		if r.Event == engine.NotifyAcknowledged {
			acks = append(acks, r.Channel+":"+orRoom(r.Recipient.Person)+":"+r.By)
		}
	}
	slices.Sort(acks)
	if !slices.Equal(acks, []string{"im-ops:room:bob", "sms:alice:bob"}) {
		t.Fatalf("acknowledged follow-ups: %v", acks)
	}
	steps := h.timeline(id, engine.EventEscalation)
	if len(steps) != 3 || !strings.Contains(steps[0], "p1 step 1: paging alice by phone") || !strings.Contains(steps[2], "p1 stopped: acknowledged by bob") {
		t.Fatalf("escalation timeline: %q", steps)
	}
}

func TestChainWithoutAcknowledgementRunsEveryStepOnce(t *testing.T) {
	h := newEscalationHarness(t)
	id := h.ingest(group("g", critical("Down"))).Incident
	for i := 0; i < 8; i++ {
		h.tick(15 * time.Minute)
	}
	// Step 3 pages everyone paged so far, by SMS: alice, and bob (whose
	// SMS of step 2 has another key).
	want := []string{"phone:alice", "phone:bob", "sms:bob", "sms:alice", "sms:bob"}
	if got := h.pages(id); !slices.Equal(got, want) {
		t.Fatalf("pages = %v\nwant %v", got, want)
	}
	if steps := h.timeline(id, engine.EventEscalation); !strings.Contains(steps[len(steps)-1], "every step has paged") {
		t.Fatalf("timeline: %q", steps)
	}
}

// A schedule with nobody on call falls through to the next step at once
// instead of paging nobody.
func TestGapFallsThroughToTheNextStep(t *testing.T) {
	h := newEscalationHarness(t)
	h.onCall = nil
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	if got := h.pages(id); !slices.Equal(got, []string{"phone:bob", "sms:bob"}) {
		t.Fatalf("pages = %v", got)
	}
	if steps := h.timeline(id, engine.EventEscalation); !strings.Contains(steps[0], "p1 step 1 pages nobody (schedule:first-line has nobody)") {
		t.Fatalf("timeline: %q", steps)
	}
}

// A restart between steps fires the next step on time, once; a restart
// after it was due fires it at the first tick, once.
func TestRestartBetweenStepsFiresTheNextStepOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		downFor time.Duration // how long after the first page the restart happens
	}{
		{"restart before the step is due", 10 * time.Minute},
		{"restart after the step was due", 20 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newEscalationHarness(t)
			id := h.ingest(group("g", critical("Down"))).Incident
			h.e.WaitActions()
			h.clock.Advance(tc.downFor)
			h.restart()
			h.e.ResumeNotifications()
			h.e.WaitActions()
			if tc.downFor < 15*time.Minute {
				h.tick(15*time.Minute - tc.downFor - time.Second)
				if got := len(h.pages(id)); got != 1 {
					t.Fatalf("step 2 fired early: %v", h.pages(id))
				}
				h.tick(time.Second)
			} else {
				h.tick(time.Second)
			}
			h.tick(time.Second)
			h.tick(time.Minute)
			if got := h.pages(id); !slices.Equal(got, []string{"phone:alice", "phone:bob", "sms:bob"}) {
				t.Fatalf("pages = %v", got)
			}
			if n := len(h.timeline(id, engine.EventEscalation)); n != 2 {
				t.Fatalf("%d escalation events, want 2 (steps 1 and 2)", n)
			}
		})
	}
}

func TestAcknowledgementExpires(t *testing.T) {
	h := newEscalationHarness(t)
	ch := h.cfg.Chains["critical"]
	ch.AckTimeout = 30 * time.Minute
	h.cfg.Chains["critical"] = ch
	h.install()
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	h.tick(5 * time.Minute)
	if _, err := h.e.Acknowledge(context.Background(), id, engine.Transition{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	h.tick(29 * time.Minute)
	if got := h.incident(id).Incident.Status; got != engine.IncidentAcknowledged {
		t.Fatalf("status %s before the ack expired", got)
	}
	h.tick(time.Minute)
	if got := h.incident(id).Incident.Status; got != engine.IncidentOpen {
		t.Fatalf("status %s after the ack expired", got)
	}
	// The chain starts over: alice is called again.
	if got := h.pages(id); !slices.Equal(got, []string{"phone:alice", "phone:alice"}) {
		t.Fatalf("pages = %v", got)
	}
	if exp := h.timeline(id, engine.EventAckExpired); len(exp) != 1 || !strings.Contains(exp[0], "by alice expired after 30m") {
		t.Fatalf("timeline: %q", exp)
	}
}

func TestSLABreachesAreRecordedOnce(t *testing.T) {
	h := newEscalationHarness(t)
	id := h.ingest(group("g", critical("Down"))).Incident // P1: respond 15m, resolve 4h
	h.tick(14 * time.Minute)
	if got := h.timeline(id, engine.EventSLABreach); len(got) != 0 {
		t.Fatalf("breach before the deadline: %q", got)
	}
	h.tick(time.Minute)
	h.tick(time.Minute)
	got := h.timeline(id, engine.EventSLABreach)
	if len(got) != 1 || !strings.Contains(got[0], "P1 critical not acknowledged by 2026-11-25T10:15:00Z") {
		t.Fatalf("respond breach: %q", got)
	}
	if _, err := h.e.Acknowledge(context.Background(), id, engine.Transition{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	h.tick(4 * time.Hour)
	h.restart() // the marks are stored: no second breach after a restart
	h.tick(time.Minute)
	got = h.timeline(id, engine.EventSLABreach)
	if len(got) != 2 || !strings.Contains(got[1], "not resolved by 2026-11-25T14:00:00Z") {
		t.Fatalf("breaches: %q", got)
	}
}

func TestPlanEscalationIsTheEnginesWalk(t *testing.T) {
	h := newEscalationHarness(t)
	plan := h.e.PlanEscalation("critical", t0)
	if len(plan) != 3 {
		t.Fatalf("plan = %+v", plan)
	}
	want := []struct {
		at     time.Time
		people []string
	}{{t0, []string{"alice"}}, {t0.Add(15 * time.Minute), []string{"bob"}}, {t0.Add(30 * time.Minute), []string{"alice", "bob"}}}
	for i, w := range want {
		if !plan[i].At.Equal(w.at) || !slices.Equal(plan[i].People, w.people) || plan[i].Step != i+1 {
			t.Errorf("step %d = %+v, want at %v people %v", i+1, plan[i], w.at, w.people)
		}
	}
	// The engine, run in simulated time without an acknowledgement, pages
	// the same people at the same times.
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	for i := 0; i < 3; i++ {
		h.tick(15 * time.Minute)
	}
	var at []time.Time
	for _, r := range h.notes(id) {
		if r.Recipient.Person != "" && (r.Event == engine.NotifyFiring || r.Event == engine.NotifyEscalated) {
			at = append(at, r.CreatedAt)
		}
	}
	if len(at) != 5 || !at[0].Equal(plan[0].At) || !at[1].Equal(plan[1].At) || !at[3].Equal(plan[2].At) {
		t.Fatalf("engine paged at %v, plan %+v", at, plan)
	}
}

func TestSLAEntriesAndDigest(t *testing.T) {
	h := newEscalationHarness(t)
	ctx := context.Background()
	late := h.ingest(group("late", critical("Down"))).Incident
	h.tick(20 * time.Minute)
	if _, err := h.e.Acknowledge(ctx, late, engine.Transition{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	fast := h.ingest(group("fast", critical("Blip"))).Incident
	h.tick(5 * time.Minute)
	h.ingest(group("fast", alert("Blip", engine.StatusResolved, h.clock.Now(), "severity", "critical")))
	h.tick(5 * time.Hour)
	if _, err := h.e.Resolve(ctx, late, engine.Transition{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	h.ingest(group("info", alert("Note", engine.StatusFiring, h.clock.Now(), "severity", "info")))
	entries := h.e.SLAEntries(t0, t0.Add(24*time.Hour))
	if len(entries) != 3 {
		t.Fatalf("entries = %+v", entries)
	}
	l, f := entries[0], entries[1]
	if l.Incident != late || !l.AckAt.Equal(t0.Add(20*time.Minute)) || l.AckBy != "alice" || !l.RespondBreached || !l.ResolveBreached {
		t.Errorf("late = %+v", l)
	}
	// Resolved by Alertmanager within its respond time, unacknowledged:
	// no breach.
	if f.Incident != fast || !f.AckAt.IsZero() || f.RespondBreached || f.ResolveBreached || f.ResolvedBy != "alertmanager" {
		t.Errorf("fast = %+v", f)
	}
	if got := h.e.SLAEntries(t0.Add(time.Hour), t0.Add(2*time.Hour)); len(got) != 0 {
		t.Errorf("outside the period: %+v", got)
	}
	d := h.e.DigestOf(t0, t0.Add(24*time.Hour), []engine.Level{"info"})
	if len(d.Alerts) != 1 || d.Alerts[0].Labels["alertname"] != "Note" || len(d.Incidents) != 1 {
		t.Fatalf("digest = %+v", d)
	}
}

func TestScheduleOverridesAreStored(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ok := engine.ScheduleOverride{Schedule: "first-line", Person: "bob", From: t0, To: t0.Add(2 * time.Hour), CreatedBy: "alice"}
	for _, tc := range []struct {
		name string
		mod  func(o *engine.ScheduleOverride)
		want string
	}{
		{"end before start", func(o *engine.ScheduleOverride) { o.To = o.From.Add(-time.Minute) }, "must be after from"},
		{"no schedule", func(o *engine.ScheduleOverride) { o.Schedule = "" }, "schedule: required"},
		{"no person", func(o *engine.ScheduleOverride) { o.Person = "" }, "person: required"},
		{"no author", func(o *engine.ScheduleOverride) { o.CreatedBy = " " }, "created_by: required"},
		{"in the past", func(o *engine.ScheduleOverride) { o.From, o.To = t0.Add(-2*time.Hour), t0.Add(-time.Hour) }, "in the past"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.mod(&o)
			if _, err := h.e.CreateOverride(ctx, o); !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	got, err := h.e.CreateOverride(ctx, ok)
	if err != nil || got.ID != 1 || !got.CreatedAt.Equal(t0) {
		t.Fatalf("create: %+v, %v", got, err)
	}
	h.restart()
	if list := h.e.Overrides(t0); len(list) != 1 || list[0].Person != "bob" {
		t.Fatalf("after restart: %+v", list)
	}
	if list := h.e.Overrides(t0.Add(2 * time.Hour)); len(list) != 0 {
		t.Fatalf("an ended override is listed: %+v", list)
	}
}

// A level that waits (notify_within) sends a recipient's waiting pages on
// one channel together, as one digest, when the first is due: "batched up
// to an hour", not one message per incident.
func TestWaitingPagesGoOutAsOneDigest(t *testing.T) {
	h := newNotifyHarness(t) // warning: alice by email after an hour
	var ids []uint64
	for i, at := range []time.Duration{0, 10 * time.Minute, 40 * time.Minute} {
		h.clock.Advance(at - h.clock.Now().Sub(t0))
		w := alert(fmt.Sprint("Load", i), engine.StatusFiring, h.clock.Now(), "severity", "warning")
		ids = append(ids, h.ingest(group(fmt.Sprint("w", i), w)).Incident)
	}
	h.tick(19 * time.Minute) // t0+59m
	if got := h.n["email"].got(); len(got) != 0 {
		t.Fatalf("sent before the first hour: %d", len(got))
	}
	h.tick(time.Minute) // t0+1h: the first is due; the others go with it
	got := h.n["email"].got()
	if len(got) != 1 || got[0].Incident.ID != ids[0] || len(got[0].Digest) != 2 ||
		got[0].Digest[0].Incident.ID != ids[1] || got[0].Digest[1].Incident.ID != ids[2] {
		t.Fatalf("emails = %d, first %+v", len(got), got)
	}
	for _, id := range ids {
		if st := h.statuses(id); !slices.Equal(st, []string{"firing/email/alice:sent"}) {
			t.Fatalf("incident %d: %v", id, st)
		}
	}
	if n := h.notes(ids[2])[0]; n.DigestOf != h.notes(ids[0])[0].ID {
		t.Fatalf("digest_of = %d", n.DigestOf)
	}
	h.tick(2 * time.Hour)
	if got := len(h.n["email"].got()); got != 1 {
		t.Fatalf("%d emails, want the one digest", got)
	}
}

// With a chain, a waiting level's first steps are pulled forward the same
// way: incidents opened within the hour page together.
func TestWaitingChainsGoOutAsOneDigest(t *testing.T) {
	h := newEscalationHarness(t)
	h.cfg.Routes["warning"] = engine.Route{Delay: time.Hour}
	h.cfg.Chains["warning"] = engine.Chain{Name: "p2", Steps: []engine.ChainStep{
		{Targets: []string{"person:bob"}, Via: []string{"sms"}, Wait: 30 * time.Minute},
	}}
	h.install()
	a := h.ingest(group("a", alert("A", engine.StatusFiring, t0, "severity", "warning"))).Incident
	h.tick(20 * time.Minute)
	b := h.ingest(group("b", alert("B", engine.StatusFiring, h.clock.Now(), "severity", "warning"))).Incident
	h.tick(40 * time.Minute) // a is due
	got := h.n["sms"].got()
	if len(got) != 1 || got[0].Incident.ID != a || len(got[0].Digest) != 1 || got[0].Digest[0].Incident.ID != b {
		t.Fatalf("sms = %+v", got)
	}
	h.tick(time.Hour)
	if got := len(h.n["sms"].got()); got != 1 {
		t.Fatalf("%d texts, want the one digest", got)
	}
}

// Anonymous denied attempts are written at most 20 per address and
// minute; the next one written counts the ones that were not. Attempts by
// a known actor are always written.
func TestAnonymousDeniedAuditEntriesAreBounded(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if err := h.e.Audit(ctx, engine.AuditEntry{Addr: "203.0.113.9", Action: "login", Outcome: engine.AuditDenied}); err != nil {
			t.Fatal(err)
		}
		if err := h.e.Audit(ctx, engine.AuditEntry{Actor: "val", Addr: "203.0.113.9", Action: "incident.ack", Outcome: engine.AuditDenied}); err != nil {
			t.Fatal(err)
		}
	}
	anon, _ := h.e.AuditLog(engine.AuditFilter{Action: "login"}, engine.Page{Limit: 500})
	known, _ := h.e.AuditLog(engine.AuditFilter{Actor: "val"}, engine.Page{Limit: 500})
	if len(anon) != 20 || len(known) != 50 {
		t.Fatalf("%d anonymous and %d known entries, want 20 and 50", len(anon), len(known))
	}
	h.clock.Advance(time.Minute)
	if err := h.e.Audit(ctx, engine.AuditEntry{Addr: "203.0.113.9", Action: "login", Outcome: engine.AuditDenied}); err != nil {
		t.Fatal(err)
	}
	anon, _ = h.e.AuditLog(engine.AuditFilter{Action: "login"}, engine.Page{Limit: 1})
	if !strings.Contains(anon[0].Detail, "and 30 more denied attempts from this address not recorded") {
		t.Fatalf("detail = %q", anon[0].Detail)
	}
}

// TestAnonymousAuditBoundsHoldAcrossAddresses: an IPv6 client rotating
// through its /64 counts as one; many clients together are bounded too,
// and the next entry written says how many were left out.
func TestAnonymousAuditBoundsHoldAcrossAddresses(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	deny := func(addr string) {
		t.Helper()
		if err := h.e.Audit(ctx, engine.AuditEntry{Addr: addr, Action: "login", Outcome: engine.AuditDenied}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		deny(fmt.Sprintf("2001:db8:1:2::%x", i+1)) // one /64
	}
	if anon, _ := h.e.AuditLog(engine.AuditFilter{Action: "login"}, engine.Page{Limit: 500}); len(anon) != 20 {
		t.Fatalf("%d entries from one /64, want 20", len(anon))
	}
	h.clock.Advance(time.Minute)
	for i := range 1000 {
		deny(fmt.Sprintf("198.51.%d.%d", i/250, i%250+1)) // 1,000 clients
	}
	anon, _ := h.e.AuditLog(engine.AuditFilter{Action: "login"}, engine.Page{Limit: 500})
	if len(anon) != 20+200 {
		t.Fatalf("%d entries, want 220 (20, then the overall 200 a minute)", len(anon))
	}
	h.clock.Advance(time.Minute)
	deny("192.0.2.1")
	anon, _ = h.e.AuditLog(engine.AuditFilter{Action: "login"}, engine.Page{Limit: 1})
	if !strings.Contains(anon[0].Detail, "and 800 more denied attempts from other addresses not recorded") {
		t.Fatalf("detail = %q", anon[0].Detail)
	}
}

func TestSLABreachMetric(t *testing.T) {
	h := newEscalationHarness(t)
	reg := prometheus.NewRegistry()
	e, err := engine.New(context.Background(), engine.Options{Store: h.store, Clock: h.clock, Classifier: severityClassifier{}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	h.install()
	id := h.ingest(group("g", critical("Down"))).Incident
	h.tick(16 * time.Minute)
	h.tick(time.Minute)
	if got := counterValue(t, reg, "remediator_sla_breaches_total", map[string]string{"level": "critical", "kind": "respond"}); got != 1 ||
		len(h.timeline(id, engine.EventSLABreach)) != 1 {
		t.Fatalf("respond breaches = %v, want 1", got)
	}
}

// counterValue is one sample of a counter vector, by its labels.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := len(m.GetLabel()) == len(labels)
			for _, l := range m.GetLabel() {
				ok = ok && labels[l.GetName()] == l.GetValue()
			}
			if ok {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}
