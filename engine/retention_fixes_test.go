package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
)

// Tests a review of the retention change wrote, each failing before its
// fix.

// An incident paged by email (no provider status ever comes: the record
// stays "sent") leaves memory, and a prune never deletes what memory
// still holds.
func TestRetentionEvictsAnIncidentPagedByEmail(t *testing.T) {
	h := newRetentionHarness(t)
	mail := &fakeNotifier{}
	cfg := engine.NotifyConfig{
		Notifiers: map[string]engine.Notifier{"email": mail},
		People:    map[string]engine.Person{"alice": {ID: "alice", Name: "Alice", Addresses: map[string]string{"email": "a@example.com"}}},
		Routes:    map[engine.Level]engine.Route{"critical": {People: []string{"alice"}, Via: []string{"email"}}},
		Initial:   time.Second, Max: time.Minute, MaxAttempts: 3, Jitter: func() float64 { return 1 },
	}
	h.e.SetNotify(&cfg)
	r := h.ingest(group("g1", alert("A", engine.StatusFiring, t0, "severity", "critical")))
	h.e.WaitActions()
	h.clock.Advance(time.Minute)
	a := alert("A", engine.StatusFiring, t0, "severity", "critical")
	a.Status, a.EndsAt = engine.StatusResolved, h.clock.Now()
	h.ingest(group("g1", a))
	h.e.WaitActions()
	h.clock.Advance(2 * time.Hour)
	h.e.Tick(h.clock.Now())
	if got := h.e.InMemory(); got.Incidents != 0 {
		t.Errorf("2h after it resolved (resolved_in_memory 1h) memory still holds %+v", got)
	}
	h.clock.Advance(25 * time.Hour)
	h.e.Tick(h.clock.Now())
	res, err := h.e.Prune(context.Background())
	t.Logf("prune: %+v %v; in memory: %+v", res, err, h.e.InMemory())
	if _, err := h.e.Incident(r.Incident, engine.Page{}, engine.Page{}); err == nil && res.Incidents == 1 {
		t.Errorf("incident %d deleted from the file but still served from memory", r.Incident)
	}
}

type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// A prune cut short (shutdown) after deleting incidents leaves their
// notification records: the next prune deletes them, and a restart that
// loads them lets them leave memory.
func TestRetentionPrunesWhatAnInterruptedPruneLeft(t *testing.T) {
	h := newRetentionHarness(t)
	mail := &fakeNotifier{result: func(*engine.Notification) (bool, error) { return false, errors.New("550 no such user") }}
	cfg := engine.NotifyConfig{
		Notifiers: map[string]engine.Notifier{"email": mail},
		People:    map[string]engine.Person{"alice": {ID: "alice", Name: "Alice", Addresses: map[string]string{"email": "a@example.com"}}},
		Routes:    map[engine.Level]engine.Route{"critical": {People: []string{"alice"}, Via: []string{"email"}}},
		Initial:   time.Second, Max: time.Minute, MaxAttempts: 1, Jitter: func() float64 { return 1 },
	}
	h.e.SetNotify(&cfg)
	h.ingest(group("g1", alert("A", engine.StatusFiring, t0, "severity", "critical")))
	h.e.WaitActions()
	h.clock.Advance(time.Minute)
	a := alert("A", engine.StatusFiring, t0, "severity", "critical")
	a.Status, a.EndsAt = engine.StatusResolved, h.clock.Now()
	h.ingest(group("g1", a))
	h.e.WaitActions()
	h.clock.Advance(2 * time.Hour)
	h.e.Tick(h.clock.Now())
	if got := h.e.InMemory(); got.Incidents != 0 || got.Notifications != 0 {
		t.Fatalf("not evicted: %+v", got)
	}
	h.clock.Advance(25 * time.Hour)
	// Run's ctx ends (shutdown) right after the incidents were deleted.
	h.e.Prune(&cancelAfter{Context: context.Background(), n: 1})
	h.e.Prune(context.Background())
	if all, _ := h.e.Notifications(engine.NotificationFilter{}, engine.Page{}); len(all) != 0 {
		t.Errorf("%d notification records of a deleted incident are never pruned", len(all))
	}
	h.restart()
	h.clock.Advance(48 * time.Hour)
	h.e.Tick(h.clock.Now())
	if got := h.e.InMemory(); got.Notifications != 0 {
		t.Errorf("after a restart the orphans sit in memory for good: %+v", got)
	}
}

// Once a prune deleted the newest incident, a restart does not hand its
// ID out again (the audit log still names it).
func TestRetentionNeverReusesAPrunedID(t *testing.T) {
	h := newRetentionHarness(t)
	ctx := context.Background()
	r1 := h.ingest(group("g1", alert("A", engine.StatusFiring, t0, "severity", "critical")))
	h.clock.Advance(time.Minute)
	a := alert("A", engine.StatusFiring, t0, "severity", "critical")
	a.Status, a.EndsAt = engine.StatusResolved, h.clock.Now()
	h.ingest(group("g1", a))
	if err := h.e.Audit(ctx, engine.AuditEntry{Actor: "alice", Action: "incident.ack", Target: "incident 1", Outcome: engine.AuditOK}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(26 * time.Hour)
	h.e.Tick(h.clock.Now())
	if _, err := h.e.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	h.restart()
	r2 := h.ingest(group("g2", alert("B", engine.StatusFiring, h.clock.Now(), "severity", "critical")))
	if r2.Incident <= r1.Incident {
		t.Errorf("new incident got ID %d, already used by pruned incident %d (the audit log still names it)", r2.Incident, r1.Incident)
	}
}
