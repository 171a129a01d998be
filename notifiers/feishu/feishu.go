// Package feishu posts notifications to a Feishu (Lark) group through a
// custom bot (自定义机器人): an interactive card with a coloured header and
// a markdown element, or plain text; signed when the bot has a signing
// secret, @-mentioning the person a notification is for, and bundled
// when more arrive than the bot's rate limits let through.
package feishu

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle"
	"github.com/remediator/remediator/notifiers/internal/notifyhttp"
	"github.com/remediator/remediator/notifiers/internal/robot"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// MaxBody is the most bytes Feishu takes in a request body (20 KB).
const MaxBody = 20 << 10

// maxTitle bounds a card's header, which is not cut with the content.
const maxTitle = 1000

// throttleWait is how long to wait after Feishu says the bot sends too
// often.
const throttleWait = time.Minute

// Codes of Feishu's answers.
const (
	codeOK         = 0
	codeBadRequest = 9499  // "Bad Request", or "too many request"
	codeFrequency  = 11232 // frequency limited
	// 19021 sign match fail, 19022 ip not allowed, 19024 key words not
	// found: final, like every other code.
)

// Options are what a Notifier takes from its surroundings.
type Options = robot.Options

// Notifier posts to one Feishu custom bot. It is safe for concurrent use.
type Notifier struct {
	robot *robot.Robot
	keys  *keys // behind a pointer, so fmt prints an address, not the token
	card  bool
}

// keys are the bot's secrets: the webhook URL with its token, and the
// signing secret ("" when the bot does not sign).
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
	n := &Notifier{keys: &keys{url: c.url, secret: c.secret}, card: c.card}
	n.robot = robot.New("feishu", c.Settings, bundle.Config{
		Max: c.MaxPerMinute, Window: time.Minute,
		Burst: MaxPerSecond, BurstWindow: time.Second,
	}, o, n.send)
	n.robot.Escape = defuseMentions
	return n, nil
}

// mentionRE is the start of a Feishu mention tag (<at id=all></at> in a
// card, <at user_id="all"> in a text), in any case and spacing.
var mentionRE = regexp.MustCompile(`(?i)<(\s*at)`)

// defuseMentions keeps a value from mentioning anyone: a zero-width space
// after the "<" of a mention tag leaves the text as it reads and no
// longer a tag; the only mentions are those compose adds for the
// recipients.
func defuseMentions(s string) string {
	return mentionRE.ReplaceAllString(s, "<\u200b$1")
}

// Notify posts nt to the bot's group, at once when the rate limits
// allow, else in one message with the others waiting for the next slot.
func (n *Notifier) Notify(ctx context.Context, nt *engine.Notification) (bool, error) {
	return n.robot.Notify(ctx, nt)
}

// request is a custom bot's message: a card or text, with timestamp and
// sign when the bot signs.
type request struct {
	Timestamp string       `json:"timestamp,omitempty"`
	Sign      string       `json:"sign,omitempty"`
	MsgType   string       `json:"msg_type"`
	Card      *card        `json:"card,omitempty"`
	Content   *textContent `json:"content,omitempty"`
}

type card struct {
	Header   cardHeader `json:"header"`
	Elements []element  `json:"elements"`
}

type cardHeader struct {
	Title    element `json:"title"`
	Template string  `json:"template"`
}

// element is a card's markdown element, or a plain_text title.
type element struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

type textContent struct {
	Text string `json:"text"`
}

// answer is Feishu's reply; older deployments send StatusCode and
// StatusMessage, or only those.
type answer struct {
	Code          *int   `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int   `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

// send posts batch as one message.
func (n *Notifier) send(ctx context.Context, batch []*engine.Notification, parts []bundle.Part) (bool, error) {
	body, err := n.compose(batch, parts, n.robot.Now())
	if err != nil {
		return false, err
	}
	reply, retry, err := n.robot.Post(ctx, n.keys.url, body, len(batch))
	if err != nil {
		return retry, err
	}
	var a answer
	if err := json.Unmarshal(reply, &a); err != nil || (a.Code == nil && a.StatusCode == nil) {
		return false, robot.Unexpected(reply)
	}
	code, msg := a.Code, a.Msg
	if code == nil {
		code, msg = a.StatusCode, a.StatusMessage
	}
	n.robot.LogAnswer(len(batch), "code", *code, "msg", msg)
	err = fmt.Errorf("code %d: %s", *code, msg)
	switch {
	case *code == codeOK:
		return false, nil
	case *code == codeFrequency, *code == codeBadRequest && throttled(msg):
		return true, &notifyhttp.RetryAfterError{Err: err, Wait: throttleWait}
	}
	// 19021 (sign match fail), 19022 (ip not allowed), 19024 (key words
	// not found), 9499 "Bad Request": sending again cannot help.
	return false, err
}

// throttled tells 9499 "too many request" from 9499 "Bad Request".
func throttled(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "too many") || strings.Contains(msg, "frequency")
}

