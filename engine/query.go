package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Page asks for one page of a list, newest first. Cursor is the ID of the
// last item of the previous page (0 for the first page). A Limit below 1
// means DefaultLimit.
type Page struct {
	Limit  int
	Cursor uint64
}

// DefaultLimit is the page size when a Page has none.
const DefaultLimit = 50

func (p Page) limit() int {
	if p.Limit < 1 {
		return DefaultLimit
	}
	return p.Limit
}

// IncidentFilter selects incidents; an empty field selects all. Level and
// Priority match without regard to case ("P1" is "p1").
type IncidentFilter struct {
	Status   IncidentStatus
	Level    Level
	Priority string
}

func (f *IncidentFilter) match(inc *Incident) bool {
	return (f.Status == "" || inc.Status == f.Status) &&
		(f.Level == "" || strings.EqualFold(string(inc.Level), string(f.Level))) &&
		(f.Priority == "" || strings.EqualFold(inc.Priority, f.Priority))
}

// SummaryFingerprints bounds the fingerprints a summary carries, so that a
// list of incidents stays small however many alerts each has (the alerts
// themselves are paged by Incident).
const SummaryFingerprints = 100

// IncidentSummary is an incident with the fingerprints of its first
// SummaryFingerprints alerts, as lists show it. Incident.Alerts and
// Firing count them all.
type IncidentSummary struct {
	Incident
	Fingerprints []string
}

// Resolved is how many of the incident's alerts have resolved.
func (s IncidentSummary) Resolved() int { return len(s.Alerts) - s.Firing }

// Incidents lists incidents newest first. next is the cursor of the next
// page, 0 when there is none.
func (e *Engine) Incidents(f IncidentFilter, p Page) (out []IncidentSummary, next uint64) {
	// Only resolved incidents leave memory.
	need := func() bool { return f.Status == "" || f.Status == IncidentResolved }
	out, next = listPage(e, p, need, func(limit int) (out []IncidentSummary) {
		e.incidents.newestFirst(p.Cursor, func(inc *Incident) bool {
			if f.match(inc) {
				out = append(out, e.summary(inc))
			}
			return len(out) < limit
		})
		return out
	}, func(id uint64) bool { return e.incidents.get(id) != nil },
		func(ctx context.Context, before uint64, fn func(*IncidentSummary) bool) error {
			return e.store.ScanIncidents(ctx, before, func(inc *Incident) bool { return fn(&IncidentSummary{Incident: *inc}) })
		},
		func(s *IncidentSummary) bool { return f.match(&s.Incident) }, func(s *IncidentSummary) uint64 { return s.ID })
	e.storedFingerprints(out)
	return out, next
}

// Summary is inc (a copy, such as Acknowledge returns) as lists show it.
func (e *Engine) Summary(inc Incident) IncidentSummary {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.summary(&inc)
}

// summary copies inc with its first fingerprints. Callers hold mu.
func (e *Engine) summary(inc *Incident) IncidentSummary {
	ids := inc.Alerts[:min(len(inc.Alerts), SummaryFingerprints)]
	fps := make([]string, len(ids))
	for i, id := range ids {
		fps[i] = e.alerts.get(id).Fingerprint
	}
	return IncidentSummary{Incident: *inc, Fingerprints: fps}
}

// IncidentDetail is an incident with one page of its alerts and its
// timeline.
type IncidentDetail struct {
	IncidentSummary
	// Alerts is the page of the incident's alerts asked for, oldest
	// first; AlertsNext the cursor of the next page (0: none).
	Alerts     []Alert
	AlertsNext uint64
	// Timeline is the page of its timeline asked for, oldest first;
	// TimelineNext the cursor of the next page (the Seq after its last
	// event; 0: none) and TimelineTotal how many events it has.
	Timeline      []TimelineEvent
	TimelineNext  uint64
	TimelineTotal int
	// Escalation is the incident's place in its chain (nil: none).
	Escalation *Escalation
}

