// Package twilio pages people by phone call and SMS through Twilio's REST
// API (twilio-go), and serves Twilio's callbacks: the keys pressed during a
// call, delivery status, and inbound SMS replies.
//
// A call reads the incident and offers a menu: 1 acknowledges, 2 resolves,
// 3 silences. An SMS says how to reply: "ACK 12" or "RESOLVE 12". Every
// callback must carry Twilio's X-Twilio-Signature for remediator's
// external URL; anything else is refused before it changes a thing.
package twilio

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/notifyhttp"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// Twilio's limits, in characters (counted here as UTF-16 code units, as
// an SMS encodes them: an emoji counts twice).
const (
	MaxSMS   = 1600 // a message's Body
	MaxTwiML = 4000 // a call's inline Twiml
)

// Callback paths, relative to the external URL. The handler expects to
// see them in full.
const (
	PathVoice  = "/api/v1/twilio/voice"
	PathStatus = "/api/v1/twilio/status"
	PathSMS    = "/api/v1/twilio/sms"
)

// callEvents are the call progress events Twilio reports.
var callEvents = []string{"initiated", "ringing", "answered", "completed"}

// gatherTimeout is how many seconds a call waits for a key.
const gatherTimeout = 10

// Twilio is a Twilio account's phone and SMS channels. It is safe for
// concurrent use.
type Twilio struct {
	*settings
	loc       *time.Location
	transport http.RoundTripper
	now       func() time.Time
	log       *slog.Logger
}

