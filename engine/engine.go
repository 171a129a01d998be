package engine

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options wires an Engine. Store, Clock and Classifier are required.
type Options struct {
	Store      Store
	Clock      Clock
	Classifier Classifier
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
	// MaxBatch is the most changes (webhooks, acks…) written in one store
	// transaction; 0 means 64.
	MaxBatch int
	// MaxConcurrentActions bounds the remediation actions running at once;
	// 0 means 4.
	MaxConcurrentActions int
	// Retention says when what has ended leaves memory and the store;
	// the zero value keeps everything (the config has the defaults).
	Retention Retention
}

// Engine turns webhooks into durable alert episodes and incidents. Hot
// state lives in memory and is written through to the Store before a call
// that changes it returns.
//
// Records handed to the Store are shallow copies taken under mu. That is
// safe because the engine never mutates a map or an existing slice element
// in place: it replaces maps and only appends to slices.
type Engine struct {
	store Store
	clock Clock
	log   *slog.Logger

	mu           sync.Mutex
	classifier   Classifier
	rev          uint64
	lastAlert    uint64
	lastInc      uint64
	alerts       byID[Alert]
	byFP         map[string]*fpState
	incidents    byID[Incident]
	silences     byID[Silence]
	live         liveCache // silences not yet expired
	commits      *commitQueue
	lastSilence  uint64
	suppressor   Suppressor
	planner      Planner
	rem          remediation
	out          outbox
	runs         sync.WaitGroup
	actionsRun   *prometheus.CounterVec
	notesOut     *prometheus.CounterVec
	breaches     *prometheus.CounterVec
	esc          map[uint64]*Escalation // escalation records of unresolved incidents
	escDone      map[uint64]*Escalation // and of resolved ones
	overrides    []*ScheduleOverride
	lastOverride uint64
	auditLog     []*AuditEntry // append-only
	lastAudit    uint64
	anon         anonLimiter       // anonymous denied audit entries, per address
	current      map[string]uint64 // incident key → its unresolved incident
	timeline     map[uint64][]TimelineEvent
	unsynced     Changes // written in memory, not yet durable: retried with the next Apply
	unsyncedCnt  int
	// What has left memory and the file: see retention.go.
	retention    Retention
	durable      atomic.Uint64 // every revision up to this one is in the store
	durableAudit atomic.Uint64 // and every audit entry up to this ID
	lastEvict    time.Time
	hasHistory   bool // something has left memory: queries read the store too
}

// New builds an engine and rebuilds its state from the store.
func New(ctx context.Context, o Options) (*Engine, error) {
	if o.Store == nil || o.Clock == nil || o.Classifier == nil {
		return nil, fmt.Errorf("engine: store, clock and classifier are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxConcurrentActions <= 0 {
		o.MaxConcurrentActions = 4
	}
	e := &Engine{
		store:      o.Store,
		clock:      o.Clock,
		log:        o.Logger,
		classifier: o.Classifier,
		commits:    newCommitQueue(o.MaxBatch),
		rem:        newRemediation(o.MaxConcurrentActions),
		out:        newOutbox(),
		esc:        map[uint64]*Escalation{},
		escDone:    map[uint64]*Escalation{},
		byFP:       map[string]*fpState{},
		current:    map[string]uint64{},
		timeline:   map[uint64][]TimelineEvent{},
		retention:  o.Retention,
	}
	e.rem.freed = sync.NewCond(&e.mu)
	snap, err := o.Store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine: load state: %w", err)
	}
	e.restore(snap)
	e.durable.Store(e.rev) // all of it was loaded from the store
	e.durableAudit.Store(e.lastAudit)
	e.mu.Lock()
	e.evict(o.Clock.Now())
	e.mu.Unlock()
	if o.Registerer != nil {
		e.actionsRun = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_actions_total",
			Help: "Remediation decisions by rule and outcome (succeeded, failed, cancelled, dry_run, refused, skipped:<safeguard>).",
		}, []string{"rule", "outcome"})
		e.notesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_notifications_total",
			Help: "Notification outcomes by channel: sent, delivered, retried, failed, cancelled.",
		}, []string{"channel", "outcome"})
		e.breaches = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_sla_breaches_total",
			Help: "Incidents not acknowledged (respond) or not resolved (resolve) within their level's SLA clock.",
		}, []string{"level", "kind"})
		for _, c := range []prometheus.Collector{incidentCollector{e}, e.actionsRun, e.notesOut, e.breaches} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("engine: register metrics: %w", err)
			}
		}
	}
	return e, nil
}

