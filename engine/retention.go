package engine

import (
	"context"
	"fmt"
	"time"
)

// Retention says how long what has ended is kept. Memory holds what is
// live; a resolved incident and everything that belongs to it (alerts,
// timeline, action and notification records, escalation record) leaves
// memory InMemory after it resolved, once all of it is in the store and
// nothing of it is still going on (a page pending, an action running, an
// alert still firing). From then on the queries read it from the store.
// The store deletes it Keep after it resolved (Prune), and audit entries
// Audit after they were made. A zero duration keeps for ever.
type Retention struct {
	InMemory time.Duration
	Keep     time.Duration
	Audit    time.Duration
}

// SetRetention changes the retention (on reload).
func (e *Engine) SetRetention(r Retention) {
	e.mu.Lock()
	e.retention = r
	e.mu.Unlock()
}

// MemoryCounts is how many records the engine holds in memory.
type MemoryCounts struct {
	Incidents, Alerts, Actions, Notifications, Audit, Fingerprints int
}

// InMemory counts the records held in memory.
func (e *Engine) InMemory() MemoryCounts {
	e.mu.Lock()
	defer e.mu.Unlock()
	return MemoryCounts{Incidents: e.incidents.n, Alerts: e.alerts.n, Actions: e.rem.records.n,
		Notifications: e.out.records.n, Audit: len(e.auditLog), Fingerprints: len(e.byFP)}
}

// evictEvery is how often Tick looks for what may leave memory: a pass
// walks every record in memory.
const evictEvery = time.Minute

// written notes that ch is in the store, with every change before it.
func (e *Engine) written(ch *Changes) {
	advance(&e.durable, ch.rev)
	for _, a := range ch.Audit {
		advance(&e.durableAudit, a.ID)
	}
}

func advance(v interface {
	Load() uint64
	CompareAndSwap(old, new uint64) bool
}, to uint64) {
	for {
		old := v.Load()
		if to <= old || v.CompareAndSwap(old, to) {
			return
		}
	}
}

// stored reports whether revision rev is in the store. Callers hold mu.
func (e *Engine) stored(rev uint64) bool {
	return e.unsyncedCnt == 0 && rev <= e.durable.Load()
}