// compose writes batch as one request body of at most MaxBody bytes:
// each notification's text, cut with a link to the incident, then a
// mention of each person it is for.
func (n *Notifier) compose(batch []*engine.Notification, parts []bundle.Part, now time.Time) ([]byte, error) {
	mentions := robot.Mentions(batch, func(nt *engine.Notification) string {
		h := nt.Recipient.Address
		if n.card {
			return "<at id=" + h + "></at>"
		}
		return `<at user_id="` + h + `">` + cmp.Or(nt.Recipient.Name, h) + "</at>"
	})

	req := request{MsgType: "text"}
	if n.keys.secret != "" {
		req.Timestamp = strconv.FormatInt(now.Unix(), 10)
		req.Sign = sign(req.Timestamp, n.keys.secret)
	}
	setContent := func(s string) { req.Content = &textContent{Text: s} }
	if n.card {
		req.MsgType = "interactive"
		req.Card = &card{
			Header: cardHeader{
				Title:    element{Tag: "plain_text", Content: message.Truncate(bundle.Title(parts), maxTitle, "…")},
				Template: colour(batch),
			},
			Elements: []element{{Tag: "markdown"}},
		}
		setContent = func(s string) { req.Card.Elements[0].Content = s }
	}

	// The JSON escapes some bytes of the text: cut, encode, and cut
	// shorter by what is still over.
	setContent("")
	empty, err := robot.Marshal(req)
	if err != nil {
		return nil, err
	}
	room := MaxBody - len(empty) - len(mentions)
	for room > 0 {
		text := bundle.Join(parts, robot.Separator, room, robot.FullIncident)
		if n.card {
			text = boldHeadings(text)
		} else {
			text = plainHeadings(text)
		}
		setContent(text + mentions)
		b, err := robot.Marshal(req)
		if err != nil {
			return nil, err
		}
		if len(b) <= MaxBody {
			return b, nil
		}
		room -= len(b) - MaxBody
	}
	return nil, errors.New("message does not fit in 20 KB")
}

// sign is Feishu's signature: base64(HMAC-SHA256 keyed with
// timestamp+"\n"+secret, of nothing).
func sign(timestamp, secret string) string {
	mac := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// colour is a card header's template: the most urgent of the bundle's
// events.
func colour(batch []*engine.Notification) string {
	rank := map[string]int{
		engine.NotifyResolved: 1, engine.NotifyAcknowledged: 2,
		engine.NotifyRemediationFailed: 3, engine.NotifyFiring: 4, engine.NotifyEscalated: 4,
	}
	colours := []string{"grey", "green", "blue", "orange", "red"}
	worst := 0
	for _, nt := range batch {
		worst = max(worst, rank[nt.Event])
	}
	return colours[worst]
}

// boldHeadings writes markdown headings as bold lines: a card's markdown
// element (JSON 1.0) does not render "#".
func boldHeadings(s string) string {
	return rewriteHeadings(s, func(h string) string { return "**" + h + "**" })
}

// plainHeadings drops the "#" of headings: text is not markdown.
func plainHeadings(s string) string {
	return rewriteHeadings(s, func(h string) string { return h })
}

func rewriteHeadings(s string, f func(string) string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		h := strings.TrimLeft(l, "#")
		if level := len(l) - len(h); level >= 1 && level <= 6 && strings.HasPrefix(h, " ") {
			if h = strings.TrimSpace(h); h != "" {
				lines[i] = f(h)
			}
		}
	}
	return strings.Join(lines, "\n")
}