func (e *Engine) restore(s *Snapshot) {
	// Sized once: growing a map of a million fingerprints rehashes it
	// again and again.
	e.byFP = make(map[string]*fpState, len(s.Alerts))
	e.timeline = make(map[uint64][]TimelineEvent, len(s.Incidents))
	for _, a := range s.Alerts {
		e.alerts.put(a.ID, a)
		st := e.state(a.Fingerprint)
		st.episodes = append(st.episodes, episode{alert: a, id: a.ID})
		if a.Status == StatusFiring && (st.firing == nil || a.StartsAt.After(st.firing.StartsAt)) {
			st.firing = a
		}
		e.lastAlert = max(e.lastAlert, a.ID)
		e.rev = max(e.rev, a.Rev)
	}
	for _, inc := range s.Incidents {
		e.incidents.put(inc.ID, inc)
		e.lastInc = max(e.lastInc, inc.ID)
		e.rev = max(e.rev, inc.Rev)
		if inc.Status != IncidentResolved {
			e.current[inc.Key] = inc.ID
		}
	}
	// An incident only names alerts that are stored and counts those that
	// fire. (The ordered commit queue keeps it so; this guards files
	// written otherwise.)
	for _, inc := range e.incidents.items {
		if inc == nil {
			continue
		}
		ids, firing := inc.Alerts[:0:0], 0
		for _, id := range inc.Alerts {
			if a := e.alerts.get(id); a != nil {
				ids = append(ids, id)
				if a.Status == StatusFiring {
					firing++
				}
			}
		}
		if len(ids) != len(inc.Alerts) || firing != inc.Firing {
			e.log.Warn("incident repaired on load", "incident", inc.ID, "alerts", len(inc.Alerts), "stored", len(ids), "firing", firing)
			inc.Alerts, inc.Firing = ids, firing
		}
	}
	for _, ev := range s.Events {
		e.timeline[ev.Incident] = append(e.timeline[ev.Incident], ev)
	}
	for _, r := range s.Actions {
		e.rem.records.put(r.ID, r)
		e.rem.last = max(e.rem.last, r.ID)
		e.rev = max(e.rev, r.Rev)
	}
	e.rem.reindex()
	e.restoreNotifications(s.Notifications)
	e.restoreEscalations(s.Escalations)
	e.restoreOverrides(s.Overrides)
	e.restoreAudit(s.Audit)
	// IDs of records a prune deleted are never handed out again.
	e.lastAlert, e.lastInc = max(e.lastAlert, s.LastIDs.Alert), max(e.lastInc, s.LastIDs.Incident)
	e.rem.last, e.out.last = max(e.rem.last, s.LastIDs.Action), max(e.out.last, s.LastIDs.Notification)
	e.lastAudit = max(e.lastAudit, s.LastIDs.Audit)
	for _, sil := range s.Silences {
		e.lastSilence = max(e.lastSilence, sil.ID)
		e.rev = max(e.rev, sil.Rev)
		if err := sil.compile(); err != nil {
			e.log.Error("stored silence no longer compiles; ignoring it", "silence", sil.ID, "err", err)
			continue
		}
		e.silences.put(sil.ID, sil)
	}
	for id, evs := range e.timeline {
		sort.Slice(evs, func(i, j int) bool { return evs[i].Seq < evs[j].Seq })
		if inc := e.incidents.get(id); inc != nil && len(evs) > 0 {
			inc.NextEvent = max(inc.NextEvent, evs[len(evs)-1].Seq+1)
		}
	}
}

