// Package engine holds remediator's domain: alerts, episodes and incidents,
// the ingest path that turns an Alertmanager webhook into durable state, the
// incident state machine, and the small interfaces the engine consumes
// (Store, Clock, Classifier, Notifier). Implementations live in their own
// packages and never import each other.
package engine

import (
	"context"
	"time"
)

// Alert statuses as Alertmanager sends them.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// IncidentStatus is where an incident stands in its life cycle:
// open → acknowledged → resolved (open → resolved is allowed too).
type IncidentStatus string

const (
	IncidentOpen         IncidentStatus = "open"
	IncidentAcknowledged IncidentStatus = "acknowledged"
	IncidentResolved     IncidentStatus = "resolved"
)

// Valid reports whether s is one of the three statuses.
func (s IncidentStatus) Valid() bool {
	switch s {
	case IncidentOpen, IncidentAcknowledged, IncidentResolved:
		return true
	}
	return false
}

// Level is the name of a configured alert level (critical, warning, ...).
type Level string

// Webhook is one Alertmanager notification after decoding and validation.
// Every alert has a fingerprint and a status of firing or resolved.
type Webhook struct {
	Receiver          string
	Status            string
	GroupKey          string
	ExternalURL       string
	GroupLabels       map[string]string
	CommonLabels      map[string]string
	CommonAnnotations map[string]string
	TruncatedAlerts   int
	Alerts            []WebhookAlert
}

// WebhookAlert is one alert of a Webhook.
type WebhookAlert struct {
	Fingerprint  string
	Status       string
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
}

