package memory

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/remediator/remediator/engine"
)

// The history reads and the prune of engine.Store, with the bbolt store's
// answers.

// ScanIncidents calls f with copies of the incidents below before, newest
// first, until f returns false.
func (s *Store) ScanIncidents(ctx context.Context, before uint64, f func(*engine.Incident) bool) error {
	return scan(s, ctx, s.incidents, before, func(in *engine.Incident) { in.Alerts = slices.Clone(in.Alerts) }, f)
}

// ScanAlerts is ScanIncidents for alert episodes.
func (s *Store) ScanAlerts(ctx context.Context, before uint64, f func(*engine.Alert) bool) error {
	return scan(s, ctx, s.alerts, before, nil, f)
}

// ScanActions is ScanIncidents for action records.
func (s *Store) ScanActions(ctx context.Context, before uint64, f func(*engine.ActionRecord) bool) error {
	return scan(s, ctx, s.actions, before, nil, f)
}

// ScanNotifications is ScanIncidents for notification records.
func (s *Store) ScanNotifications(ctx context.Context, before uint64, f func(*engine.NotificationRecord) bool) error {
	return scan(s, ctx, s.notes, before, func(n *engine.NotificationRecord) { n.History = slices.Clone(n.History) }, f)
}

// ScanAudit is ScanIncidents for audit entries.
func (s *Store) ScanAudit(ctx context.Context, before uint64, f func(*engine.AuditEntry) bool) error {
	return scan(s, ctx, s.audit, before, nil, f)
}

// ScanEscalations calls f with each escalation record, highest incident
// first, until f returns false.
func (s *Store) ScanEscalations(ctx context.Context, f func(*engine.Escalation) bool) error {
	return scan(s, ctx, s.escs, 0, nil, f)
}

// scan copies the records below before out of m under the lock, then
// calls f without it.
func scan[T any](s *Store, ctx context.Context, m map[uint64]T, before uint64, deep func(*T), f func(*T) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	var out []*T
	for _, k := range slices.Backward(slices.Sorted(maps.Keys(m))) {
		if before != 0 && k >= before {
			continue
		}
		cp := m[k]
		if deep != nil {
			deep(&cp)
		}
		out = append(out, &cp)
	}
	s.mu.Unlock()
	for _, r := range out {
		if !f(r) {
			return nil
		}
	}
	return nil
}

// Incident returns a kept incident with its alerts, timeline and
// escalation record.
func (s *Store) Incident(ctx context.Context, id uint64) (engine.IncidentHistory, bool, error) {
	if err := ctx.Err(); err != nil {
		return engine.IncidentHistory{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.incidents[id]
	if !ok {
		return engine.IncidentHistory{}, false, nil
	}
	in.Alerts = slices.Clone(in.Alerts)
	h := engine.IncidentHistory{Incident: in}
	for _, aid := range in.Alerts {
		if a, ok := s.alerts[aid]; ok {
			h.Alerts = append(h.Alerts, a)
		}
	}
	for k, ev := range s.events {
		if k[0] == id {
			h.Timeline = append(h.Timeline, ev)
		}
	}
	slices.SortFunc(h.Timeline, func(a, b engine.TimelineEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	if es, ok := s.escs[id]; ok {
		h.Escalation = &es
	}
	return h, true, nil
}

// Alert returns a kept alert episode.
func (s *Store) Alert(ctx context.Context, id uint64) (engine.Alert, bool, error) {
	if err := ctx.Err(); err != nil {
		return engine.Alert{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.alerts[id]
	return a, ok, nil
}

// recordLastIDs keeps the highest ID of each kind, as the bbolt store's
// prune does. Callers hold mu.
func (s *Store) recordLastIDs() {
	top := func(ids []uint64) uint64 {
		if len(ids) == 0 {
			return 0
		}
		return slices.Max(ids)
	}
	l := &s.last
	l.Alert = max(l.Alert, top(slices.Collect(maps.Keys(s.alerts))))
	l.Incident = max(l.Incident, top(slices.Collect(maps.Keys(s.incidents))))
	l.Action = max(l.Action, top(slices.Collect(maps.Keys(s.actions))))
	l.Notification = max(l.Notification, top(slices.Collect(maps.Keys(s.notes))))
	l.Audit = max(l.Audit, top(slices.Collect(maps.Keys(s.audit))))
}

// Prune deletes what r says retention no longer keeps, by the bbolt
// store's rules.
func (s *Store) Prune(ctx context.Context, r engine.PruneRequest) (engine.PruneResult, error) {
	var res engine.PruneResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordLastIDs()
	gone := map[uint64]bool{}
	for id, in := range s.incidents {
		if in.Status == engine.IncidentResolved && in.Firing == 0 && in.ResolvedAt.Before(r.ResolvedBefore) && !r.Held[id] {
			gone[id] = true
			for _, aid := range in.Alerts {
				if _, ok := s.alerts[aid]; ok {
					delete(s.alerts, aid)
					res.Alerts++
				}
			}
			delete(s.escs, id)
			delete(s.incidents, id)
			res.Incidents++
		}
	}
	for k := range s.events {
		if gone[k[0]] {
			delete(s.events, k)
			res.Events++
		}
	}
	orphan := func(incident uint64, created time.Time) bool {
		if gone[incident] {
			return true
		}
		_, stored := s.incidents[incident]
		return incident != 0 && !stored && !r.Held[incident] && created.Before(r.ResolvedBefore)
	}
	for id, a := range s.actions {
		if orphan(a.Incident, a.CreatedAt) || (a.Incident == 0 && a.CreatedAt.Before(r.ResolvedBefore) && a.FinishedAt.Before(r.ResolvedBefore)) {
			delete(s.actions, id)
			res.Actions++
		}
	}
	for id, n := range s.notes {
		done := n.Status != engine.NotePending && n.Status != engine.NoteSending && n.Status != engine.NoteSent
		if orphan(n.Incident, n.CreatedAt) || (n.Incident == 0 && done && n.CreatedAt.Before(r.ResolvedBefore)) {
			delete(s.notes, id)
			res.Notifications++
		}
	}
	for id, a := range s.alerts {
		if a.Incident == 0 && a.Status == engine.StatusResolved && a.LastSeen.Before(r.ResolvedBefore) {
			delete(s.alerts, id)
			res.Alerts++
		}
	}
	for id, a := range s.audit {
		if a.At.Before(r.AuditBefore) {
			delete(s.audit, id)
			res.Audit++
		}
	}
	return res, nil
}
