// Package memory is an engine.Store that keeps everything in memory and
// forgets it at exit. `remediator explain` runs the engine on it, so that
// explaining a payload never touches (or waits for) the real store.
package memory

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/remediator/remediator/engine"
)

// Store is an in-memory engine.Store with the same put-if-newer rule as
// the bbolt store.
type Store struct {
	mu        sync.Mutex
	alerts    map[uint64]engine.Alert
	incidents map[uint64]engine.Incident
	events    map[[2]uint64]engine.TimelineEvent
	silences  map[uint64]engine.Silence
	actions   map[uint64]engine.ActionRecord
	notes     map[uint64]engine.NotificationRecord
	escs      map[uint64]engine.Escalation
	overrides map[uint64]engine.ScheduleOverride
	audit     map[uint64]engine.AuditEntry
	last      engine.LastIDs // kept by Prune
}

var _ engine.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{alerts: map[uint64]engine.Alert{}, incidents: map[uint64]engine.Incident{}, events: map[[2]uint64]engine.TimelineEvent{}, silences: map[uint64]engine.Silence{}, actions: map[uint64]engine.ActionRecord{}, notes: map[uint64]engine.NotificationRecord{}, escs: map[uint64]engine.Escalation{}, overrides: map[uint64]engine.ScheduleOverride{}, audit: map[uint64]engine.AuditEntry{}}
}

// Apply keeps c: a record only if newer than the one kept, an event once.
func (s *Store) Apply(ctx context.Context, c *engine.Changes) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range c.Alerts {
		if old, ok := s.alerts[a.ID]; !ok || old.Rev < a.Rev {
			s.alerts[a.ID] = *a
		}
	}
	for _, in := range c.Incidents {
		if old, ok := s.incidents[in.ID]; !ok || old.Rev < in.Rev {
			cp := *in
			cp.Alerts = slices.Clone(in.Alerts)
			s.incidents[in.ID] = cp
		}
	}
	for _, ev := range c.Events {
		k := [2]uint64{ev.Incident, uint64(ev.Seq)}
		if _, ok := s.events[k]; !ok {
			s.events[k] = ev
		}
	}
	for _, sl := range c.Silences {
		if old, ok := s.silences[sl.ID]; !ok || old.Rev < sl.Rev {
			s.silences[sl.ID] = *sl
		}
	}
	for _, a := range c.Actions {
		if old, ok := s.actions[a.ID]; !ok || old.Rev < a.Rev {
			s.actions[a.ID] = *a
		}
	}
	for _, n := range c.Notifications {
		if old, ok := s.notes[n.ID]; !ok || old.Rev < n.Rev {
			cp := *n
			cp.History = slices.Clone(n.History)
			s.notes[n.ID] = cp
		}
	}
	for _, es := range c.Escalations {
		if old, ok := s.escs[es.Incident]; !ok || old.Rev < es.Rev {
			s.escs[es.Incident] = *es
		}
	}
	for _, o := range c.Overrides {
		if old, ok := s.overrides[o.ID]; !ok || old.Rev < o.Rev {
			s.overrides[o.ID] = *o
		}
	}
	for _, a := range c.Audit {
		if _, ok := s.audit[a.ID]; !ok { // append-only
			s.audit[a.ID] = *a
		}
	}
	return nil
}

// Load returns copies of everything kept, in ID (and event) order.
func (s *Store) Load(ctx context.Context) (*engine.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := &engine.Snapshot{
		Alerts:        copies(s.alerts, nil),
		Incidents:     copies(s.incidents, func(in *engine.Incident) { in.Alerts = slices.Clone(in.Alerts) }),
		Silences:      copies(s.silences, nil),
		Actions:       copies(s.actions, nil),
		Notifications: copies(s.notes, func(n *engine.NotificationRecord) { n.History = slices.Clone(n.History) }),
		Escalations:   copies(s.escs, nil), // keyed by incident
		Overrides:     copies(s.overrides, nil),
		Audit:         copies(s.audit, nil),
		LastIDs:       s.last,
	}
	for _, ev := range s.events {
		snap.Events = append(snap.Events, ev)
	}
	slices.SortFunc(snap.Events, func(a, b engine.TimelineEvent) int {
		if c := cmpU(a.Incident, b.Incident); c != 0 {
			return c
		}
		return cmpU(uint64(a.Seq), uint64(b.Seq))
	})
	return snap, nil
}

// copies returns copies of m's values in key order (nil when m is
// empty); deep, when set, copies what a value shares with the kept one.
func copies[T any](m map[uint64]T, deep func(*T)) []*T {
	if len(m) == 0 {
		return nil
	}
	out := make([]*T, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		cp := m[k]
		if deep != nil {
			deep(&cp)
		}
		out = append(out, &cp)
	}
	return out
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
