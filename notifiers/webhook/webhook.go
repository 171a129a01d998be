// Package webhook posts notifications as JSON to a generic HTTP endpoint.
// This is the wire format receivers rely on.
//
// # Request
//
//	POST <url>
//	Content-Type: application/json
//	User-Agent: remediator
//	Idempotency-Key: <notification.message_id, the same on every retry>
//	X-Remediator-Timestamp: 1772355600        (only with a secret)
//	X-Remediator-Signature: sha256=<64 hex>   (only with a secret; the name is signature_header)
//
//	{
//	  "version": "1",
//	  "event": "firing",            // firing, escalated, acknowledged, resolved, remediation_failed
//	  "notification": {"id": 7, "channel": "ops-hook", "recipient": {}, "attempt": 1,
//	                   "message_id": "…", "by": "…", "detail": "…"},  // by, detail: when set
//	  "incident": {…},              // the incident, as remediator's API shows it
//	  "alerts": [{…}],              // its alerts, as the API shows them
//	  "url": "https://remediator.example/incidents/12",
//	  "title": "[FIRING] P1 critical #12 DiskFull on db1",
//	  "text": "…"                   // the text template's body (templates.<event>.body)
//	}
//
// # Signature
//
// With a secret configured, the signature is the HMAC-SHA256, keyed with
// the secret, of the timestamp header's value, a dot, and the body exactly
// as received (the raw bytes, before any JSON decoding), hex encoded
// after "sha256=":
//
//	mac := hmac.New(sha256.New, secret)
//	mac.Write([]byte(r.Header.Get("X-Remediator-Timestamp") + "."))
//	mac.Write(body)
//	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
//	ok := hmac.Equal([]byte(want), []byte(r.Header.Get("X-Remediator-Signature")))
//
// Compare in constant time, and reject a timestamp more than a few minutes
// away from your clock, so that a captured request cannot be replayed
// later. Every attempt is signed anew, with its own timestamp; drop a
// repeated delivery by its Idempotency-Key.
//
// # Answers
//
// Any 2xx is a delivery. 429 (after its Retry-After) and 5xx are retried;
// anything else is final, redirects included: they are not followed.
//
// # Rate limit
//
// Unlimited by default. With max_per_minute > 0, notifications past the
// limit wait for a slot and still go one per request, in order: a
// receiver never has to handle a bundle, and every request keeps its own
// Idempotency-Key.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle"
	"github.com/remediator/remediator/notifiers/internal/notifyhttp"
	"github.com/remediator/remediator/notifiers/internal/robot"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// Version is the payload's version.
const Version = "1"

// UserAgent is the requests' User-Agent.
const UserAgent = "remediator"

// Payload is the request body.
type Payload struct {
	Version      string          `json:"version"`
	Event        string          `json:"event"`
	Notification Notification    `json:"notification"`
	Incident     engine.Incident `json:"incident"`
	Alerts       []engine.Alert  `json:"alerts"`
	URL          string          `json:"url"`
	Title        string          `json:"title"`
	Text         string          `json:"text"`
}

// Notification is the payload's "notification": which delivery this is.
type Notification struct {
	ID        uint64           `json:"id"`
	Channel   string           `json:"channel"`
	Recipient engine.Recipient `json:"recipient"`
	Attempt   int              `json:"attempt"`
	MessageID string           `json:"message_id"`
	By        string           `json:"by,omitempty"`
	Detail    string           `json:"detail,omitempty"`
}

// Options configure a Notifier.
type Options = robot.Options

// Notifier is one webhook. It is safe for concurrent use.
type Notifier struct {
	cfg     *config
	o       Options // with its defaults
	log     *slog.Logger
	limiter *bundle.Limiter
}

var _ engine.Notifier = (*Notifier)(nil)

// New checks cfg and returns its Notifier.
func New(cfg *rules.IMConfig, o Options) (*Notifier, error) {
	c, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	o = robot.WithDefaults(o)
	return &Notifier{
		cfg: c, o: o, log: o.Logger.With("notifier", c.Name),
		// MaxBundle 1: the limiter paces, it never bundles.
		limiter: bundle.New(bundle.Config{Max: c.MaxPerMinute, Window: time.Minute, MaxBundle: 1, Clock: o.Clock}),
	}, nil
}

// Notify renders nt and posts it, once the rate limit (if any) allows.
func (n *Notifier) Notify(ctx context.Context, nt *engine.Notification) (bool, error) {
	body, err := n.encode(nt)
	if err != nil {
		return false, fmt.Errorf("webhook %q: %w", n.cfg.Name, err)
	}
	// With MaxBundle 1 the limiter calls this Send's func with nt alone.
	return n.limiter.Send(ctx, nt, func(ctx context.Context, batch []*engine.Notification) (bool, error) {
		if len(batch) != 1 || batch[0] != nt {
			return false, fmt.Errorf("webhook %q: the rate limit bundled %d notifications", n.cfg.Name, len(batch))
		}
		return n.post(ctx, nt, body)
	})
}

// encode renders nt's text and builds the body.
func (n *Notifier) encode(nt *engine.Notification) ([]byte, error) {
	r, err := n.cfg.Templates.Render(message.NewData(nt, "", n.o.Location))
	if err != nil {
		return nil, err
	}
	alerts := nt.Alerts
	if alerts == nil {
		alerts = []engine.Alert{}
	}
	body, err := json.Marshal(Payload{
		Version: Version, Event: nt.Event,
		Notification: Notification{
			ID: nt.ID, Channel: nt.Channel, Recipient: nt.Recipient, Attempt: nt.Attempt,
			MessageID: nt.MessageID, By: nt.By, Detail: nt.Detail,
		},
		Incident: nt.Incident, Alerts: alerts, URL: nt.URL, Title: r.Title, Text: r.Body,
	})
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return body, nil
}

// Sign returns the signature header's value for body sent at timestamp
// (Unix seconds, as in the timestamp header).
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// post sends body, signed now when a secret is set.
func (n *Notifier) post(ctx context.Context, nt *engine.Notification, body []byte) (bool, error) {
	h := http.Header{
		"Content-Type": {"application/json"},
		"User-Agent":   {UserAgent},
	}
	if nt.MessageID != "" {
		h.Set("Idempotency-Key", nt.MessageID)
	}
	if s := n.cfg.secret.Value(); s != "" {
		ts := strconv.FormatInt(n.o.Now().Unix(), 10)
		h.Set(TimestampHeader, ts)
		h.Set(n.cfg.signatureHeader, Sign([]byte(s), ts, body))
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	resp, err := notifyhttp.Post(ctx, n.o.HTTPClient, n.cfg.url.Value(), h, body)
	if err != nil {
		n.log.Debug("webhook: post failed", "notification", nt.ID, "err", err)
		return true, fmt.Errorf("webhook %q: post: %w", n.cfg.Name, err)
	}
	if resp.Status < 200 || resp.Status > 299 {
		retry, err := notifyhttp.StatusError(resp, n.o.Now())
		n.log.Debug("webhook: refused", "notification", nt.ID, "status", resp.Status, "retry", retry, "err", err)
		return retry, fmt.Errorf("webhook %q: %w", n.cfg.Name, err)
	}
	n.log.Debug("webhook: sent", "notification", nt.ID, "status", resp.Status)
	return false, nil
}
