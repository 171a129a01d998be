package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Notification record statuses: the outbox's state machine.
//
//	pending → sending → sent → delivered
//	   ↑         │        └──→ failed (a call nobody answered, an SMS undelivered)
//	   └─────────┤ (a retryable failure, an unanswered call)
//	             └──→ failed (final: a 4xx, attempts exhausted)
//	pending → cancelled (acknowledged or resolved before it went out)
const (
	NotePending   = "pending"   // waits for DueAt: the first delivery or a retry
	NoteSending   = "sending"   // handed to the notifier (recorded first)
	NoteSent      = "sent"      // the provider accepted it
	NoteDelivered = "delivered" // the provider confirmed it: a call answered, an SMS delivered
	NoteFailed    = "failed"    // failed for good; the person's next channel is tried
	NoteCancelled = "cancelled" // no longer needed before it went out
)

// Timeline events of notifications.
const (
	EventNotificationSent      = "notification_sent"
	EventNotificationDelivered = "notification_delivered"
	EventNotificationFailed    = "notification_failed"
)

// NotificationRecord is one notification in the outbox: recorded before it
// is sent, updated after every attempt. A crash re-sends at most the ones
// that were in flight, and never forgets one.
type NotificationRecord struct {
	ID       uint64 `json:"id"`
	Rev      uint64 `json:"rev"`
	Incident uint64 `json:"incident"`
	Event    string `json:"event"`
	Level    Level  `json:"level"`
	// Key is the notification log's key: incident, event, recipient and
	// channel. One key is sent once.
	Key string `json:"key"`
	// Channel is phone, sms, email, im, app, or a room's name; Notifier
	// the configured notifier that delivers it.
	Channel   string    `json:"channel"`
	Notifier  string    `json:"notifier"`
	Recipient Recipient `json:"recipient"`
	Status    string    `json:"status"`
	// Attempts counts deliveries handed to the notifier; Calls counts the
	// calls a phone notification made (call until answered).
	Attempts   int       `json:"attempts"`
	Calls      int       `json:"calls,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	DueAt      time.Time `json:"due_at"`
	SentAt     time.Time `json:"sent_at"`
	FinishedAt time.Time `json:"finished_at"`
	Error      string    `json:"error,omitempty"`
	// ProviderID and ProviderStatus are the provider's id of what was sent
	// and its last status callback; OldProviderIDs are the earlier calls
	// of a notification that called again, whose late callbacks count no
	// more.
	ProviderID     string   `json:"provider_id,omitempty"`
	ProviderStatus string   `json:"provider_status,omitempty"`
	OldProviderIDs []string `json:"old_provider_ids,omitempty"`
	// KeyCall is the call (its provider id) whose menu key was taken: a
	// call's menu answers once (see RespondToCall).
	KeyCall string `json:"key_call,omitempty"`
	// Replies are the provider ids of the SMS replies this text took (the
	// last 16): a message acts once (see RespondToSMS).
	Replies []string `json:"replies,omitempty"`
	// Tries counts the attempts since the last one the provider accepted:
	// retry.max_attempts bounds it (a call placed again after nobody
	// answered starts from zero).
	Tries int `json:"tries,omitempty"`
	// FailoverOf is the notification whose final failure made this one.
	FailoverOf uint64 `json:"failover_of,omitempty"`
	// Digest marks a page of a level that waits (notify_within): it goes
	// out together with the recipient's other waiting pages on the same
	// channel, as one digest, when the first of them is due. DigestOf is
	// the notification whose message carried this one.
	Digest   bool   `json:"digest,omitempty"`
	DigestOf uint64 `json:"digest_of,omitempty"`
	By       string `json:"by,omitempty"`
	Detail   string `json:"detail,omitempty"`
	// History lists the attempts and callbacks, oldest first (the last
	// maxHistory).
	History []NoteAttempt `json:"history"`
}

// NoteAttempt is one line of a notification's history.
type NoteAttempt struct {
	At     time.Time `json:"at"`
	Result string    `json:"result"` // sent, retry, failed, callback:<status>, key:<key>, reply:<action>, interrupted, cancelled
	Error  string    `json:"error,omitempty"`
}

const maxHistory = 20

func (r *NotificationRecord) log(at time.Time, result, err string) {
	if len(r.History) >= maxHistory {
		r.History = slices.Clone(r.History[len(r.History)-maxHistory+1:])
	}
	r.History = append(r.History, NoteAttempt{At: at, Result: result, Error: err})
}

func (r *NotificationRecord) final() bool {
	return r.Status == NoteDelivered || r.Status == NoteFailed || r.Status == NoteCancelled
}

// Person is someone the engine pages, with an address per channel.
type Person struct {
	ID   string
	Name string
	// Addresses maps a channel (phone, sms, email, im, app) to the
	// person's address on it; app needs none but must be listed.
	Addresses map[string]string
	// IMNotifier is the notifier of the person's IM handle.
	IMNotifier string
}

// Route is who hears of an incident of one level.
type Route struct {
	People []string // person IDs
	Via    []string // channels each person is reached on
	Rooms  []string // room notifiers
	// Delay is how long after the incident opens the first notification
	// waits (notify_within); an incident resolved meanwhile pages nobody.
	Delay time.Duration
}

// NotifyConfig is the engine's notification wiring, built from config.
type NotifyConfig struct {
	// Notifiers by name: "phone", "sms", "email", "app", and each IM
	// notifier's (and room's) name.
	Notifiers map[string]Notifier
	People    map[string]Person
	Routes    map[Level]Route
	// MaxAttempts, Initial, Max: retries with exponential backoff and
	// jitter; Timeout bounds one attempt.
	MaxAttempts int
	Initial     time.Duration
	Max         time.Duration
	Timeout     time.Duration
	// CallAttempts is how many calls a phone notification makes until
	// one is answered; CallRetryAfter the pause between them.
	CallAttempts   int
	CallRetryAfter time.Duration
	// CallStatusWait is how long a placed call may go without a final
	// status callback before it counts as unanswered (a callback lost to a
	// restart or a wrong external URL must not end "call until answered").
	// Default 10m.
	CallStatusWait time.Duration
	// ConsoleURL links notifications to incidents; ExternalURL is
	// remediator's own, for callbacks.
	ConsoleURL  string
	ExternalURL string
	// MaxInFlight bounds concurrent deliveries per notifier (default 16).
	MaxInFlight int
	// Jitter returns a factor in [0.8, 1.2) for backoff (nil: random).
	Jitter func() float64
	// Chains are the escalation chains by level; Resolve turns a step
	// target (schedule:NAME, schedule-next:NAME, person:ID, team:NAME)
	// into the people it means at t.
	Chains  map[Level]Chain
	Resolve func(target string, t time.Time) []string
}

// failoverOrder is the order a person's channels are tried in when one
// fails for good.
var failoverOrder = []string{ChannelPhone, ChannelSMS, ChannelEmail, ChannelIM}

// outbox is the engine's notification state, under Engine.mu.
type outbox struct {
	cfg        *NotifyConfig
	records    byID[NotificationRecord]
	last       uint64
	byKey      map[string]*NotificationRecord
	byIncident map[uint64][]*NotificationRecord
	due        map[uint64]*NotificationRecord // pending records
	inFlight   map[string]int                 // notifier → deliveries running
	// muted: open incidents whose alerts were all muted when they came,
	// so nobody was paged; Tick pages them when that ends.
	muted map[uint64]bool
	// calls: phone notifications sent and waiting for their status
	// callback.
	calls    map[uint64]*NotificationRecord
	kick     bool // a change created due records
	stopping bool
	// ctx ends deliveries in flight at shutdown: they are retried (after
	// a restart) rather than waited for.
	ctx    context.Context
	cancel context.CancelFunc
}

func newOutbox() outbox {
	ctx, cancel := context.WithCancel(context.Background())
	return outbox{ctx: ctx, cancel: cancel, byKey: map[string]*NotificationRecord{}, byIncident: map[uint64][]*NotificationRecord{},
		due: map[uint64]*NotificationRecord{}, inFlight: map[string]int{},
		muted: map[uint64]bool{}, calls: map[uint64]*NotificationRecord{}}
}

func (o *outbox) index(r *NotificationRecord) {
	o.records.put(r.ID, r)
	o.last = max(o.last, r.ID)
	o.byKey[r.Key] = r
	o.byIncident[r.Incident] = append(o.byIncident[r.Incident], r)
	if r.Status == NotePending {
		o.due[r.ID] = r
	}
	if r.Status == NoteSent && r.Channel == ChannelPhone {
		o.calls[r.ID] = r
	}
}

// SetNotify installs the notification wiring (at start and on reload); nil
// turns notifications off. Pending notifications keep their recipients.
func (e *Engine) SetNotify(cfg *NotifyConfig) {
	if cfg != nil {
		c := *cfg
		if c.MaxAttempts <= 0 {
			c.MaxAttempts = 6
		}
		if c.Initial <= 0 {
			c.Initial = 10 * time.Second
		}
		if c.Max <= 0 {
			c.Max = 5 * time.Minute
		}
		if c.Timeout <= 0 {
			c.Timeout = 30 * time.Second
		}
		if c.CallAttempts <= 0 {
			c.CallAttempts = 3
		}
		if c.CallRetryAfter <= 0 {
			c.CallRetryAfter = time.Minute
		}
		if c.CallStatusWait <= 0 {
			c.CallStatusWait = 10 * time.Minute
		}
		if c.MaxInFlight <= 0 {
			c.MaxInFlight = 16
		}
		if c.Jitter == nil {
			c.Jitter = func() float64 { return 0.8 + 0.4*rand.Float64() }
		}
		cfg = &c
	}
	e.mu.Lock()
	e.out.cfg = cfg
	e.mu.Unlock()
}

// routeFor returns the route of a level, if notifications are on and it
// names anyone. Callers hold mu.
func (e *Engine) routeFor(l Level) (Route, bool) {
	if e.out.cfg == nil {
		return Route{}, false
	}
	r, ok := e.out.cfg.Routes[l]
	return r, ok && (len(r.People) > 0 && len(r.Via) > 0 || len(r.Rooms) > 0)
}

// pages reports whether a level pages anyone: a notify route or an
// escalation chain. Callers hold mu.
func (e *Engine) pages(l Level) bool {
	_, route := e.routeFor(l)
	_, chain := e.chainFor(l)
	return route || chain
}

// notePageable records, on attaching a firing alert, whether it may page:
// its level routes somewhere and no silence or maintenance window mutes
// it. Callers hold mu.
func (c *change) notePageable(inc *Incident, a *Alert) {
	e := c.e
	if e.out.cfg == nil || c.pageable[inc.ID] {
		return
	}
	if !e.pages(inc.Level) && !e.pages(a.Level) {
		return
	}
	if _, muted := e.suppressed(a.Labels, c.now); muted {
		e.out.muted[inc.ID] = true // paged once unmuted (Tick)
		return
	}
	if c.pageable == nil {
		c.pageable = map[uint64]bool{}
	}
	c.pageable[inc.ID] = true
}

// page queues the notifications an open incident's level calls for: the
// first page (firing), or, once someone was paged, an escalation to a more
// urgent level's route. Pages that have not gone out yet are replaced by
// the new level's. Callers hold mu.
func (e *Engine) page(c *change, inc *Incident) {
	if inc.Status != IncidentOpen || !e.pages(inc.Level) {
		return
	}
	route, _ := e.routeFor(inc.Level)
	paged, best := false, -1
	for _, r := range e.paged(inc.ID) {
		rank := e.classifier.Rank(r.Level)
		if !paged || rank < best {
			best = rank
		}
		paged = true
	}
	event, extra := NotifyFiring, ""
	if paged {
		if e.classifier.Rank(inc.Level) >= best {
			return // paged at this level or a more urgent one already
		}
		event, extra = NotifyEscalated, ":"+string(inc.Level)
	}
	for _, r := range e.out.byIncident[inc.ID] {
		if r.Status == NotePending && (r.Event == NotifyFiring || r.Event == NotifyEscalated) && r.Level != inc.Level {
			r.Status, r.FinishedAt = NoteCancelled, c.now
			r.log(c.now, "cancelled", "replaced by the pages of level "+string(inc.Level))
			c.touchNote(r)
			e.countNote(r, "cancelled")
		}
	}
	due := inc.CreatedAt.Add(route.Delay)
	if due.Before(c.now) {
		due = c.now
	}
	delete(e.out.muted, inc.ID)
	e.fanOut(c, inc, route, event, extra, due, "", "")
	if event == NotifyEscalated {
		due = c.now // a more urgent level's chain starts at once
	}
	e.startChain(c, inc, due)
}

// muteUntil reports whether every firing alert of inc is muted by a
// silence or maintenance window at t, and until when the first of them
// is. Callers hold mu.
func (e *Engine) muteUntil(inc *Incident, t time.Time) (time.Time, bool) {
	var until time.Time
	firing := 0
	for _, id := range inc.Alerts {
		a := e.alerts.get(id)
		if a == nil || a.Status != StatusFiring {
			continue
		}
		firing++
		sup, muted := e.suppressed(a.Labels, t)
		if !muted {
			return time.Time{}, false
		}
		if until.IsZero() || sup.Until.Before(until) {
			until = sup.Until
		}
	}
	return until, firing > 0
}

// unmute pages the open incidents that were muted when their alerts
// arrived and are no longer (the silence or window ended). Callers hold
// mu.
func (e *Engine) unmute(c *change) {
	for id := range e.out.muted {
		inc := e.incidents.get(id)
		if inc == nil || inc.Status == IncidentResolved {
			delete(e.out.muted, id)
			continue
		}
		if _, muted := e.muteUntil(inc, c.now); !muted {
			e.page(c, inc)
			delete(e.out.muted, id)
		}
	}
}

// fanOut queues event for every person and channel of route, and its
// rooms. Callers hold mu.
func (e *Engine) fanOut(c *change, inc *Incident, route Route, event, extra string, due time.Time, by, detail string) {
	cfg := e.out.cfg
	for _, pid := range route.People {
		p, ok := cfg.People[pid]
		if !ok {
			continue // validation prevents it
		}
		for _, ch := range route.Via {
			if r := e.queue(c, inc, event, extra, &p, ch, due, by, detail, 0); r != nil && route.Delay > 0 && event == NotifyFiring {
				r.Digest = true
			}
		}
	}
	for _, room := range route.Rooms {
		e.queue(c, inc, event, extra, nil, room, due, by, detail, 0)
	}
}

// queue records one notification unless the notification log already has
// its key. p is nil for a room. Callers hold mu.
func (e *Engine) queue(c *change, inc *Incident, event, extra string, p *Person, channel string, due time.Time, by, detail string, failoverOf uint64) *NotificationRecord {
	who, notifier, rcpt := "room:"+channel, channel, Recipient{}
	if p != nil {
		who, notifier = p.ID, channel
		rcpt = Recipient{Person: p.ID, Name: p.Name, Address: p.Addresses[channel]}
		if channel == ChannelIM {
			notifier = p.IMNotifier
		}
	}
	key := strconv.FormatUint(inc.ID, 10) + "/" + event + extra + "/" + who + "/" + channel
	if prev, dup := e.out.byKey[key]; dup && prev.Status != NoteCancelled {
		return nil // the notification log has it (a cancelled one never went out)
	}
	e.out.last++
	r := &NotificationRecord{
		ID: e.out.last, Rev: c.rev, Incident: inc.ID, Event: event, Level: inc.Level, Key: key,
		Channel: channel, Notifier: notifier, Recipient: rcpt, Status: NotePending,
		CreatedAt: c.now, DueAt: due, By: by, Detail: detail, FailoverOf: failoverOf,
	}
	e.out.index(r)
	c.notifications = append(c.notifications, r)
	if !due.After(c.now) {
		e.out.kick = true
	}
	return r
}

// countNote counts an outcome for the metrics. Callers hold mu.
func (e *Engine) countNote(r *NotificationRecord, outcome string) {
	if e.notesOut != nil {
		e.notesOut.WithLabelValues(r.Channel, outcome).Inc()
	}
}

// touchNote marks r changed in c. Callers hold mu.
func (c *change) touchNote(r *NotificationRecord) {
	r.Rev = c.rev
	c.notifications = append(c.notifications, r)
	if r.Status == NotePending {
		c.e.out.due[r.ID] = r
		if !r.DueAt.After(c.now) {
			c.e.out.kick = true
		}
	} else {
		delete(c.e.out.due, r.ID)
	}
	if r.Status == NoteSent && r.Channel == ChannelPhone {
		c.e.out.calls[r.ID] = r
	} else {
		delete(c.e.out.calls, r.ID)
	}
}

// paged returns the firing and escalated notifications of an incident
// that reached or are reaching someone. Callers hold mu.
func (e *Engine) paged(incident uint64) []*NotificationRecord {
	var out []*NotificationRecord
	for _, r := range e.out.byIncident[incident] {
		if (r.Event == NotifyFiring || r.Event == NotifyEscalated) &&
			(r.Status == NoteSending || r.Status == NoteSent || r.Status == NoteDelivered) {
			out = append(out, r)
		}
	}
	return out
}

// followUp tells everyone an incident paged of event (acknowledged,
// resolved, remediation_failed), once per person and channel, except
// skip (who made the change). A call is followed up by SMS: nobody needs
// a phone call to hear that an incident resolved. Callers hold mu.
func (e *Engine) followUp(c *change, inc *Incident, event, extra, by, detail, skip string) {
	cfg := e.out.cfg
	for _, r := range e.paged(inc.ID) {
		if r.Recipient.Person != "" && r.Recipient.Person == skip {
			continue
		}
		if r.Recipient.Person == "" {
			e.queue(c, inc, event, extra, nil, r.Channel, c.now, by, detail, 0)
			continue
		}
		p, ok := cfg.People[r.Recipient.Person]
		if !ok {
			continue
		}
		ch := r.Channel
		if ch == ChannelPhone {
			if p.Addresses[ChannelSMS] == "" || cfg.Notifiers[ChannelSMS] == nil {
				continue
			}
			ch = ChannelSMS
		}
		e.queue(c, inc, event, extra, &p, ch, c.now, by, detail, 0)
	}
}

// cancelPages cancels an incident's notifications that have not gone out
// yet, but for those of the given events. Callers hold mu.
func (e *Engine) cancelPages(c *change, inc *Incident, why string, keep ...string) {
	for _, r := range e.out.byIncident[inc.ID] {
		if r.Status != NotePending || slices.Contains(keep, r.Event) {
			continue
		}
		r.Status, r.FinishedAt = NoteCancelled, c.now
		r.log(c.now, "cancelled", why)
		c.touchNote(r)
		e.countNote(r, "cancelled")
	}
}

// onAcknowledged stops paging for an incident and tells those paged.
// Callers hold mu.
func (e *Engine) onAcknowledged(c *change, inc *Incident, by string) {
	if e.out.cfg == nil && len(e.out.byIncident[inc.ID]) == 0 {
		return
	}
	e.stopChain(c, inc, true, by)
	e.cancelPages(c, inc, "acknowledged by "+by, NotifyAcknowledged, NotifyResolved)
	if e.out.cfg != nil {
		extra := "" // a new cycle (an expired acknowledgement) is told again
		if es := e.esc[inc.ID]; es != nil && es.Cycle > 0 {
			extra = ":c" + strconv.Itoa(es.Cycle)
		}
		e.followUp(c, inc, NotifyAcknowledged, extra, by, "", by)
	}
}

// onResolved stops everything for an incident and tells those paged.
// Callers hold mu.
func (e *Engine) onResolved(c *change, inc *Incident, by string) {
	e.stopChain(c, inc, false, by)
	if len(e.out.byIncident[inc.ID]) == 0 {
		return
	}
	e.cancelPages(c, inc, "resolved by "+by, NotifyResolved)
	if e.out.cfg != nil {
		e.followUp(c, inc, NotifyResolved, "", by, "", by)
	}
}

// onRemediationFailed tells those paged that a remediation did not fix
// the incident; a first page still waiting for its delay goes out now.
// Callers hold mu.
func (e *Engine) onRemediationFailed(c *change, inc *Incident, action uint64, detail string) {
	if e.out.cfg == nil || inc.Status == IncidentResolved {
		return
	}
	for _, r := range e.out.byIncident[inc.ID] {
		if r.Status == NotePending && r.Event == NotifyFiring && r.DueAt.After(c.now) {
			r.DueAt = c.now
			r.log(c.now, "due now", "a remediation failed")
			c.touchNote(r)
		}
	}
	e.followUp(c, inc, NotifyRemediationFailed, ":"+strconv.FormatUint(action, 10), "remediator", detail, "")
	e.jumpChain(c, inc)
}

// delivery is one notification handed to its notifier.
type noteJob struct {
	rec      *NotificationRecord
	peers    []*NotificationRecord // carried in rec's message (a digest)
	notifier Notifier
	n        Notification
	timeout  time.Duration
}

// all returns the job's records, rec first.
func (j *noteJob) all() []*NotificationRecord {
	return append([]*NotificationRecord{j.rec}, j.peers...)
}

// deliverDue hands every due notification to its notifier: each is
// recorded as sending (durably) before it goes. Called after changes
// that queued due records, and by Tick.
func (e *Engine) deliverDue(now time.Time) {
	e.mu.Lock()
	e.out.kick = false
	if e.out.cfg == nil || e.out.stopping || len(e.out.due)+len(e.out.muted)+len(e.out.calls) == 0 {
		e.mu.Unlock()
		return
	}
	c := e.begin()
	c.now = now
	e.unmute(c)
	e.callWatchdog(c)
	var jobs []noteJob
	ids := make([]uint64, 0, len(e.out.due))
	for id, r := range e.out.due {
		if !r.DueAt.After(now) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	cfg := e.out.cfg
	for _, id := range ids {
		r := e.out.due[id]
		if r == nil || r.Status != NotePending {
			continue // went out in an earlier digest of this round
		}
		inc := e.incidents.get(r.Incident)
		if inc == nil {
			continue
		}
		if e.stale(r, inc) {
			r.Status, r.FinishedAt = NoteCancelled, now
			r.log(now, "cancelled", "the incident is "+string(inc.Status))
			c.touchNote(r)
			e.countNote(r, "cancelled")
			continue
		}
		if r.Event == NotifyFiring || r.Event == NotifyEscalated {
			// A silence made while the page waited: it waits for the
			// silence to end (and goes if the alerts still fire).
			if until, muted := e.muteUntil(inc, now); muted {
				r.DueAt = until
				r.log(now, "muted", "postponed until "+until.UTC().Format(time.RFC3339))
				c.touchNote(r)
				continue
			}
		}
		n := cfg.Notifiers[r.Notifier]
		if n == nil {
			e.failNote(c, r, inc, fmt.Sprintf("notifier %q is not configured", r.Notifier))
			continue
		}
		if e.out.inFlight[r.Notifier] >= cfg.MaxInFlight {
			continue
		}
		e.out.inFlight[r.Notifier]++
		j := noteJob{rec: r, notifier: n, timeout: cfg.Timeout}
		if r.Digest {
			j.peers = e.digestPeers(r, now)
		}
		for _, q := range j.all() {
			q.Status, q.Attempts, q.Tries = NoteSending, q.Attempts+1, q.Tries+1
			if q.Channel == ChannelPhone {
				// Counted now: Twilio may call back about the call before
				// CreateCall returns.
				q.Calls++
			}
			c.touchNote(q)
		}
		j.n = e.notification(r, inc)
		for _, p := range j.peers {
			j.n.Digest = append(j.n.Digest, e.notification(p, e.incidents.get(p.Incident)))
		}
		jobs = append(jobs, j)
	}
	t := c.commit()
	if len(jobs) > 0 {
		e.runs.Add(len(jobs))
	}
	e.mu.Unlock()
	if err := e.wait(context.Background(), t); err != nil {
		// Not durably "sending": back to pending, for the next tick.
		e.log.Error("notifications not recorded as sending; retrying at the next tick", "err", err)
		e.mu.Lock()
		for _, j := range jobs {
			e.out.inFlight[j.rec.Notifier]--
			for _, q := range j.all() {
				if q.Status == NoteSending {
					q.Status, q.Attempts, q.Tries = NotePending, q.Attempts-1, q.Tries-1
					if q.Channel == ChannelPhone {
						q.Calls--
					}
					e.out.due[q.ID] = q
				}
			}
			e.runs.Done()
		}
		e.mu.Unlock()
		return
	}
	for _, j := range jobs {
		go e.deliver(j)
	}
}

// maxDigest bounds how many pages one digest carries.
const maxDigest = 50

// digestPeers returns the recipient's other waiting pages on r's channel
// that go out with r as one digest, whenever they were due: "batched up to
// notify_within". Callers hold mu.
func (e *Engine) digestPeers(r *NotificationRecord, now time.Time) []*NotificationRecord {
	var out []*NotificationRecord
	for _, q := range e.out.due {
		if q == r || !q.Digest || q.Notifier != r.Notifier || q.Recipient != r.Recipient || q.Channel != r.Channel {
			continue
		}
		inc := e.incidents.get(q.Incident)
		if inc == nil || e.stale(q, inc) {
			continue
		}
		if _, muted := e.muteUntil(inc, now); muted {
			continue
		}
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b *NotificationRecord) int { return int(a.ID) - int(b.ID) })
	if len(out) > maxDigest-1 {
		out = out[:maxDigest-1]
	}
	for _, q := range out {
		q.DigestOf = r.ID
	}
	return out
}

// stale reports whether a pending notification no longer applies: a page
// for an incident that is acknowledged or resolved. Callers hold mu.
func (e *Engine) stale(r *NotificationRecord, inc *Incident) bool {
	switch r.Event {
	case NotifyFiring, NotifyEscalated, NotifyRemediationFailed:
		return inc.Status != IncidentOpen
	}
	return false
}

// notification is what the notifier of r gets. Callers hold mu.
func (e *Engine) notification(r *NotificationRecord, inc *Incident) Notification {
	cfg := e.out.cfg
	n := Notification{
		ID: r.ID, Event: r.Event, Channel: r.Channel, Recipient: r.Recipient, Incident: *inc,
		URL:         strings.TrimRight(cfg.ConsoleURL, "/") + "/incidents/" + strconv.FormatUint(inc.ID, 10),
		ExternalURL: strings.TrimRight(cfg.ExternalURL, "/"),
		By:          r.By, Detail: r.Detail, Attempt: r.Attempts,
		Thread:    fmt.Sprintf("incident-%d-%d", inc.ID, inc.CreatedAt.Unix()),
		MessageID: fmt.Sprintf("notification-%d-%d", r.ID, r.CreatedAt.Unix()),
	}
	n.Incident.Alerts = slices.Clone(inc.Alerts)
	const maxAlerts = 100
	for i, id := range inc.Alerts {
		if i == maxAlerts {
			break
		}
		if a := e.alerts.get(id); a != nil {
			n.Alerts = append(n.Alerts, *a)
		}
	}
	return n
}

// deliver runs one notifier call and records its outcome.
func (e *Engine) deliver(j noteJob) {
	defer e.runs.Done()
	ctx, cancel := context.WithTimeout(e.out.ctx, j.timeout)
	retry, err := safeNotify(ctx, j.notifier, &j.n)
	cancel()
	e.mu.Lock()
	e.out.inFlight[j.rec.Notifier]--
	c := e.begin()
	for _, r := range j.all() {
		e.outcome(c, r, j.n.ProviderID, retry, err)
	}
	t := c.commit()
	e.mu.Unlock()
	if err := e.wait(context.Background(), t); err != nil {
		e.log.Error("notification outcome not stored", "notification", j.rec.ID, "err", err)
	}
	e.kickNotify()
}

// outcome records what a delivery did to one of its records. Callers
// hold mu.
func (e *Engine) outcome(c *change, r *NotificationRecord, providerID string, retry bool, err error) {
	inc := e.incidents.get(r.Incident)
	if err != nil && r.Channel == ChannelPhone && r.Status == NoteSending {
		r.Calls-- // no call was placed
	}
	switch {
	case r.Status != NoteSending || inc == nil:
		// Changed meanwhile (a callback arrived first): keep that.
	case err == nil:
		r.Status, r.SentAt, r.Error, r.Tries = NoteSent, c.now, "", 0
		if providerID != "" {
			r.ProviderID = providerID
		}
		r.log(c.now, "sent", "")
		c.touchNote(r)
		e.countNote(r, "sent")
		suffix := ""
		if r.DigestOf != 0 {
			suffix = fmt.Sprintf(" (in the digest of notification %d)", r.DigestOf)
		}
		c.event(inc, EventNotificationSent, "remediator", "%s%s", describeNote(r), suffix)
	case e.out.ctx.Err() != nil:
		// Stopped by shutdown: sent again after the restart.
		r.Status, r.DueAt = NotePending, c.now
		r.log(c.now, "interrupted", "remediator stopped while it was being sent")
		c.touchNote(r)
	case retry && r.Tries < e.out.cfgOr().MaxAttempts:
		wait := e.backoff(r.Tries)
		var ra RetryAfterer
		if errors.As(err, &ra) && ra.RetryAfter() > wait {
			// As the peer asks, but no longer than retry.max: a page
			// must not wait a day for a proxy's Retry-After.
			wait = min(ra.RetryAfter(), max(wait, e.out.cfgOr().Max))
		}
		r.Status, r.DueAt, r.Error = NotePending, c.now.Add(wait), err.Error()
		r.log(c.now, "retry", err.Error())
		c.touchNote(r)
		e.countNote(r, "retried")
	default:
		why := err.Error()
		if retry {
			why = fmt.Sprintf("%s (gave up after %d attempts)", why, r.Tries)
		}
		e.failNote(c, r, inc, why)
	}
}

// cfgOr returns the config, or defaults when notifications were turned
// off while a delivery ran.
func (o *outbox) cfgOr() *NotifyConfig {
	if o.cfg != nil {
		return o.cfg
	}
	return &NotifyConfig{MaxAttempts: 1}
}

// safeNotify calls n.Notify; a panic is a final failure, not a crash.
func safeNotify(ctx context.Context, n Notifier, note *Notification) (retry bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			retry, err = false, fmt.Errorf("notifier panicked: %v", p)
		}
	}()
	return n.Notify(ctx, note)
}

// backoff is the wait before attempt n+1: Initial·2^(n-1), capped at Max,
// with jitter. Callers hold mu.
func (e *Engine) backoff(n int) time.Duration {
	cfg := e.out.cfgOr()
	d := cfg.Initial
	for i := 1; i < n && d < cfg.Max; i++ {
		d *= 2
	}
	d = min(d, cfg.Max)
	if cfg.Jitter != nil {
		d = time.Duration(float64(d) * cfg.Jitter())
	}
	return d
}

// failNote marks r failed for good, records it on the incident and fails
// over to the person's next channel. Callers hold mu.
func (e *Engine) failNote(c *change, r *NotificationRecord, inc *Incident, why string) {
	r.Status, r.FinishedAt, r.Error = NoteFailed, c.now, why
	r.log(c.now, "failed", why)
	c.touchNote(r)
	e.countNote(r, "failed")
	next := e.failover(c, r, inc)
	suffix := ""
	if next != nil {
		suffix = fmt.Sprintf("; failing over to %s (notification %d)", next.Channel, next.ID)
	}
	c.event(inc, EventNotificationFailed, "remediator", "%s failed: %s%s", describeNote(r), why, suffix)
	e.log.Warn("notification failed", "notification", r.ID, "incident", inc.ID, "channel", r.Channel, "err", why)
}

// failover queues r's event on the person's next channel in
// failoverOrder that they have an address and a notifier for, unless one
// already reached (or is reaching) them. Callers hold mu.
func (e *Engine) failover(c *change, r *NotificationRecord, inc *Incident) *NotificationRecord {
	cfg := e.out.cfg
	if cfg == nil || r.Recipient.Person == "" || e.stale(r, inc) {
		return nil
	}
	p, ok := cfg.People[r.Recipient.Person]
	if !ok {
		return nil
	}
	i := slices.Index(failoverOrder, r.Channel)
	if i < 0 {
		return nil
	}
	extra := strings.TrimPrefix(r.Key, strconv.FormatUint(inc.ID, 10)+"/"+r.Event)
	extra = extra[:strings.Index(extra, "/")] // the event's suffix (":level", ":action")
	for _, ch := range failoverOrder[i+1:] {
		if p.Addresses[ch] == "" || cfg.Notifiers[notifierOf(&p, ch)] == nil {
			continue
		}
		key := strconv.FormatUint(inc.ID, 10) + "/" + r.Event + extra + "/" + p.ID + "/" + ch
		if prev, ok := e.out.byKey[key]; ok {
			if prev.Status == NoteFailed || prev.Status == NoteCancelled {
				continue
			}
			return nil // that channel is on it
		}
		return e.queue(c, inc, r.Event, extra, &p, ch, c.now, r.By, r.Detail, r.ID)
	}
	return nil
}

func notifierOf(p *Person, channel string) string {
	if channel == ChannelIM {
		return p.IMNotifier
	}
	return channel
}

// describeNote names a notification for the timeline.
func describeNote(r *NotificationRecord) string {
	to := r.Recipient.Person
	if to == "" {
		to = "room"
	}
	return fmt.Sprintf("%s notification %d by %s to %s", r.Event, r.ID, r.Channel, to)
}

// kickNotify delivers what the last changes made due, if any, in the
// background: the caller's answer (a webhook's 200) never waits for it.
func (e *Engine) kickNotify() {
	e.mu.Lock()
	kick := e.out.kick && !e.out.stopping
	if kick {
		e.out.kick = false
		e.runs.Add(1)
	}
	e.mu.Unlock()
	if kick {
		go func() {
			defer e.runs.Done()
			e.deliverDue(e.clock.Now())
		}()
	}
}

// stopNotifications stops delivering: nothing new is handed to a
// notifier, and deliveries in flight are cancelled (and recorded pending,
// so the next start sends them).
func (e *Engine) stopNotifications() {
	e.mu.Lock()
	e.out.stopping = true
	e.mu.Unlock()
	e.out.cancel()
}

// ResumeNotifications runs after a restart: a notification that was
// being sent when remediator stopped is sent again (it may have gone out:
// at most the ones in flight are sent twice), and everything due goes.
func (e *Engine) ResumeNotifications() {
	e.mu.Lock()
	c := e.begin()
	for _, r := range e.out.records.items {
		if r != nil && r.Status == NoteSending {
			r.Status, r.DueAt = NotePending, c.now
			r.log(c.now, "interrupted", "remediator stopped while it was being sent")
			c.touchNote(r)
		}
	}
	t := c.commit()
	e.mu.Unlock()
	if err := e.wait(context.Background(), t); err != nil {
		e.log.Error("resumed notifications not stored", "err", err)
	}
	e.deliverDue(e.clock.Now())
}

// DeliveryStatus records a provider's status callback for notification
// id (a Twilio call or SMS). A call nobody answered is made again, up to
// the configured count, while the incident is open; then the person's
// next channel is tried.
func (e *Engine) DeliveryStatus(ctx context.Context, id uint64, providerID, status, detail string) error {
	e.mu.Lock()
	r := e.out.records.get(id)
	if r == nil {
		e.mu.Unlock()
		return fmt.Errorf("notification %d: %w", id, ErrNotFound)
	}
	if providerID != "" && (slices.Contains(r.OldProviderIDs, providerID) || r.ProviderID != "" && providerID != r.ProviderID) {
		e.mu.Unlock()
		return fmt.Errorf("notification %d: callback for %s, a superseded attempt: %w", id, providerID, ErrConflict)
	}
	inc := e.incidents.get(r.Incident)
	c := e.begin()
	// A call that ended stays ended: a late or replayed "in-progress"
	// must not make it live again (a key is taken only from a live call).
	if r.Channel != ChannelPhone || !callEnded(r.ProviderStatus) || callEnded(status) {
		r.ProviderStatus = status
	}
	errText := ""
	if detail != "" {
		errText = "error code " + detail
	}
	r.log(c.now, "callback:"+status, errText)
	c.touchNote(r)
	if inc != nil && !r.final() {
		switch status {
		case "in-progress", "answered", "completed", "delivered", "read", "received":
			r.Status, r.FinishedAt = NoteDelivered, c.now
			e.countNote(r, "delivered")
			if r.Channel == ChannelPhone {
				c.event(inc, EventNotificationDelivered, "remediator", "%s: the call was answered", describeNote(r))
			}
		case "busy", "no-answer", "failed", "canceled", "undelivered":
			why := fmt.Sprintf("%s %s", r.Channel, status)
			if errText != "" {
				why += " (" + errText + ")"
			}
			if r.Channel == ChannelPhone && status != "failed" {
				e.unanswered(c, r, inc, status)
			} else {
				e.failNote(c, r, inc, why)
			}
		}
	}
	t := c.commit()
	e.mu.Unlock()
	if err := e.wait(ctx, t); err != nil {
		return err
	}
	e.kickNotify()
	return nil
}

// unanswered handles a call nobody answered: it is made again after
// voice.retry_after, up to voice.attempts calls, while the incident is
// open; then the person's next channel is tried. A call that ends after
// the incident was acknowledged or resolved needs nothing more. Callers
// hold mu.
func (e *Engine) unanswered(c *change, r *NotificationRecord, inc *Incident, status string) {
	cfg := e.out.cfgOr()
	switch {
	case e.stale(r, inc):
		r.Status, r.FinishedAt = NoteCancelled, c.now
		r.log(c.now, "cancelled", "the incident is "+string(inc.Status))
		c.touchNote(r)
		e.countNote(r, "cancelled")
	case r.Calls < cfg.CallAttempts:
		if r.ProviderID != "" {
			r.OldProviderIDs = append(r.OldProviderIDs, r.ProviderID)
		}
		// The next call's status is its own: a key pressed in it must not
		// be refused for this one having ended.
		r.Status, r.DueAt, r.Error, r.ProviderID, r.ProviderStatus = NotePending, c.now.Add(cfg.CallRetryAfter), "phone "+status, "", ""
		c.touchNote(r)
	default:
		e.failNote(c, r, inc, fmt.Sprintf("not answered after %d calls (last: %s)", r.Calls, status))
	}
}

// callWatchdog counts a call as unanswered when no final status callback
// came within CallStatusWait of placing it. Callers hold mu.
func (e *Engine) callWatchdog(c *change) {
	wait := e.out.cfgOr().CallStatusWait
	for _, r := range e.out.calls {
		if wait <= 0 || r.Status != NoteSent || c.now.Before(r.SentAt.Add(wait)) {
			continue
		}
		inc := e.incidents.get(r.Incident)
		if inc == nil || e.stale(r, inc) {
			delete(e.out.calls, r.ID) // nothing more to do for it: it stays sent
			continue
		}
		r.log(c.now, "no status callback", fmt.Sprintf("no final status within %s of the call", wait))
		e.unanswered(c, r, inc, "no status callback")
	}
}

// NotificationFilter selects notification records; empty fields select
// all.
type NotificationFilter struct {
	Incident uint64
	Status   string
	Channel  string
}

// Notifications lists notification records newest first.
func (e *Engine) Notifications(f NotificationFilter, p Page) (out []NotificationRecord, next uint64) {
	match := func(r *NotificationRecord) bool {
		return (f.Incident == 0 || r.Incident == f.Incident) && (f.Status == "" || r.Status == f.Status) && (f.Channel == "" || r.Channel == f.Channel)
	}
	need := func() bool { // what may change stays in memory, and with it its incident's records
		return f.Status != NotePending && f.Status != NoteSending && (f.Incident == 0 || e.incidents.get(f.Incident) == nil)
	}
	return listPage(e, p, need, func(limit int) (out []NotificationRecord) {
		if f.Incident != 0 {
			list := e.out.byIncident[f.Incident]
			for i := len(list) - 1; i >= 0 && len(out) < limit; i-- {
				if r := list[i]; (p.Cursor == 0 || r.ID < p.Cursor) && match(r) {
					out = append(out, copyNote(r))
				}
			}
			return out
		}
		e.out.records.newestFirst(p.Cursor, func(r *NotificationRecord) bool {
			if match(r) {
				out = append(out, copyNote(r))
			}
			return len(out) < limit
		})
		return out
	}, func(id uint64) bool { return e.out.records.get(id) != nil }, e.store.ScanNotifications, match, func(r *NotificationRecord) uint64 { return r.ID })
}

func copyNote(r *NotificationRecord) NotificationRecord {
	cp := *r
	cp.History = slices.Clone(r.History)
	return cp
}

// restoreNotifications indexes the stored outbox.
func (e *Engine) restoreNotifications(rs []*NotificationRecord) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	for _, r := range rs {
		e.out.index(r)
		e.rev = max(e.rev, r.Rev)
	}
}
