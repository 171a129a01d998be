// Package wecom posts notifications to a WeCom (企业微信) group through a
// group robot: markdown messages that @-mention the person a
// notification is for, bundled when more arrive than the robot's rate
// limit lets through.
package wecom

import (
	"context"
	"strings"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle"
	"github.com/remediator/remediator/notifiers/internal/robot"
	"github.com/remediator/remediator/rules"
)

// MaxContent is the most bytes WeCom takes in a markdown content.
const MaxContent = 4096

// retryable are the codes of WeCom's answers worth retrying. Every other is
// final: 93000 (invalid webhook url), 40058 (too long) and the rest;
// sending again cannot help.
var retryable = robot.Retry{
	-1:    0,           // system busy
	45009: time.Minute, // api freq out of limit: wait for the minute it counts in
	45033: time.Minute, // api concurrent out of limit
}

// Options are what a Notifier takes from its surroundings.
type Options = robot.Options

// Notifier posts to one WeCom robot. It is safe for concurrent use.
type Notifier struct {
	robot   *robot.Robot
	webhook *string // the URL with its key, behind a pointer so fmt prints an address
}

var _ engine.Notifier = (*Notifier)(nil)

// New checks cfg and builds its Notifier.
func New(cfg *rules.IMConfig, o Options) (*Notifier, error) {
	c, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	n := &Notifier{webhook: &c.url}
	n.robot = robot.New("wecom", c.Settings, bundle.Config{Max: c.MaxPerMinute, Window: time.Minute}, o, n.send)
	n.robot.Escape = defuseMentions
	return n, nil
}

// defuseMentions keeps a value from mentioning anyone: WeCom's markdown
// pings <@userid> (and <@all>) wherever it stands. A zero-width space
// after the "<" leaves the text as it reads and no longer a mention;
// the only mentions are those compose adds for the recipients.
var defuseMentions = strings.NewReplacer("<@", "<\u200b@").Replace

// Notify posts nt to the robot's group, at once when the rate limit
// allows, else in one message with the others waiting for the next slot.
func (n *Notifier) Notify(ctx context.Context, nt *engine.Notification) (bool, error) {
	return n.robot.Notify(ctx, nt)
}

// markdownMessage is WeCom's markdown message.
type markdownMessage struct {
	MsgType  string   `json:"msgtype"`
	Markdown markdown `json:"markdown"`
}

type markdown struct {
	Content string `json:"content"`
}

// send posts batch as one message.
func (n *Notifier) send(ctx context.Context, batch []*engine.Notification, parts []bundle.Part) (bool, error) {
	body, err := robot.Marshal(compose(batch, parts))
	if err != nil {
		return false, err
	}
	return n.robot.PostErrCode(ctx, *n.webhook, body, len(batch), retryable)
}

// compose writes batch as one markdown message: each notification's
// text, cut to MaxContent with a link to the incident, then "<@userid>"
// for each person it is for.
func compose(batch []*engine.Notification, parts []bundle.Part) *markdownMessage {
	mentions := robot.Mentions(batch, func(nt *engine.Notification) string { return "<@" + nt.Recipient.Address + ">" })
	text := bundle.Join(parts, robot.Separator, MaxContent-len(mentions), robot.FullIncident) + mentions
	return &markdownMessage{MsgType: "markdown", Markdown: markdown{Content: text}}
}
