package engine

import (
	"fmt"

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

// IncidentFilter selects incidents; an empty Status selects all.
type IncidentFilter struct {
	Status IncidentStatus
}

// IncidentSummary is an incident with its alerts' fingerprints, as lists
// show it.
type IncidentSummary struct {
	Incident
	Fingerprints []string
}

// Incidents lists incidents newest first. next is the cursor of the next
// page, 0 when there is none.
func (e *Engine) Incidents(f IncidentFilter, p Page) (out []IncidentSummary, next uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.incidents.newestFirst(p.Cursor, func(inc *Incident) bool {
		if f.Status != "" && inc.Status != f.Status {
			return true
		}
		if len(out) == p.limit() {
			next = out[len(out)-1].ID
			return false
		}
		out = append(out, e.summary(inc))
		return true
	})
	return out, next
}

func (e *Engine) summary(inc *Incident) IncidentSummary {
	fps := make([]string, len(inc.Alerts))
	for i, id := range inc.Alerts {
		fps[i] = e.alerts.get(id).Fingerprint
	}
	return IncidentSummary{Incident: *inc, Fingerprints: fps}
}

// IncidentDetail is an incident with its alerts and timeline.
type IncidentDetail struct {
	IncidentSummary
	Alerts   []Alert
	Timeline []TimelineEvent
	// Escalation is the incident's place in its chain (nil: none).
	Escalation *Escalation
}

// Incident returns one incident with its alerts and timeline.
func (e *Engine) Incident(id uint64) (IncidentDetail, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	inc := e.incidents.get(id)
	if inc == nil {
		return IncidentDetail{}, fmt.Errorf("incident %d: %w", id, ErrNotFound)
	}
	d := IncidentDetail{IncidentSummary: e.summary(inc)}
	for _, aid := range inc.Alerts {
		d.Alerts = append(d.Alerts, *e.alerts.get(aid))
	}
	d.Timeline = append([]TimelineEvent(nil), e.timeline[id]...)
	if es := e.escRecord(id); es != nil {
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
	e.mu.Lock()
	defer e.mu.Unlock()
	e.alerts.newestFirst(p.Cursor, func(a *Alert) bool {
		if f.Status != "" && a.Status != f.Status {
			return true
		}
		if len(out) == p.limit() {
			next = out[len(out)-1].ID
			return false
		}
		out = append(out, *a)
		return true
	})
	return out, next
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
