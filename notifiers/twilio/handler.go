package twilio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/remediator/remediator/engine"
)

// Responder is what Twilio's callbacks change. Errors wrapping
// engine.ErrNotFound or engine.ErrConflict are told to the person
// politely; others are logged and answered with an apology.
type Responder interface {
	Acknowledge(ctx context.Context, incident uint64, by string) error
	Resolve(ctx context.Context, incident uint64, by string) error
	// Silence silences the incident's alerts for d and acknowledges it.
	Silence(ctx context.Context, incident uint64, by string, d time.Duration) error
	// DeliveryStatus records a status callback of notification id
	// (CallStatus or MessageStatus, with ErrorCode if any).
	DeliveryStatus(ctx context.Context, notification uint64, providerID, status, detail string) error
	// Recipient returns the person a notification was sent to and its
	// incident.
	Recipient(notification uint64) (person string, incident uint64, ok bool)
	// PersonByPhone finds the person whose phone number is phone (E.164).
	PersonByPhone(phone string) (person string, ok bool)
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
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	serve(w, r)
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

// voice handles the key pressed in a call's menu.
func (h *handler) voice(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	incident, err1 := strconv.ParseUint(q.Get("incident"), 10, 64)
	nid, err2 := strconv.ParseUint(q.Get("notification"), 10, 64)
	if err1 != nil || err2 != nil {
		http.Error(w, "incident and notification are required", http.StatusBadRequest)
		return
	}
	person, inc, ok := h.r.Recipient(nid)
	if !ok {
		h.log.Warn("twilio call: unknown notification", "notification", nid)
		h.reply(w, twiml{Verbs: []any{h.t.say(h.t.prompts.Invalid)}})
		return
	}
	if inc != incident {
		h.log.Warn("twilio call: the incident is not the notification's", "notification", nid, "incident", incident)
		http.Error(w, "the incident is not the notification's", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	var err error
	var done string
	switch digits := r.PostForm.Get("Digits"); digits {
	case "1":
		err, done = h.r.Acknowledge(ctx, incident, person), h.t.prompts.Acknowledged
	case "2":
		err, done = h.r.Resolve(ctx, incident, person), h.t.prompts.Resolved
	case "3":
		err, done = h.r.Silence(ctx, incident, person, h.t.silenceFor), h.t.prompts.Silenced
	default:
		// The person is on the line: say so and offer the menu again.
		doc := h.t.menuTwiML(h.t.prompts.Invalid, h.t.external+r.URL.RequestURI())
		h.reply(w, doc)
		return
	}
	if err != nil {
		// The prompts are in the call's language; the reason is logged.
		h.logResponderError(ctx, "twilio call", incident, person, err)
		h.reply(w, twiml{Verbs: []any{h.t.say(h.t.prompts.Invalid)}})
		return
	}
	h.log.Info("twilio call: key pressed", "incident", incident, "by", person, "notification", nid)
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

// smsCommandRE is a reply: ACK or RESOLVE and an incident id.
var smsCommandRE = regexp.MustCompile(`(?i)^\s*(ack|resolve)\s*#?\s*([0-9]+)\s*$`)

// SMSUsage is the answer to a text that is not a command.
const SMSUsage = "Reply ACK <id> or RESOLVE <id>, e.g. ACK 12."

// sms handles an inbound text message.
func (h *handler) sms(w http.ResponseWriter, r *http.Request) {
	from := r.PostForm.Get("From")
	person, ok := h.r.PersonByPhone(from)
	if !ok {
		h.log.Info("twilio sms from an unknown number ignored", "from", maskPhone(from))
		h.reply(w, twiml{})
		return
	}
	m := smsCommandRE.FindStringSubmatch(r.PostForm.Get("Body"))
	var id uint64
	var err error
	if m != nil {
		id, err = strconv.ParseUint(m[2], 10, 64)
	}
	if m == nil || err != nil {
		h.reply(w, text(SMSUsage))
		return
	}
	var done string
	if strings.EqualFold(m[1], "ack") {
		err, done = h.r.Acknowledge(r.Context(), id, person), "acknowledged"
	} else {
		err, done = h.r.Resolve(r.Context(), id, person), "resolved"
	}
	switch {
	case err == nil:
		h.log.Info("twilio sms command", "incident", id, "by", person, "done", done)
		h.reply(w, text(fmt.Sprintf("Incident %d %s.", id, done)))
	case errors.Is(err, engine.ErrNotFound):
		h.reply(w, text(fmt.Sprintf("Incident %d was not found.", id)))
	case errors.Is(err, engine.ErrConflict) && done == "resolved":
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
	if errors.Is(err, engine.ErrNotFound) || errors.Is(err, engine.ErrConflict) {
		level = slog.LevelInfo
	}
	h.log.Log(ctx, level, what+": not done", "incident", incident, "by", person, "err", err)
}

func (h *handler) reply(w http.ResponseWriter, doc twiml) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(marshalTwiML(doc))
}
