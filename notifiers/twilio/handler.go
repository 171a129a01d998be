package twilio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/twilio/twilio-go/client"

	"github.com/remediator/remediator/engine"
)

// Responder is what Twilio's callbacks change. Errors wrapping
// engine.ErrNotFound, engine.ErrConflict or engine.ErrDenied are told to
// the person politely; others are logged and answered with an apology.
type Responder interface {
	// Keypress carries out a key pressed in a call's menu, as the person
	// the notification called, whose id it returns. It acts only on the
	// notification's live call, once (engine.Engine.RespondToCall), and
	// audits every outcome.
	Keypress(ctx context.Context, k engine.CallResponse) (person string, err error)
	// Reply carries out an SMS reply ("ACK 12"): only for a person who
	// was texted about the incident, once per message
	// (engine.Engine.RespondToSMS), auditing every outcome.
	Reply(ctx context.Context, r engine.SMSReply) error
	// DeliveryStatus records a status callback of notification id
	// (CallStatus or MessageStatus, with ErrorCode if any).
	DeliveryStatus(ctx context.Context, notification uint64, providerID, status, detail string) error
	// PersonByPhone finds the person whose phone number is phone (E.164).
	PersonByPhone(phone string) (person string, ok bool)
	// Refused records a callback refused before it could change
	// anything (a wrong signature, an SMS from an unknown number) in the
	// audit log, as denied and without an actor: such entries are
	// rate-limited per address.
	Refused(ctx context.Context, r Refusal)
}

// Refusal is a refused callback, for the audit log.
type Refusal struct {
	Action string // what it asked for (engine.AuditIncidentAck…), else engine.AuditCallback
	Target string // "incident 12", or the callback's path
	Addr   string // the host the request came from
	Detail string // why it was refused
}

// MaxCallback is the largest callback body read; a larger one is
// refused with 413.
const MaxCallback = 64 << 10

// Handler serves Twilio's callbacks at PathVoice, PathStatus and PathSMS
// (it sees the full path). Every request must be a POST whose
// X-Twilio-Signature is valid for the external URL plus the request URI
// and its form; anything else is refused (405, 413, 400, 403) before r is
// called. Replies are TwiML (text/xml), or 204 for a status callback.
func (t *Twilio) Handler(r Responder, log *slog.Logger) http.Handler {
	if log == nil {
		log = t.log
	}
	return &handler{t: t, r: r, log: log, validator: client.NewRequestValidator(t.token.Value())}
}

type handler struct {
	t         *Twilio
	r         Responder
	log       *slog.Logger
	validator client.RequestValidator
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve func(http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case PathVoice:
		serve = h.voice
	case PathStatus:
		serve = h.status
	case PathSMS:
		serve = h.sms
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxCallback)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if !h.signed(r) {
		h.log.Warn("twilio callback refused: missing or wrong signature", "path", r.URL.Path, "remote", r.RemoteAddr)
		h.r.Refused(r.Context(), Refusal{Action: engine.AuditCallback, Target: cut(r.URL.RequestURI(), maxTarget),
			Addr: clientAddr(r), Detail: "twilio callback refused: missing or wrong signature (X-Twilio-Signature)"})
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	serve(w, r)
}

// maxTarget bounds the request URI an audit entry names.
const maxTarget = 120

// cut shortens s to at most n bytes, on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// clientAddr is the host of the connection's remote address (forwarding
// headers are not trusted), as the API records it.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// signed reports whether r carries Twilio's signature of the external URL
// of r and its POST parameters.
func (h *handler) signed(r *http.Request) bool {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return false
	}
	params := make(map[string]string, len(r.PostForm))
	for k, vs := range r.PostForm {
		if len(vs) != 1 {
			// The validator signs one value per name; Twilio sends one.
			return false
		}
		params[k] = vs[0]
	}
	return h.validator.Validate(h.t.external+r.URL.RequestURI(), params, sig)
}

// keys are the call menu's keys.
var keys = map[string]engine.CallKey{"1": engine.CallAcknowledge, "2": engine.CallResolve, "3": engine.CallSilence}