// SetClassifier swaps the classifier (on reload). Alerts already stored
// keep their level.
func (e *Engine) SetClassifier(c Classifier) {
	e.mu.Lock()
	e.classifier = c
	e.mu.Unlock()
}

// IngestResult says what one webhook changed.
type IngestResult struct {
	Incident    uint64 // the incident the group's alerts belong to, 0 if none
	NewAlerts   int    // new episodes
	Resolved    int    // episodes resolved by this delivery
	Redelivered int    // episodes already known, unchanged but for last_seen

	newFiring []uint64 // new firing episodes with an incident: to remediate
	notify    bool     // the webhook queued notifications that are due
}

// Ingest records one webhook. It returns only after the changes are
// durable; an error means they may not be, and the sender should retry.
func (e *Engine) Ingest(ctx context.Context, w *Webhook) (IngestResult, error) {
	t, res := e.ingest(w)
	if err := e.wait(ctx, t); err != nil {
		return res, err
	}
	if res.notify {
		e.kickNotify()
	}
	if len(res.newFiring) > 0 {
		// After the answer, from the stored state: the webhook's answer
		// never depends on an action.
		e.mu.Lock()
		work := e.startWork()
		e.mu.Unlock()
		if work {
			go e.remediate(res.newFiring)
		}
	}
	return res, nil
}

// change collects what one operation touched, under mu.
type change struct {
	e         *Engine
	now       time.Time
	rev       uint64
	alerts    []*Alert
	incidents map[uint64]*Incident
	events    []TimelineEvent
	silences  []*Silence
	actions   []*ActionRecord
	notes     map[uint64]*delivery // what one webhook did to each incident
	// notifications touched (a record may appear twice: the last wins);
	// pageable: incidents that gained an unsuppressed firing alert.
	notifications []*NotificationRecord
	pageable      map[uint64]bool
	escalations   []*Escalation
	overrides     []*ScheduleOverride
	audits        []*AuditEntry
	chainMoved    map[uint64]bool // incidents whose chain paged a step in this change
}

// delivery collects what one webhook did to one incident, so the timeline
// gets one event per kind of change instead of one per alert.
type delivery struct {
	firing, arrivedResolved, resolved listing
}

// listing names the first maxListed alerts of a kind and counts them all.
type listing struct {
	names []string
	n     int
}

func (l *listing) add(describe func() string) {
	if l.n < maxListed {
		l.names = append(l.names, describe())
	}
	l.n++
}

func (l *listing) String() string {
	if l.n <= maxListed {
		return strings.Join(l.names, ", ")
	}
	return strings.Join(l.names, ", ") + fmt.Sprintf(" and %d more", l.n-maxListed)
}

func (c *change) note(inc *Incident) *delivery {
	if c.notes == nil {
		c.notes = map[uint64]*delivery{}
	}
	d := c.notes[inc.ID]
	if d == nil {
		d = &delivery{}
		c.notes[inc.ID] = d
	}
	return d
}

// maxListed is how many alerts one timeline event names.
const maxListed = 5

// recordDeliveries writes the coalesced timeline events of a webhook.
func (c *change) recordDeliveries(w *Webhook) {
	ids := make([]uint64, 0, len(c.notes))
	for id := range c.notes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		d, inc := c.notes[id], c.e.incidents.get(id)
		c.event(inc, EventReceived, "alertmanager", "webhook from receiver %q: %d new firing, %d resolved",
			w.Receiver, d.firing.n, d.resolved.n)
		if n := d.firing.n; n > 0 {
			c.event(inc, EventAlertAdded, "alertmanager", "%d firing: %s", n, &d.firing)
		}
		if n := d.arrivedResolved.n; n > 0 {
			c.event(inc, EventAlertAdded, "alertmanager", "%d arrived already resolved: %s", n, &d.arrivedResolved)
		}
		if n := d.resolved.n; n > 0 {
			c.event(inc, EventAlertResolved, "alertmanager", "%d resolved: %s", n, &d.resolved)
		}
	}
}