// evict drops from memory what Retention says has stayed long enough.
// Callers hold mu.
func (e *Engine) evict(now time.Time) {
	if e.retention.InMemory <= 0 || e.unsyncedCnt > 0 {
		return
	}
	e.lastEvict = now
	before := now.Add(-e.retention.InMemory)
	total := e.alerts.n + e.incidents.n + e.rem.records.n + e.out.records.n
	// The action records of each incident, and which incidents have one
	// that is still going on.
	actions := map[uint64][]*ActionRecord{}
	busy := map[uint64]bool{}
	e.rem.records.all(func(r *ActionRecord) {
		actions[r.Incident] = append(actions[r.Incident], r)
		if !r.finished() || !e.stored(r.Rev) {
			busy[r.Incident] = true
		}
	})
	var gone []*Incident
	e.incidents.all(func(inc *Incident) {
		if inc.Status != IncidentResolved || inc.Firing != 0 || !inc.ResolvedAt.Before(before) || busy[inc.ID] ||
			!e.stored(inc.Rev) || e.esc[inc.ID] != nil || e.out.muted[inc.ID] {
			return
		}
		if es := e.escDone[inc.ID]; es != nil && !e.stored(es.Rev) {
			return
		}
		for _, r := range e.out.byIncident[inc.ID] {
			if !r.finished(before) || !e.stored(r.Rev) {
				return
			}
		}
		for _, id := range inc.Alerts {
			if a := e.alerts.get(id); a != nil && (a.Status != StatusResolved || !e.stored(a.Rev) || len(e.rem.verifying[id]) > 0) {
				return
			}
		}
		gone = append(gone, inc)
	})
	for _, inc := range gone {
		for _, id := range inc.Alerts {
			e.forgetAlert(id)
		}
		for _, r := range actions[inc.ID] {
			e.forgetAction(r)
		}
		for _, r := range e.out.byIncident[inc.ID] {
			e.out.forget(r)
		}
		delete(e.out.byIncident, inc.ID)
		delete(e.escDone, inc.ID)
		delete(e.timeline, inc.ID)
		e.incidents.drop(inc.ID)
	}
	// Alerts of no incident (they arrived resolved), and their actions.
	e.alerts.all(func(a *Alert) {
		if a.Incident == 0 && a.Status == StatusResolved && a.LastSeen.Before(before) && e.stored(a.Rev) {
			e.forgetAlert(a.ID)
		}
	})
	for _, r := range actions[0] {
		if r.finished() && e.stored(r.Rev) && r.CreatedAt.Before(before) && e.alerts.get(r.Alert) == nil {
			e.forgetAction(r)
		}
	}
	// Notifications of no incident (reports, tests) once they are done.
	for _, r := range e.out.byIncident[0] {
		if r.finished(before) && e.stored(r.Rev) && r.CreatedAt.Before(before) {
			e.out.forget(r)
		}
	}
	// Records of incidents no longer in memory: left when a prune was
	// cut short, or loaded after one (their incident is gone from the file).
	for id, list := range e.out.byIncident {
		if id == 0 || e.incidents.get(id) != nil {
			continue
		}
		kept := list[:0]
		for _, r := range list {
			if r.finished(before) && e.stored(r.Rev) {
				e.out.forget(r)
			} else {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 {
			delete(e.out.byIncident, id)
		} else {
			e.out.byIncident[id] = kept
		}
	}
	for id, list := range actions {
		if id == 0 || e.incidents.get(id) != nil {
			continue
		}
		for _, r := range list {
			if r.finished() && e.stored(r.Rev) && e.rem.records.get(r.ID) == r {
				e.forgetAction(r)
			}
		}
	}
	if list := e.out.byIncident[0]; len(list) > 0 {
		kept := list[:0]
		for _, r := range list {
			if e.out.records.get(r.ID) == r {
				kept = append(kept, r)
			}
		}
		e.out.byIncident[0] = kept
	}
	// The audit log: what was made before the cutoff and is stored.
	n, durable := 0, e.durableAudit.Load()
	for n < len(e.auditLog) && e.auditLog[n].At.Before(before) && e.auditLog[n].ID <= durable {
		n++
	}
	if n > 0 {
		e.auditLog = append([]*AuditEntry(nil), e.auditLog[n:]...)
	}
	if len(gone) > 0 || n > 0 || e.alerts.n+e.incidents.n+e.rem.records.n+e.out.records.n < total {
		e.hasHistory = true
	}
	e.incidents.trim()
	e.alerts.trim()
	e.rem.records.trim()
	e.out.records.trim()
}

// forgetAlert drops an alert from memory, keeping what matching and
// firedWithin need of it. Callers hold mu.
func (e *Engine) forgetAlert(id uint64) {
	a := e.alerts.get(id)
	if a == nil {
		return
	}
	if st := e.byFP[a.Fingerprint]; st != nil {
		for i := range st.episodes {
			if st.episodes[i].alert == a {
				st.episodes[i].forget()
			}
		}
	}
	delete(e.rem.attempts, id)
	delete(e.rem.verifying, id)
	e.alerts.drop(id)
}

// forgetAction drops an action record from memory; a run stays counted
// by the safeguards. Callers hold mu.
func (e *Engine) forgetAction(r *ActionRecord) {
	if r.isRun() {
		e.rem.pastRuns = append(e.rem.pastRuns, pastRun{rule: r.Rule, target: r.Target, at: r.StartedAt})
	}
	delete(e.rem.awaiting, r.ID)
	e.rem.records.drop(r.ID)
}

// finished reports whether an action record can change no more.
func (r *ActionRecord) finished() bool {
	switch r.Status {
	case ActionPending, ActionRunning, ActionAwaiting:
		return false
	}
	return r.Verification != VerifyPending
}

// finished reports whether a notification record can change no more
// before the cutoff. A sent one may still get its provider's status (a
// call's, an SMS's): it counts as finished once it was sent before the
// cutoff, since email, IM and app channels never get one; a status that
// comes later for a record that left memory is answered 404.
func (r *NotificationRecord) finished(before time.Time) bool {
	switch r.Status {
	case NotePending, NoteSending:
		return false
	case NoteSent:
		return r.SentAt.Before(before)
	}
	return true
}

// forget drops a notification record from the outbox's memory.
func (o *outbox) forget(r *NotificationRecord) {
	if o.byKey[r.Key] == r {
		delete(o.byKey, r.Key)
	}
	delete(o.due, r.ID)
	delete(o.calls, r.ID)
	o.records.drop(r.ID)
}

// Prune deletes from the store what Retention no longer keeps, and
// forgets the episodes and runs older than Keep that matching and the
// safeguards kept in compact form. It runs outside the engine's lock; the
// store deletes in small transactions. App calls it periodically.
func (e *Engine) Prune(ctx context.Context) (PruneResult, error) {
	e.mu.Lock()
	r, now := e.retention, e.clock.Now()
	// What memory still holds stays in the file too, however old: it
	// leaves memory first (an incident resolved long ago can be held by
	// a page or an action that never finished).
	held := make(map[uint64]bool, e.incidents.n)
	e.incidents.all(func(inc *Incident) { held[inc.ID] = true })
	e.mu.Unlock()
	if r.Keep <= 0 && r.Audit <= 0 {
		return PruneResult{}, nil
	}
	req := PruneRequest{Held: held}
	if r.Keep > 0 {
		req.ResolvedBefore = now.Add(-r.Keep)
	}
	if r.Audit > 0 {
		req.AuditBefore = now.Add(-r.Audit)
	}
	res, err := e.store.Prune(ctx, req)
	if err != nil {
		return res, fmt.Errorf("engine: prune: %w", err)
	}
	if r.Keep > 0 {
		e.mu.Lock()
		e.forgetPast(req.ResolvedBefore)
		e.mu.Unlock()
	}
	return res, nil
}

// forgetPast drops the compact episodes that ended before cutoff and the
// past runs that started before it. Callers hold mu.
func (e *Engine) forgetPast(cutoff time.Time) {
	c := nanos(cutoff)
	for fp, st := range e.byFP {
		kept := st.episodes[:0]
		for _, ep := range st.episodes {
			end := ep.end
			if end == noTime {
				end = ep.start
			}
			if ep.alert != nil || end >= c {
				kept = append(kept, ep)
			}
		}
		clear(st.episodes[len(kept):])
		st.episodes = kept
		if len(kept) == 0 && st.firing == nil {
			delete(e.byFP, fp)
		}
	}
	runs := e.rem.pastRuns[:0]
	for _, p := range e.rem.pastRuns {
		if !p.at.Before(cutoff) {
			runs = append(runs, p)
		}
	}
	e.rem.pastRuns = runs
}