// voice handles the key pressed in a call's menu. A key that asks for
// something counts only from the notification's live call, once (see
// engine.Engine.RespondToCall); anything else is told "invalid".
func (h *handler) voice(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	incident, err1 := strconv.ParseUint(q.Get("incident"), 10, 64)
	nid, err2 := strconv.ParseUint(q.Get("notification"), 10, 64)
	if err1 != nil || err2 != nil {
		http.Error(w, "incident and notification are required", http.StatusBadRequest)
		return
	}
	key, ok := keys[r.PostForm.Get("Digits")]
	if !ok {
		// The person is on the line (or nobody is, and this changes
		// nothing): say so and offer the menu again.
		h.reply(w, h.t.menuTwiML(h.t.prompts.Invalid, h.t.external+r.URL.RequestURI()))
		return
	}
	ctx := r.Context()
	person, err := h.r.Keypress(ctx, engine.CallResponse{Notification: nid, Incident: incident, Call: r.PostForm.Get("CallSid"),
		Key: key, SilenceFor: h.t.silenceFor, Addr: clientAddr(r)})
	if err != nil {
		// The prompts are in the call's language; the reason is logged.
		h.logResponderError(ctx, "twilio call", incident, person, err)
		h.reply(w, twiml{Verbs: []any{h.t.say(h.t.prompts.Invalid)}})
		return
	}
	h.log.Info("twilio call: key pressed", "incident", incident, "by", person, "notification", nid, "key", key)
	done := map[engine.CallKey]string{engine.CallAcknowledge: h.t.prompts.Acknowledged,
		engine.CallResolve: h.t.prompts.Resolved, engine.CallSilence: h.t.prompts.Silenced}[key]
	h.reply(w, twiml{Verbs: []any{h.t.say(done)}})
}

