package inapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// KindNotification is the kind of the events Notifier publishes.
const KindNotification = "notification"

// Options configure a Notifier.
type Options struct {
	// Location is the time zone times are written in. Default UTC.
	Location *time.Location
	// IsCritical tells whether a level is the most urgent: the console
	// makes such a pop-up sticky and loud. Default: level "critical".
	IsCritical func(engine.Level) bool
	Logger     *slog.Logger
}

// NotificationEvent is the data of a "notification" event.
type NotificationEvent struct {
	ID        uint64           `json:"id"` // the notification's
	Event     string           `json:"event"`
	Incident  uint64           `json:"incident"`
	Level     engine.Level     `json:"level"`
	Priority  string           `json:"priority,omitempty"`
	Title     string           `json:"title"`
	Text      string           `json:"text"`
	URL       string           `json:"url"`
	Recipient engine.Recipient `json:"recipient"`
	Critical  bool             `json:"critical"`
}

// Notifier is the in-app channel: it publishes each notification on a
// Hub. It is safe for concurrent use.
type Notifier struct {
	hub        *Hub
	tmpl       *message.Set
	loc        *time.Location
	isCritical func(engine.Level) bool
	log        *slog.Logger
}

var _ engine.Notifier = (*Notifier)(nil)

// NewNotifier compiles cfg's templates (message.KindText) and returns a
// Notifier that publishes on h.
func NewNotifier(h *Hub, cfg *rules.AppConfig, o Options) (*Notifier, error) {
	if h == nil {
		return nil, errors.New("inapp: no hub")
	}
	if cfg == nil {
		cfg = &rules.AppConfig{}
	}
	overrides := make(map[string]message.Template, len(cfg.Templates))
	for ev, t := range cfg.Templates {
		overrides[ev] = message.Template{Title: t.Title, Body: t.Body, HTML: t.HTML}
	}
	tmpl, err := message.Compile(message.KindText, overrides)
	if err != nil {
		return nil, fmt.Errorf("inapp: %w", err)
	}
	n := &Notifier{hub: h, tmpl: tmpl, loc: o.Location, isCritical: o.IsCritical, log: o.Logger}
	if n.loc == nil {
		n.loc = time.UTC
	}
	if n.isCritical == nil {
		n.isCritical = func(l engine.Level) bool { return l == "critical" }
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	return n, nil
}

// Notify renders n and publishes it. Delivered means published: whether
// a console was open to show it is not known. n.ProviderID is set to the
// event's id.
func (a *Notifier) Notify(ctx context.Context, n *engine.Notification) (bool, error) {
	if err := ctx.Err(); err != nil {
		return true, fmt.Errorf("inapp: %w", err)
	}
	r, err := a.tmpl.Render(message.NewData(n, "", a.loc))
	if err != nil {
		return false, fmt.Errorf("inapp: %w", err)
	}
	id, err := a.hub.Publish(KindNotification, NotificationEvent{
		ID: n.ID, Event: n.Event, Incident: n.Incident.ID, Level: n.Incident.Level,
		Priority: n.Incident.Priority, Title: r.Title, Text: r.Body, URL: n.URL,
		Recipient: n.Recipient, Critical: a.isCritical(n.Incident.Level),
	})
	if err != nil {
		// Only a closed hub fails here: remediator is shutting down.
		return true, err
	}
	n.ProviderID = strconv.FormatUint(id, 10)
	a.log.Debug("inapp: notification published", "notification", n.ID, "incident", n.Incident.ID, "event_id", id)
	return false, nil
}