func (e *Engine) begin() *change {
	e.rev++
	return &change{e: e, now: e.clock.Now(), rev: e.rev, incidents: map[uint64]*Incident{}}
}

func (c *change) touchAlert(a *Alert) {
	if a.Rev != c.rev {
		a.Rev = c.rev
		c.alerts = append(c.alerts, a)
	}
}

func (c *change) touchIncident(inc *Incident) {
	inc.Rev = c.rev
	c.incidents[inc.ID] = inc
}

func (c *change) event(inc *Incident, typ, by, format string, args ...any) {
	ev := TimelineEvent{Incident: inc.ID, Seq: inc.NextEvent, At: c.now, Type: typ, By: by, Detail: fmt.Sprintf(format, args...)}
	inc.NextEvent++
	c.e.timeline[inc.ID] = append(c.e.timeline[inc.ID], ev)
	c.events = append(c.events, ev)
	c.touchIncident(inc)
}

// commit queues the change for the store (callers hold mu).
func (c *change) commit() *ticket {
	return c.e.commits.push(c.changes())
}

// changes copies the touched records (see the Engine comment) and takes
// along whatever an earlier failed Apply left unsynced.
func (c *change) changes() *Changes {
	e := c.e
	ch := &Changes{rev: c.rev}
	if e.unsyncedCnt > 0 {
		ch.add(&e.unsynced)
		e.unsynced, e.unsyncedCnt = Changes{}, 0
	}
	// A record changed twice in one change keeps its last version (both
	// carry the same revision, which the store would not overwrite).
	last := make(map[uint64]int, len(c.actions))
	for i, r := range c.actions {
		last[r.ID] = i
	}
	for i, r := range c.actions {
		if last[r.ID] == i {
			cp := *r
			ch.Actions = append(ch.Actions, &cp)
		}
	}
	for _, s := range c.silences {
		cp := *s
		ch.Silences = append(ch.Silences, &cp)
	}
	ch.Overrides = append(ch.Overrides, c.overrides...) // never changed after creation
	ch.Audit = append(ch.Audit, c.audits...)
	if len(c.escalations) > 0 {
		seen := make(map[uint64]bool, len(c.escalations))
		for i := len(c.escalations) - 1; i >= 0; i-- { // the last version of each
			if es := c.escalations[i]; !seen[es.Incident] {
				seen[es.Incident] = true
				cp := *es
				ch.Escalations = append(ch.Escalations, &cp)
			}
		}
	}
	if len(c.notifications) > 0 {
		seen := make(map[uint64]bool, len(c.notifications))
		for i := len(c.notifications) - 1; i >= 0; i-- { // the last version of each
			r := c.notifications[i]
			if !seen[r.ID] {
				seen[r.ID] = true
				cp := *r
				cp.History = slices.Clone(r.History)
				ch.Notifications = append(ch.Notifications, &cp)
			}
		}
	}
	copies := make([]Alert, len(c.alerts))
	for i, a := range c.alerts {
		copies[i] = *a
		ch.Alerts = append(ch.Alerts, &copies[i])
	}
	ids := make([]uint64, 0, len(c.incidents))
	for id := range c.incidents {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		cp := *c.incidents[id]
		ch.Incidents = append(ch.Incidents, &cp)
	}
	ch.Events = append(ch.Events, c.events...)
	return ch
}

