package engine

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// SLAEntry is one incident's service-level facts: when it opened, was
// first acknowledged and resolved, against its level's clocks.
type SLAEntry struct {
	Incident   uint64    `json:"incident"`
	Title      string    `json:"title"`
	Level      Level     `json:"level"`
	Priority   string    `json:"priority,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	AckAt      time.Time `json:"ack_at"` // the first acknowledgement (zero: none)
	AckBy      string    `json:"ack_by,omitempty"`
	ResolvedAt time.Time `json:"resolved_at"`
	ResolvedBy string    `json:"resolved_by,omitempty"`
	RespondBy  time.Time `json:"respond_by"`
	ResolveBy  time.Time `json:"resolve_by"`
	// RespondBreached: not acknowledged by RespondBy (acknowledged late,
	// or not at all while the clock ran out). ResolveBreached likewise.
	RespondBreached bool `json:"respond_breached"`
	ResolveBreached bool `json:"resolve_breached"`
}

// SLAEntries returns the incidents opened in [from, to), oldest first,
// with their SLA facts as of now.
func (e *Engine) SLAEntries(from, to time.Time) []SLAEntry {
	e.mu.Lock()
	now := e.clock.Now()
	var out []SLAEntry
	e.incidents.all(func(inc *Incident) {
		if !inc.CreatedAt.Before(from) && inc.CreatedAt.Before(to) {
			out = append(out, slaEntry(inc, e.escRecord(inc.ID), now))
		}
	})
	history := e.hasHistory
	e.mu.Unlock()
	if !history {
		return out
	}
	// Those that have left memory, from the store, with their escalation
	// records (the first acknowledgement).
	var stored []Incident
	err := e.store.ScanIncidents(context.Background(), 0, func(inc *Incident) bool {
		if inc.CreatedAt.Before(from.Add(-clockSlack)) {
			return false
		}
		if !inc.CreatedAt.Before(from) && inc.CreatedAt.Before(to) {
			stored = append(stored, *inc)
		}
		return true
	})
	if err != nil {
		e.log.Error("SLA history not read from the store; the report has only what memory holds", "err", err)
		return out
	}
	if len(stored) == 0 {
		return out
	}
	e.mu.Lock()
	kept := stored[:0]
	for _, inc := range stored {
		if e.incidents.get(inc.ID) == nil {
			kept = append(kept, inc)
		}
	}
	e.mu.Unlock()
	escs := map[uint64]*Escalation{}
	if len(kept) > 0 {
		lowest := kept[len(kept)-1].ID
		err = e.store.ScanEscalations(context.Background(), func(es *Escalation) bool {
			if es.Incident < lowest {
				return false
			}
			escs[es.Incident] = es
			return true
		})
		if err != nil {
			e.log.Error("SLA history not read from the store; the report has only what memory holds", "err", err)
			return out
		}
	}
	for i := range kept {
		out = append(out, slaEntry(&kept[i], escs[kept[i].ID], now))
	}
	slices.SortFunc(out, func(a, b SLAEntry) int { return cmp.Compare(a.Incident, b.Incident) })
	// One that left memory during the walk came from both.
	return slices.CompactFunc(out, func(a, b SLAEntry) bool { return a.Incident == b.Incident })
}

// slaEntry is inc's SLA facts as of now; es is its escalation record
// (nil: none).
func slaEntry(inc *Incident, es *Escalation, now time.Time) SLAEntry {
	en := SLAEntry{Incident: inc.ID, Title: inc.Title, Level: inc.Level, Priority: inc.Priority, CreatedAt: inc.CreatedAt,
		AckAt: inc.AcknowledgedAt, AckBy: inc.AcknowledgedBy, ResolvedAt: inc.ResolvedAt, ResolvedBy: inc.ResolvedBy,
		RespondBy: inc.RespondBy, ResolveBy: inc.ResolveBy}
	if es != nil && !es.FirstAckAt.IsZero() {
		en.AckAt, en.AckBy = es.FirstAckAt, es.FirstAckBy
	}
	en.RespondBreached = late(en.RespondBy, en.AckAt, en.ResolvedAt, now)
	en.ResolveBreached = late(en.ResolveBy, en.ResolvedAt, time.Time{}, now)
	return en
}

// late reports whether deadline passed before done (or, while not done,
// before now). An incident resolved before its respond-by without an
// acknowledgement did not breach it (stopped is when the clock stopped).
func late(deadline, done, stopped, now time.Time) bool {
	switch {
	case deadline.IsZero():
		return false
	case !done.IsZero():
		return done.After(deadline)
	case !stopped.IsZero():
		return stopped.After(deadline)
	}
	return !now.Before(deadline)
}

// escRecord returns an incident's escalation record, also of a resolved
// one (which the engine no longer keeps in e.esc). Callers hold mu.
func (e *Engine) escRecord(id uint64) *Escalation {
	if es := e.esc[id]; es != nil {
		return es
	}
	return e.escDone[id]
}

// Digest is what a periodic report lists: alerts of some levels that
// started in a period, and the incidents of those levels still open.
type Digest struct {
	Alerts    []Alert    `json:"alerts"`
	Incidents []Incident `json:"incidents"`
}

// DigestOf returns the alerts of the given levels first seen in [from,
// to), and the unresolved incidents of those levels, oldest first.
func (e *Engine) DigestOf(from, to time.Time, levels []Level) Digest {
	e.mu.Lock()
	var d Digest
	pick := func(a *Alert) bool {
		return slices.Contains(levels, a.Level) && !a.FirstSeen.Before(from) && a.FirstSeen.Before(to)
	}
	e.alerts.all(func(a *Alert) {
		if pick(a) {
			d.Alerts = append(d.Alerts, *a)
		}
	})
	for _, id := range e.current {
		if inc := e.incidents.get(id); inc != nil && slices.Contains(levels, inc.Level) && inc.Status != IncidentResolved {
			cp := *inc
			cp.Alerts = slices.Clone(inc.Alerts)
			d.Incidents = append(d.Incidents, cp)
		}
	}
	history := e.hasHistory
	e.mu.Unlock()
	slices.SortFunc(d.Incidents, func(a, b Incident) int { return cmp.Compare(a.ID, b.ID) })
	if !history {
		return d
	}
	// Alerts that have left memory (the unresolved incidents never do).
	var stored []Alert
	err := e.store.ScanAlerts(context.Background(), 0, func(a *Alert) bool {
		if a.FirstSeen.Before(from.Add(-clockSlack)) {
			return false
		}
		if pick(a) {
			stored = append(stored, *a)
		}
		return true
	})
	if err != nil {
		e.log.Error("digest history not read from the store; the digest has only what memory holds", "err", err)
		return d
	}
	if len(stored) == 0 {
		return d
	}
	e.mu.Lock()
	for _, a := range stored {
		if e.alerts.get(a.ID) == nil {
			d.Alerts = append(d.Alerts, a)
		}
	}
	e.mu.Unlock()
	slices.SortFunc(d.Alerts, func(a, b Alert) int { return cmp.Compare(a.ID, b.ID) })
	d.Alerts = slices.CompactFunc(d.Alerts, func(a, b Alert) bool { return a.ID == b.ID })
	return d
}
