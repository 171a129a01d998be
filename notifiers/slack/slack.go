// Package slack posts notifications to a Slack incoming webhook as Block
// Kit messages: a header with the title, a section with the body (the
// person @-mentioned first), and a context line linking the incident.
//
// Label and annotation values are escaped as Slack requires (&, < and >
// become &amp;, &lt; and &gt;) before the templates see them, so a value
// cannot make a link, a user mention or an @channel: only the templates
// do. The header is plain_text, which Slack does not parse, and gets the
// values as they are.
//
// Past the robot's rate limit (max_per_minute, default 60) notifications
// wait and go out bundled: one message with a section per notification.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle"
	"github.com/remediator/remediator/notifiers/internal/notifyhttp"
	"github.com/remediator/remediator/notifiers/internal/robot"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// Slack's Block Kit limits, in characters (byte limits here, which are
// never more characters).
const (
	MaxHeader  = 150  // a header block's text
	MaxSection = 3000 // a section block's text
	// maxBundle is the most notifications one message carries: a section
	// each, with a header and a context block, within Slack's 50 blocks.
	maxBundle = 20
	// maxBundleText bounds the sections of a bundle together, below the
	// 40,000 characters past which Slack truncates a message.
	maxBundleText = 36000
)

// userID is a Slack member id, the only handle a mention may carry.
var userID = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// Options configure a Notifier.
type Options = robot.Options

// Notifier is one Slack incoming webhook. It is safe for concurrent use.
type Notifier struct {
	cfg     *config
	o       Options // with its defaults
	log     *slog.Logger
	limiter *bundle.Limiter

	mu sync.Mutex
	// rendered holds what Notify rendered, for send to find by
	// notification once the limiter lets it go.
	rendered map[*engine.Notification]*part
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
		limiter:  bundle.New(bundle.Config{Max: c.MaxPerMinute, Window: time.Minute, MaxBundle: maxBundle, Clock: o.Clock}),
		rendered: map[*engine.Notification]*part{},
	}, nil
}

// part is one notification rendered for Slack.
type part struct {
	title   string // plain text, for the header
	mtitle  string // mrkdwn: escaped, for the fallback text and bundles
	body    string // mrkdwn, mention included
	context string // mrkdwn: the incident's link, level and priority
	more    string // mrkdwn: what ends a cut body, the incident's link
}

// Notify renders nt and posts it, or waits for the rate limit and posts
// it bundled with the others that waited.
func (n *Notifier) Notify(ctx context.Context, nt *engine.Notification) (bool, error) {
	p, err := n.render(nt)
	if err != nil {
		return false, fmt.Errorf("slack %q: %w", n.cfg.Name, err)
	}
	n.mu.Lock()
	n.rendered[nt] = p
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.rendered, nt)
		n.mu.Unlock()
	}()
	return n.limiter.Send(ctx, nt, n.send)
}

// render executes the templates twice: on the values as they are for the
// plain-text header, on escaped values for everything mrkdwn.
func (n *Notifier) render(nt *engine.Notification) (*part, error) {
	mention := ""
	if a := nt.Recipient.Address; a != "" {
		if !userID.MatchString(a) {
			return nil, fmt.Errorf("recipient %s: %q is not a Slack user id (like U012AB3CD)", nt.Recipient.Person, a)
		}
		mention = "<@" + a + "> "
	}
	plain, err := n.cfg.Templates.Render(message.NewData(nt, "", n.o.Location))
	if err != nil {
		return nil, err
	}
	esc := escapeNotification(nt)
	r, err := n.cfg.Templates.Render(message.NewData(esc, "", n.o.Location))
	if err != nil {
		return nil, err
	}
	id := strconv.FormatUint(nt.Incident.ID, 10)
	link, more := "Incident #"+id, "…"
	if esc.URL != "" {
		link = "<" + esc.URL + "|Incident #" + id + ">"
		more = "…\n<" + esc.URL + "|Full incident #" + id + ">"
	}
	ctxLine := []string{link}
	if esc.Incident.Level != "" {
		ctxLine = append(ctxLine, string(esc.Incident.Level))
	}
	if esc.Incident.Priority != "" {
		ctxLine = append(ctxLine, esc.Incident.Priority)
	}
	return &part{
		title: plain.Title, mtitle: r.Title, body: mention + r.Body,
		context: strings.Join(ctxLine, " · "), more: more,
	}, nil
}

// Block Kit, as much as this notifier uses.
type (
	payload struct {
		Text   string  `json:"text"`
		Blocks []block `json:"blocks"`
	}
	block struct {
		Type     string  `json:"type"`
		Text     *text   `json:"text,omitempty"`
		Elements []*text `json:"elements,omitempty"`
	}
	text struct {
		Type string `json:"type"` // plain_text or mrkdwn
		Text string `json:"text"`
	}
)

