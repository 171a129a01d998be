package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/store/bolt"
)

// retentionHarness runs the engine on a real bbolt file with a short
// retention, in simulated time.
type retentionHarness struct {
	t     *testing.T
	path  string
	store *bolt.Store
	clock *fakeClock
	e     *engine.Engine
	ret   engine.Retention
}

func newRetentionHarness(t *testing.T) *retentionHarness {
	h := &retentionHarness{t: t, path: filepath.Join(t.TempDir(), "r.db"), clock: &fakeClock{now: t0},
		ret: engine.Retention{InMemory: time.Hour, Keep: 24 * time.Hour, Audit: 48 * time.Hour}}
	h.open()
	t.Cleanup(func() { h.store.Close() })
	return h
}

func (h *retentionHarness) open() {
	h.t.Helper()
	s, err := bolt.Open(h.path, bolt.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = s
	if h.e, err = engine.New(context.Background(), engine.Options{Store: s, Clock: h.clock, Classifier: severityClassifier{}, Retention: h.ret}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *retentionHarness) restart() {
	h.t.Helper()
	if err := h.store.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func (h *retentionHarness) ingest(w *engine.Webhook) engine.IngestResult {
	h.t.Helper()
	res, err := h.e.Ingest(context.Background(), w)
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

// answers is every query's answer, as JSON (what the API and the console
// show), walking the lists page by page.
func (h *retentionHarness) answers(ids []uint64) map[string]string {
	e := h.e
	out := map[string]string{}
	put := func(k string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			h.t.Fatal(err)
		}
		out[k] = string(b)
	}
	for _, limit := range []int{1, 2, 50} {
		for _, st := range []engine.IncidentStatus{"", engine.IncidentResolved, engine.IncidentOpen} {
			put("incidents/"+string(st)+"/"+string(rune('0'+limit%10)), walkPages(limit, func(p engine.Page) ([]engine.IncidentSummary, uint64) {
				return e.Incidents(engine.IncidentFilter{Status: st}, p)
			}))
		}
		put("alerts/"+string(rune('0'+limit%10)), walkPages(limit, func(p engine.Page) ([]engine.Alert, uint64) { return e.Alerts(engine.AlertFilter{}, p) }))
		put("audit/"+string(rune('0'+limit%10)), walkPages(limit, func(p engine.Page) ([]engine.AuditEntry, uint64) { return e.AuditLog(engine.AuditFilter{}, p) }))
	}
	resolved, _ := e.Alerts(engine.AlertFilter{Status: engine.StatusResolved}, engine.Page{})
	put("alerts/resolved", resolved)
	for _, id := range ids {
		d, err := e.Incident(id, engine.Page{Limit: 2}, engine.Page{Limit: 3})
		put("incident/"+string(rune('0'+id)), []any{d, err == nil})
		d, err = e.Incident(id, engine.Page{Limit: 2, Cursor: d.AlertsNext}, engine.Page{Limit: 3, Cursor: d.TimelineNext})
		put("incident/"+string(rune('0'+id))+"/next", []any{d, err == nil})
		acts, _ := e.Actions(engine.ActionFilter{Incident: id}, engine.Page{})
		put("actions/"+string(rune('0'+id)), acts)
	}
	put("sla", e.SLAEntries(t0.Add(-time.Hour), t0.Add(24*time.Hour)))
	put("digest", e.DigestOf(t0.Add(-time.Hour), t0.Add(24*time.Hour), []engine.Level{"critical", "warning", "info"}))
	return out
}

// walkPages follows a list's cursors from its first page (at most 50).
func walkPages[T any](limit int, list func(engine.Page) ([]T, uint64)) [][]T {
	var all [][]T
	for cur, n := uint64(0), 0; n < 50; n++ {
		page, next := list(engine.Page{Limit: limit, Cursor: cur})
		all = append(all, page)
		if cur = next; cur == 0 {
			break
		}
	}
	return all
}

func TestRetentionEvictsAndAnswersTheSame(t *testing.T) {
	h := newRetentionHarness(t)
	ctx := context.Background()
	// 1: three critical alerts that all resolve; 2: one that stays open;
	// 3: resolved by a person, its alert resolving later; an alert that
	// arrives already resolved with no incident; audit entries.
	r1 := h.ingest(group("g1", alert("A", engine.StatusFiring, t0, "severity", "critical"),
		alert("B", engine.StatusFiring, t0, "severity", "critical"), alert("C", engine.StatusFiring, t0, "severity", "warning")))
	r2 := h.ingest(group("g2", alert("D", engine.StatusFiring, t0, "severity", "warning")))
	r3 := h.ingest(group("g3", alert("E", engine.StatusFiring, t0, "severity", "critical")))
	h.clock.Advance(5 * time.Minute)
	if _, err := h.e.Acknowledge(ctx, r1.Incident, engine.Transition{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Resolve(ctx, r3.Incident, engine.Transition{By: "bob", Note: "fixed"}); err != nil {
		t.Fatal(err)
	}
	if err := h.e.Audit(ctx, engine.AuditEntry{Actor: "alice", Action: "config.reload", Outcome: engine.AuditOK}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(5 * time.Minute)
	resolved := func(a engine.WebhookAlert) engine.WebhookAlert {
		a.Status, a.EndsAt = engine.StatusResolved, h.clock.Now()
		return a
	}
	h.ingest(group("g1", resolved(alert("A", engine.StatusFiring, t0, "severity", "critical")),
		resolved(alert("B", engine.StatusFiring, t0, "severity", "critical")), resolved(alert("C", engine.StatusFiring, t0, "severity", "warning"))))
	h.ingest(group("g3", resolved(alert("E", engine.StatusFiring, t0, "severity", "critical"))))
	h.ingest(group("g4", resolved(alert("F", engine.StatusFiring, t0.Add(time.Minute), "severity", "info"))))
	ids := []uint64{r1.Incident, r2.Incident, r3.Incident}

	h.e.Tick(h.clock.Now())
	before := h.answers(ids)
	full := h.e.InMemory()
	if full.Incidents != 3 || full.Alerts != 6 {
		t.Fatalf("before eviction memory holds %+v, want 3 incidents and 6 alerts", full)
	}

	// Past resolved_in_memory: 1 and 3 leave memory, 2 stays.
	h.clock.Advance(2 * time.Hour)
	h.e.Tick(h.clock.Now())
	left := h.e.InMemory()
	if left.Incidents != 1 || left.Alerts != 1 || left.Audit != 0 {
		t.Fatalf("after eviction memory holds %+v, want the open incident and its alert, no audit entry", left)
	}
	after := h.answers(ids)
	for k, want := range before {
		if after[k] != want {
			t.Errorf("%s after eviction:\n got %s\nwant %s", k, after[k], want)
		}
	}

	// A restart loads what is on disk and lets history leave at once.
	h.restart()
	if got := h.e.InMemory(); got.Incidents != 1 || got.Alerts != 1 {
		t.Fatalf("after a restart memory holds %+v, want the open incident and its alert", got)
	}
	restarted := h.answers(ids)
	for k, want := range before {
		if restarted[k] != want {
			t.Errorf("%s after restart:\n got %s\nwant %s", k, restarted[k], want)
		}
	}

	// What left memory still refuses what it refused, still matches late
	// copies, and still counts for firedWithin.
	if _, err := h.e.Acknowledge(ctx, r1.Incident, engine.Transition{By: "carol"}); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("acknowledging an evicted resolved incident: %v, want ErrConflict", err)
	}
	late := h.ingest(group("g1", resolved(alert("A", engine.StatusFiring, t0, "severity", "critical"))))
	if late.NewAlerts != 0 || late.Redelivered != 1 {
		t.Errorf("a late copy of an evicted episode: %+v, want it counted as redelivered", late)
	}
	if got := h.e.InMemory(); got.Alerts != 1 {
		t.Errorf("the late copy brought an alert back: %+v", got)
	}
}

func TestRetentionPrunesHistoryInSimulatedTime(t *testing.T) {
	h := newRetentionHarness(t)
	ctx := context.Background()
	r1 := h.ingest(group("g1", alert("A", engine.StatusFiring, t0, "severity", "critical")))
	r2 := h.ingest(group("g2", alert("B", engine.StatusFiring, t0, "severity", "critical")))
	if err := h.e.Audit(ctx, engine.AuditEntry{Actor: "alice", Action: "config.reload", Outcome: engine.AuditOK}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	a := alert("A", engine.StatusFiring, t0, "severity", "critical")
	a.Status, a.EndsAt = engine.StatusResolved, h.clock.Now()
	h.ingest(group("g1", a))

	// Within keep nothing is deleted.
	h.clock.Advance(23 * time.Hour)
	h.e.Tick(h.clock.Now())
	if res, err := h.e.Prune(ctx); err != nil || res != (engine.PruneResult{}) {
		t.Fatalf("prune within keep: %+v, %v; want nothing deleted", res, err)
	}
	if _, err := h.e.Incident(r1.Incident, engine.Page{}, engine.Page{}); err != nil {
		t.Fatalf("incident within keep: %v", err)
	}
	// Past keep the resolved incident goes with its alert and timeline;
	// the open one and the audit entry (kept 48h) stay.
	h.clock.Advance(2 * time.Hour)
	res, err := h.e.Prune(ctx)
	if err != nil || res.Incidents != 1 || res.Alerts != 1 || res.Events == 0 || res.Audit != 0 {
		t.Fatalf("prune past keep: %+v, %v; want one incident, one alert, its events", res, err)
	}
	if _, err := h.e.Incident(r1.Incident, engine.Page{}, engine.Page{}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("pruned incident: %v, want ErrNotFound", err)
	}
	if _, err := h.e.Incident(r2.Incident, engine.Page{}, engine.Page{}); err != nil {
		t.Fatalf("open incident after prune: %v", err)
	}
	if log, _ := h.e.AuditLog(engine.AuditFilter{}, engine.Page{}); len(log) != 1 {
		t.Fatalf("audit log after prune: %d entries, want 1 (kept 48h)", len(log))
	}
	h.clock.Advance(24 * time.Hour)
	h.e.Tick(h.clock.Now())
	if res, err := h.e.Prune(ctx); err != nil || res.Audit != 1 || res.Incidents != 0 {
		t.Fatalf("prune past the audit retention: %+v, %v; want the audit entry only", res, err)
	}
	if log, _ := h.e.AuditLog(engine.AuditFilter{}, engine.Page{}); len(log) != 0 {
		t.Fatalf("audit log after its retention: %+v, want empty", log)
	}
	// A new episode of the pruned alert is new: nothing of it is left.
	if got := h.ingest(group("g1", alert("A", engine.StatusFiring, t0, "severity", "critical"))); got.NewAlerts != 1 {
		t.Fatalf("after prune the old episode still matched: %+v", got)
	}
}
