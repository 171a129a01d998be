package memory_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/store/bolt"
	"github.com/remediator/remediator/store/memory"
)

// The memory store answers history reads and prunes as the bbolt store
// does: the same changes give the same answers from both.
func TestHistoryLikeBolt(t *testing.T) {
	disk, err := bolt.Open(filepath.Join(t.TempDir(), "r.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	mem := memory.New()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &engine.Changes{
		Incidents: []*engine.Incident{
			{ID: 1, Rev: 1, CreatedAt: t0, Status: engine.IncidentResolved, ResolvedAt: t0.Add(time.Minute), Alerts: []uint64{1, 2}, NextEvent: 2},
			{ID: 2, Rev: 1, CreatedAt: t0, Status: engine.IncidentOpen, Alerts: []uint64{3}, Firing: 1, NextEvent: 1},
		},
		Alerts: []*engine.Alert{
			{ID: 1, Rev: 1, Fingerprint: "a", Status: engine.StatusResolved, Incident: 1, FirstSeen: t0, LastSeen: t0},
			{ID: 2, Rev: 1, Fingerprint: "b", Status: engine.StatusResolved, Incident: 1, FirstSeen: t0, LastSeen: t0},
			{ID: 3, Rev: 1, Fingerprint: "c", Status: engine.StatusFiring, Incident: 2, FirstSeen: t0, LastSeen: t0},
			{ID: 4, Rev: 1, Fingerprint: "d", Status: engine.StatusResolved, FirstSeen: t0, LastSeen: t0},
		},
		Events: []engine.TimelineEvent{
			{Incident: 1, Seq: 0, At: t0, Type: engine.EventOpened}, {Incident: 1, Seq: 1, At: t0, Type: engine.EventResolved},
			{Incident: 2, Seq: 0, At: t0, Type: engine.EventOpened},
		},
		Escalations:   []*engine.Escalation{{Incident: 1, Rev: 1, FirstAckBy: "alice"}},
		Actions:       []*engine.ActionRecord{{ID: 1, Rev: 1, Incident: 1, Alert: 1, Status: engine.ActionSucceeded, CreatedAt: t0}},
		Notifications: []*engine.NotificationRecord{{ID: 1, Rev: 1, Incident: 1, Key: "k1", Status: engine.NoteDelivered, CreatedAt: t0}, {ID: 2, Rev: 1, Key: "k2", Status: engine.NotePending, CreatedAt: t0}},
		Audit:         []*engine.AuditEntry{{ID: 1, At: t0, Action: "login", Outcome: engine.AuditOK}, {ID: 2, At: t0.Add(48 * time.Hour), Action: "login", Outcome: engine.AuditOK}},
	}
	answers := func(s engine.Store) string {
		t.Helper()
		if err := s.Apply(ctx, c); err != nil {
			t.Fatal(err)
		}
		var got []any
		var ids []uint64
		if err := s.ScanAlerts(ctx, 4, func(a *engine.Alert) bool { ids = append(ids, a.ID); return len(ids) < 2 }); err != nil {
			t.Fatal(err)
		}
		h, ok, err := s.Incident(ctx, 1)
		a, aok, aerr := s.Alert(ctx, 3)
		_, nok, _ := s.Incident(ctx, 9)
		got = append(got, ids, h, ok, err, a.Fingerprint, aok, aerr, nok)
		res, err := s.Prune(ctx, engine.PruneRequest{ResolvedBefore: t0.Add(time.Hour), AuditBefore: t0.Add(time.Hour)})
		got = append(got, res, err)
		var left []uint64
		for _, scan := range []func(func(uint64) bool) error{
			func(f func(uint64) bool) error {
				return s.ScanIncidents(ctx, 0, func(r *engine.Incident) bool { return f(r.ID) })
			},
			func(f func(uint64) bool) error {
				return s.ScanAlerts(ctx, 0, func(r *engine.Alert) bool { return f(r.ID) })
			},
			func(f func(uint64) bool) error {
				return s.ScanActions(ctx, 0, func(r *engine.ActionRecord) bool { return f(r.ID) })
			},
			func(f func(uint64) bool) error {
				return s.ScanNotifications(ctx, 0, func(r *engine.NotificationRecord) bool { return f(r.ID) })
			},
			func(f func(uint64) bool) error {
				return s.ScanAudit(ctx, 0, func(r *engine.AuditEntry) bool { return f(r.ID) })
			},
			func(f func(uint64) bool) error {
				return s.ScanEscalations(ctx, func(r *engine.Escalation) bool { return f(r.Incident) })
			},
		} {
			if err := scan(func(id uint64) bool { left = append(left, id); return true }); err != nil {
				t.Fatal(err)
			}
			left = append(left, 0)
		}
		got = append(got, left)
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want := answers(disk)
	if got := answers(mem); got != want {
		t.Fatalf("memory store:\n%s\nbbolt store:\n%s", got, want)
	}
	// And the answers are the ones these records call for.
	const prune = `{"Incidents":1,"Alerts":3,"Events":2,"Actions":1,"Notifications":1,"Audit":1}`
	const left = `[2,0,3,0,0,2,0,2,0,0]`
	if !strings.Contains(want, `[3,2]`) || !strings.Contains(want, prune) || !strings.Contains(want, left) {
		t.Fatalf("answers %s: want alerts [3,2] below 4, prune %s, left %s", want, prune, left)
	}
}
