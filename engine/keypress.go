package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"
)

// A key pressed in the menu of a notification's call acts once, and only
// from the live call. A call is live while
//
//   - it is the notification's current call: its provider id is the one
//     recorded when the provider accepted the call. A re-call replaces it
//     (the earlier ids move to OldProviderIDs); an id recorded nowhere,
//     or a key that comes before the id is recorded, is refused;
//   - no status callback has said that it ended (completed, busy,
//     no-answer, failed, canceled);
//   - none of its keys was taken yet: the first key that asks for
//     something is taken (KeyCall), whatever it then does.
//
// A key that is not live (a replayed or late callback) changes nothing
// and is audited as denied, with no actor: the sender is not known to be
// the person called, and anonymous denials are rate-limited per address.
// A live key that the incident's state refuses (acknowledging a resolved
// incident) is audited as failed. The taken key, what it did and its
// audit entries are one change, written together.

// CallKey is what a key in a call's menu asks for.
type CallKey string

// The menu's keys.
const (
	CallAcknowledge CallKey = "acknowledge" // 1
	CallResolve     CallKey = "resolve"     // 2
	CallSilence     CallKey = "silence"     // 3: silence the group, and acknowledge
)

// auditAction is the audit log's action of a key.
func (k CallKey) auditAction() string {
	switch k {
	case CallAcknowledge:
		return AuditIncidentAck
	case CallResolve:
		return AuditIncidentResolve
	}
	return AuditSilenceCreate
}

// CallResponse is a key pressed in the menu of a notification's call.
type CallResponse struct {
	Notification uint64
	// Incident is the incident the callback names: it must be the
	// notification's.
	Incident uint64
	// Call is the provider's id of the call the key was pressed in.
	Call string
	Key  CallKey
	// SilenceFor is how long CallSilence silences the group.
	SilenceFor time.Duration
	// Addr is where the callback came from, for the audit log.
	Addr string
}

// callEnded reports whether a call's status callback says it is over.
func callEnded(status string) bool {
	switch status {
	case "completed", "busy", "no-answer", "failed", "canceled":
		return true
	}
	return false
}

// RespondToCall carries out a key pressed in the menu of a notification's
// call, as the person the notification called, whose id it returns. It
// returns ErrNotFound for an unknown notification, ErrDenied when the
// call is not live (see above), ErrConflict when the incident's state
// refuses the key, ErrInvalid for a request that cannot be (an incident
// that is not the notification's, an unknown key, a group without labels
// to silence). Every outcome is audited.
func (e *Engine) RespondToCall(ctx context.Context, k CallResponse) (person string, err error) {
	err = e.inOneChange(ctx, func(c *change) (err error) {
		person, err = e.respondToCall(c, k)
		return err
	})
	return person, err
}

// inOneChange runs f within one change and waits until that change is
// written, whatever f answered: what f refused is audited in it too. It
// returns the write's error, else f's. Pages the change calls for go out.
func (e *Engine) inOneChange(ctx context.Context, f func(c *change) error) error {
	e.mu.Lock()
	c := e.begin()
	err := f(c)
	t := c.commit()
	e.mu.Unlock()
	if werr := e.wait(ctx, t); werr != nil {
		return werr
	}
	e.kickNotify()
	return err
}

