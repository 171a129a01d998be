// Package wecom posts notifications to a WeCom (企业微信) group through a
// group robot: markdown messages that @-mention the person a
// notification is for, bundled when more arrive than the robot's rate
// limit lets through.
package wecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle"
	"github.com/remediator/remediator/notifiers/internal/notifyhttp"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// MaxContent is the most bytes WeCom takes in a markdown content.
const MaxContent = 4096

// throttleWait is how long to wait after WeCom says the robot sends too
// often: its limit counts per minute.
const throttleWait = time.Minute

// Codes of WeCom's answers that are worth retrying.
const (
	codeOK       = 0
	codeBusy     = -1    // system busy
	codeFreq     = 45009 // api freq out of limit
	codeParallel = 45033 // api concurrent out of limit
)

// separator goes between the notifications of a bundle.
const separator = "\n\n---\n\n"

// Options are what a Notifier takes from its surroundings.
type Options struct {
	// Location is the time zone of times in messages; nil: UTC.
	Location *time.Location
	// HTTPClient sends the requests; nil: notifyhttp.Client().
	HTTPClient *http.Client
	// Now reads a Retry-After date; nil: Clock's, else the wall clock.
	Now func() time.Time
	// Clock runs the rate limit; nil: the wall clock.
	Clock bundle.Clock
	// Logger gets a debug line per message; nil: discarded.
	Logger *slog.Logger
}

// Notifier posts to one WeCom robot. It is safe for concurrent use.
type Notifier struct {
	name      string
	webhook   *string // the URL with its key, behind a pointer so fmt prints an address
	templates *message.Set
	timeout   time.Duration
	limiter   *bundle.Limiter
	client    *http.Client
	loc       *time.Location
	now       func() time.Time
	log       *slog.Logger
}

var _ engine.Notifier = (*Notifier)(nil)

// New checks cfg and builds its Notifier.
func New(cfg *rules.IMConfig, o Options) (*Notifier, error) {
	c, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	webhook := c.url.String()
	n := &Notifier{
		name:      c.name,
		webhook:   &webhook,
		templates: c.templates,
		timeout:   c.timeout,
		limiter:   bundle.New(bundle.Config{Max: c.maxPerMinute, Window: time.Minute, Clock: o.Clock}),
		client:    o.HTTPClient,
		loc:       o.Location,
		now:       o.Now,
		log:       o.Logger,
	}
	if n.client == nil {
		n.client = notifyhttp.Client()
	}
	if n.now == nil {
		n.now = time.Now
		if o.Clock != nil {
			n.now = o.Clock.Now
		}
	}
	if n.log == nil {
		n.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return n, nil
}

// Notify posts nt to the robot's group, at once when the rate limit
// allows, else in one message with the others waiting for the next slot.
func (n *Notifier) Notify(ctx context.Context, nt *engine.Notification) (bool, error) {
	// A template that fails fails this notification alone, before it
	// joins a bundle.
	if _, err := n.render(nt); err != nil {
		return false, fmt.Errorf("wecom: %w", err)
	}
	retry, err := n.limiter.Send(ctx, nt, n.send)
	if err != nil {
		return retry, fmt.Errorf("wecom: %w", err)
	}
	return false, nil
}

func (n *Notifier) render(nt *engine.Notification) (bundle.Part, error) {
	r, err := n.templates.Render(message.NewData(nt, "", n.loc))
	if err != nil {
		return bundle.Part{}, err
	}
	return bundle.Part{Title: r.Title, Body: r.Body, URL: nt.URL}, nil
}

// markdownMessage is WeCom's markdown message.
type markdownMessage struct {
	MsgType  string   `json:"msgtype"`
	Markdown markdown `json:"markdown"`
}

type markdown struct {
	Content string `json:"content"`
}

// answer is WeCom's reply.
type answer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// send posts batch as one message.
func (n *Notifier) send(ctx context.Context, batch []*engine.Notification) (bool, error) {
	msg, err := n.compose(batch)
	if err != nil {
		return false, err
	}
	body, err := marshal(msg)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	resp, err := notifyhttp.Post(ctx, n.client, *n.webhook, http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		n.log.Debug("wecom post failed", "notifier", n.name, "notifications", len(batch), "err", err)
		return true, err
	}
	if resp.Status != http.StatusOK {
		retry, err := notifyhttp.StatusError(resp, n.now())
		n.log.Debug("wecom answered", "notifier", n.name, "notifications", len(batch), "status", resp.Status)
		return retry, err
	}
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.ErrCode == nil {
		return false, fmt.Errorf("unexpected answer: %s", notifyhttp.Snippet(resp.Body))
	}
	n.log.Debug("wecom answered", "notifier", n.name, "notifications", len(batch), "errcode", *a.ErrCode, "errmsg", a.ErrMsg)
	switch *a.ErrCode {
	case codeOK:
		return false, nil
	case codeFreq, codeParallel:
		return true, &notifyhttp.RetryAfterError{Err: fmt.Errorf("errcode %d: %s", *a.ErrCode, a.ErrMsg), Wait: throttleWait}
	case codeBusy:
		return true, fmt.Errorf("errcode %d: %s", *a.ErrCode, a.ErrMsg)
	}
	// 93000 (invalid webhook url), 40058 (too long) and the rest:
	// sending again cannot help.
	return false, fmt.Errorf("errcode %d: %s", *a.ErrCode, a.ErrMsg)
}

// compose writes batch as one markdown message: each notification's
// text, cut to MaxContent with a link to the incident, then "<@userid>"
// for each person it is for.
func (n *Notifier) compose(batch []*engine.Notification) (*markdownMessage, error) {
	parts := make([]bundle.Part, 0, len(batch))
	for _, nt := range batch {
		p, err := n.render(nt)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	var mentions bytes.Buffer
	seen := map[string]bool{}
	for _, nt := range batch {
		h := nt.Recipient.Address
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if mentions.Len() == 0 {
			mentions.WriteString("\n\n")
		} else {
			mentions.WriteString(" ")
		}
		mentions.WriteString("<@" + h + ">")
	}
	text := bundle.Join(parts, separator, MaxContent-mentions.Len(), fullIncident) + mentions.String()
	return &markdownMessage{MsgType: "markdown", Markdown: markdown{Content: text}}, nil
}

// fullIncident ends a cut text with a link to the whole incident.
func fullIncident(page string) string { return "…\n\n[Full incident](" + page + ")" }

// marshal encodes v as JSON without escaping <, > and &: a mention is
// "<@userid>", and the length WeCom counts is the text's.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, errors.New("encode message: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
