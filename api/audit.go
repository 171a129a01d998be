package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/remediator/remediator/engine"
)

// Auditor records and lists the audit log; *engine.Engine satisfies it.
type Auditor interface {
	// Audit records an entry durably.
	Audit(ctx context.Context, a engine.AuditEntry) error
	// AuditLog lists entries newest first.
	AuditLog(f engine.AuditFilter, p engine.Page) ([]engine.AuditEntry, uint64)
}

// The audit log's action names. The console writes login and logout; the
// API the others; the engine (a call's keypress) and the Twilio callbacks
// those it names, and callback.
const (
	ActionLogin            = "login"
	ActionLogout           = "logout"
	ActionIncidentAck      = engine.AuditIncidentAck
	ActionIncidentResolve  = engine.AuditIncidentResolve
	ActionSilenceCreate    = engine.AuditSilenceCreate
	ActionSilenceExpire    = "silence.expire"
	ActionApprove          = "action.approve"
	ActionReject           = "action.reject"
	ActionScheduleOverride = "schedule.override"
	ActionConfigReload     = "config.reload"
	// ActionCallback is a provider's callback (Twilio's) refused: a wrong
	// signature, an unknown number, another origin or a wrong host.
	ActionCallback = engine.AuditCallback
	// ActionWebhook is audited only when refused before the endpoint
	// runs (from another origin, or to a wrong host).
	ActionWebhook = "webhook"
)

var auditActions = []string{ActionLogin, ActionLogout, ActionIncidentAck, ActionIncidentResolve, ActionSilenceCreate,
	ActionSilenceExpire, ActionApprove, ActionReject, ActionScheduleOverride, ActionConfigReload, ActionCallback, ActionWebhook}

// maxAuditDetail bounds an entry's detail (an error text, a note).
const maxAuditDetail = 300

// change is an endpoint that changes state: its audit action and the
// target a request names ("incident 12"), known before the handler runs
// (nil: the handler names it, or there is none).
type change struct {
	action string
	target func(r *http.Request) string
}

// pathTarget names the target "KIND {key}" from a path value.
func pathTarget(kind, key string) func(r *http.Request) string {
	return func(r *http.Request) string { return kind + " " + truncate(r.PathValue(key), 40) }
}

// auditNote is what a handler adds to its request's audit entry.
type auditNote struct {
	target  string
	detail  string
	outcome string // "": from the status (below 400 ok, else failed)
}

type auditNoteKey struct{}

// noteAudit sets the target (when not "") and the detail of the audit
// entry of r, a request to a change endpoint.
func noteAudit(r *http.Request, target, detail string) {
	if n, ok := r.Context().Value(auditNoteKey{}).(*auditNote); ok {
		if target != "" {
			n.target = target
		}
		n.detail = detail
	}
}

// auditAs overrides the outcome the status would give, with its detail.
func auditAs(r *http.Request, outcome, detail string) {
	if n, ok := r.Context().Value(auditNoteKey{}).(*auditNote); ok {
		n.outcome, n.detail = outcome, detail
	}
}

// changes wraps h, an endpoint that changes state, like needs, and
// records every attempt in the audit log: denied when needs refuses it,
// ok or failed from the handler's answer. The answer is held back until
// the entry is on disk, so a client that saw it can find the entry.
func (s *Server) changes(min Role, c change, h http.HandlerFunc) http.HandlerFunc {
	return s.guard(min, &c, h)
}

