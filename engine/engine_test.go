package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/store/memory"
)

// memStore is the in-memory store (store/memory) with test hooks: a
// switch to make Apply fail, a gate that holds one Apply, and an alert ID
// whose writes are dropped (a record that never reached the file).
type memStore struct {
	*memory.Store
	mu        sync.Mutex
	fail      error
	dropAlert uint64
	// gate, when set, makes an Apply wait for a value and fail with it:
	// the next one, or the holdAt-th call when holdAt is set.
	gate    chan error
	entered chan struct{}
	holdAt  int
	calls   int
}

var _ engine.Store = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{Store: memory.New()} }

func (m *memStore) Apply(ctx context.Context, c *engine.Changes) error {
	m.mu.Lock()
	m.calls++
	if gate := m.gate; gate != nil && (m.holdAt == 0 || m.calls == m.holdAt) {
		m.gate = nil
		m.mu.Unlock()
		close(m.entered)
		if err := <-gate; err != nil {
			return err
		}
		m.mu.Lock()
	}
	fail, drop := m.fail, m.dropAlert
	m.mu.Unlock()
	if fail != nil {
		return fail
	}
	if drop != 0 {
		cp := *c
		cp.Alerts = nil
		for _, a := range c.Alerts {
			if a.ID != drop {
				cp.Alerts = append(cp.Alerts, a)
			}
		}
		c = &cp
	}
	return m.Store.Apply(ctx, c)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// severityClassifier: the severity label names the level; critical ranks first.
type severityClassifier struct{}

func (c severityClassifier) Classify(in *engine.ClassifyInput) engine.Level {
	l, _ := c.Explain(in)
	return l
}

func (severityClassifier) Explain(in *engine.ClassifyInput) (engine.Level, []engine.RuleTrace) {
	// "flapping" is a level for alerts that fired 3 times within an hour.
	if in.History.FiredWithin(time.Hour) >= 3 {
		return "flapping", []engine.RuleTrace{{Level: "flapping", Matched: true, Reason: "fired 3 times within 1h"}}
	}
	if s := in.Alert.Labels["severity"]; s != "" {
		return engine.Level(s), []engine.RuleTrace{{Level: engine.Level(s), Matched: true, Reason: "severity label"}}
	}
	return "info", nil
}

// SLA: P1 for critical with 15m/4h; nothing otherwise.
func (severityClassifier) SLA(l engine.Level, t time.Time) (string, time.Time, time.Time) {
	if l == "critical" {
		return "P1", t.Add(15 * time.Minute), t.Add(4 * time.Hour)
	}
	return "", time.Time{}, time.Time{}
}

func (severityClassifier) Rank(l engine.Level) int {
	for i, n := range []engine.Level{"critical", "warning", "notice", "info"} {
		if n == l {
			return i
		}
	}
	return 4
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

type harness struct {
	t     *testing.T
	store *memStore
	clock *fakeClock
	e     *engine.Engine
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, store: newMemStore(), clock: &fakeClock{now: t0}}
	h.restart()
	return h
}

// restart builds a new engine on the same store, as a process restart does.
func (h *harness) restart() {
	h.t.Helper()
	e, err := engine.New(context.Background(), engine.Options{Store: h.store, Clock: h.clock, Classifier: severityClassifier{}})
	if err != nil {
		h.t.Fatalf("engine.New: %v", err)
	}
	h.e = e
}

func (h *harness) ingest(w *engine.Webhook) engine.IngestResult {
	h.t.Helper()
	res, err := h.e.Ingest(context.Background(), w)
	if err != nil {
		h.t.Fatalf("Ingest: %v", err)
	}
	return res
}

func (h *harness) incident(id uint64) engine.IncidentDetail {
	h.t.Helper()
	d, err := h.e.Incident(id, engine.Page{Limit: 1 << 30}, engine.Page{Limit: 1 << 30}) // every alert and event
	if err != nil {
		h.t.Fatalf("Incident(%d): %v", id, err)
	}
	return d
}

func alert(name, status string, startsAt time.Time, extra ...string) engine.WebhookAlert {
	labels := map[string]string{"alertname": name}
	for i := 0; i+1 < len(extra); i += 2 {
		labels[extra[i]] = extra[i+1]
	}
	return engine.WebhookAlert{Fingerprint: "fp-" + name, Status: status, Labels: labels, Annotations: map[string]string{}, StartsAt: startsAt}
}

func group(key string, alerts ...engine.WebhookAlert) *engine.Webhook {
	return &engine.Webhook{Receiver: "remediator", GroupKey: key, Status: alerts[0].Status,
		CommonLabels: map[string]string{"alertname": alerts[0].Labels["alertname"]}, Alerts: alerts}
}

func timelineTypes(d engine.IncidentDetail) []string {
	var out []string
	for _, ev := range d.Timeline {
		out = append(out, ev.Type)
	}
	return out
}

func TestFiringOpensIncidentAndRedeliveryCreatesNothing(t *testing.T) {
	h := newHarness(t)
	w := group("g1", alert("Down", engine.StatusFiring, t0, "severity", "critical"))
	res := h.ingest(w)
	if res.Incident == 0 || res.NewAlerts != 1 {
		t.Fatalf("first delivery: %+v, want a new incident and one new alert", res)
	}
	// Alertmanager resends the group (group_interval) and an HA peer sends it too.
	for i := 0; i < 3; i++ {
		h.clock.Advance(time.Minute)
		again := h.ingest(group("g1", alert("Down", engine.StatusFiring, t0, "severity", "critical")))
		if again.Incident != res.Incident || again.NewAlerts != 0 || again.Redelivered != 1 {
			t.Fatalf("redelivery %d: %+v, want same incident %d, nothing new", i, again, res.Incident)
		}
	}
	incs, _ := h.e.Incidents(engine.IncidentFilter{}, engine.Page{Limit: 10})
	if len(incs) != 1 {
		t.Fatalf("%d incidents, want 1", len(incs))
	}
	alerts, _ := h.e.Alerts(engine.AlertFilter{}, engine.Page{Limit: 10})
	if len(alerts) != 1 || alerts[0].Deliveries != 4 || !alerts[0].LastSeen.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("alerts = %+v, want one episode seen 4 times, last at +3m", alerts)
	}
	d := h.incident(res.Incident)
	if d.Status != engine.IncidentOpen || d.Level != "critical" || d.Title != "Down" {
		t.Fatalf("incident = %+v", d.Incident)
	}
	if got := fmt.Sprint(timelineTypes(d)); got != "[opened received alert_added]" {
		t.Fatalf("timeline = %s", got)
	}
}

