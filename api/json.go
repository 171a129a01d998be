package api

import (
	"time"

	"github.com/remediator/remediator/engine"
)

// The API's JSON shapes. Times that have not happened are null.

type incidentJSON struct {
	ID             uint64       `json:"id"`
	Key            string       `json:"key"`
	Title          string       `json:"title"`
	Level          engine.Level `json:"level"`
	Priority       string       `json:"priority,omitempty"`
	Status         string       `json:"status"`
	CreatedAt      time.Time    `json:"created_at"`
	RespondBy      *time.Time   `json:"respond_by"`
	ResolveBy      *time.Time   `json:"resolve_by"`
	AcknowledgedAt *time.Time   `json:"acknowledged_at"`
	AcknowledgedBy string       `json:"acknowledged_by,omitempty"`
	ResolvedAt     *time.Time   `json:"resolved_at"`
	ResolvedBy     string       `json:"resolved_by,omitempty"`
	// Alerts are the fingerprints of the first 100 alerts; Firing and
	// Resolved count them all.
	Alerts   []string          `json:"alerts"`
	Firing   int               `json:"firing"`
	Resolved int               `json:"resolved"`
	Labels   map[string]string `json:"labels"`
}

type incidentList struct {
	Incidents  []incidentJSON `json:"incidents"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

type incidentDetailJSON struct {
	Incident         incidentJSON `json:"incident"`
	Alerts           []alertJSON  `json:"alerts"` // one page, oldest first
	AlertsNextCursor string       `json:"alerts_next_cursor,omitempty"`
	Timeline         []eventJSON  `json:"timeline"` // one page, oldest first
	// TimelineNextCursor pages on (absent at the end); TimelineTotal
	// counts all of the incident's events.
	TimelineNextCursor string          `json:"timeline_next_cursor,omitempty"`
	TimelineTotal      int             `json:"timeline_total"`
	Escalation         *escalationJSON `json:"escalation,omitempty"`
}

// escalationJSON is where an incident stands in its chain: the step due
// next and when (absent when nothing is pending).
type escalationJSON struct {
	Chain           string     `json:"chain,omitempty"`
	Cycle           int        `json:"cycle"`
	Round           int        `json:"round"`
	NextStep        int        `json:"next_step"` // from 1
	DueAt           *time.Time `json:"due_at,omitempty"`
	AckExpiresAt    *time.Time `json:"ack_expires_at,omitempty"`
	FirstAckAt      *time.Time `json:"first_ack_at,omitempty"`
	FirstAckBy      string     `json:"first_ack_by,omitempty"`
	RespondBreached bool       `json:"respond_breached"`
	ResolveBreached bool       `json:"resolve_breached"`
}

func toEscalationJSON(es *engine.Escalation) *escalationJSON {
	if es == nil {
		return nil
	}
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return &escalationJSON{Chain: es.Chain, Cycle: es.Cycle, Round: es.Round, NextStep: es.Step + 1,
		DueAt: opt(es.DueAt), AckExpiresAt: opt(es.AckExpiresAt), FirstAckAt: opt(es.FirstAckAt), FirstAckBy: es.FirstAckBy,
		RespondBreached: es.RespondBreached, ResolveBreached: es.ResolveBreached}
}

type eventJSON struct {
	At     time.Time `json:"at"`
	Type   string    `json:"type"`
	Detail string    `json:"detail"`
	By     string    `json:"by,omitempty"`
}

type alertJSON struct {
	ID          uint64            `json:"id"`
	Fingerprint string            `json:"fingerprint"`
	Status      string            `json:"status"`
	Level       engine.Level      `json:"level"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"starts_at"`
	EndsAt      *time.Time        `json:"ends_at"`
	FirstSeen   time.Time         `json:"first_seen"`
	LastSeen    time.Time         `json:"last_seen"`
	Deliveries  uint64            `json:"deliveries"`
	Incident    uint64            `json:"incident,omitempty"`
	// Suppressed, for a firing alert, is the silence or maintenance window
	// that mutes it now.
	Suppressed *engine.Suppression `json:"suppressed,omitempty"`
}

type alertList struct {
	Alerts     []alertJSON `json:"alerts"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toIncidentJSON(s *engine.IncidentSummary) incidentJSON {
	fps := s.Fingerprints
	if fps == nil {
		fps = []string{}
	}
	return incidentJSON{
		ID: s.ID, Key: s.Key, Title: s.Title, Level: s.Level, Priority: s.Priority, Status: string(s.Status),
		CreatedAt: s.CreatedAt, RespondBy: optTime(s.RespondBy), ResolveBy: optTime(s.ResolveBy), AcknowledgedAt: optTime(s.AcknowledgedAt), AcknowledgedBy: s.AcknowledgedBy,
		ResolvedAt: optTime(s.ResolvedAt), ResolvedBy: s.ResolvedBy,
		Alerts: fps, Firing: s.Firing, Resolved: s.Resolved(), Labels: s.Labels,
	}
}

func toAlertJSON(a *engine.Alert) alertJSON {
	ends := a.EndsAt
	if a.Status == engine.StatusFiring {
		ends = time.Time{} // firing alerts carry 0001-01-01 or a future estimate
	}
	return alertJSON{
		ID: a.ID, Fingerprint: a.Fingerprint, Status: a.Status, Level: a.Level,
		Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: optTime(ends),
		FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, Deliveries: a.Deliveries, Incident: a.Incident,
	}
}

// actionJSON is an action record whose times that have not happened are
// null (started_at, finished_at) or absent (verify_by, hold_until,
// approve_by). Its fields shadow the record's of the same name.
type actionJSON struct {
	engine.ActionRecord
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	VerifyBy   *time.Time `json:"verify_by,omitempty"`
	HoldUntil  *time.Time `json:"hold_until,omitempty"`
	ApproveBy  *time.Time `json:"approve_by,omitempty"`
}

func toActionJSON(a *engine.ActionRecord) actionJSON {
	return actionJSON{ActionRecord: *a, StartedAt: optTime(a.StartedAt), FinishedAt: optTime(a.FinishedAt),
		VerifyBy: optTime(a.VerifyBy), HoldUntil: optTime(a.HoldUntil), ApproveBy: optTime(a.ApproveBy)}
}

// notificationJSON is a notification record whose times that have not
// happened are null.
type notificationJSON struct {
	engine.NotificationRecord
	DueAt      *time.Time `json:"due_at"`
	SentAt     *time.Time `json:"sent_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

func toNotificationJSON(n *engine.NotificationRecord) notificationJSON {
	return notificationJSON{NotificationRecord: *n, DueAt: optTime(n.DueAt), SentAt: optTime(n.SentAt), FinishedAt: optTime(n.FinishedAt)}
}
