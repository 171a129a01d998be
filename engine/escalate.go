package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Timeline events of escalation and SLA tracking.
const (
	EventEscalation = "escalation"   // a step paged, a step found nobody, the chain ended or started over
	EventAckExpired = "ack_expired"  // an acknowledgement timed out: the incident is open again
	EventSLABreach  = "sla_breached" // not acknowledged (or not resolved) within the level's clock
)

// Chain is an escalation chain: its steps page in turn, each after the
// previous one's wait, until someone acknowledges; then it runs Repeat
// more times.
type Chain struct {
	Name  string
	Steps []ChainStep
	// Repeat is how many more times the chain runs after its last step.
	Repeat int
	// AckTimeout, when set, is how long an acknowledgement holds before
	// the incident is open again and the chain starts over.
	AckTimeout time.Duration
}

// ChainStep is one step of a chain.
type ChainStep struct {
	// Targets: schedule:NAME, schedule-next:NAME, person:ID, team:NAME
	// (resolved by NotifyConfig.Resolve), or paged (everyone paged so far
	// for the incident).
	Targets []string
	Via     []string
	// Wait is how long the step waits for an acknowledgement before the
	// next one fires.
	Wait time.Duration
}

// TargetPaged is the step target "everyone paged so far".
const TargetPaged = "paged"

// nobodyRetry is how long a chain in which no step finds anyone waits
// before it tries again.
const nobodyRetry = 5 * time.Minute

// Escalation is an incident's place in its chain, persisted: the step due
// next and when. A restart reloads it and fires an overdue step at the
// next Tick, once (the step moves on in the same write as its pages).
type Escalation struct {
	Incident uint64 `json:"incident"`
	Rev      uint64 `json:"rev"`
	Chain    string `json:"chain"`
	// Cycle counts restarts of the chain (an acknowledgement that
	// expired, a level with another chain); Round the repeats of one
	// cycle; Step the next step to fire.
	Cycle int `json:"cycle"`
	Round int `json:"round"`
	Step  int `json:"step"`
	// DueAt is when Step fires; zero when nothing is pending (stopped by
	// an acknowledgement or resolution, or the chain has ended).
	DueAt time.Time `json:"due_at"`
	// AckExpiresAt is when the current acknowledgement stops holding.
	AckExpiresAt time.Time `json:"ack_expires_at"`
	// FirstAckAt and FirstAckBy are the first acknowledgement, for time
	// to acknowledge (a later one after an expiry does not reset it).
	FirstAckAt time.Time `json:"first_ack_at"`
	FirstAckBy string    `json:"first_ack_by,omitempty"`
	// RespondBreached and ResolveBreached record that the SLA clocks ran
	// out, so each breach is recorded once.
	RespondBreached bool `json:"respond_breached,omitempty"`
	ResolveBreached bool `json:"resolve_breached,omitempty"`
}

// escalation returns the incident's record, creating it. Callers hold mu.
func (e *Engine) escalation(inc *Incident) *Escalation {
	es := e.esc[inc.ID]
	if es == nil {
		es = &Escalation{Incident: inc.ID}
		e.esc[inc.ID] = es
	}
	return es
}

// touchEscalation marks es changed in c. Callers hold mu.
func (c *change) touchEscalation(es *Escalation) {
	es.Rev = c.rev
	c.escalations = append(c.escalations, es)
}

// chainFor returns the chain of a level. Callers hold mu.
func (e *Engine) chainFor(l Level) (Chain, bool) {
	if e.out.cfg == nil {
		return Chain{}, false
	}
	ch, ok := e.out.cfg.Chains[l]
	return ch, ok && len(ch.Steps) > 0
}