// respondToCall is RespondToCall within c. Callers hold mu.
func (e *Engine) respondToCall(c *change, k CallResponse) (string, error) {
	entry := AuditEntry{Addr: k.Addr, Action: k.Key.auditAction(), Target: fmt.Sprintf("incident %d", k.Incident)}
	deny := func(format string, args ...any) error {
		entry.Outcome, entry.Detail = AuditDenied, fmt.Sprintf("keypress by phone refused: "+format, args...)
		c.audit(entry)
		return fmt.Errorf("notification %d: %s: %w", k.Notification, entry.Detail, ErrDenied)
	}
	r := e.out.records.get(k.Notification)
	switch {
	case k.Key != CallAcknowledge && k.Key != CallResolve && k.Key != CallSilence:
		return "", fmt.Errorf("unknown call key %q: %w", k.Key, ErrInvalid)
	case r == nil:
		entry.Outcome, entry.Detail = AuditDenied, fmt.Sprintf("keypress by phone refused: notification %d is unknown", k.Notification)
		c.audit(entry)
		return "", fmt.Errorf("notification %d: %w", k.Notification, ErrNotFound)
	case r.Incident != k.Incident:
		entry.Outcome, entry.Detail = AuditDenied, fmt.Sprintf("keypress by phone refused: notification %d is of incident %d", k.Notification, r.Incident)
		c.audit(entry)
		return "", fmt.Errorf("notification %d is of incident %d, not %d: %w", k.Notification, r.Incident, k.Incident, ErrInvalid)
	case r.Channel != ChannelPhone || r.Recipient.Person == "":
		return "", deny("notification %d is not a call to a person", r.ID)
	case k.Call == "":
		return "", deny("no call id")
	case slices.Contains(r.OldProviderIDs, k.Call):
		return "", deny("call %s of notification %d was replaced by a later call", k.Call, r.ID)
	case k.Call != r.ProviderID:
		return "", deny("call %s is not notification %d's call", k.Call, r.ID)
	case r.KeyCall == k.Call:
		return "", deny("a key of call %s was already taken (a replay)", k.Call)
	case callEnded(r.ProviderStatus):
		return "", deny("call %s has ended (%s)", k.Call, r.ProviderStatus)
	}
	inc := e.incidents.get(r.Incident)
	if inc == nil {
		return "", deny("incident %d is unknown", r.Incident)
	}
	by := r.Recipient.Person
	entry.Actor = by
	r.KeyCall = k.Call
	r.log(c.now, "key:"+string(k.Key), "")
	c.touchNote(r)

	acked, err := e.callKey(c, inc, k, by, &entry)
	entry.Outcome = AuditOK
	if err != nil {
		entry.Outcome, entry.Detail = AuditFailed, err.Error()
	}
	c.audit(entry)
	if acked != nil {
		c.audit(*acked)
	}
	return by, err
}

// callKey does what a live key asks for and fills in the audit entry's
// detail; a silence that acknowledged the incident returns that
// acknowledgement's entry too. Callers hold mu.
func (e *Engine) callKey(c *change, inc *Incident, k CallResponse, by string, entry *AuditEntry) (acked *AuditEntry, err error) {
	via := fmt.Sprintf("by phone (notification %d)", k.Notification)
	t := Transition{By: by, Note: via}
	switch k.Key {
	case CallAcknowledge:
		entry.Detail = via
		return nil, e.acknowledge(c, inc, t)
	case CallResolve:
		entry.Detail = via
		return nil, e.resolveBy(c, inc, t)
	}
	// Silence: the group for SilenceFor, and acknowledge an open incident.
	if inc.Status == IncidentResolved {
		return nil, fmt.Errorf("incident %d is resolved: nothing to silence: %w", inc.ID, ErrConflict)
	}
	s, err := e.silenceIncident(c, inc, by, k.SilenceFor)
	if err != nil {
		return nil, err
	}
	entry.Detail = fmt.Sprintf("%s: silence %d until %s", via, s.ID, s.EndsAt.UTC().Format(time.RFC3339))
	if inc.Status != IncidentOpen {
		// Someone acknowledged it first: the silence is all this key did.
		entry.Detail += fmt.Sprintf("; the incident was already acknowledged by %s, so it was not acknowledged again", inc.AcknowledgedBy)
		return nil, nil
	}
	if err := e.acknowledge(c, inc, Transition{By: by, Note: fmt.Sprintf("silenced for %s %s", k.SilenceFor, via)}); err != nil {
		return nil, err
	}
	entry.Detail += "; the incident is acknowledged"
	return &AuditEntry{Actor: by, Addr: k.Addr, Action: AuditIncidentAck, Target: entry.Target, Outcome: AuditOK,
		Detail: fmt.Sprintf("%s, with silence %d", via, s.ID)}, nil
}

