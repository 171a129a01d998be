// Package robot is what the chat notifiers share. All of them (dingtalk,
// wecom, feishu, slack, webhook) take the same Options and check an
// IMConfig's URL, rate limit, timeout and templates the same way. The chat
// robots (dingtalk, wecom, feishu) also share how a notification travels:
// a Robot renders it before it joins a bundle, waits for the rate limit,
// posts the bundle as JSON and sorts HTTP failures into retried and
// final, leaving each service its wire format and its error codes.
package robot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle"
	"github.com/remediator/remediator/notifiers/internal/notifyhttp"
	"github.com/remediator/remediator/notifiers/message"
)

// Separator goes between the notifications of a bundle.
const Separator = "\n\n---\n\n"

// Options are what a Notifier takes from its surroundings.
type Options struct {
	// Location is the time zone of times in messages; nil: UTC.
	Location *time.Location
	// HTTPClient sends the requests; nil: notifyhttp.Client(), which
	// follows no redirect.
	HTTPClient *http.Client
	// Now reads the time: a signature's timestamp, a Retry-After date;
	// nil: Clock's, else the wall clock.
	Now func() time.Time
	// Clock runs the rate limit; nil: the wall clock.
	Clock bundle.Clock
	// Logger gets a debug line per message; nil: discarded.
	Logger *slog.Logger
}

// WithDefaults returns o with its defaults in place of nil, but for
// Clock, which the rate limit defaults.
func WithDefaults(o Options) Options {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.HTTPClient == nil {
		o.HTTPClient = notifyhttp.Client()
	}
	if o.Now == nil {
		o.Now = time.Now
		if o.Clock != nil {
			o.Now = o.Clock.Now
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// SendFunc posts batch as one message; parts are its notifications,
// rendered.
type SendFunc func(ctx context.Context, batch []*engine.Notification, parts []bundle.Part) (retry bool, err error)

// Robot is a chat robot's Notifier but for its wire format. It is safe
// for concurrent use.
type Robot struct {
	Settings
	Options // with its defaults
	// Escape, when set, rewrites every value of a notification (its
	// labels, annotations, title…: message.MapValues) before the
	// templates see it, so that alert data cannot use the service's
	// markup, such as a mention. Set it before the first Notify.
	Escape  func(string) string
	Limiter *bundle.Limiter
	kind    string // "dingtalk": prefixes errors and log lines
	send    SendFunc
}

// New builds the Robot of a kind's notifier, limit being its rate limit
// (its Clock is o's); send posts what the limit lets through.
func New(kind string, s Settings, limit bundle.Config, o Options, send SendFunc) *Robot {
	o = WithDefaults(o)
	limit.Clock = o.Clock
	return &Robot{Settings: s, Options: o, Limiter: bundle.New(limit), kind: kind, send: send}
}

// Notify posts nt, at once when the rate limit allows, else in one
// message with the others waiting for the next slot.
func (r *Robot) Notify(ctx context.Context, nt *engine.Notification) (bool, error) {
	// A template that fails fails this notification alone, before it
	// joins a bundle.
	if _, err := r.render(nt); err != nil {
		return false, fmt.Errorf("%s: %w", r.kind, err)
	}
	retry, err := r.Limiter.Send(ctx, nt, r.sendBatch)
	if err != nil {
		return retry, fmt.Errorf("%s: %w", r.kind, err)
	}
	return false, nil
}

func (r *Robot) render(nt *engine.Notification) (bundle.Part, error) {
	url := nt.URL
	if r.Escape != nil {
		nt = message.MapValues(nt, r.Escape)
	}
	m, err := r.Templates.Render(message.NewData(nt, "", r.Location))
	if err != nil {
		return bundle.Part{}, err
	}
	return bundle.Part{Title: m.Title, Body: m.Body, URL: url}, nil
}

// sendBatch renders the batch a slot carries and sends it.
func (r *Robot) sendBatch(ctx context.Context, batch []*engine.Notification) (bool, error) {
	parts := make([]bundle.Part, 0, len(batch))
	for _, nt := range batch {
		p, err := r.render(nt)
		if err != nil {
			return false, err
		}
		parts = append(parts, p)
	}
	return r.send(ctx, batch, parts)
}

// Post sends body, a message of batch notifications, as JSON to url
// within the timeout, and returns the body of a 200 answer. A transport
// error retries; another status is what notifyhttp.StatusError makes of
// it, read at the time it came. Errors never hold the URL.
func (r *Robot) Post(ctx context.Context, url string, body []byte, batch int) (answer []byte, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	resp, err := notifyhttp.Post(ctx, r.HTTPClient, url, http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		r.Logger.Debug(r.kind+" post failed", "notifier", r.Name, "notifications", batch, "err", err)
		return nil, true, err
	}
	if resp.Status != http.StatusOK {
		retry, err := notifyhttp.StatusError(resp, r.Now())
		r.LogAnswer(batch, "status", resp.Status)
		return nil, retry, err
	}
	return resp.Body, false, nil
}

// LogAnswer logs the service's answer to a message of batch
// notifications.
func (r *Robot) LogAnswer(batch int, args ...any) {
	r.Logger.Debug(r.kind+" answered", append([]any{"notifier", r.Name, "notifications", batch}, args...)...)
}

// Retry are the codes of a service's answers worth retrying, each with
// how long to wait first (0: the engine's backoff). Every other code but
// 0 is final.
type Retry map[int]time.Duration

// PostErrCode posts body like Post and reads an answer of DingTalk's and
// WeCom's shape, {"errcode":0,"errmsg":"ok"}: 0 is a delivery, a code in
// retry is retried, any other is final.
func (r *Robot) PostErrCode(ctx context.Context, url string, body []byte, batch int, retry Retry) (bool, error) {
	answer, again, err := r.Post(ctx, url, body, batch)
	if err != nil {
		return again, err
	}
	var a struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(answer, &a); err != nil || a.ErrCode == nil {
		return false, Unexpected(answer)
	}
	r.LogAnswer(batch, "errcode", *a.ErrCode, "errmsg", a.ErrMsg)
	if *a.ErrCode == 0 {
		return false, nil
	}
	err = fmt.Errorf("errcode %d: %s", *a.ErrCode, a.ErrMsg)
	wait, again := retry[*a.ErrCode]
	if wait > 0 {
		err = &notifyhttp.RetryAfterError{Err: err, Wait: wait}
	}
	return again, err
}

// Unexpected is the error of a 200 answer that is not the service's.
func Unexpected(answer []byte) error {
	return fmt.Errorf("unexpected answer: %s", notifyhttp.Snippet(answer))
}

// Mentions writes, after a blank line and a space apart, a mention of
// each person batch is for, once each; mention writes one as the service
// does. It is "" for a batch to rooms alone.
func Mentions(batch []*engine.Notification, mention func(nt *engine.Notification) string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, nt := range batch {
		h := nt.Recipient.Address
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if b.Len() == 0 {
			b.WriteString("\n\n")
		} else {
			b.WriteString(" ")
		}
		b.WriteString(mention(nt))
	}
	return b.String()
}

// FullIncident ends a cut text with a link to the whole incident.
func FullIncident(page string) string { return "…\n\n[Full incident](" + page + ")" }

// Marshal encodes v as JSON without escaping <, > and &: the services
// read them as they are, a mention may be "<@userid>", and a byte limit
// counts the text as it is.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, errors.New("encode message: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