func TestResolveAllAlertsResolvesIncidentAndRefireOpensNew(t *testing.T) {
	h := newHarness(t)
	a, b := alert("A", engine.StatusFiring, t0), alert("B", engine.StatusFiring, t0)
	first := h.ingest(group("g", a, b)).Incident

	// One of two resolves: the incident stays open.
	ra := alert("A", engine.StatusResolved, t0)
	ra.EndsAt = t0.Add(time.Minute)
	h.ingest(group("g", ra, b))
	if d := h.incident(first); d.Status != engine.IncidentOpen || d.Firing != 1 {
		t.Fatalf("after one resolved: status %s firing %d, want open 1", d.Status, d.Firing)
	}
	// Both resolved: auto-resolved by Alertmanager.
	rb := alert("B", engine.StatusResolved, t0)
	h.ingest(group("g", ra, rb))
	d := h.incident(first)
	if d.Status != engine.IncidentResolved || d.ResolvedBy != "alertmanager" || d.ResolvedAt.IsZero() {
		t.Fatalf("after all resolved: %+v", d.Incident)
	}
	if d.Alerts[0].EndsAt != t0.Add(time.Minute) {
		t.Fatalf("ends_at = %v, want the payload's endsAt", d.Alerts[0].EndsAt)
	}
	// A stale firing of a resolved episode changes nothing.
	stale := h.ingest(group("g", a))
	if stale.Incident != 0 || stale.NewAlerts != 0 {
		t.Fatalf("stale firing: %+v, want no incident, nothing new", stale)
	}
	// A new episode (new startsAt) opens a new incident.
	refire := h.ingest(group("g", alert("A", engine.StatusFiring, t0.Add(time.Hour))))
	if refire.Incident == first || refire.Incident == 0 || refire.NewAlerts != 1 {
		t.Fatalf("refire: %+v, want a new incident", refire)
	}
}