// silenceIncident silences inc's group (its common labels) for d from
// now, by who asked. Callers hold mu.
func (e *Engine) silenceIncident(c *change, inc *Incident, by string, d time.Duration) (*Silence, error) {
	if len(inc.Labels) == 0 {
		return nil, fmt.Errorf("incident %d has no common labels to silence: %w", inc.ID, ErrInvalid)
	}
	names := make([]string, 0, len(inc.Labels))
	for k := range inc.Labels {
		names = append(names, k)
	}
	sort.Strings(names)
	ms := make([]Matcher, 0, len(names))
	for _, k := range names {
		ms = append(ms, Matcher{Name: k, Value: inc.Labels[k]})
	}
	return e.createSilence(c, NewSilence{Matchers: ms, EndsAt: c.now.Add(d), CreatedBy: by,
		Comment: fmt.Sprintf("silenced from incident %d for %s", inc.ID, d)})
}

// An SMS reply ("ACK 12", "确认 12") acts only for a person who was sent
// an SMS about that incident, and each message (its provider id) acts
// once. The sender's number is all that names the person, and a number
// can be spoofed on some routes; so a reply about an incident they were
// never texted about, a replayed message, or one without an id, changes
// nothing and is audited as denied, without an actor (anonymous denials
// are rate-limited per address). The reply, what it did and its audit
// entry are one change, written together.

// SMSReply is a command texted back by a person.
type SMSReply struct {
	// Person is whose phone number the text came from.
	Person   string
	Incident uint64
	Resolve  bool // else acknowledge
	// Message is the provider's id of the text (Twilio's MessageSid).
	Message string
	// Addr is where the callback came from, for the audit log.
	Addr string
}

// maxReplies bounds the message ids kept on a notification record.
const maxReplies = 16

// RespondToSMS carries out an SMS reply (see above). It returns
// ErrDenied when the reply may not act, ErrNotFound for an unknown
// incident, ErrConflict when the incident's state refuses it.
func (e *Engine) RespondToSMS(ctx context.Context, s SMSReply) error {
	return e.inOneChange(ctx, func(c *change) error { return e.respondToSMS(c, s) })
}

// respondToSMS is RespondToSMS within c. Callers hold mu.
func (e *Engine) respondToSMS(c *change, s SMSReply) error {
	entry := AuditEntry{Addr: s.Addr, Action: AuditIncidentAck, Target: fmt.Sprintf("incident %d", s.Incident)}
	if s.Resolve {
		entry.Action = AuditIncidentResolve
	}
	deny := func(format string, args ...any) error {
		entry.Outcome, entry.Detail = AuditDenied, fmt.Sprintf("reply by SMS refused: "+format, args...)
		c.audit(entry)
		return fmt.Errorf("incident %d: %s: %w", s.Incident, entry.Detail, ErrDenied)
	}
	inc := e.incidents.get(s.Incident)
	if inc == nil {
		entry.Outcome, entry.Detail = AuditDenied, "reply by SMS refused: no such incident"
		c.audit(entry)
		return fmt.Errorf("incident %d: %w", s.Incident, ErrNotFound)
	}
	if s.Message == "" {
		return deny("the text has no message id")
	}
	var texted *NotificationRecord
	for _, r := range e.out.byIncident[s.Incident] {
		if slices.Contains(r.Replies, s.Message) {
			return deny("message %s was already taken (a replay)", s.Message)
		}
		if r.Channel == ChannelSMS && r.Recipient.Person == s.Person && r.ProviderID != "" {
			texted = r
		}
	}
	if texted == nil {
		return deny("no SMS about incident %d was sent to %s", s.Incident, s.Person)
	}
	texted.Replies = append(texted.Replies, s.Message)
	if len(texted.Replies) > maxReplies {
		texted.Replies = texted.Replies[len(texted.Replies)-maxReplies:]
	}
	texted.log(c.now, "reply:"+entry.Action, "")
	c.touchNote(texted)
	entry.Actor, entry.Detail, entry.Outcome = s.Person, fmt.Sprintf("by SMS (notification %d)", texted.ID), AuditOK
	t := Transition{By: s.Person, Note: "by SMS"}
	var err error
	if s.Resolve {
		err = e.resolveBy(c, inc, t)
	} else {
		err = e.acknowledge(c, inc, t)
	}
	if err != nil {
		entry.Outcome, entry.Detail = AuditFailed, entry.Detail+": "+err.Error()
	}
	c.audit(entry)
	return err
}