// Alert is one episode of an alert: the alert identified by its fingerprint
// from the moment it started (StartsAt) until it resolved. A later firing
// with a new StartsAt is a new episode and a new Alert.
type Alert struct {
	ID           uint64            `json:"id"` // engine-assigned, increasing
	Rev          uint64            `json:"rev"`
	Fingerprint  string            `json:"fingerprint"`
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"starts_at"`
	EndsAt       time.Time         `json:"ends_at"`
	GeneratorURL string            `json:"generator_url,omitempty"`
	Level        Level             `json:"level"`
	Incident     uint64            `json:"incident,omitempty"`
	FirstSeen    time.Time         `json:"first_seen"`
	LastSeen     time.Time         `json:"last_seen"`
	Deliveries   uint64            `json:"deliveries"`
	// Decided is set once remediation has decided what to do for this
	// episode (in the same write as the decision's records).
	Decided bool `json:"decided,omitempty"`
}

// Incident groups the alerts that Alertmanager sent as one group
// (receiver + groupKey) until they all resolve or a person resolves it.
type Incident struct {
	ID             uint64            `json:"id"`
	Rev            uint64            `json:"rev"`
	Key            string            `json:"key"` // receiver + "/" + groupKey
	Receiver       string            `json:"receiver"`
	GroupKey       string            `json:"group_key"`
	Title          string            `json:"title"`
	Level          Level             `json:"level"`
	Status         IncidentStatus    `json:"status"`
	CreatedAt      time.Time         `json:"created_at"`
	AcknowledgedAt time.Time         `json:"acknowledged_at"`
	AcknowledgedBy string            `json:"acknowledged_by,omitempty"`
	ResolvedAt     time.Time         `json:"resolved_at"`
	ResolvedBy     string            `json:"resolved_by,omitempty"`
	Labels         map[string]string `json:"labels"`
	ExternalURL    string            `json:"external_url,omitempty"`
	Priority       string            `json:"priority,omitempty"`
	RespondBy      time.Time         `json:"respond_by"` // SLA: acknowledge by (zero: none)
	ResolveBy      time.Time         `json:"resolve_by"` // SLA: resolve by (zero: none)
	Alerts         []uint64          `json:"alerts"`     // Alert IDs, in arrival order
	Firing         int               `json:"firing"`     // how many of Alerts are firing
	NextEvent      uint32            `json:"next_event"`
}

// Timeline event types.
const (
	EventReceived       = "received"
	EventOpened         = "opened"
	EventAlertAdded     = "alert_added"
	EventAlertResolved  = "alert_resolved"
	EventAcknowledged   = "acknowledged"
	EventResolved       = "resolved"
	EventNote           = "note"
	EventActionStarted  = "action_started"
	EventActionFinished = "action_finished"
	EventActionSkipped  = "action_skipped"
	// EventRemediationFailed: a run's verification failed (the alert
	// still fires); EventLevelRaised follows when the incident becomes
	// more urgent.
	EventRemediationFailed = "remediation_failed"
	EventLevelRaised       = "level_raised"
	EventActionAwaiting    = "action_awaiting_approval"
	EventActionDecided     = "action_decided" // approved, rejected, expired
)

// TimelineEvent is one entry of an incident's timeline.
type TimelineEvent struct {
	Incident uint64    `json:"incident"`
	Seq      uint32    `json:"seq"`
	At       time.Time `json:"at"`
	Type     string    `json:"type"`
	Detail   string    `json:"detail"`
	By       string    `json:"by,omitempty"`
}

// Changes is one atomic write-through of engine state: full records with
// their revision, and new timeline events. Applying the same Changes twice,
// or an older revision after a newer one, leaves the store unchanged.
type Changes struct {
	Alerts    []*Alert
	Incidents []*Incident
	Events    []TimelineEvent
	Silences  []*Silence
	Actions   []*ActionRecord
	// Notifications is the outbox: a notification is recorded before it
	// is sent and updated after.
	Notifications []*NotificationRecord
	// Escalations are incidents' places in their chains (the pending
	// step and its due time) and SLA breach marks.
	Escalations []*Escalation
	Overrides   []*ScheduleOverride
	// Audit entries are appended, never changed.
	Audit []*AuditEntry

	rev uint64 // the engine's revision once these are written (with all before it)
}

// add appends o's records and events to c's, in order.
func (c *Changes) add(o *Changes) {
	c.rev = max(c.rev, o.rev)
	c.Alerts = append(c.Alerts, o.Alerts...)
	c.Incidents = append(c.Incidents, o.Incidents...)
	c.Events = append(c.Events, o.Events...)
	c.Silences = append(c.Silences, o.Silences...)
	c.Actions = append(c.Actions, o.Actions...)
	c.Notifications = append(c.Notifications, o.Notifications...)
	c.Escalations = append(c.Escalations, o.Escalations...)
	c.Overrides = append(c.Overrides, o.Overrides...)
	c.Audit = append(c.Audit, o.Audit...)
}

// Empty reports whether there is nothing to write.
func (c *Changes) Empty() bool {
	return len(c.Alerts) == 0 && len(c.Incidents) == 0 && len(c.Events) == 0 && len(c.Silences) == 0 &&
		len(c.Actions) == 0 && len(c.Notifications) == 0 && len(c.Escalations) == 0 && len(c.Overrides) == 0 && len(c.Audit) == 0
}

// Snapshot is everything the engine keeps in memory, as loaded at start.
type Snapshot struct {
	Alerts    []*Alert
	Incidents []*Incident
	Events    []TimelineEvent
	Silences  []*Silence
	Actions   []*ActionRecord
	// Notifications in ID order.
	Notifications []*NotificationRecord
	Escalations   []*Escalation
	Overrides     []*ScheduleOverride
	Audit         []*AuditEntry
	// LastIDs are the highest IDs a prune found, some of whose records
	// it may have deleted since.
	LastIDs LastIDs
}

// LastIDs are the highest IDs ever stored, by kind.
type LastIDs struct {
	Alert, Incident, Action, Notification, Audit uint64
}

// Store persists engine state. Apply returns only once the changes are
// durable (fsynced); it must be safe for concurrent use and idempotent.
//
// It also holds the history the engine no longer keeps in memory (see
// Retention): the Scan methods call f with each record whose ID is below
// before (all when 0), highest ID first, until f returns false; f must
// not call back into the engine.
type Store interface {
	Apply(ctx context.Context, c *Changes) error
	Load(ctx context.Context) (*Snapshot, error)

	ScanIncidents(ctx context.Context, before uint64, f func(*Incident) bool) error
	ScanAlerts(ctx context.Context, before uint64, f func(*Alert) bool) error
	ScanActions(ctx context.Context, before uint64, f func(*ActionRecord) bool) error
	ScanNotifications(ctx context.Context, before uint64, f func(*NotificationRecord) bool) error
	ScanAudit(ctx context.Context, before uint64, f func(*AuditEntry) bool) error
	ScanEscalations(ctx context.Context, f func(*Escalation) bool) error
	// Incident reads one incident with its alerts, timeline and
	// escalation record; ok is false when it is not stored.
	Incident(ctx context.Context, id uint64) (h IncidentHistory, ok bool, err error)
	// Alert reads one alert episode; ok is false when it is not stored.
	Alert(ctx context.Context, id uint64) (a Alert, ok bool, err error)
	// Prune deletes what retention no longer keeps, in small writes.
	Prune(ctx context.Context, r PruneRequest) (PruneResult, error)
}

// IncidentHistory is a stored incident and what belongs to it.
type IncidentHistory struct {
	Incident   Incident
	Alerts     []Alert         // in the incident's order
	Timeline   []TimelineEvent // in Seq order
	Escalation *Escalation     // nil: none
}

// PruneRequest says what history to delete: incidents resolved (with no
// alert still firing) before ResolvedBefore, with their alerts, timelines,
// escalation, action and notification records, and the alerts, actions
// and finished notifications of no incident that ended before it; audit
// entries made before AuditBefore; and action and notification records
// whose incident is no longer stored (left by a prune cut short). Before
// it deletes anything it records the highest ID of each kind, which Load
// returns in Snapshot.LastIDs, so that no ID is ever handed out twice.
// MaxPerTx bounds the records deleted in
// one write transaction (0: 1000).
type PruneRequest struct {
	ResolvedBefore time.Time
	AuditBefore    time.Time
	MaxPerTx       int
	// Held are the incidents the engine still holds in memory: kept,
	// with what belongs to them, however old.
	Held map[uint64]bool
}

// PruneResult counts what a prune deleted.
type PruneResult struct {
	Incidents, Alerts, Events, Actions, Notifications, Audit int
}

// Clock tells the time. Tests inject a simulated clock.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// ClassifyInput is what a classifier sees of one alert.
type ClassifyInput struct {
	Alert   *WebhookAlert
	Webhook *Webhook
	Now     time.Time
	// History answers questions about earlier episodes of the alert.
	History History
}

// History is what the engine knows of an alert's past episodes.
type History interface {
	// FiredWithin counts the episodes of the alert (the one being
	// classified included) that started within d before now.
	FiredWithin(d time.Duration) int
}

// RuleTrace says why one level did or did not classify an alert.
type RuleTrace struct {
	Level   Level  `json:"level"`
	Matched bool   `json:"matched"`
	Reason  string `json:"reason"`
}

// Classifier decides the level of an alert and what the level promises.
type Classifier interface {
	Classify(in *ClassifyInput) Level
	// Explain classifies like Classify and says why, rule by rule.
	Explain(in *ClassifyInput) (Level, []RuleTrace)
	// Rank orders levels: 0 is the most urgent. Unknown levels rank last.
	Rank(l Level) int
	// SLA returns the level's priority and the deadlines to respond to and
	// to resolve an incident of that level opened at t (zero when the
	// level sets none).
	SLA(l Level, t time.Time) (priority string, respondBy, resolveBy time.Time)
}
