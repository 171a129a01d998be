package engine

import (
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
	defer e.mu.Unlock()
	now := e.clock.Now()
	var out []SLAEntry
	for _, inc := range e.incidents.items {
		if inc == nil || inc.CreatedAt.Before(from) || !inc.CreatedAt.Before(to) {
			continue
		}
		en := SLAEntry{Incident: inc.ID, Title: inc.Title, Level: inc.Level, Priority: inc.Priority, CreatedAt: inc.CreatedAt,
			AckAt: inc.AcknowledgedAt, AckBy: inc.AcknowledgedBy, ResolvedAt: inc.ResolvedAt, ResolvedBy: inc.ResolvedBy,
			RespondBy: inc.RespondBy, ResolveBy: inc.ResolveBy}
		if es := e.escRecord(inc.ID); es != nil && !es.FirstAckAt.IsZero() {
			en.AckAt, en.AckBy = es.FirstAckAt, es.FirstAckBy
		}
		en.RespondBreached = late(en.RespondBy, en.AckAt, en.ResolvedAt, now)
		en.ResolveBreached = late(en.ResolveBy, en.ResolvedAt, time.Time{}, now)
		out = append(out, en)
	}
	return out
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
	defer e.mu.Unlock()
	var d Digest
	for _, a := range e.alerts.items {
		if a != nil && slices.Contains(levels, a.Level) && !a.FirstSeen.Before(from) && a.FirstSeen.Before(to) {
			d.Alerts = append(d.Alerts, *a)
		}
	}
	for _, id := range e.current {
		if inc := e.incidents.get(id); inc != nil && slices.Contains(levels, inc.Level) && inc.Status != IncidentResolved {
			cp := *inc
			cp.Alerts = slices.Clone(inc.Alerts)
			d.Incidents = append(d.Incidents, cp)
		}
	}
	slices.SortFunc(d.Incidents, func(a, b Incident) int { return int(a.ID) - int(b.ID) })
	return d
}