// New checks c and builds the channels. Every configuration problem is
// reported, joined; no error holds the auth token.
func New(c *rules.TwilioConfig, o Options) (*Twilio, error) {
	s, err := newSettings(c, o.ExternalURL)
	if err != nil {
		return nil, err
	}
	t := &Twilio{settings: s, loc: o.Location, transport: o.Transport, now: o.Now, log: o.Logger}
	if t.loc == nil {
		t.loc = time.UTC
	}
	if t.transport == nil {
		t.transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	return t, nil
}

// Voice is the phone channel.
func (t *Twilio) Voice() engine.Notifier { return (*voice)(t) }

// SMS is the SMS channel.
func (t *Twilio) SMS() engine.Notifier { return (*sms)(t) }

// CallAttempts is how many calls are made until one is answered, and the
// pause between an unanswered call and the next (voice.attempts and
// voice.retry_after). Whoever reads the status callbacks (a busy,
// no-answer or failed call) schedules the next call.
func (t *Twilio) CallAttempts() (attempts int, pause time.Duration) {
	return t.attempts, t.retryAfter
}

type voice Twilio

var _ engine.Notifier = (*voice)(nil)

// Notify places a call that reads n and, for an event that needs a
// response, offers the menu.
func (v *voice) Notify(ctx context.Context, n *engine.Notification) (bool, error) {
	t := (*Twilio)(v)
	if n.Recipient.Address == "" {
		return false, errors.New("twilio: call: the recipient has no phone number")
	}
	menu := needsResponse(n.Event)
	ack := ""
	if menu {
		ack = t.prompts.Menu
	}
	r, err := t.voiceTpl.Render(message.NewData(n, ack, t.loc))
	if err != nil {
		return false, fmt.Errorf("twilio: call: %w", err)
	}
	base := t.callbackBase(n)
	var action string
	if menu {
		action = fmt.Sprintf("%s%s?incident=%d&notification=%d", base, PathVoice, n.Incident.ID, n.ID)
	}
	doc, err := t.callTwiML(r.Body, action)
	if err != nil {
		return false, fmt.Errorf("twilio: call: %w", err)
	}
	p := (&openapi.CreateCallParams{}).
		SetTo(n.Recipient.Address).SetFrom(t.from).SetTwiml(doc).
		SetStatusCallback(statusURL(base, n.ID)).
		SetStatusCallbackEvent(callEvents).
		SetStatusCallbackMethod(http.MethodPost).
		// A voicemail is not an answer: with detection on, the status
		// callback's AnsweredBy tells (see answeredByMachine).
		SetMachineDetection("Enable")

	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	api, ex := t.api(ctx)
	call, err := api.CreateCall(p)
	if retry, err := t.check(ex, err); err != nil {
		return retry, fmt.Errorf("twilio: create call: %w", err)
	}
	if call != nil && call.Sid != nil {
		n.ProviderID = *call.Sid
	}
	t.log.Debug("twilio call created", "notification", n.ID, "incident", n.Incident.ID,
		"to", maskPhone(n.Recipient.Address), "sid", n.ProviderID)
	return false, nil
}

type sms Twilio

var _ engine.Notifier = (*sms)(nil)

// Notify sends n as a text message.
func (s *sms) Notify(ctx context.Context, n *engine.Notification) (bool, error) {
	t := (*Twilio)(s)
	if n.Recipient.Address == "" {
		return false, errors.New("twilio: sms: the recipient has no phone number")
	}
	ack := ""
	if needsResponse(n.Event) {
		ack = fmt.Sprintf("Reply ACK %d or RESOLVE %d", n.Incident.ID, n.Incident.ID)
	}
	r, err := t.smsTpl.Render(message.NewData(n, ack, t.loc))
	if err != nil {
		return false, fmt.Errorf("twilio: sms: %w", err)
	}
	p := (&openapi.CreateMessageParams{}).
		SetTo(n.Recipient.Address).SetFrom(t.from).
		SetBody(truncate(r.Body, MaxSMS, "…")).
		SetStatusCallback(statusURL(t.callbackBase(n), n.ID))

	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	api, ex := t.api(ctx)
	msg, err := api.CreateMessage(p)
	if retry, err := t.check(ex, err); err != nil {
		return retry, fmt.Errorf("twilio: create message: %w", err)
	}
	if msg != nil && msg.Sid != nil {
		n.ProviderID = *msg.Sid
	}
	t.log.Debug("twilio message created", "notification", n.ID, "incident", n.Incident.ID,
		"to", maskPhone(n.Recipient.Address), "sid", n.ProviderID)
	return false, nil
}

// needsResponse reports whether an event asks the person to act.
func needsResponse(event string) bool {
	switch event {
	case engine.NotifyFiring, engine.NotifyEscalated, engine.NotifyRemediationFailed:
		return true
	}
	return false
}

// callbackBase is where Twilio's callbacks for n go: the notification's
// external URL, else the configured one. Both are server.external_url,
// the URL the handler checks signatures against.
func (t *Twilio) callbackBase(n *engine.Notification) string {
	if b := strings.TrimRight(n.ExternalURL, "/"); b != "" {
		return b
	}
	return t.external
}

func statusURL(base string, notification uint64) string {
	return fmt.Sprintf("%s%s?notification=%d", base, PathStatus, notification)
}

// api returns a twilio-go API service for one request bound to ctx, and
// the exchange its transport records.
//
// twilio-go's calls take no context and its client builds every request
// with context.Background(), so the context travels in the transport: each
// request gets a client of its own whose transport puts ctx on the
// request. Sharing one client would need the context in shared state,
// which concurrent notifications would overwrite. The clients are a few
// small structs; the connection pool (the base transport) is shared.
//
// The request handler is built directly rather than by
// NewApiServiceWithClient, which reads TWILIO_EDGE and TWILIO_REGION from
// the environment: the host is api_url's whatever those say.
func (t *Twilio) api(ctx context.Context) (*openapi.ApiService, *exchange) {
	ex := &exchange{}
	c := &client.Client{
		Credentials: client.NewCredentials(t.sid, t.token.Value()),
		HTTPClient: &http.Client{
			Transport:     &rewrite{ctx: ctx, base: t.transport, to: t.apiURL, ex: ex},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(t.sid)
	return openapi.NewApiService(&client.RequestHandler{Client: c}), ex
}

// exchange is what the transport saw of the response: twilio-go keeps
// the status and headers of a failed request to itself.
type exchange struct {
	status int
	header http.Header
	body   []byte // the body of an error response
}

// rewrite sends each request to the scheme and host of to (keeping the
// path and query), under ctx, and records the response in ex. It belongs
// to one API call: twilio-go calls RoundTrip on the calling goroutine.
type rewrite struct {
	ctx  context.Context
	base http.RoundTripper
	to   *url.URL
	ex   *exchange
}

func (rt *rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(rt.ctx)
	r.URL.Scheme, r.URL.Host, r.Host = rt.to.Scheme, rt.to.Host, ""
	resp, err := rt.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	rt.ex.status, rt.ex.header = resp.StatusCode, resp.Header
	if resp.StatusCode >= 400 {
		// Keep the body for the error when it is not Twilio's JSON.
		b, err := io.ReadAll(io.LimitReader(resp.Body, notifyhttp.MaxResponse))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		rt.ex.body = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, nil
}

// Codes Twilio answers when it is busy: retry later.
const (
	codeTooManyRequests = 20429 // too many concurrent requests
	codeQueueFull       = 21611 // the From number's message queue is full
	codeSMSRateLimit    = 14107 // the SMS send rate limit was exceeded
)

// check turns the outcome of one API call into the notifier's answer.
// Errors are those of Twilio (its code and message), of the HTTP status,
// or of the transport, never with the URL or the credentials.
func (t *Twilio) check(ex *exchange, err error) (retry bool, _ error) {
	var rest *client.TwilioRestError
	switch {
	case errors.As(err, &rest):
		status := rest.Status
		if status == 0 {
			status = ex.status
		}
		e := &APIError{Status: status, Code: rest.Code, Message: rest.Message, MoreInfo: rest.MoreInfo}
		switch {
		case status == http.StatusTooManyRequests || rest.Code == codeTooManyRequests ||
			rest.Code == codeQueueFull || rest.Code == codeSMSRateLimit:
			return true, &notifyhttp.RetryAfterError{Err: e, Wait: t.retryAfterHeader(ex)}
		case status == 0:
			// Not an HTTP error: twilio-go's own refusal.
			return false, e
		}
		return notifyhttp.Retry(status), e
	case ex.status >= 400:
		// An error body twilio-go could not read (a proxy's HTML page).
		e := fmt.Errorf("status %d: %s", ex.status, notifyhttp.Snippet(ex.body))
		if ex.status == http.StatusTooManyRequests {
			return true, &notifyhttp.RetryAfterError{Err: e, Wait: t.retryAfterHeader(ex)}
		}
		return notifyhttp.Retry(ex.status), e
	case err != nil && ex.status == 0:
		// No response: a transport error or a timeout.
		return true, notifyhttp.StripURL(err)
	case ex.status >= 300:
		return false, fmt.Errorf("unexpected status %d", ex.status)
	case err != nil:
		// Twilio accepted the request (2xx) but its body did not read:
		// the call or message exists, and a retry would send it again.
		t.log.Warn("twilio accepted a request but its response did not read", "err", notifyhttp.StripURL(err))
	}
	return false, nil
}

func (t *Twilio) retryAfterHeader(ex *exchange) time.Duration {
	if ex.header == nil {
		return 0
	}
	return notifyhttp.ParseRetryAfter(ex.header.Get("Retry-After"), t.now())
}

// APIError is an error Twilio answered: its HTTP status, its error code
// (https://www.twilio.com/docs/errors/CODE) and message.
type APIError struct {
	Status   int
	Code     int
	Message  string
	MoreInfo string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("twilio error %d (status %d): %s", e.Code, e.Status, e.Message)
	if e.MoreInfo != "" {
		s += " (" + e.MoreInfo + ")"
	}
	return s
}

// TwiML.

type twiml struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []any
}

type say struct {
	XMLName  xml.Name `xml:"Say"`
	Language string   `xml:"language,attr,omitempty"`
	Voice    string   `xml:"voice,attr,omitempty"`
	Text     string   `xml:",chardata"`
}

type gather struct {
	XMLName   xml.Name `xml:"Gather"`
	NumDigits int      `xml:"numDigits,attr"`
	Action    string   `xml:"action,attr"`
	Method    string   `xml:"method,attr"`
	Timeout   int      `xml:"timeout,attr"`
	Says      []say
}

type textMessage struct {
	XMLName xml.Name `xml:"Message"`
	Text    string   `xml:",chardata"`
}

func (t *Twilio) say(text string) say {
	return say{Language: t.language, Voice: t.voice, Text: text}
}

// menuTwiML says text, if any, and the menu, and hears one key that is
// posted to action; without a key it says goodbye.
func (t *Twilio) menuTwiML(text, action string) twiml {
	g := gather{NumDigits: 1, Action: action, Method: http.MethodPost, Timeout: gatherTimeout}
	if text != "" {
		g.Says = append(g.Says, t.say(text))
	}
	g.Says = append(g.Says, t.say(t.prompts.Menu))
	return twiml{Verbs: []any{g, t.say(t.prompts.NoInput)}}
}

// callTwiML is a call's TwiML: text and, when action is set, the menu.
// The text is shortened to keep the TwiML within Twilio's limit.
func (t *Twilio) callTwiML(text, action string) (string, error) {
	build := func(text string) (string, error) {
		doc := twiml{Verbs: []any{t.say(text)}}
		if action != "" {
			doc = t.menuTwiML(text, action)
		}
		b, err := xml.Marshal(doc)
		return string(b), err
	}
	s, err := build(text)
	if err != nil || chars(s) <= MaxTwiML {
		return s, err
	}
	if s, err = build(""); err != nil {
		return "", err
	} else if chars(s) > MaxTwiML {
		return "", fmt.Errorf("the TwiML is %d characters without the message, over Twilio's %d: shorten the prompts", chars(s), MaxTwiML)
	}
	// The longest cut of the text that fits: escaping makes the TwiML
	// longer than the text by an amount that depends on the text.
	lo, hi := 0, min(chars(text), MaxTwiML) // lo fits, hi+1 does not
	for lo < hi {
		mid := (lo + hi + 1) / 2
		s, err := build(truncate(text, mid, "."))
		if err != nil {
			return "", err
		}
		if chars(s) <= MaxTwiML {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo == 0 {
		return build("")
	}
	return build(truncate(text, lo, "."))
}

// marshalTwiML encodes a reply, with the XML declaration.
func marshalTwiML(doc twiml) []byte {
	b, err := xml.Marshal(doc)
	if err != nil {
		// Only strings and ints: cannot fail.
		panic(err)
	}
	return append([]byte(xml.Header), b...)
}

// chars counts s as Twilio counts characters: in UTF-16 code units.
func chars(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// truncate cuts s to at most max characters (chars), suffix included, at
// a line break or space near the end when there is one.
func truncate(s string, max int, suffix string) string {
	if chars(s) <= max {
		return s
	}
	keep := max - chars(suffix)
	off := 0
	for n := 0; off < len(s); {
		r, size := utf8.DecodeRuneInString(s[off:])
		if n+utf16.RuneLen(r) > keep {
			break
		}
		n += utf16.RuneLen(r)
		off += size
	}
	// Prefer a line break, then a space, in the last quarter, as
	// message.Truncate does (it counts bytes, where Twilio counts
	// characters).
	cut := s[:off]
	if i := strings.LastIndexByte(cut, '\n'); i >= len(cut)*3/4 {
		cut = cut[:i]
	} else if i := strings.LastIndexByte(cut, ' '); i >= len(cut)*3/4 {
		cut = cut[:i]
	}
	return cut + suffix
}

// maskPhone hides all but the last 4 digits of a phone number.
func maskPhone(p string) string {
	if len(p) <= 4 {
		return "****"
	}
	return strings.Repeat("*", len(p)-4) + p[len(p)-4:]
}