// Incident returns one incident with a page of its alerts, oldest first
// (alerts.Cursor is the ID of the last alert of the previous page), and a
// page of its timeline, oldest first (timeline.Cursor is the previous
// page's TimelineNext).
func (e *Engine) Incident(id uint64, alerts, timeline Page) (IncidentDetail, error) {
	e.mu.Lock()
	if inc := e.incidents.get(id); inc != nil {
		defer e.mu.Unlock()
		return detail(e.summary(inc), e.alerts.get, e.timeline[id], e.escRecord(id), alerts, timeline)
	}
	history := e.hasHistory
	e.mu.Unlock()
	if history {
		if h, ok := e.storedIncident(id); ok {
			byID := make(map[uint64]*Alert, len(h.Alerts))
			fps := make([]string, 0, min(len(h.Alerts), SummaryFingerprints))
			for i := range h.Alerts {
				byID[h.Alerts[i].ID] = &h.Alerts[i]
				if len(fps) < SummaryFingerprints {
					fps = append(fps, h.Alerts[i].Fingerprint)
				}
			}
			get := func(id uint64) *Alert { return byID[id] }
			return detail(IncidentSummary{Incident: h.Incident, Fingerprints: fps}, get, h.Timeline, h.Escalation, alerts, timeline)
		}
	}
	return IncidentDetail{}, fmt.Errorf("incident %d: %w", id, ErrNotFound)
}

// detail pages an incident's alerts (get finds one) and its timeline
// (events, in Seq order).
func detail(s IncidentSummary, get func(uint64) *Alert, events []TimelineEvent, es *Escalation, alerts, timeline Page) (IncidentDetail, error) {
	d := IncidentDetail{IncidentSummary: s}
	id := s.ID
	rest := s.Alerts
	if alerts.Cursor != 0 {
		// The cursor is found where it stands in arrival order.
		i := slices.Index(rest, alerts.Cursor)
		if i < 0 {
			return IncidentDetail{}, fmt.Errorf("alerts cursor %d: not an alert of incident %d: %w", alerts.Cursor, id, ErrInvalid)
		}
		rest = rest[i+1:]
	}
	for _, aid := range rest[:min(len(rest), alerts.limit())] {
		if a := get(aid); a != nil {
			d.Alerts = append(d.Alerts, *a)
		}
	}
	if len(rest) > alerts.limit() && len(d.Alerts) > 0 {
		d.AlertsNext = d.Alerts[len(d.Alerts)-1].ID
	}
	d.TimelineTotal = len(events)
	if timeline.Cursor != 0 {
		// The cursor is the Seq after the previous page's last event.
		i, _ := slices.BinarySearchFunc(events, timeline.Cursor, func(ev TimelineEvent, seq uint64) int { return cmp.Compare(uint64(ev.Seq), seq) })
		events = events[i:]
	}
	d.Timeline = append([]TimelineEvent(nil), events[:min(len(events), timeline.limit())]...)
	if len(events) > timeline.limit() {
		d.TimelineNext = uint64(d.Timeline[len(d.Timeline)-1].Seq) + 1
	}
	if es != nil {
		cp := *es
		d.Escalation = &cp
	}
	return d, nil
}

// AlertFilter selects alert episodes; an empty Status selects all.
type AlertFilter struct {
	Status string
}

// Alerts lists alert episodes newest first.
func (e *Engine) Alerts(f AlertFilter, p Page) (out []Alert, next uint64) {
	match := func(a *Alert) bool { return f.Status == "" || a.Status == f.Status }
	need := func() bool { return f.Status != StatusFiring } // firing alerts stay in memory
	return listPage(e, p, need, func(limit int) (out []Alert) {
		e.alerts.newestFirst(p.Cursor, func(a *Alert) bool {
			if match(a) {
				out = append(out, *a)
			}
			return len(out) < limit
		})
		return out
	}, func(id uint64) bool { return e.alerts.get(id) != nil }, e.store.ScanAlerts, match, func(a *Alert) uint64 { return a.ID })
}

// incidentCollector exports unresolved incidents by level and status.
type incidentCollector struct{ e *Engine }

var incidentsDesc = prometheus.NewDesc("remediator_incidents_unresolved",
	"Incidents not yet resolved, by level and status (open or acknowledged).",
	[]string{"level", "status"}, nil)

func (c incidentCollector) Describe(ch chan<- *prometheus.Desc) { ch <- incidentsDesc }

func (c incidentCollector) Collect(ch chan<- prometheus.Metric) {
	type k struct {
		level  Level
		status IncidentStatus
	}
	counts := map[k]int{}
	c.e.mu.Lock()
	for _, id := range c.e.current {
		inc := c.e.incidents.get(id)
		counts[k{inc.Level, inc.Status}]++
	}
	c.e.mu.Unlock()
	for key, n := range counts {
		ch <- prometheus.MustNewConstMetric(incidentsDesc, prometheus.GaugeValue, float64(n), string(key.level), string(key.status))
	}
}
