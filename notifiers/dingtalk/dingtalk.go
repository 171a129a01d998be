// Package dingtalk posts notifications to a DingTalk group through a
// custom robot (自定义机器人): markdown messages, signed when the robot
// has a signing secret, @-mentioning the person a notification is for,
// and bundled when more arrive than the robot's rate limit lets through.
package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle"
	"github.com/remediator/remediator/notifiers/internal/robot"
	"github.com/remediator/remediator/rules"
)

// MaxText is the most bytes DingTalk takes in a markdown text.
const MaxText = 20000

// retryable are the codes of DingTalk's answers worth retrying. Every other
// is final: 310000 (signature, keyword or IP check failed), 300001 and the
// other token errors, 460101 (too long); sending again cannot help.
var retryable = robot.Retry{
	-1:     0,           // 系统繁忙
	130101: time.Minute, // send too fast, exceed 20 times per minute: wait for the minute it counts in
}

// Options are what a Notifier takes from its surroundings.
type Options = robot.Options

// Notifier posts to one DingTalk robot. It is safe for concurrent use.
type Notifier struct {
	robot *robot.Robot
	keys  *keys // behind a pointer, so fmt prints an address, not the token
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
	n := &Notifier{keys: &keys{url: c.url, secret: c.secret}}
	n.robot = robot.New("dingtalk", c.Settings, bundle.Config{Max: c.MaxPerMinute, Window: time.Minute}, o, n.send)
	return n, nil
}

// Notify posts nt to the robot's group, at once when the rate limit
// allows, else in one message with the others waiting for the next slot.
func (n *Notifier) Notify(ctx context.Context, nt *engine.Notification) (bool, error) {
	return n.robot.Notify(ctx, nt)
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

// send posts batch as one message.
func (n *Notifier) send(ctx context.Context, batch []*engine.Notification, parts []bundle.Part) (bool, error) {
	body, err := robot.Marshal(compose(batch, parts))
	if err != nil {
		return false, err
	}
	return n.robot.PostErrCode(ctx, n.signedURL(n.robot.Now()), body, len(batch), retryable)
}

// compose writes batch as one markdown message: each notification's
// text, cut to MaxText with a link to the incident, and the handles of
// the people it is for, who DingTalk pings only when "@handle" is in the
// text as well as in "at".
func compose(batch []*engine.Notification, parts []bundle.Part) *markdownMessage {
	m := &markdownMessage{MsgType: "markdown"}
	mentions := robot.Mentions(batch, func(nt *engine.Notification) string {
		h := nt.Recipient.Address
		if isMobile(h) {
			m.At.AtMobiles = append(m.At.AtMobiles, h)
		} else {
			m.At.AtUserIDs = append(m.At.AtUserIDs, h)
		}
		return "@" + h
	})
	m.Markdown.Title = bundle.Title(parts)
	m.Markdown.Text = bundle.Join(parts, robot.Separator, MaxText-len(mentions), robot.FullIncident) + mentions
	return m
}

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