func (e *Engine) ingest(w *Webhook) (*ticket, IngestResult) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.begin()
	var res IngestResult
	key := w.Receiver + "/" + w.GroupKey
	var inc *Incident
	if id, ok := e.current[key]; ok {
		inc = e.incidents.get(id)
	}
	for i := range w.Alerts {
		wa := &w.Alerts[i]
		a, past := e.match(c, wa)
		if past {
			res.Redelivered++
			continue
		}
		if a == nil {
			a = e.newAlert(c, wa, w)
			res.NewAlerts++
			if a.Status == StatusFiring && inc == nil {
				inc = e.openIncident(c, key, w)
			}
			if inc != nil {
				e.attach(c, inc, a)
				if a.Status == StatusFiring && e.planner != nil && e.planner.HasRules() {
					res.newFiring = append(res.newFiring, a.ID)
				}
			}
			continue
		}
		a.LastSeen = c.now
		a.Deliveries++
		if !maps.Equal(a.Annotations, wa.Annotations) {
			a.Annotations = wa.Annotations // replaced, never mutated
		}
		if wa.Status == StatusResolved && a.Status == StatusFiring {
			e.resolveEpisode(c, a, wa.EndsAt, "")
			res.Resolved++
		} else {
			// Unchanged, or a firing redelivery of a resolved episode that
			// arrived late (an HA peer, a retry): the episode stays resolved.
			res.Redelivered++
			if a.Status == StatusFiring && !a.Decided && a.Incident != 0 && e.planner != nil && e.planner.HasRules() {
				// Not decided yet (its first delivery got a 503, or its
				// decision could not be stored): this delivery decides.
				res.newFiring = append(res.newFiring, a.ID)
			}
		}
		c.touchAlert(a)
	}
	if inc != nil {
		res.Incident = inc.ID
		if c.notes[inc.ID] != nil && len(w.CommonLabels) > 0 && !maps.Equal(inc.Labels, w.CommonLabels) {
			inc.Labels = w.CommonLabels // replaced, never mutated
		}
	}
	c.recordDeliveries(w)
	// Page for incidents that gained an alert that may page (the first
	// page, or an escalation when the level rose).
	for id := range c.pageable {
		e.page(c, e.incidents.get(id))
	}
	// Auto-resolve every touched incident whose alerts all resolved.
	for _, ti := range c.incidents {
		if ti.Firing == 0 && ti.Status != IncidentResolved {
			e.resolve(c, ti, "alertmanager", "all alerts resolved")
		}
	}
	res.notify = e.out.kick
	return c.commit(), res
}

// match finds the known episode a webhook alert belongs to, or nil for a
// new one. An episode is fingerprint + startsAt, with refinements for what
// Alertmanager really sends. It merges updates of one alert keeping the
// earliest startsAt, so startsAt can move earlier (and `amtool alert add
// --end` sets startsAt to the end, to the second). Hence, for a
// fingerprint that has a firing episode:
//   - a resolved alert with another startsAt resolves that episode: the
//     status is what counts, not the times, unless it ended (by more than
//     endTolerance) before that episode began, when it is a late resolve
//     of an earlier episode;
//   - a firing alert whose startsAt is not later is that episode;
//   - a firing alert with a later startsAt means the episode ended unseen
//     (send_resolved off, or a lost notification): it is resolved and a
//     new episode starts.
//
// When no episode fires, an alert with another startsAt that is not later
// than the latest episode's end is a late copy of that episode.
//
// An episode that left memory (Retention) still matches: past is true,
// and the webhook alert is a late copy of history, counted as redelivered
// and not written.
func (e *Engine) match(c *change, wa *WebhookAlert) (a *Alert, past bool) {
	st := e.byFP[wa.Fingerprint]
	if st == nil || len(st.episodes) == 0 {
		return nil, false
	}
	cur := st.firing
	for i := len(st.episodes) - 1; i >= 0; i-- { // the newest matches most often
		if ep := &st.episodes[i]; ep.startsAt().Equal(wa.StartsAt) {
			// A resolve that names an episode already superseded, but ended
			// after the firing one began, resolves the firing one.
			if ep.alert != cur && cur != nil && wa.Status == StatusResolved && !endedBefore(wa, cur) {
				return cur, false
			}
			return ep.alert, ep.alert == nil
		}
	}
	if cur == nil {
		// Nothing fires: a copy that started before the latest episode
		// ended is a late copy of that episode (the other Alertmanager of
		// an HA pair, with startsAt shifted by a merge), not a new one.
		if latest := &st.episodes[len(st.episodes)-1]; !wa.StartsAt.After(latest.endsAt()) {
			return latest.alert, latest.alert == nil
		}
		return nil, false
	}
	if wa.Status == StatusResolved {
		if endedBefore(wa, cur) {
			// A late resolve of an earlier episode.
			if prev := previous(st, cur); prev != nil {
				return prev.alert, prev.alert == nil
			}
			return nil, false
		}
		return cur, false
	}
	if !wa.StartsAt.After(cur.StartsAt) {
		return cur, false
	}
	e.resolveEpisode(c, cur, wa.StartsAt, " (superseded by a new episode)")
	c.touchAlert(cur)
	return nil, false
}

