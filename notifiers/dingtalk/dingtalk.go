// Package dingtalk posts notifications to a DingTalk group through a
// custom robot (自定义机器人): markdown messages, signed when the robot
// has a signing secret, @-mentioning the person a notification is for,
// and bundled when more arrive than the robot's rate limit lets through.
package dingtalk

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle"
	"github.com/remediator/remediator/notifiers/internal/notifyhttp"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// MaxText is the most bytes DingTalk takes in a markdown text.
const MaxText = 20000

// throttleWait is how long to wait after DingTalk says the robot sends
// too fast: its limit counts per minute.
const throttleWait = time.Minute

// Codes of DingTalk's answers that are worth retrying.
const (
	codeOK      = 0
	codeBusy    = -1     // 系统繁忙
	codeTooFast = 130101 // send too fast, exceed 20 times per minute
)

// separator goes between the notifications of a bundle.
const separator = "\n\n---\n\n"

// Options are what a Notifier takes from its surroundings.
type Options struct {
	// Location is the time zone of times in messages; nil: UTC.
	Location *time.Location
	// HTTPClient sends the requests; nil: notifyhttp.Client().
	HTTPClient *http.Client
	// Now is the time requests are signed with; nil: Clock's, else the
	// wall clock.
	Now func() time.Time
	// Clock runs the rate limit; nil: the wall clock.
	Clock bundle.Clock
	// Logger gets a debug line per message; nil: discarded.
	Logger *slog.Logger
}

// Notifier posts to one DingTalk robot. It is safe for concurrent use.
type Notifier struct {
	name      string
	keys      *keys // behind a pointer, so fmt prints an address, not the token
	templates *message.Set
	timeout   time.Duration
	limiter   *bundle.Limiter
	client    *http.Client
	loc       *time.Location
	now       func() time.Time
	log       *slog.Logger
}

// keys are the robot's secrets: the webhook URL with its access token,
// and the signing secret ("" when the robot does not sign).
type keys struct {
	url    string
	secret string
}

var _ engine.Notifier = (*Notifier)(nil)

// New checks cfg and builds its Notifier.
func New(cfg *rules.IMConfig, o Options) (*Notifier, error) {
	c, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	n := &Notifier{
		name:      c.name,
		keys:      &keys{url: c.url.String(), secret: c.secret},
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
		return false, fmt.Errorf("dingtalk: %w", err)
	}
	retry, err := n.limiter.Send(ctx, nt, n.send)
	if err != nil {
		return retry, fmt.Errorf("dingtalk: %w", err)
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

// markdownMessage is DingTalk's markdown message.
type markdownMessage struct {
	MsgType  string   `json:"msgtype"`
	Markdown markdown `json:"markdown"`
	At       at       `json:"at"`
}

type markdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

type at struct {
	AtMobiles []string `json:"atMobiles,omitempty"`
	AtUserIDs []string `json:"atUserIds,omitempty"`
	IsAtAll   bool     `json:"isAtAll"`
}

// answer is DingTalk's reply.
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
	now := n.now()
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	resp, err := notifyhttp.Post(ctx, n.client, n.signedURL(now), http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		n.log.Debug("dingtalk post failed", "notifier", n.name, "notifications", len(batch), "err", err)
		return true, err
	}
	if resp.Status != http.StatusOK {
		retry, err := notifyhttp.StatusError(resp, now)
		n.log.Debug("dingtalk answered", "notifier", n.name, "notifications", len(batch), "status", resp.Status)
		return retry, err
	}
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.ErrCode == nil {
		return false, fmt.Errorf("unexpected answer: %s", notifyhttp.Snippet(resp.Body))
	}
	n.log.Debug("dingtalk answered", "notifier", n.name, "notifications", len(batch), "errcode", *a.ErrCode, "errmsg", a.ErrMsg)
	switch *a.ErrCode {
	case codeOK:
		return false, nil
	case codeTooFast:
		return true, &notifyhttp.RetryAfterError{Err: fmt.Errorf("errcode %d: %s", *a.ErrCode, a.ErrMsg), Wait: throttleWait}
	case codeBusy:
		return true, fmt.Errorf("errcode %d: %s", *a.ErrCode, a.ErrMsg)
	}
	// 310000 (signature, keyword or IP check failed), 300001 and the
	// other token errors, 460101 (too long): sending again cannot help.
	return false, fmt.Errorf("errcode %d: %s", *a.ErrCode, a.ErrMsg)
}

// compose writes batch as one markdown message: each notification's
// text, cut to MaxText with a link to the incident, and the handles of
// the people it is for, who DingTalk pings only when "@handle" is in the
// text as well as in "at".
func (n *Notifier) compose(batch []*engine.Notification) (*markdownMessage, error) {
	parts := make([]bundle.Part, 0, len(batch))
	for _, nt := range batch {
		p, err := n.render(nt)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	m := &markdownMessage{MsgType: "markdown"}
	var mentions strings.Builder
	seen := map[string]bool{}
	for _, nt := range batch {
		h := nt.Recipient.Address
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if isMobile(h) {
			m.At.AtMobiles = append(m.At.AtMobiles, h)
		} else {
			m.At.AtUserIDs = append(m.At.AtUserIDs, h)
		}
		if mentions.Len() == 0 {
			mentions.WriteString("\n\n")
		} else {
			mentions.WriteString(" ")
		}
		mentions.WriteString("@" + h)
	}
	m.Markdown.Title = bundle.Title(parts)
	m.Markdown.Text = bundle.Join(parts, separator, MaxText-mentions.Len(), fullIncident) + mentions.String()
	return m, nil
}

// fullIncident ends a cut text with a link to the whole incident.
func fullIncident(page string) string { return "…\n\n[Full incident](" + page + ")" }

// isMobile tells a mobile number (atMobiles) from a DingTalk user id
// (atUserIds).
func isMobile(h string) bool {
	h = strings.TrimPrefix(h, "+")
	if h == "" {
		return false
	}
	for _, r := range h {
		if (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// signedURL is the webhook URL with timestamp and sign added when the
// robot signs: sign = base64(HMAC-SHA256(secret, timestamp+"\n"+secret)),
// timestamp in milliseconds.
func (n *Notifier) signedURL(now time.Time) string {
	if n.keys.secret == "" {
		return n.keys.url
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(n.keys.secret))
	mac.Write([]byte(ts + "\n" + n.keys.secret))
	sign := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	sep := "?"
	if strings.Contains(n.keys.url, "?") {
		sep = "&"
	}
	return n.keys.url + sep + "timestamp=" + ts + "&sign=" + url.QueryEscape(sign)
}

// marshal encodes v as JSON without escaping <, > and &, which DingTalk
// reads as they are.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, errors.New("encode message: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
