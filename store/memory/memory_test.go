package memory

import (
	"context"
	"testing"

	"github.com/remediator/remediator/engine"
)

func TestPutIfNewerAndOrder(t *testing.T) {
	ctx := context.Background()
	s := New()
	apply := func(c *engine.Changes) {
		t.Helper()
		if err := s.Apply(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	apply(&engine.Changes{
		Alerts:    []*engine.Alert{{ID: 2, Rev: 5, Status: "resolved"}, {ID: 1, Rev: 1}},
		Incidents: []*engine.Incident{{ID: 1, Rev: 5, Title: "new", Alerts: []uint64{1, 2}}},
		Events:    []engine.TimelineEvent{{Incident: 1, Seq: 1, Type: "b"}, {Incident: 1, Seq: 0, Type: "a"}},
	})
	// An older revision arriving late, and a repeated event, change nothing.
	apply(&engine.Changes{
		Alerts:    []*engine.Alert{{ID: 2, Rev: 4, Status: "firing"}},
		Incidents: []*engine.Incident{{ID: 1, Rev: 4, Title: "old"}},
		Events:    []engine.TimelineEvent{{Incident: 1, Seq: 0, Type: "again"}},
	})
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Alerts) != 2 || snap.Alerts[0].ID != 1 || snap.Alerts[1].Status != "resolved" {
		t.Fatalf("alerts = %+v", snap.Alerts)
	}
	if snap.Incidents[0].Title != "new" || len(snap.Incidents[0].Alerts) != 2 {
		t.Fatalf("incident = %+v", snap.Incidents[0])
	}
	if len(snap.Events) != 2 || snap.Events[0].Type != "a" || snap.Events[1].Type != "b" {
		t.Fatalf("events = %+v", snap.Events)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Apply(cancelled, &engine.Changes{Alerts: []*engine.Alert{{ID: 9, Rev: 1}}}); err == nil {
		t.Fatal("Apply with a cancelled context succeeded")
	}
}