func TestTransitions(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	id := h.ingest(group("g", alert("A", engine.StatusFiring, t0))).Incident
	who := engine.Transition{By: "alice", Note: "looking"}

	tests := []struct {
		name string
		do   func() error
		want error
	}{
		// An open incident can be acknowledged.
		{"ack open", func() error { _, err := h.e.Acknowledge(ctx, id, who); return err }, nil},
		// Acknowledging twice is a conflict.
		{"ack twice", func() error { _, err := h.e.Acknowledge(ctx, id, who); return err }, engine.ErrConflict},
		// An unknown id is not found.
		{"ack unknown", func() error { _, err := h.e.Acknowledge(ctx, 999, who); return err }, engine.ErrNotFound},
		// Nobody: invalid.
		{"ack anonymous", func() error { _, err := h.e.Acknowledge(ctx, id, engine.Transition{}); return err }, engine.ErrInvalid},
		// An acknowledged incident can be resolved.
		{"resolve", func() error { _, err := h.e.Resolve(ctx, id, who); return err }, nil},
		// Resolving twice is a conflict.
		{"resolve twice", func() error { _, err := h.e.Resolve(ctx, id, who); return err }, engine.ErrConflict},
		// A resolved incident cannot be acknowledged.
		{"ack resolved", func() error { _, err := h.e.Acknowledge(ctx, id, who); return err }, engine.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	d := h.incident(id)
	if d.AcknowledgedBy != "alice" || d.ResolvedBy != "alice" {
		t.Fatalf("incident = %+v", d.Incident)
	}
	if got := fmt.Sprint(timelineTypes(d)); got != "[opened received alert_added acknowledged resolved]" {
		t.Fatalf("timeline = %s", got)
	}
}

func TestManualResolveKeepsEpisodesAndNewEpisodeOpensNewIncident(t *testing.T) {
	h := newHarness(t)
	id := h.ingest(group("g", alert("A", engine.StatusFiring, t0))).Incident
	if _, err := h.e.Resolve(context.Background(), id, engine.Transition{By: "bob"}); err != nil {
		t.Fatal(err)
	}
	// Alertmanager keeps resending the still-firing alert: no new incident.
	if res := h.ingest(group("g", alert("A", engine.StatusFiring, t0))); res.Incident != 0 || res.NewAlerts != 0 {
		t.Fatalf("redelivery after manual resolve: %+v", res)
	}
	// A new alert in the group opens a new incident.
	res := h.ingest(group("g", alert("A", engine.StatusFiring, t0), alert("B", engine.StatusFiring, t0)))
	if res.Incident == 0 || res.Incident == id {
		t.Fatalf("new episode after manual resolve: %+v", res)
	}
	// The old episode resolving later is recorded on the old incident only.
	h.ingest(group("g", alert("A", engine.StatusResolved, t0)))
	if d := h.incident(id); d.Firing != 0 || d.Alerts[0].Status != engine.StatusResolved {
		t.Fatalf("old incident: %+v", d)
	}
	if d := h.incident(res.Incident); d.Status != engine.IncidentOpen {
		t.Fatalf("new incident status %s, want open", d.Status)
	}
}

func TestLevelIsMostUrgentOfItsAlerts(t *testing.T) {
	h := newHarness(t)
	id := h.ingest(group("g", alert("A", engine.StatusFiring, t0, "severity", "warning"))).Incident
	h.ingest(group("g", alert("A", engine.StatusFiring, t0, "severity", "warning"), alert("B", engine.StatusFiring, t0, "severity", "critical")))
	h.ingest(group("g", alert("C", engine.StatusFiring, t0, "severity", "info")))
	if d := h.incident(id); d.Level != "critical" {
		t.Fatalf("level = %s, want critical", d.Level)
	}
}

func TestResolvedAlertWithoutIncidentIsStored(t *testing.T) {
	h := newHarness(t)
	res := h.ingest(group("g", alert("A", engine.StatusResolved, t0)))
	if res.Incident != 0 || res.NewAlerts != 1 {
		t.Fatalf("res = %+v", res)
	}
	alerts, _ := h.e.Alerts(engine.AlertFilter{Status: engine.StatusResolved}, engine.Page{Limit: 5})
	if len(alerts) != 1 || alerts[0].Incident != 0 {
		t.Fatalf("alerts = %+v", alerts)
	}
}

func TestRestartRebuildsState(t *testing.T) {
	h := newHarness(t)
	id := h.ingest(group("g", alert("A", engine.StatusFiring, t0))).Incident
	if _, err := h.e.Acknowledge(context.Background(), id, engine.Transition{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	h.restart()
	// After a restart the redelivery is still recognised…
	if res := h.ingest(group("g", alert("A", engine.StatusFiring, t0))); res.Incident != id || res.NewAlerts != 0 {
		t.Fatalf("redelivery after restart: %+v", res)
	}
	// …the incident kept its status and timeline, and ids continue.
	d := h.incident(id)
	if d.Status != engine.IncidentAcknowledged || len(d.Timeline) != 4 {
		t.Fatalf("after restart: %+v timeline %v", d.Incident, timelineTypes(d))
	}
	other := h.ingest(group("other", alert("B", engine.StatusFiring, t0))).Incident
	if other != id+1 {
		t.Fatalf("next incident id %d, want %d", other, id+1)
	}
	h.ingest(group("g", alert("A", engine.StatusResolved, t0)))
	h.restart()
	if d := h.incident(id); d.Status != engine.IncidentResolved || len(d.Timeline) != 7 {
		t.Fatalf("after resolve+restart: %+v timeline %v", d.Incident, timelineTypes(d))
	}
}

func TestStoreFailureIsReportedAndSyncedLater(t *testing.T) {
	h := newHarness(t)
	h.store.fail = errors.New("disk full")
	if _, err := h.e.Ingest(context.Background(), group("g", alert("A", engine.StatusFiring, t0))); err == nil {
		t.Fatal("Ingest succeeded on a failing store")
	}
	h.store.fail = nil
	// An unrelated write carries the unsynced records along.
	h.ingest(group("other", alert("B", engine.StatusFiring, t0)))
	h.restart()
	incs, _ := h.e.Incidents(engine.IncidentFilter{}, engine.Page{Limit: 10})
	if len(incs) != 2 {
		t.Fatalf("%d incidents after restart, want 2 (the failed write synced later)", len(incs))
	}
	if d := h.incident(incs[1].ID); len(d.Timeline) != 3 {
		t.Fatalf("timeline of the first incident: %v", timelineTypes(d))
	}
}

func TestPaging(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 7; i++ {
		id := h.ingest(group(fmt.Sprint("g", i), alert(fmt.Sprint("A", i), engine.StatusFiring, t0))).Incident
		if i%2 == 0 {
			if _, err := h.e.Acknowledge(context.Background(), id, engine.Transition{By: "x"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []uint64
	p := engine.Page{Limit: 3}
	for pages := 0; ; pages++ {
		list, next := h.e.Incidents(engine.IncidentFilter{}, p)
		for _, inc := range list {
			got = append(got, inc.ID)
		}
		if next == 0 {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p.Cursor = next
	}
	if fmt.Sprint(got) != "[7 6 5 4 3 2 1]" {
		t.Fatalf("pages gave %v, want newest first 7..1", got)
	}
	acked, next := h.e.Incidents(engine.IncidentFilter{Status: engine.IncidentAcknowledged}, engine.Page{Limit: 10})
	if len(acked) != 4 || next != 0 || acked[0].ID != 7 {
		t.Fatalf("acknowledged = %d (next %d)", len(acked), next)
	}
	open, _ := h.e.Incidents(engine.IncidentFilter{Status: engine.IncidentOpen}, engine.Page{Limit: 2})
	if len(open) != 2 || open[0].ID != 6 || open[1].ID != 4 {
		t.Fatalf("open page = %+v", open)
	}
}

func TestConcurrentIngestIsConsistent(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				w := group(fmt.Sprint("g", g), alert(fmt.Sprint("A", g, "-", i%10), engine.StatusFiring, t0))
				if _, err := h.e.Ingest(context.Background(), w); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	h.restart()
	incs, _ := h.e.Incidents(engine.IncidentFilter{}, engine.Page{Limit: 100})
	alerts, _ := h.e.Alerts(engine.AlertFilter{}, engine.Page{Limit: 500})
	// 8 groups of 10 alerts, each delivered 5 times.
	if len(incs) != 8 || len(alerts) != 80 {
		t.Fatalf("%d incidents, %d alerts; want 8 and 80", len(incs), len(alerts))
	}
}

// TestEpisodeMatching: what Alertmanager really sends for one fingerprint.
func TestEpisodeMatching(t *testing.T) {
	at := func(d time.Duration, status string) engine.WebhookAlert {
		a := alert("A", status, t0.Add(d))
		if status == engine.StatusResolved {
			a.EndsAt = t0.Add(10 * time.Minute)
		}
		return a
	}
	tests := []struct {
		name      string
		second    engine.WebhookAlert
		wantNew   int
		wantState string // status of the first episode afterwards
	}{
		// Alertmanager merged an update and kept an earlier startsAt: same episode.
		{"firing, earlier startsAt", at(-time.Second, engine.StatusFiring), 0, engine.StatusFiring},
		// A resolve whose startsAt differs (amtool --end, merges) still resolves it.
		{"resolved, other startsAt", at(-time.Second, engine.StatusResolved), 0, engine.StatusResolved},
		// A later startsAt while firing: the first ended unseen; a new episode starts.
		{"firing, later startsAt", at(5*time.Minute, engine.StatusFiring), 1, engine.StatusResolved},
		// amtool --end truncates to the second: startsAt = endsAt, before the
		// episode's startsAt. Alertmanager merged it into the same alert.
		{"resolved, ends before start", func() engine.WebhookAlert {
			a := at(-time.Second, engine.StatusResolved)
			a.EndsAt = a.StartsAt
			return a
		}(), 0, engine.StatusResolved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.ingest(group("g", at(0, engine.StatusFiring))).Incident
			res := h.ingest(group("g", tt.second))
			d := h.incident(id)
			if res.NewAlerts != tt.wantNew || d.Alerts[0].Status != tt.wantState {
				t.Fatalf("new %d, first episode %s; want %d, %s", res.NewAlerts, d.Alerts[0].Status, tt.wantNew, tt.wantState)
			}
		})
	}
	// An HA pair sends the resolve twice, and a late firing copy, both with
	// startsAt shifted by a merge: one episode, one incident, nothing new.
	h0 := newHarness(t)
	first := h0.ingest(group("g", at(0, engine.StatusFiring))).Incident
	for _, late := range []engine.WebhookAlert{at(-time.Second, engine.StatusResolved), at(-2*time.Second, engine.StatusResolved), at(-time.Second, engine.StatusFiring)} {
		if res := h0.ingest(group("g", late)); res.NewAlerts != 0 || res.Incident != 0 && res.Incident != first {
			t.Fatalf("late copy %+v: %+v", late, res)
		}
	}
	if alerts, _ := h0.e.Alerts(engine.AlertFilter{}, engine.Page{Limit: 10}); len(alerts) != 1 || alerts[0].Status != engine.StatusResolved {
		t.Fatalf("alerts after late copies: %+v", alerts)
	}
	if incs, _ := h0.e.Incidents(engine.IncidentFilter{}, engine.Page{Limit: 10}); len(incs) != 1 {
		t.Fatalf("%d incidents after late copies, want 1", len(incs))
	}

	// After a restart the firing index is rebuilt: a resolve with another
	// startsAt still finds the episode.
	h := newHarness(t)
	id := h.ingest(group("g", at(0, engine.StatusFiring))).Incident
	h.restart()
	h.ingest(group("g", at(time.Second, engine.StatusResolved)))
	if d := h.incident(id); d.Status != engine.IncidentResolved {
		t.Fatalf("after restart: %s, want resolved", d.Status)
	}
}

// TestTimelineCoalescesOneDelivery: a 12-alert webhook is three events, not
// fourteen, and the listing is bounded.
func TestTimelineCoalescesOneDelivery(t *testing.T) {
	h := newHarness(t)
	var alerts []engine.WebhookAlert
	for i := 0; i < 12; i++ {
		alerts = append(alerts, alert(fmt.Sprint("A", i), engine.StatusFiring, t0))
	}
	d := h.incident(h.ingest(group("g", alerts...)).Incident)
	if got := fmt.Sprint(timelineTypes(d)); got != "[opened received alert_added]" {
		t.Fatalf("timeline = %s", got)
	}
	if det := d.Timeline[2].Detail; !strings.HasPrefix(det, "12 firing: alert A0 (fp-A0) (level info), ") || !strings.HasSuffix(det, " and 7 more") {
		t.Fatalf("detail = %q", det)
	}
	if det := d.Timeline[1].Detail; det != `webhook from receiver "remediator": 12 new firing, 0 resolved` {
		t.Fatalf("received detail = %q", det)
	}
}

// TestSLAAndFlappingAndExplain: the incident carries its level's SLA from
// its creation; firedWithin sees earlier episodes; Explain changes nothing.
func TestSLAAndFlappingAndExplain(t *testing.T) {
	h := newHarness(t)
	id := h.ingest(group("g", alert("A", engine.StatusFiring, t0, "severity", "warning"))).Incident
	if d := h.incident(id); d.Priority != "" || !d.RespondBy.IsZero() {
		t.Fatalf("warning incident has SLA %q %v", d.Priority, d.RespondBy)
	}
	h.clock.Advance(10 * time.Minute)
	h.ingest(group("g", alert("B", engine.StatusFiring, t0, "severity", "critical")))
	d := h.incident(id)
	if d.Level != "critical" || d.Priority != "P1" || !d.RespondBy.Equal(t0.Add(15*time.Minute)) || !d.ResolveBy.Equal(t0.Add(4*time.Hour)) {
		t.Fatalf("raised to critical: %+v", d.Incident)
	}

	// Explain before and after: the third episode within an hour is flapping.
	flap := func(k int) *engine.Webhook {
		a := alert("F", engine.StatusFiring, t0.Add(time.Duration(k)*10*time.Minute))
		return group("f", a)
	}
	for k := 0; k < 2; k++ {
		h.ingest(flap(k))
	}
	x := h.e.Explain(flap(2), t0.Add(25*time.Minute))
	if len(x.Alerts) != 1 || x.Alerts[0].Level != "flapping" || x.Alerts[0].Known {
		t.Fatalf("explain = %+v", x)
	}
	if alerts, _ := h.e.Alerts(engine.AlertFilter{}, engine.Page{Limit: 100}); len(alerts) != 4 {
		t.Fatalf("explain stored something: %d alerts", len(alerts))
	}
	x = h.e.Explain(flap(1), t0.Add(25*time.Minute))
	if !x.Alerts[0].Known || x.Alerts[0].Level != "info" {
		t.Fatalf("explain of a known episode = %+v", x.Alerts[0])
	}
}

// TestFailedWriteFailsLaterOnes: a change queued behind a write that fails
// is not answered as durable either (it may name records of the failed
// one), and both are stored with the next write.
func TestFailedWriteFailsLaterOnes(t *testing.T) {
	h := newHarness(t)
	gate := make(chan error)
	h.store.mu.Lock()
	h.store.gate, h.store.entered = gate, make(chan struct{})
	entered := h.store.entered
	h.store.mu.Unlock()

	errA := make(chan error, 1)
	go func() {
		_, err := h.e.Ingest(context.Background(), group("g", alert("A", engine.StatusFiring, t0)))
		errA <- err
	}()
	<-entered // A's write is in the store
	errB := make(chan error, 1)
	go func() {
		_, err := h.e.Ingest(context.Background(), group("g", alert("A", engine.StatusFiring, t0), alert("B", engine.StatusFiring, t0)))
		errB <- err
	}()
	// B is queued behind A (its incident lists A's alert). Wait until B
	// has been counted as a delivery in memory, then fail A's write.
	waitUntil(t, func() bool {
		alerts, _ := h.e.Alerts(engine.AlertFilter{}, engine.Page{Limit: 10})
		return len(alerts) == 2
	})
	gate <- errors.New("disk full")
	if err := <-errA; err == nil {
		t.Fatal("A succeeded on a failing store")
	}
	if err := <-errB; err == nil {
		t.Fatal("B was answered as durable although A, queued before it, failed")
	}
	// The next write carries both; after a restart nothing dangles.
	h.ingest(group("other", alert("C", engine.StatusFiring, t0)))
	h.restart()
	incs, _ := h.e.Incidents(engine.IncidentFilter{}, engine.Page{Limit: 10})
	if len(incs) != 2 {
		t.Fatalf("%d incidents after restart, want 2", len(incs))
	}
	d := h.incident(incs[1].ID)
	if len(d.Alerts) != 2 || d.Firing != 2 {
		t.Fatalf("first incident after restart: %d alerts, %d firing; want 2, 2", len(d.Alerts), d.Firing)
	}
}

// TestRestoreRepairsDanglingAlerts: a file whose incident names an alert
// that was never stored loads without a panic, and the incident counts
// only what is there.
func TestRestoreRepairsDanglingAlerts(t *testing.T) {
	h := newHarness(t)
	h.store.mu.Lock()
	h.store.dropAlert = 2 // B's record never reaches the file
	h.store.mu.Unlock()
	id := h.ingest(group("g", alert("A", engine.StatusFiring, t0), alert("B", engine.StatusFiring, t0))).Incident
	h.restart()
	d := h.incident(id)
	if len(d.Alerts) != 1 || d.Firing != 1 {
		t.Fatalf("repaired incident: %d alerts, %d firing", len(d.Alerts), d.Firing)
	}
	if incs, _ := h.e.Incidents(engine.IncidentFilter{}, engine.Page{}); len(incs) != 1 || len(incs[0].Fingerprints) != 1 {
		t.Fatalf("list = %+v", incs)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFailedAckIsNotLostOnRetry: an acknowledgement whose write failed is
// in memory; the retry's 409 writes it first, so a restart keeps it.
func TestFailedAckIsNotLostOnRetry(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.ingest(group("g", alert("A", engine.StatusFiring, t0))).Incident
	h.store.mu.Lock()
	h.store.fail = errors.New("disk full")
	h.store.mu.Unlock()
	if _, err := h.e.Acknowledge(ctx, id, engine.Transition{By: "alice"}); err == nil || errors.Is(err, engine.ErrConflict) {
		t.Fatalf("ack on a failing disk: %v", err)
	}
	h.store.mu.Lock()
	h.store.fail = nil
	h.store.mu.Unlock()
	if _, err := h.e.Acknowledge(ctx, id, engine.Transition{By: "alice"}); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("retry: %v, want a conflict", err)
	}
	h.restart()
	if d := h.incident(id); d.Status != engine.IncidentAcknowledged {
		t.Fatalf("after restart: %s, want acknowledged", d.Status)
	}
}

// panicStore panics on Apply.
type panicStore struct{ *memStore }

func (panicStore) Apply(context.Context, *engine.Changes) error { panic("boom") }

// TestStorePanicDoesNotWedgeTheQueue: a store that panics fails the write;
// later writes still run.
func TestStorePanicDoesNotWedgeTheQueue(t *testing.T) {
	e, err := engine.New(context.Background(), engine.Options{Store: panicStore{newMemStore()}, Clock: &fakeClock{now: t0}, Classifier: severityClassifier{}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := e.Ingest(context.Background(), group("g", alert("A", engine.StatusFiring, t0))); err == nil || !strings.Contains(err.Error(), "store panicked: boom") {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

// TestLateResolvesFindTheRightEpisode: the two sequences the review found.
func TestLateResolvesFindTheRightEpisode(t *testing.T) {
	resolved := func(startsAt, endsAt time.Time) engine.WebhookAlert {
		a := alert("A", engine.StatusResolved, startsAt)
		a.EndsAt = endsAt
		return a
	}
	t.Run("resolve naming a superseded episode resolves the live one", func(t *testing.T) {
		h := newHarness(t)
		id := h.ingest(group("g", alert("A", engine.StatusFiring, t0))).Incident
		h.ingest(group("g", alert("A", engine.StatusFiring, t0.Add(2*time.Second))))
		h.ingest(group("g", resolved(t0, t0.Add(time.Minute))))
		if d := h.incident(id); d.Status != engine.IncidentResolved || d.Firing != 0 {
			t.Fatalf("incident %s, firing %d; want resolved, 0", d.Status, d.Firing)
		}
	})
	t.Run("late resolve of an earlier episode leaves the live one firing", func(t *testing.T) {
		h := newHarness(t)
		h.ingest(group("g", alert("A", engine.StatusFiring, t0)))
		id := h.ingest(group("g", alert("A", engine.StatusFiring, t0.Add(time.Hour)))).Incident
		// A's resolve arrives late, startsAt shifted, ended before B began.
		h.ingest(group("g", resolved(t0.Add(-time.Second), t0.Add(10*time.Minute))))
		d := h.incident(id)
		if d.Status != engine.IncidentOpen || d.Firing != 1 {
			t.Fatalf("incident %s, firing %d; want open, 1", d.Status, d.Firing)
		}
		if alerts, _ := h.e.Alerts(engine.AlertFilter{}, engine.Page{}); len(alerts) != 2 {
			t.Fatalf("%d episodes, want 2", len(alerts))
		}
	})
}