// startChain starts (or, for another chain, restarts) an incident's
// chain with its first step due at due. Callers hold mu.
func (e *Engine) startChain(c *change, inc *Incident, due time.Time) {
	chain, ok := e.chainFor(inc.Level)
	if !ok {
		return
	}
	es := e.escalation(inc)
	if es.Chain == chain.Name && (!es.DueAt.IsZero() || es.Step > 0 || es.Round > 0) {
		return // running, or ran
	}
	if es.Chain != "" {
		es.Cycle++
		c.event(inc, EventEscalation, "remediator", "level %s: escalation chain %s replaces %s", inc.Level, chain.Name, es.Chain)
	}
	es.Chain, es.Step, es.Round, es.DueAt = chain.Name, 0, 0, due
	c.touchEscalation(es)
	if !due.After(c.now) {
		e.advance(c, inc, es)
	}
}

// advance fires the incident's due step: it pages the step's people on
// its channels and sets the next step's due time. A step that finds
// nobody (a gap in a schedule) falls through to the next at once. Callers
// hold mu.
func (e *Engine) advance(c *change, inc *Incident, es *Escalation) {
	e.advanceStep(c, inc, es, true)
}

// advanceOnce is advance for an incident a digest pulls forward: it does
// not pull others in turn.
func (e *Engine) advanceOnce(c *change, inc *Incident, es *Escalation) {
	e.advanceStep(c, inc, es, false)
}

func (e *Engine) advanceStep(c *change, inc *Incident, es *Escalation, batch bool) {
	defer c.touchEscalation(es)
	chain, ok := e.chainFor(inc.Level)
	switch {
	case !ok:
		if !es.DueAt.IsZero() {
			c.event(inc, EventEscalation, "remediator", "%s stopped: level %s has no escalation chain now", es.Chain, inc.Level)
		}
		es.DueAt = time.Time{}
		return
	case chain.Name != es.Chain:
		// The config changed (a reload), or the chain was never bound (an
		// acknowledgement before any step): start the level's chain.
		if es.Chain != "" {
			es.Cycle++
			c.event(inc, EventEscalation, "remediator", "level %s now escalates by %s (was %s): starting it", inc.Level, chain.Name, es.Chain)
		}
		es.Chain, es.Step, es.Round = chain.Name, 0, 0
	}
	if until, muted := e.muteUntil(inc, c.now); muted {
		// Silenced: the chain waits for the silence instead of climbing
		// with pages nobody gets.
		if !es.DueAt.Equal(until) {
			c.event(inc, EventEscalation, "remediator", "%s paused: the incident's alerts are silenced until %s", chain.Name, until.UTC().Format(time.RFC3339))
		}
		es.DueAt = until
		return
	}
	if c.chainMoved == nil {
		c.chainMoved = map[uint64]bool{}
	}
	c.chainMoved[inc.ID] = true
	startStep, startRound, nobody := es.Step, es.Round, 0
	for guard := 0; guard <= len(chain.Steps)*(chain.Repeat+1); guard++ {
		idx, ok := nextStep(&chain, es)
		if !ok {
			es.DueAt = time.Time{}
			c.event(inc, EventEscalation, "remediator", "%s: every step has paged; nobody acknowledged", chain.Name)
			return
		}
		st := chain.Steps[idx]
		people, why := e.stepPeople(inc, st, c.now)
		if len(people) == 0 {
			nobody++
			if nobody >= len(chain.Steps) {
				// No step of the chain finds anyone (a gap in every
				// schedule): try again later rather than use up the chain.
				es.Step, es.Round, es.DueAt = startStep, startRound, c.now.Add(nobodyRetry)
				c.event(inc, EventEscalation, "remediator", "%s: no step finds anyone to page (%s); trying again at %s",
					chain.Name, why, es.DueAt.UTC().Format(time.RFC3339))
				return
			}
			c.event(inc, EventEscalation, "remediator", "%s step %d pages nobody (%s); next step", chain.Name, idx+1, why)
			continue
		}
		event := NotifyEscalated
		if es.Cycle == 0 && es.Round == 0 && idx == 0 {
			event = NotifyFiring
		}
		extra := fmt.Sprintf(":%s.c%d.r%d.s%d", chain.Name, es.Cycle, es.Round, idx)
		detail := fmt.Sprintf("escalation %s step %d", chain.Name, idx+1)
		route, _ := e.routeFor(inc.Level)
		digest := event == NotifyFiring && route.Delay > 0
		for _, pid := range people {
			p, ok := e.out.cfg.People[pid]
			if !ok {
				continue
			}
			for _, ch := range st.Via {
				if r := e.queue(c, inc, event, extra, &p, ch, c.now, "", detail, 0); r != nil && digest {
					r.Digest = true
				}
			}
		}
		if digest && batch {
			e.batchFirstSteps(c, inc, chain.Name)
		}
		es.DueAt = c.now.Add(st.Wait)
		next := "then the next step"
		if _, more := peekStep(&chain, es); !more {
			next = "the last step"
		}
		c.event(inc, EventEscalation, "remediator", "%s step %d: paging %s by %s; waits %s for an acknowledgement, %s",
			chain.Name, idx+1, strings.Join(people, ", "), strings.Join(st.Via, ", "), st.Wait, next)
		return
	}
}