// endTolerance absorbs second-truncated times (amtool --end, some
// clients): a resolve that ends less than this before an episode began
// still counts as that episode's.
const endTolerance = time.Second

// endedBefore reports whether a resolved alert ended before episode a
// began, beyond the tolerance.
func endedBefore(wa *WebhookAlert, a *Alert) bool {
	return !wa.EndsAt.IsZero() && wa.EndsAt.Before(a.StartsAt.Add(-endTolerance))
}

// previous returns the newest episode of st other than cur.
func previous(st *fpState, cur *Alert) *episode {
	for i := len(st.episodes) - 1; i >= 0; i-- {
		if st.episodes[i].alert != cur {
			return &st.episodes[i]
		}
	}
	return nil
}

// resolveEpisode marks a firing episode resolved and notes it on its
// incident; suffix says why when it is not Alertmanager's resolve.
func (e *Engine) resolveEpisode(c *change, a *Alert, endsAt time.Time, suffix string) {
	a.Status, a.EndsAt = StatusResolved, endsAt
	e.cancelRuns(a.ID) // a resolve cancels what runs for it
	e.verifyResolved(c, a.ID)
	e.settleAwaiting(c, a.ID)
	if st := e.byFP[a.Fingerprint]; st != nil && st.firing == a {
		st.firing = nil
	}
	if owner := e.incidents.get(a.Incident); owner != nil {
		owner.Firing--
		c.touchIncident(owner)
		c.note(owner).resolved.add(func() string { return describe(a) + suffix })
	}
}

// classifyInput is what the classifier sees of wa, on ingest and in
// Explain alike.
func (e *Engine) classifyInput(now time.Time, wa *WebhookAlert, w *Webhook) *ClassifyInput {
	return &ClassifyInput{Alert: wa, Webhook: w, Now: now, History: history{st: e.byFP[wa.Fingerprint], now: now, startsAt: wa.StartsAt}}
}

// history answers FiredWithin from a fingerprint's episodes; the episode
// being classified counts too.
type history struct {
	st       *fpState
	now      time.Time
	startsAt time.Time
}

func (h history) FiredWithin(d time.Duration) int {
	since := h.now.Add(-d)
	n := 0
	if !h.startsAt.Before(since) {
		n++
	}
	if h.st == nil {
		return n
	}
	for i := len(h.st.episodes) - 1; i >= 0; i-- {
		at := h.st.episodes[i].startsAt()
		if at.Equal(h.startsAt) {
			continue // the episode being classified, counted above
		}
		if !at.Before(since) {
			n++
		}
	}
	return n
}

// fpState is everything the engine knows of one fingerprint: one map
// lookup on the ingest path finds the episode and the firing one.
type fpState struct {
	episodes []episode // in creation order
	firing   *Alert    // the firing episode, if any
}

// episode is one episode of a fingerprint: the alert while it is in
// memory, and what matching and firedWithin need of it once it has left
// (Retention): its ID and times, in 32 bytes instead of the record.
type episode struct {
	alert      *Alert // nil once the episode left memory
	id         uint64
	start, end int64 // Unix nanoseconds (noTime: zero), when alert is nil
}

// noTime stands for the zero time.Time, which has no Unix nanoseconds.
const noTime = math.MinInt64

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == noTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (ep *episode) startsAt() time.Time {
	if ep.alert != nil {
		return ep.alert.StartsAt
	}
	return fromNanos(ep.start)
}

func (ep *episode) endsAt() time.Time {
	if ep.alert != nil {
		return ep.alert.EndsAt
	}
	return fromNanos(ep.end)
}