// status records a call's or a message's delivery status.
func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	nid, err := strconv.ParseUint(r.URL.Query().Get("notification"), 10, 64)
	if err != nil {
		http.Error(w, "notification is required", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	sid, status := f.Get("CallSid"), f.Get("CallStatus")
	if status == "" {
		sid, status = f.Get("MessageSid"), f.Get("MessageStatus")
	}
	if status == "" || sid == "" {
		http.Error(w, "CallStatus or MessageStatus is required", http.StatusBadRequest)
		return
	}
	detail := f.Get("ErrorCode")
	if answeredByMachine(status, f.Get("AnsweredBy")) {
		// Voicemail picked up: nobody heard the page. The call counts as
		// unanswered, so it is made again (machine detection is on).
		status, detail = "no-answer", "answered by "+f.Get("AnsweredBy")
	}
	if err := h.r.DeliveryStatus(r.Context(), nid, sid, status, detail); err != nil {
		switch {
		case errors.Is(err, engine.ErrNotFound):
			h.log.Warn("twilio status callback of an unknown notification", "notification", nid, "status", status)
		case errors.Is(err, engine.ErrConflict):
			h.log.Info("twilio status callback of a superseded call ignored", "notification", nid, "status", status)
		default:
			h.log.Error("twilio status callback not recorded", "notification", nid, "status", status, "err", err)
			http.Error(w, "not recorded", http.StatusInternalServerError)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// answeredByMachine reports whether a call's status says an answering
// machine or a fax took it (Twilio's AnsweredBy, with machine detection).
func answeredByMachine(status, answeredBy string) bool {
	switch status {
	case "in-progress", "answered", "completed":
		return strings.HasPrefix(answeredBy, "machine") || answeredBy == "fax"
	}
	return false
}

// smsCommandRE is a reply, once foldWidth made it half-width: ACK or
// RESOLVE (or 确认, 解决) and one incident id, with an optional # before
// the id and a full stop or ! after it.
var smsCommandRE = regexp.MustCompile(`(?i)^[\s\p{Z}]*(ack|resolve|确认|解决)[\s\p{Z}]*#?[\s\p{Z}]*([0-9]+)[\s\p{Z}]*[.。!]?[\s\p{Z}]*$`)

// SMSUsage is the answer to a text that is not a command.
const SMSUsage = "Reply ACK <id> or RESOLVE <id>, e.g. ACK 12."

// smsCommand parses a reply: whether it resolves (else it acknowledges),
// and the incident.
func smsCommand(body string) (resolve bool, incident uint64, ok bool) {
	m := smsCommandRE.FindStringSubmatch(foldWidth(body))
	if m == nil {
		return false, 0, false
	}
	id, err := strconv.ParseUint(m[2], 10, 64)
	if err != nil {
		return false, 0, false
	}
	return strings.EqualFold(m[1], "resolve") || m[1] == "解决", id, true
}

// foldWidth maps the full-width forms of ASCII (ＡＣＫ, ２, ＃, ．), as a
// Chinese keyboard types them, to ASCII. (The ideographic space is in
// \p{Z}, which smsCommandRE allows as space.)
func foldWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '！' && r <= '～' {
			return r - '！' + '!'
		}
		return r
	}, s)
}

// sms handles an inbound text message. A text from a number nobody has
// is refused (audited) and gets no answer.
func (h *handler) sms(w http.ResponseWriter, r *http.Request) {
	from := r.PostForm.Get("From")
	resolve, id, isCommand := smsCommand(r.PostForm.Get("Body"))
	person, ok := h.r.PersonByPhone(from)
	if !ok {
		h.log.Info("twilio sms from an unknown number ignored", "from", maskPhone(from))
		ref := Refusal{Action: engine.AuditCallback, Target: PathSMS, Addr: clientAddr(r),
			Detail: "twilio sms refused: a text from an unknown number " + maskPhone(from)}
		if isCommand {
			ref.Action, ref.Target = engine.AuditIncidentAck, fmt.Sprintf("incident %d", id)
			if resolve {
				ref.Action = engine.AuditIncidentResolve
			}
		}
		h.r.Refused(r.Context(), ref)
		h.reply(w, twiml{})
		return
	}
	if !isCommand {
		h.reply(w, text(SMSUsage))
		return
	}
	done := "acknowledged"
	if resolve {
		done = "resolved"
	}
	err := h.r.Reply(r.Context(), engine.SMSReply{Person: person, Incident: id, Resolve: resolve,
		Message: r.PostForm.Get("MessageSid"), Addr: clientAddr(r)})
	switch {
	case errors.Is(err, engine.ErrDenied):
		// A replay, or a reply about an incident this person was not
		// texted about: no answer (a replayed request must not make us
		// text anyone).
		h.logResponderError(r.Context(), "twilio sms", id, person, err)
		h.reply(w, twiml{})
	case err == nil:
		h.log.Info("twilio sms command", "incident", id, "by", person, "done", done)
		h.reply(w, text(fmt.Sprintf("Incident %d %s.", id, done)))
	case errors.Is(err, engine.ErrNotFound):
		h.reply(w, text(fmt.Sprintf("Incident %d was not found.", id)))
	case errors.Is(err, engine.ErrConflict) && resolve:
		h.reply(w, text(fmt.Sprintf("Incident %d is already resolved.", id)))
	case errors.Is(err, engine.ErrConflict):
		h.reply(w, text(fmt.Sprintf("Incident %d is already acknowledged or resolved.", id)))
	default:
		h.logResponderError(r.Context(), "twilio sms", id, person, err)
		h.reply(w, text(fmt.Sprintf("Sorry, incident %d could not be %s. Try again or use the console.", id, done)))
	}
}

func text(s string) twiml { return twiml{Verbs: []any{textMessage{Text: s}}} }

func (h *handler) logResponderError(ctx context.Context, what string, incident uint64, person string, err error) {
	level := slog.LevelError
	switch {
	case errors.Is(err, engine.ErrDenied):
		level = slog.LevelWarn // a replayed or late callback
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, engine.ErrConflict), errors.Is(err, engine.ErrInvalid):
		level = slog.LevelInfo
	}
	h.log.Log(ctx, level, what+": not done", "incident", incident, "by", person, "err", err)
}

func (h *handler) reply(w http.ResponseWriter, doc twiml) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(marshalTwiML(doc))
}
