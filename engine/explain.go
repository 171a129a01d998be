package engine

import (
	"fmt"
	"time"
)

// AlertExplanation is what the engine would decide for one alert of a
// webhook, without doing it.
type AlertExplanation struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Status      string            `json:"status"`
	Level       Level             `json:"level"`
	Priority    string            `json:"priority"`
	RespondBy   time.Time         `json:"respond_by"`
	ResolveBy   time.Time         `json:"resolve_by"`
	Rules       []RuleTrace       `json:"rules"`
	// Known is true when the engine already has this episode.
	Known bool `json:"known"`
	// Suppressed says which silence or maintenance window mutes the alert
	// at that time: it would be stored and shown, not remediated or paged.
	Suppressed *Suppression `json:"suppressed,omitempty"`
	// Remediations are the remediation rules' verdicts and the actions
	// that would run. A suppressed alert's actions are refused.
	Remediations []PlannedRemediation `json:"remediations"`
}

// Explanation is what a webhook would do, alert by alert, and whom its
// incident would page.
type Explanation struct {
	At     time.Time          `json:"at"`
	Alerts []AlertExplanation `json:"alerts"`
	// Paging is whom the incident would page when, if nobody
	// acknowledged; nil when it pages nobody (no firing alert that is not
	// muted, or a level that pages nobody).
	Paging *PagingPlan `json:"paging,omitempty"`
}

// PagingPlan is an incident's notifications when it opens (its level's
// notify) and its escalation chain, step by step, at absolute times.
type PagingPlan struct {
	Level Level     `json:"level"`
	At    time.Time `json:"at"` // when the level's notify delay ends
	// People and Via, and Rooms: the level's notify list.
	People []string      `json:"people,omitempty"`
	Via    []string      `json:"via,omitempty"`
	Rooms  []string      `json:"rooms,omitempty"`
	Steps  []PlannedStep `json:"steps,omitempty"`
}

// Explain classifies every alert of w at time at with the same classifier
// input the ingest path builds, and changes nothing. SLA deadlines are
// counted from at, as for an incident opened then.
func (e *Engine) Explain(w *Webhook, at time.Time) Explanation {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := Explanation{At: at}
	for i := range w.Alerts {
		wa := &w.Alerts[i]
		level, rules := e.classifier.Explain(e.classifyInput(at, wa, w))
		x := AlertExplanation{Fingerprint: wa.Fingerprint, Labels: wa.Labels, Status: wa.Status, Level: level, Rules: rules}
		x.Priority, x.RespondBy, x.ResolveBy = e.classifier.SLA(level, at)
		if sup, ok := e.suppressed(wa.Labels, at); ok {
			x.Suppressed = &sup
		}
		if e.planner != nil {
			incident := uint64(0)
			if id, ok := e.current[w.Receiver+"/"+w.GroupKey]; ok {
				incident = id
			}
			in := e.classifyInput(at, wa, w)
			x.Remediations = e.planner.Plan(in, level, incident)
			// The safeguards the engine would apply now (cooldown, breaker,
			// busy target), by the same code, against the stored records.
			guard := map[string]string{}
			probe := &Alert{Fingerprint: wa.Fingerprint}
			for _, rm := range e.planner.Remedies(in, level, incident) {
				if st := e.byFP[wa.Fingerprint]; st != nil {
					for _, ep := range st.episodes {
						if ep.startsAt().Equal(wa.StartsAt) {
							probe = ep.alert
							if probe == nil { // it has left memory
								probe = &Alert{ID: ep.id, Fingerprint: wa.Fingerprint}
							}
						}
					}
				}
				guard[rm.Rule] = e.safeguard(&rm, probe, at, rm.Queue)
			}
			for i := range x.Remediations {
				for j := range x.Remediations[i].Actions {
					a := &x.Remediations[i].Actions[j]
					switch {
					case a.Refused != "":
					case x.Suppressed != nil:
						a.Refused = fmt.Sprintf("suppressed by %s until %s", x.Suppressed.By, x.Suppressed.Until.Format(time.RFC3339))
					case guard[x.Remediations[i].Rule] != "":
						a.Refused = guard[x.Remediations[i].Rule]
					}
				}
			}
		}
		if st := e.byFP[wa.Fingerprint]; st != nil {
			for _, ep := range st.episodes {
				if ep.startsAt().Equal(wa.StartsAt) {
					x.Known = true
				}
			}
		}
		out.Alerts = append(out.Alerts, x)
	}
	out.Paging = e.pagingPlan(out, at)
	return out
}

// pagingPlan is whom the incident of an explained webhook would page: its
// level is the most urgent of its firing alerts that no silence or window
// mutes. Callers hold mu.
func (e *Engine) pagingPlan(x Explanation, at time.Time) *PagingPlan {
	// The incident's level is the most urgent of its firing alerts, muted
	// or not (as attach does); it pages if one of them is not muted.
	var level Level
	found, unmuted := false, false
	for _, a := range x.Alerts {
		if a.Status != StatusFiring {
			continue
		}
		unmuted = unmuted || a.Suppressed == nil
		if !found || e.classifier.Rank(a.Level) < e.classifier.Rank(level) {
			level, found = a.Level, true
		}
	}
	if !found || !unmuted || !e.pages(level) {
		return nil
	}
	route, _ := e.routeFor(level)
	return &PagingPlan{Level: level, At: at.Add(route.Delay), People: route.People, Via: route.Via, Rooms: route.Rooms,
		Steps: e.planEscalation(level, at)}
}