// batchFirstSteps fires now the first step of every other open incident
// of the chain that is still waiting out its level's notify delay, so that
// their pages go out with inc's as one digest per recipient and channel
// ("batched up to notify_within"). Callers hold mu.
func (e *Engine) batchFirstSteps(c *change, inc *Incident, chain string) {
	for id, es := range e.esc {
		if id == inc.ID || es.Chain != chain || es.Cycle != 0 || es.Round != 0 || es.Step != 0 || es.DueAt.IsZero() || !es.DueAt.After(c.now) {
			continue
		}
		other := e.incidents.get(id)
		if other == nil || other.Status != IncidentOpen {
			continue
		}
		if _, muted := e.muteUntil(other, c.now); muted {
			continue
		}
		c.event(other, EventEscalation, "remediator", "%s step 1 goes out now, in a digest with incident %d", chain, inc.ID)
		es.DueAt = c.now
		e.advanceOnce(c, other, es)
	}
}

// nextStep moves es to the step that fires now and returns its index, or
// false when the chain (with its repeats) has ended. It is the one place
// that walks a chain: the engine and Plan both use it.
func nextStep(chain *Chain, es *Escalation) (int, bool) {
	if es.Step >= len(chain.Steps) {
		if es.Round >= chain.Repeat {
			return 0, false
		}
		es.Round++
		es.Step = 0
	}
	idx := es.Step
	es.Step++
	return idx, true
}

// peekStep reports whether a step follows es's current one.
func peekStep(chain *Chain, es *Escalation) (int, bool) {
	cp := *es
	return nextStep(chain, &cp)
}

// stepPeople resolves a step's targets at t for an incident. Callers
// hold mu.
func (e *Engine) stepPeople(inc *Incident, st ChainStep, t time.Time) ([]string, string) {
	return e.resolveTargets(st.Targets, t, func() []string {
		var ids []string
		for _, r := range e.paged(inc.ID) {
			if r.Recipient.Person != "" {
				ids = append(ids, r.Recipient.Person)
			}
		}
		return ids
	})
}

// resolveTargets turns step targets into people at t, in order, without
// repeats; paged answers the target "paged". why says which targets had
// nobody. Callers hold mu.
func (e *Engine) resolveTargets(targets []string, t time.Time, paged func() []string) (people []string, why string) {
	var empty []string
	for _, target := range targets {
		var ids []string
		if target == TargetPaged {
			ids = paged()
		} else if e.out.cfg.Resolve != nil {
			ids = e.out.cfg.Resolve(target, t)
		}
		if len(ids) == 0 {
			empty = append(empty, target)
		}
		for _, id := range ids {
			if !slices.Contains(people, id) {
				people = append(people, id)
			}
		}
	}
	return people, strings.Join(empty, ", ") + " has nobody"
}