// compose builds the message of a batch.
func compose(ps []*part) *payload {
	var title, mtitle string
	var blocks []block
	if len(ps) == 1 {
		p := ps[0]
		title, mtitle = p.title, p.mtitle
		if b := truncate(p.body, MaxSection, p.more); b != "" {
			blocks = append(blocks, block{Type: "section", Text: &text{Type: "mrkdwn", Text: b}})
		}
		blocks = append(blocks, block{Type: "context", Elements: []*text{{Type: "mrkdwn", Text: p.context}}})
	} else {
		more := " (+" + strconv.Itoa(len(ps)-1) + " more)"
		title = message.Truncate(ps[0].title, MaxHeader-len(more), "…") + more
		mtitle = ps[0].mtitle + more
		limit := min(MaxSection, maxBundleText/len(ps))
		for _, p := range ps {
			s := p.body
			if p.mtitle != "" {
				s = "*" + p.mtitle + "*\n" + s
			}
			blocks = append(blocks, block{Type: "section", Text: &text{Type: "mrkdwn", Text: truncate(s, limit, p.more)}})
		}
		blocks = append(blocks, block{Type: "context", Elements: []*text{{
			Type: "mrkdwn", Text: strconv.Itoa(len(ps)) + " notifications held back by the rate limit, sent together",
		}}})
	}
	if title = strings.TrimSpace(message.Truncate(title, MaxHeader, "…")); title != "" {
		blocks = append([]block{{Type: "header", Text: &text{Type: "plain_text", Text: title}}}, blocks...)
	}
	if mtitle == "" {
		mtitle = "remediator notification"
	}
	return &payload{Text: mtitle, Blocks: blocks}
}

// send posts one message for batch: the limiter calls it with the
// notifications a slot carries.
func (n *Notifier) send(ctx context.Context, batch []*engine.Notification) (bool, error) {
	ps := make([]*part, len(batch))
	n.mu.Lock()
	for i, nt := range batch {
		ps[i] = n.rendered[nt]
	}
	n.mu.Unlock()
	for _, p := range ps {
		if p == nil { // a Send outside Notify: never
			return false, fmt.Errorf("slack %q: a notification was not rendered", n.cfg.Name)
		}
	}
	body, err := json.Marshal(compose(ps))
	if err != nil {
		return false, fmt.Errorf("slack %q: encode: %w", n.cfg.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	resp, err := notifyhttp.Post(ctx, n.o.HTTPClient, n.cfg.url.Value(), http.Header{"Content-Type": {"application/json; charset=utf-8"}}, body)
	if err != nil {
		n.log.Debug("slack: post failed", "notifications", len(batch), "err", err)
		return true, fmt.Errorf("slack %q: post: %w", n.cfg.Name, err)
	}
	if resp.Status < 200 || resp.Status > 299 {
		retry, err := notifyhttp.StatusError(resp, n.o.Now())
		n.log.Debug("slack: refused", "notifications", len(batch), "status", resp.Status, "retry", retry, "err", err)
		return retry, fmt.Errorf("slack %q: %w", n.cfg.Name, err)
	}
	// An incoming webhook answers "ok"; anything else is not a delivery.
	if got := bytes.TrimSpace(resp.Body); string(got) != "ok" {
		return false, fmt.Errorf("slack %q: status %d: unexpected answer %q", n.cfg.Name, resp.Status, notifyhttp.Snippet(got))
	}
	n.log.Debug("slack: sent", "notifications", len(batch), "status", resp.Status)
	return false, nil
}

// truncate cuts an mrkdwn text with message.Truncate and drops what the
// cut left unfinished at its end: half an entity (&am) or half a link
// (<https://…), which Slack would show garbled.
func truncate(s string, max int, suffix string) string {
	t := message.Truncate(s, max, suffix)
	if t == s {
		return s
	}
	head := strings.TrimSuffix(t, suffix)
	for {
		cut := head
		if i := strings.LastIndexByte(head, '&'); i >= 0 && !strings.Contains(head[i:], ";") {
			cut = head[:i]
		}
		if i := strings.LastIndexByte(cut, '<'); i >= 0 && !strings.Contains(cut[i:], ">") {
			cut = cut[:i]
		}
		if cut == head {
			break
		}
		head = cut
	}
	return head + suffix
}

// escaper escapes Slack's control characters.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escapeNotification returns a copy of nt whose strings are escaped for
// mrkdwn; nt is left as it is.
func escapeNotification(nt *engine.Notification) *engine.Notification {
	return message.MapValues(nt, escaper.Replace)
}
