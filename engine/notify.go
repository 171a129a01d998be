package engine

import (
	"context"
	"time"
)

// Notification events: why a notification is sent.
const (
	NotifyFiring            = "firing"             // an incident opened
	NotifyEscalated         = "escalated"          // an incident became more urgent, or climbed a step
	NotifyAcknowledged      = "acknowledged"       // someone acknowledged it
	NotifyResolved          = "resolved"           // it resolved
	NotifyRemediationFailed = "remediation_failed" // a remediation did not fix it
)

// NotifyEvents lists the notification events, in the order above.
var NotifyEvents = []string{NotifyFiring, NotifyEscalated, NotifyAcknowledged, NotifyResolved, NotifyRemediationFailed}

// Channels a person is reached on. A notification to a room (an IM group
// robot, a generic webhook) has the room's notifier name as its channel.
const (
	ChannelPhone = "phone"
	ChannelSMS   = "sms"
	ChannelEmail = "email"
	ChannelIM    = "im"
	ChannelApp   = "app"
)

// Notifier delivers one notification. retry reports whether a failure is
// worth retrying (a transport error, a 5xx, a 429); a nil error means the
// provider accepted the notification.
//
// Notify may set n.ProviderID (a call or message id) for status
// callbacks to find the record by.
type Notifier interface {
	Notify(ctx context.Context, n *Notification) (retry bool, err error)
}

// RetryAfterer is an error that says how long to wait before retrying (a
// 429 with Retry-After); the engine waits at least that long.
type RetryAfterer interface {
	RetryAfter() time.Duration
}

// Notification is what a notifier renders and sends: one event of one
// incident for one recipient on one channel.
type Notification struct {
	ID        uint64
	Event     string
	Channel   string
	Recipient Recipient
	// Incident and Alerts are copies, as they were when the notification
	// was handed to the notifier.
	Incident Incident
	Alerts   []Alert
	// URL is the incident in remediator's console; ExternalURL is
	// remediator's external URL, for callbacks.
	URL         string
	ExternalURL string
	// By is who acknowledged or resolved the incident; Detail says more
	// (the remediation that failed, the step that escalated).
	By     string
	Detail string
	// Attempt counts deliveries of this notification, from 1.
	Attempt int
	// Thread identifies the incident's conversation (an email's
	// In-Reply-To); MessageID this notification, the same on every
	// attempt. Both are unique to this remediator's store.
	Thread    string
	MessageID string
	// ProviderID is set by the notifier: the provider's id of what it
	// sent (a Twilio call or message SID).
	ProviderID string
	// Digest lists the other pages this message carries (a level that
	// waits sends a recipient's waiting pages together); empty for a
	// single page.
	Digest []Notification
}

// Recipient is who a notification is for. A room has no person.
type Recipient struct {
	Person string `json:"person,omitempty"` // person id
	Name   string `json:"name,omitempty"`
	// Address is the phone number, email address or IM handle the channel
	// uses; empty for the in-app channel and for rooms.
	Address string `json:"address,omitempty"`
}