// guard is needs and changes: c is nil for a read.
func (s *Server) guard(min Role, c *change, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st := s.settings.Load()
		if !s.admitted(w, r, st, c) {
			return
		}
		p, aerr := authorize(st.auth, s.sessions, r, min)
		if aerr != nil {
			if c != nil {
				s.audit(r, engine.AuditEntry{Actor: aerr.Who.Name, Role: roleName(aerr.Who.Role), Action: c.action,
					Target: c.targetOf(r), Outcome: engine.AuditDenied, Detail: aerr.Msg})
			}
			if aerr.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="remediator"`)
			}
			writeError(w, aerr.Status, aerr.Msg)
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		if c == nil {
			h(w, r.WithContext(ctx))
			return
		}
		note := &auditNote{target: c.targetOf(r)}
		held := &heldResponse{w: w}
		h(held, r.WithContext(context.WithValue(ctx, auditNoteKey{}, note)))
		e := engine.AuditEntry{Actor: p.Name, Role: roleName(p.Role), Action: c.action, Target: note.target,
			Outcome: note.outcome, Detail: note.detail}
		if e.Outcome == "" {
			e.Outcome = engine.AuditOK
			if held.status() >= 400 {
				e.Outcome, e.Detail = engine.AuditFailed, held.errorText()
			}
		}
		s.audit(r, e)
		held.release()
	}
}

// ownAuth wraps h, an endpoint that checks its own credentials (the
// webhook's token, Twilio's signature) or needs none (/-/healthy,
// /-/ready, /metrics), with the origin and Host checks. action names
// the audit entry of a refused change ("" for a read).
func (s *Server) ownAuth(action string, h http.HandlerFunc) http.HandlerFunc {
	var c *change
	if action != "" {
		c = &change{action: action}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if s.admitted(w, r, s.settings.Load(), c) {
			h(w, r)
		}
	}
}

// admitted answers and audits a request refused by st.admit (see
// origin.go) and reports whether it may go on. The refused are audited
// without an actor (they come before any credential), so they are
// rate-limited per address like other anonymous denials.
func (s *Server) admitted(w http.ResponseWriter, r *http.Request, st *settings, c *change) bool {
	return s.refused(w, r, st, c) == 0
}

// refused is admitted that tells the status of the refusal (0: none).
func (s *Server) refused(w http.ResponseWriter, r *http.Request, st *settings, c *change) int {
	ref := st.admit(r)
	if ref == nil {
		return 0
	}
	if c != nil {
		s.audit(r, engine.AuditEntry{Action: c.action, Target: c.targetOf(r), Outcome: engine.AuditDenied, Detail: ref.msg})
	}
	writeError(w, ref.status, ref.msg)
	return ref.status
}

func (c *change) targetOf(r *http.Request) string {
	if c.target == nil {
		return ""
	}
	return c.target(r)
}

func roleName(r Role) string {
	if r == RoleNone {
		return ""
	}
	return r.String()
}

// audit records e with the client's address. A failure is logged; the
// request's answer does not change.
func (s *Server) audit(r *http.Request, e engine.AuditEntry) {
	if s.auditor == nil {
		return
	}
	e.Addr = clientAddr(r)
	e.Detail = truncate(e.Detail, maxAuditDetail)
	if err := s.auditor.Audit(context.WithoutCancel(r.Context()), e); err != nil {
		s.log.Error("audit entry not stored", "action", e.Action, "target", e.Target, "actor", e.Actor, "outcome", e.Outcome, "err", err)
	}
}

// clientAddr is the host of the connection's remote address. Forwarding
// headers are not trusted.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// heldResponse keeps a change endpoint's status and body until its
// audit entry is written. Headers go to the real writer's map directly
// (they are sent only on release).
type heldResponse struct {
	w    http.ResponseWriter
	code int
	body bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.w.Header() }

func (h *heldResponse) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	if h.code == 0 {
		h.code = http.StatusOK
	}
	return h.body.Write(b)
}

func (h *heldResponse) status() int {
	if h.code == 0 {
		return http.StatusOK
	}
	return h.code
}

// errorText is the message of a JSON error answer ("" for a success).
func (h *heldResponse) errorText() string {
	if h.status() < 400 {
		return ""
	}
	var e errorBody
	if json.Unmarshal(h.body.Bytes(), &e) != nil {
		return http.StatusText(h.status())
	}
	return e.Error
}

func (h *heldResponse) release() {
	h.w.WriteHeader(h.status())
	_, _ = h.w.Write(h.body.Bytes())
}

// listAudit: GET /api/v1/audit?actor=&action=&outcome= lists the audit
// log, newest first (admins only).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	if err := params(r, append([]string{"actor", "action", "outcome"}, listParams...)...); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := page(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := engine.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Outcome: q.Get("outcome")}
	if len(f.Actor) > 200 {
		s.fail(w, r, fmt.Errorf("actor: longer than 200 bytes: %w", engine.ErrInvalid))
		return
	}
	if f.Action != "" && !slices.Contains(auditActions, f.Action) {
		s.fail(w, r, fmt.Errorf("action: %q is not an audit action (one of %s): %w", truncate(f.Action, 30), strings.Join(auditActions, ", "), engine.ErrInvalid))
		return
	}
	switch f.Outcome {
	case "", engine.AuditOK, engine.AuditDenied, engine.AuditFailed:
	default:
		s.fail(w, r, fmt.Errorf("outcome: must be ok, denied or failed, got %q: %w", truncate(f.Outcome, 20), engine.ErrInvalid))
		return
	}
	list, next := s.auditor.AuditLog(f, p)
	out := struct {
		Entries    []engine.AuditEntry `json:"entries"`
		NextCursor string              `json:"next_cursor,omitempty"`
	}{Entries: list, NextCursor: cursor(next)}
	if out.Entries == nil {
		out.Entries = []engine.AuditEntry{}
	}
	s.reply(w, r, http.StatusOK, out)
}