// escalationTick fires due steps, expires acknowledgements and records
// SLA breaches, at c.now. Callers hold mu.
func (e *Engine) escalationTick(c *change) {
	for id, es := range e.esc {
		inc := e.incidents.get(id)
		if inc == nil || inc.Status == IncidentResolved {
			delete(e.esc, id)
			e.escDone[id] = es // still read by reports (the first acknowledgement)
			continue
		}
		if inc.Status == IncidentAcknowledged && !es.AckExpiresAt.IsZero() && !c.now.Before(es.AckExpiresAt) {
			e.expireAck(c, inc, es)
			continue
		}
		if inc.Status == IncidentOpen && !es.DueAt.IsZero() && !c.now.Before(es.DueAt) {
			e.advance(c, inc, es)
		}
	}
	for _, id := range e.current {
		inc := e.incidents.get(id)
		if inc == nil || inc.Status == IncidentResolved {
			continue
		}
		e.checkSLA(c, inc)
	}
}

// expireAck reopens an incident whose acknowledgement ran out and starts
// its chain over. Callers hold mu.
func (e *Engine) expireAck(c *change, inc *Incident, es *Escalation) {
	by := inc.AcknowledgedBy
	inc.Status = IncidentOpen
	c.event(inc, EventAckExpired, "remediator", "the acknowledgement by %s expired after %s: paging again",
		by, es.AckExpiresAt.Sub(inc.AcknowledgedAt))
	es.AckExpiresAt = time.Time{}
	es.Cycle++
	es.Step, es.Round, es.DueAt = 0, 0, c.now
	if chain, ok := e.chainFor(inc.Level); ok {
		es.Chain = chain.Name
	}
	c.touchEscalation(es)
	e.advance(c, inc, es)
}

// checkSLA records, once each, that an incident was not acknowledged by
// its respond-by time or not resolved by its resolve-by time. Callers
// hold mu.
func (e *Engine) checkSLA(c *change, inc *Incident) {
	respond := !inc.RespondBy.IsZero() && !c.now.Before(inc.RespondBy) && inc.AcknowledgedAt.IsZero()
	resolve := !inc.ResolveBy.IsZero() && !c.now.Before(inc.ResolveBy)
	if !respond && !resolve {
		return
	}
	es := e.esc[inc.ID]
	if es != nil && (!respond || es.RespondBreached) && (!resolve || es.ResolveBreached) {
		return
	}
	es = e.escalation(inc)
	if respond && !es.RespondBreached {
		es.RespondBreached = true
		c.event(inc, EventSLABreach, "remediator", "%s %s not acknowledged by %s (respond within %s)",
			inc.Priority, inc.Level, inc.RespondBy.UTC().Format(time.RFC3339), inc.RespondBy.Sub(inc.CreatedAt))
		e.countBreach(inc, "respond")
	}
	if resolve && !es.ResolveBreached {
		es.ResolveBreached = true
		c.event(inc, EventSLABreach, "remediator", "%s %s not resolved by %s (resolve within %s)",
			inc.Priority, inc.Level, inc.ResolveBy.UTC().Format(time.RFC3339), inc.ResolveBy.Sub(inc.CreatedAt))
		e.countBreach(inc, "resolve")
	}
	c.touchEscalation(es)
}

// countBreach counts an SLA breach for the metrics. Callers hold mu.
func (e *Engine) countBreach(inc *Incident, kind string) {
	if e.breaches != nil {
		e.breaches.WithLabelValues(string(inc.Level), kind).Inc()
	}
}