// forget keeps only what matching needs of the episode's alert.
func (ep *episode) forget() {
	ep.id, ep.start, ep.end = ep.alert.ID, nanos(ep.alert.StartsAt), nanos(ep.alert.EndsAt)
	ep.alert = nil
}

func (e *Engine) state(fp string) *fpState {
	st := e.byFP[fp]
	if st == nil {
		st = &fpState{}
		e.byFP[fp] = st
	}
	return st
}

func (e *Engine) newAlert(c *change, wa *WebhookAlert, w *Webhook) *Alert {
	e.lastAlert++
	a := &Alert{
		ID:           e.lastAlert,
		Fingerprint:  wa.Fingerprint,
		Status:       wa.Status,
		Labels:       wa.Labels,
		Annotations:  wa.Annotations,
		StartsAt:     wa.StartsAt,
		EndsAt:       wa.EndsAt,
		GeneratorURL: wa.GeneratorURL,
		Level:        e.classifier.Classify(e.classifyInput(c.now, wa, w)),
		FirstSeen:    c.now,
		LastSeen:     c.now,
		Deliveries:   1,
	}
	e.alerts.put(a.ID, a)
	st := e.state(a.Fingerprint)
	st.episodes = append(st.episodes, episode{alert: a, id: a.ID})
	if a.Status == StatusFiring {
		st.firing = a
	}
	c.touchAlert(a)
	return a
}

func (e *Engine) openIncident(c *change, key string, w *Webhook) *Incident {
	e.lastInc++
	inc := &Incident{
		ID:          e.lastInc,
		Key:         key,
		Receiver:    w.Receiver,
		GroupKey:    w.GroupKey,
		Title:       title(w),
		Status:      IncidentOpen,
		CreatedAt:   c.now,
		Labels:      w.CommonLabels,
		ExternalURL: w.ExternalURL,
	}
	e.incidents.put(inc.ID, inc)
	e.current[key] = inc.ID
	c.event(inc, EventOpened, "alertmanager", "incident opened for group %s", key)
	e.log.Info("incident opened", "incident", inc.ID, "key", key, "title", inc.Title)
	return inc
}

// attach adds a new episode to an incident and raises the incident's level
// if the episode is more urgent.
func (e *Engine) attach(c *change, inc *Incident, a *Alert) {
	a.Incident = inc.ID
	inc.Alerts = append(inc.Alerts, a.ID)
	if a.Status == StatusFiring {
		inc.Firing++
	}
	if inc.Level == "" || e.classifier.Rank(a.Level) < e.classifier.Rank(inc.Level) {
		inc.Level = a.Level
		// The SLA clocks run from the incident's creation, at the most
		// urgent level seen so far.
		inc.Priority, inc.RespondBy, inc.ResolveBy = e.classifier.SLA(inc.Level, inc.CreatedAt)
	}
	if a.Status == StatusFiring {
		c.notePageable(inc, a)
	}
	c.touchIncident(inc)
	d := c.note(inc)
	if a.Status == StatusFiring {
		d.firing.add(func() string { return fmt.Sprintf("%s (level %s)", describe(a), a.Level) })
	} else {
		d.arrivedResolved.add(func() string { return describe(a) })
	}
}

func (e *Engine) resolve(c *change, inc *Incident, by, why string) {
	inc.Status = IncidentResolved
	inc.ResolvedAt = c.now
	inc.ResolvedBy = by
	if e.current[inc.Key] == inc.ID {
		delete(e.current, inc.Key)
	}
	c.event(inc, EventResolved, by, "%s", why)
	e.log.Info("incident resolved", "incident", inc.ID, "by", by)
	e.onResolved(c, inc, by)
}

// Transition is a person's (or service's) request to change an incident.
type Transition struct {
	By   string
	Note string
}

// Acknowledge moves an open incident to acknowledged.
func (e *Engine) Acknowledge(ctx context.Context, id uint64, t Transition) (Incident, error) {
	return e.transition(ctx, id, t, func(c *change, inc *Incident) error { return e.acknowledge(c, inc, t) })
}

// acknowledge is Acknowledge within c. Callers hold mu.
func (e *Engine) acknowledge(c *change, inc *Incident, t Transition) error {
	if inc.Status != IncidentOpen {
		return fmt.Errorf("incident %d is %s, only an open incident can be acknowledged: %w", inc.ID, inc.Status, ErrConflict)
	}
	inc.Status, inc.AcknowledgedAt, inc.AcknowledgedBy = IncidentAcknowledged, c.now, t.By
	c.event(inc, EventAcknowledged, t.By, "acknowledged by %s%s", t.By, noteSuffix(t.Note))
	e.log.Info("incident acknowledged", "incident", inc.ID, "by", t.By)
	e.onAcknowledged(c, inc, t.By)
	return nil
}

// Resolve moves an open or acknowledged incident to resolved. Alerts that
// still fire stay attached to it; a new episode of the group opens a new
// incident.
func (e *Engine) Resolve(ctx context.Context, id uint64, t Transition) (Incident, error) {
	return e.transition(ctx, id, t, func(c *change, inc *Incident) error { return e.resolveBy(c, inc, t) })
}

// resolveBy is Resolve within c. Callers hold mu.
func (e *Engine) resolveBy(c *change, inc *Incident, t Transition) error {
	if inc.Status == IncidentResolved {
		return fmt.Errorf("incident %d is already resolved: %w", inc.ID, ErrConflict)
	}
	e.resolve(c, inc, t.By, "resolved by "+t.By+noteSuffix(t.Note))
	return nil
}

func (e *Engine) transition(ctx context.Context, id uint64, t Transition, f func(*change, *Incident) error) (Incident, error) {
	if t.By == "" {
		return Incident{}, fmt.Errorf("transition needs who made it: %w", ErrInvalid)
	}
	e.mu.Lock()
	inc := e.incidents.get(id)
	if inc == nil {
		history := e.hasHistory
		e.mu.Unlock()
		if history {
			if h, ok := e.storedIncident(id); ok && h.Incident.Status == IncidentResolved {
				// It left memory resolved: the same refusal as before.
				e.mu.Lock()
				err := f(e.begin(), &h.Incident)
				e.mu.Unlock()
				if err == nil {
					err = fmt.Errorf("incident %d is resolved: %w", id, ErrConflict)
				}
				return Incident{}, err
			}
		}
		return Incident{}, fmt.Errorf("incident %d: %w", id, ErrNotFound)
	}
	c := e.begin()
	if err := f(c, inc); err != nil {
		e.mu.Unlock()
		return Incident{}, e.flushFirst(ctx, err)
	}
	out := *inc
	tk := c.commit()
	e.mu.Unlock()
	if err := e.wait(ctx, tk); err != nil {
		return out, err
	}
	e.kickNotify()
	return out, nil
}

// flushFirst answers a refused request only once the state it refers to
// is on disk: after a failed write, an acknowledgement can be in memory
// but unsynced, and a retry that is told "already acknowledged" must not
// lose it.
func (e *Engine) flushFirst(ctx context.Context, err error) error {
	if ferr := e.Flush(ctx); ferr != nil {
		return ferr
	}
	return err
}

func noteSuffix(n string) string {
	if n == "" {
		return ""
	}
	return ": " + n
}

func describe(a *Alert) string {
	if n := a.Labels["alertname"]; n != "" {
		return fmt.Sprintf("alert %s (%s)", n, a.Fingerprint)
	}
	return "alert " + a.Fingerprint
}

func title(w *Webhook) string {
	if s := w.CommonAnnotations["summary"]; s != "" {
		return s
	}
	if n := w.CommonLabels["alertname"]; n != "" {
		return n
	}
	if len(w.GroupLabels) > 0 {
		keys := make([]string, 0, len(w.GroupLabels))
		for k := range w.GroupLabels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + w.GroupLabels[k]
		}
		return strings.Join(parts, ", ")
	}
	if len(w.Alerts) > 0 {
		if n := w.Alerts[0].Labels["alertname"]; n != "" {
			return n
		}
	}
	return "alert group " + w.GroupKey
}