// stopChain stops an incident's escalation (acknowledged or resolved);
// an acknowledgement starts its expiry clock. Callers hold mu.
func (e *Engine) stopChain(c *change, inc *Incident, acked bool, by string) {
	es := e.esc[inc.ID]
	if acked {
		if es == nil {
			if _, ok := e.chainFor(inc.Level); !ok {
				return
			}
			es = e.escalation(inc)
		}
		if es.Chain == "" {
			if chain, ok := e.chainFor(inc.Level); ok {
				es.Chain = chain.Name
			}
		}
		if es.FirstAckAt.IsZero() {
			es.FirstAckAt, es.FirstAckBy = c.now, by
		}
		if chain, ok := e.chainFor(inc.Level); ok && chain.AckTimeout > 0 {
			es.AckExpiresAt = c.now.Add(chain.AckTimeout)
		}
	}
	if es == nil {
		return
	}
	if !es.DueAt.IsZero() {
		why := "acknowledged by " + by
		if !acked {
			why = "resolved"
		}
		c.event(inc, EventEscalation, "remediator", "%s stopped: %s", es.Chain, why)
	}
	es.DueAt = time.Time{}
	if !acked {
		es.AckExpiresAt = time.Time{}
	}
	c.touchEscalation(es)
}

// jumpChain fires an incident's next step now (a remediation did not fix
// it). Callers hold mu.
func (e *Engine) jumpChain(c *change, inc *Incident) {
	es := e.esc[inc.ID]
	if es == nil || es.DueAt.IsZero() || inc.Status != IncidentOpen || c.chainMoved[inc.ID] {
		return // nothing pending, or this change already paged a step (a raised level started its chain)
	}
	es.DueAt = c.now
	e.advance(c, inc, es)
}

// restoreEscalations indexes the stored records of unresolved incidents.
func (e *Engine) restoreEscalations(rs []*Escalation) {
	for _, es := range rs {
		e.rev = max(e.rev, es.Rev)
		if inc := e.incidents.get(es.Incident); inc != nil && inc.Status != IncidentResolved {
			e.esc[es.Incident] = es
		} else {
			e.escDone[es.Incident] = es
		}
	}
}

// PlannedStep is one step of an escalation plan: who would be paged when,
// and how.
type PlannedStep struct {
	At     time.Time `json:"at"`
	Chain  string    `json:"chain"`
	Step   int       `json:"step"` // from 1
	Round  int       `json:"round"`
	People []string  `json:"people"`
	Via    []string  `json:"via"`
	// Nobody says why a step pages nobody (a gap in a schedule).
	Nobody string `json:"nobody,omitempty"`
}

// PlanEscalation is the chain a level's incident opened at opened would
// climb if nobody acknowledged: each step's time, people and channels,
// from the schedules at that time. It walks the chain with the same code
// the engine runs (nextStep, the same resolver).
func (e *Engine) PlanEscalation(level Level, opened time.Time) []PlannedStep {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.planEscalation(level, opened)
}

// planEscalation is PlanEscalation; callers hold mu.
func (e *Engine) planEscalation(level Level, opened time.Time) []PlannedStep {
	chain, ok := e.chainFor(level)
	if !ok {
		return nil
	}
	route, _ := e.routeFor(level)
	at := opened.Add(route.Delay)
	es := &Escalation{Chain: chain.Name}
	paged := slices.Clone(route.People) // the level's notify list is paged at the same time
	var out []PlannedStep
	for guard := 0; guard <= len(chain.Steps)*(chain.Repeat+1); guard++ {
		idx, ok := nextStep(&chain, es)
		if !ok {
			break
		}
		st := chain.Steps[idx]
		ps := PlannedStep{At: at, Chain: chain.Name, Step: idx + 1, Round: es.Round, Via: st.Via}
		var why string
		ps.People, why = e.resolveTargets(st.Targets, at, func() []string { return paged })
		if len(ps.People) == 0 {
			ps.Nobody = why
			out = append(out, ps)
			continue // falls through at once, as advance does
		}
		for _, id := range ps.People {
			if !slices.Contains(paged, id) {
				paged = append(paged, id)
			}
		}
		out = append(out, ps)
		at = at.Add(st.Wait)
	}
	return out
}
