// Package api is remediator's HTTP interface: the Alertmanager webhook,
// the incident and alert API, and the operational endpoints (/metrics,
// /-/healthy, /-/ready, /-/reload).
package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/remediator/remediator/engine"
)

// Engine is what the API needs of the engine.
type Engine interface {
	Ingest(ctx context.Context, w *engine.Webhook) (engine.IngestResult, error)
	Acknowledge(ctx context.Context, id uint64, t engine.Transition) (engine.Incident, error)
	Resolve(ctx context.Context, id uint64, t engine.Transition) (engine.Incident, error)
	Incidents(f engine.IncidentFilter, p engine.Page) ([]engine.IncidentSummary, uint64)
	Incident(id uint64, alerts, timeline engine.Page) (engine.IncidentDetail, error)
	Summary(inc engine.Incident) engine.IncidentSummary
	Alerts(f engine.AlertFilter, p engine.Page) ([]engine.Alert, uint64)
	Suppression(ls map[string]string) (engine.Suppression, bool)
	CreateSilence(ctx context.Context, n engine.NewSilence) (engine.Silence, error)
	ExpireSilence(ctx context.Context, id uint64, by string) (engine.Silence, error)
	Silences(f engine.SilenceFilter, p engine.Page) ([]engine.Silence, uint64)
	GetSilence(id uint64) (engine.Silence, error)
	Actions(f engine.ActionFilter, p engine.Page) ([]engine.ActionRecord, uint64)
	ApproveAction(ctx context.Context, id uint64, t engine.Transition) (engine.ActionRecord, error)
	RejectAction(ctx context.Context, id uint64, t engine.Transition) (engine.ActionRecord, error)
	Notifications(f engine.NotificationFilter, p engine.Page) ([]engine.NotificationRecord, uint64)
	SLAEntries(from, to time.Time) []engine.SLAEntry
}

// Settings are the parts of the config the API reads; Reload replaces them.
type Settings struct {
	Tokens       []Token
	WebhookToken string
	MaxBodyBytes int64
	// ExternalURL is server.external_url: its origin is this server's
	// too, and its host is one this server answers to.
	ExternalURL string
	// LoopbackOnly says the server listens on a loopback address only.
	// Then, as in open mode (no Tokens), it answers only to a loopback
	// Host (or ExternalURL's): a page in a local browser whose name was
	// made to resolve to 127.0.0.1 (DNS rebinding) must not reach an
	// endpoint that needs no credential (a webhook without a token,
	// /metrics, /-/ready).
	LoopbackOnly bool
	// Twilio serves Twilio's callbacks under /api/v1/twilio/ (it checks
	// their signatures itself); nil when Twilio is not configured.
	Twilio http.Handler
}

// Options wires a Server.
type Options struct {
	Engine   Engine
	Settings Settings
	// Ready reports whether the server can take traffic (store open,
	// config loaded).
	Ready func() error
	// Reload re-reads the config; an error leaves the running one.
	Reload     func(ctx context.Context) error
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Events is the in-app event stream (Server-Sent Events) served at
	// /api/v1/events to viewers; nil: 404.
	Events http.Handler
	// OnCall answers /api/v1/oncall and takes schedule overrides; nil:
	// 404.
	OnCall OnCall
	// Clock tells "now" for /api/v1/oncall (nil: the wall clock).
	Clock engine.Clock
	// Sessions finds the console's session of a request that has no
	// bearer token (nil: bearer tokens only).
	Sessions SessionAuth
	// Auditor records every state change and attempt at one, and serves
	// /api/v1/audit to admins (nil: nothing is audited; 404).
	Auditor Auditor
}

// Server serves the API. It is an http.Handler.
type Server struct {
	engine   Engine
	ready    func() error
	reload   func(ctx context.Context) error
	log      *slog.Logger
	settings atomic.Pointer[settings]
	mux      *http.ServeMux
	metrics  *metrics
	events   http.Handler
	oncall   OnCall
	clock    engine.Clock
	sessions SessionAuth
	auditor  Auditor
	streams  *streamSlots
}

type settings struct {
	auth    *authenticator
	origins *origins
	// loopbackOnly: answer only to loopback Hosts even with tokens.
	loopbackOnly bool
	maxBody      int64
	twilio       http.Handler
}

// admit is origins.admit in the current mode.
func (st *settings) admit(r *http.Request) *refusal {
	return st.origins.admit(r, st.auth.open() || st.loopbackOnly)
}

// Default and maximum page sizes of the list endpoints and of an
// incident's alerts.
const (
	defaultLimit       = 50
	defaultAlertsLimit = 100
	// defaultTimelineLimit is the timeline events an incident answers
	// with unless timeline_limit says otherwise.
	defaultTimelineLimit = 500
	maxLimit             = 500
	maxJSONBody          = 64 << 10 // ack/resolve bodies
)

// New builds a Server.
func New(o Options) (*Server, error) {
	if o.Engine == nil || o.Ready == nil || o.Reload == nil {
		return nil, errors.New("api: engine, ready and reload are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Gatherer == nil {
		o.Gatherer = prometheus.NewRegistry()
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{engine: o.Engine, ready: o.Ready, reload: o.Reload, log: o.Logger, metrics: m, mux: http.NewServeMux(), events: o.Events, oncall: o.OnCall, clock: o.Clock,
		sessions: o.Sessions, auditor: o.Auditor, streams: newStreamSlots()}
	if s.clock == nil {
		s.clock = engine.SystemClock{}
	}
	s.Apply(o.Settings)
	s.routes(o.Gatherer)
	return s, nil
}

// Apply replaces the settings (tokens, body limit) at once.
func (s *Server) Apply(st Settings) {
	if st.MaxBodyBytes <= 0 {
		st.MaxBodyBytes = 8 << 20
	}
	o, err := newOrigins(st.ExternalURL)
	if err != nil {
		// The config's validation makes this unreachable; the server
		// still checks origins, trusting only its own.
		s.log.Error("external URL not trusted as an origin", "err", err)
	}
	s.settings.Store(&settings{auth: newAuthenticator(st.Tokens, st.WebhookToken), origins: o, maxBody: st.MaxBodyBytes, twilio: st.Twilio,
		loopbackOnly: st.LoopbackOnly})
}

func (s *Server) routes(g prometheus.Gatherer) {
	incident, action, silence := pathTarget("incident", "id"), pathTarget("action", "id"), pathTarget("silence", "id")
	s.handle("/api/v1/webhook", http.MethodPost, s.webhook) // checks origins itself, to count its refusals
	s.handle("/api/v1/incidents", http.MethodGet, s.needs(RoleViewer, s.listIncidents))
	s.handle("/api/v1/incidents/{id}", http.MethodGet, s.needs(RoleViewer, s.getIncident))
	s.handle("/api/v1/incidents/{id}/ack", http.MethodPost, s.changes(RoleResponder, change{ActionIncidentAck, incident}, s.transition(engine.IncidentAcknowledged)))
	s.handle("/api/v1/incidents/{id}/resolve", http.MethodPost, s.changes(RoleResponder, change{ActionIncidentResolve, incident}, s.transition(engine.IncidentResolved)))
	s.handle("/api/v1/alerts", http.MethodGet, s.needs(RoleViewer, s.listAlerts))
	s.handle("/api/v1/actions", http.MethodGet, s.needs(RoleViewer, s.listActions))
	s.handle("/api/v1/actions/{id}/approve", http.MethodPost, s.changes(RoleResponder, change{ActionApprove, action}, s.decideAction(true)))
	s.handle("/api/v1/actions/{id}/reject", http.MethodPost, s.changes(RoleResponder, change{ActionReject, action}, s.decideAction(false)))
	s.handle("/api/v1/notifications", http.MethodGet, s.needs(RoleViewer, s.listNotifications))
	s.handle("/api/v1/reports/sla", http.MethodGet, s.needs(RoleViewer, s.slaReport))
	// Twilio authenticates with its request signature, not a token.
	for _, p := range []string{"/api/v1/twilio/voice", "/api/v1/twilio/status", "/api/v1/twilio/sms"} {
		s.handle(p, http.MethodPost, s.ownAuth(ActionCallback, s.twilio))
	}
	if s.events != nil {
		s.handle("/api/v1/events", http.MethodGet, s.needs(RoleViewer, s.stream))
	}
	if s.oncall != nil {
		s.handle("/api/v1/oncall", http.MethodGet, s.needs(RoleViewer, s.getOnCall))
		s.handle("/api/v1/schedules/{name}/overrides", http.MethodPost,
			s.changes(RoleResponder, change{ActionScheduleOverride, pathTarget("schedule", "name")}, s.addOverride))
	}
	if s.auditor != nil {
		s.handle("/api/v1/audit", http.MethodGet, s.needs(RoleAdmin, s.listAudit))
	}
	s.route("/api/v1/silences", map[string]http.HandlerFunc{
		http.MethodGet:  s.needs(RoleViewer, s.listSilences),
		http.MethodPost: s.changes(RoleResponder, change{action: ActionSilenceCreate}, s.createSilence),
	})
	s.route("/api/v1/silences/{id}", map[string]http.HandlerFunc{
		http.MethodGet:    s.needs(RoleViewer, s.getSilence),
		http.MethodDelete: s.changes(RoleResponder, change{ActionSilenceExpire, silence}, s.expireSilence),
	})
	s.handle("/-/healthy", http.MethodGet, s.ownAuth("", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "Healthy.\n")
	}))
	s.handle("/-/ready", http.MethodGet, s.ownAuth("", s.readyz))
	s.handle("/-/reload", http.MethodPost, s.changes(RoleAdmin, change{action: ActionConfigReload}, s.reloadz))
	s.handle("/metrics", http.MethodGet, s.ownAuth("", promhttp.HandlerFor(g, promhttp.HandlerOpts{}).ServeHTTP))
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
}

// handle registers path for one method.
func (s *Server) handle(path, method string, h http.HandlerFunc) {
	s.route(path, map[string]http.HandlerFunc{method: h})
}

// route registers path for the given methods; any other method gets a
// JSON 405 with an Allow header (HEAD is allowed where GET is).
func (s *Server) route(path string, byMethod map[string]http.HandlerFunc) {
	allowed := make([]string, 0, len(byMethod))
	for m := range byMethod {
		allowed = append(allowed, m)
	}
	sort.Strings(allowed)
	allow := strings.Join(allowed, ", ")
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		m := r.Method
		if m == http.MethodHead {
			m = http.MethodGet
		}
		h, ok := byMethod[m]
		if !ok {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s; use %s", r.Method, r.URL.Path, allow))
			return
		}
		h(w, r)
	})
}

// securityHeaders go on every answer. The API serves no HTML, but a
// browser that is tricked into rendering one of its answers runs nothing
// and frames nothing.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	"X-Frame-Options":        "DENY",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
}

// ServeHTTP implements http.Handler. Every request body is bounded by the
// body limit (server.max_body_bytes); the JSON endpoints bound theirs
// further.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range securityHeaders {
		h.Set(k, v)
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, s.settings.Load().maxBody)
	}
	s.mux.ServeHTTP(w, r)
}

type principalKey struct{}

// needs wraps h, an endpoint that only reads, so that only a principal
// of role min or higher reaches it (see authorize). Endpoints that
// change state use changes, which also audits them.
func (s *Server) needs(min Role, h http.HandlerFunc) http.HandlerFunc {
	return s.guard(min, nil, h)
}

// streamRecheck is how often an open event stream checks that its
// credentials still hold.
const streamRecheck = 5 * time.Second

// stream serves the event stream for as long as the request's
// credentials hold: a logout, an expired session or a token removed by a
// reload ends it within streamRecheck. A credential or an address past
// its bound of open streams gets 429.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if err := params(r, "kinds", "last_event_id"); err != nil {
		s.fail(w, r, err)
		return
	}
	cred, addr := principalOf(r).credential, clientAddr(r)
	if err := s.streams.take(cred, addr); err != nil {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusTooManyRequests, err.Error())
		return
	}
	defer s.streams.release(cred, addr)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		t := time.NewTicker(streamRecheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := authorize(s.settings.Load().auth, s.sessions, r, RoleViewer); err != nil {
					cancel()
					return
				}
			}
		}
	}()
	s.events.ServeHTTP(w, r.WithContext(ctx))
}

func principalOf(r *http.Request) Principal {
	p, _ := r.Context().Value(principalKey{}).(Principal)
	return p
}

// webhook ingests one Alertmanager notification. 200 means the alerts are
// on disk; 503 asks Alertmanager to retry.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := s.doWebhook(w, r)
	s.metrics.webhookRequests.WithLabelValues(strconv.Itoa(code)).Inc()
	s.metrics.ingestDuration.Observe(time.Since(start).Seconds())
}

func (s *Server) doWebhook(w http.ResponseWriter, r *http.Request) int {
	st := s.settings.Load()
	if status := s.refused(w, r, st, &change{action: ActionWebhook}); status != 0 {
		return status
	}
	if !st.auth.webhookOK(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="remediator"`)
		writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
		return http.StatusUnauthorized
	}
	if err := jsonBody(r); err != nil {
		s.fail(w, r, err)
		return http.StatusUnsupportedMediaType
	}
	body := http.MaxBytesReader(w, r.Body, st.maxBody)
	msg, err := DecodeWebhook(body)
	if err != nil {
		status := errorStatus(err)
		if status == http.StatusInternalServerError {
			// A read error that is not the size limit: the client went away
			// or sent a broken body.
			status = http.StatusBadRequest
			err = fmt.Errorf("reading body: %w", err)
		}
		if status == http.StatusRequestEntityTooLarge {
			s.fail(w, r, err)
		} else {
			writeError(w, status, "invalid webhook payload: "+err.Error())
		}
		return status
	}
	res, err := s.engine.Ingest(r.Context(), msg)
	if err != nil {
		s.log.Error("webhook not stored; Alertmanager will retry", "receiver", msg.Receiver, "alerts", len(msg.Alerts), "err", err)
		writeError(w, http.StatusServiceUnavailable, "alerts not stored, retry later: "+err.Error())
		return http.StatusServiceUnavailable
	}
	firing := 0
	for i := range msg.Alerts {
		if msg.Alerts[i].Status == engine.StatusFiring {
			firing++
		}
	}
	s.metrics.alertsReceived.WithLabelValues(engine.StatusFiring).Add(float64(firing))
	s.metrics.alertsReceived.WithLabelValues(engine.StatusResolved).Add(float64(len(msg.Alerts) - firing))
	s.reply(w, r, http.StatusOK, webhookResponse{
		Status: "stored", Incident: res.Incident, NewAlerts: res.NewAlerts,
		Resolved: res.Resolved, Redelivered: res.Redelivered,
	})
	return http.StatusOK
}

type webhookResponse struct {
	Status      string `json:"status"`
	Incident    uint64 `json:"incident,omitempty"`
	NewAlerts   int    `json:"new_alerts"`
	Resolved    int    `json:"resolved"`
	Redelivered int    `json:"redelivered"`
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := s.ready(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "Not ready: "+err.Error()+"\n")
		return
	}
	_, _ = io.WriteString(w, "Ready.\n")
}

func (s *Server) reloadz(w http.ResponseWriter, r *http.Request) {
	if err := s.reload(r.Context()); err != nil {
		writeError(w, http.StatusInternalServerError, "reload failed, the running config stays: "+err.Error())
		return
	}
	s.reply(w, r, http.StatusOK, map[string]string{"status": "reloaded"})
}

// page parses limit and cursor.
func page(r *http.Request) (engine.Page, error) {
	return pageOf(r.URL.Query(), "limit", "cursor", defaultLimit)
}

// pageOf parses the page size of parameter limitKey (default def) and the
// cursor of cursorKey.
func pageOf(q url.Values, limitKey, cursorKey string, def int) (engine.Page, error) {
	p := engine.Page{Limit: def}
	if v := q.Get(limitKey); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, fmt.Errorf("%s: must be an integer from 1 to %d, got %q: %w", limitKey, maxLimit, truncate(v, 20), engine.ErrInvalid)
		}
		p.Limit = n
	}
	if v := q.Get(cursorKey); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return p, fmt.Errorf("%s: %q is not a cursor this API returned: %w", cursorKey, truncate(v, 20), engine.ErrInvalid)
		}
		p.Cursor = n
	}
	return p, nil
}

// listParams are the paging parameters of every list.
var listParams = []string{"limit", "cursor"}

// params refuses a query parameter that the endpoint does not take (a
// misspelt filter must not read as no filter) and one given twice.
func params(r *http.Request, takes ...string) error {
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(takes, k) {
			list := "no parameters"
			if len(takes) > 0 {
				list = strings.Join(takes, ", ")
			}
			return fmt.Errorf("unknown parameter %q: %s takes %s: %w", truncate(k, 40), r.URL.Path, list, engine.ErrInvalid)
		}
		if n := len(q[k]); n > 1 {
			return fmt.Errorf("parameter %q is given %d times; give it once: %w", k, n, engine.ErrInvalid)
		}
	}
	return nil
}

func cursor(next uint64) string {
	if next == 0 {
		return ""
	}
	return strconv.FormatUint(next, 10)
}

// listIncidents: GET /api/v1/incidents?status=&level=&priority= lists
// incidents newest first; level and priority match in any case.
func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	if err := params(r, append([]string{"status", "level", "priority"}, listParams...)...); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := page(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := engine.IncidentFilter{Status: engine.IncidentStatus(q.Get("status")), Level: engine.Level(q.Get("level")), Priority: q.Get("priority")}
	switch {
	case f.Status != "" && !f.Status.Valid():
		s.fail(w, r, fmt.Errorf("status: must be open, acknowledged or resolved, got %q: %w", truncate(string(f.Status), 20), engine.ErrInvalid))
		return
	case len(f.Level) > 100 || len(f.Priority) > 100:
		s.fail(w, r, fmt.Errorf("level and priority: at most 100 bytes: %w", engine.ErrInvalid))
		return
	}
	list, next := s.engine.Incidents(f, p)
	out := incidentList{Incidents: make([]incidentJSON, len(list)), NextCursor: cursor(next)}
	for i := range list {
		out.Incidents[i] = toIncidentJSON(&list[i])
	}
	s.reply(w, r, http.StatusOK, out)
}

// getIncident: GET /api/v1/incidents/{id}?alerts_limit=&alerts_cursor=&timeline_limit=&timeline_cursor=
// answers the incident with a page of its alerts and one of its timeline
// (each oldest first), and its escalation.
func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("incident %q not found", truncate(r.PathValue("id"), 20)))
		return
	}
	if err := params(r, "alerts_limit", "alerts_cursor", "timeline_limit", "timeline_cursor"); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := pageOf(r.URL.Query(), "alerts_limit", "alerts_cursor", defaultAlertsLimit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tp, err := pageOf(r.URL.Query(), "timeline_limit", "timeline_cursor", defaultTimelineLimit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.engine.Incident(id, p, tp)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := incidentDetailJSON{Incident: toIncidentJSON(&d.IncidentSummary), Alerts: make([]alertJSON, len(d.Alerts)),
		AlertsNextCursor: cursor(d.AlertsNext), Timeline: make([]eventJSON, len(d.Timeline)), TimelineNextCursor: cursor(d.TimelineNext),
		TimelineTotal: d.TimelineTotal, Escalation: toEscalationJSON(d.Escalation)}
	for i := range d.Alerts {
		out.Alerts[i] = toAlertJSON(&d.Alerts[i])
	}
	for i, ev := range d.Timeline {
		out.Timeline[i] = eventJSON{At: ev.At, Type: ev.Type, Detail: ev.Detail, By: ev.By}
	}
	s.reply(w, r, http.StatusOK, out)
}

func pathID(r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

type transitionRequest struct {
	By   string `json:"by"`
	Note string `json:"note"`
}

func (s *Server) transition(to engine.IncidentStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(r)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("incident %q not found", truncate(r.PathValue("id"), 20)))
			return
		}
		var req transitionRequest
		if err := decodeOptionalJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		t := engine.Transition{By: principalOf(r).Name, Note: req.Note}
		if req.By != "" && req.By != t.By {
			t.By = req.By + " (token " + t.By + ")"
		}
		detail := transitionDetail(req)
		var (
			inc engine.Incident
			err error
		)
		if to == engine.IncidentAcknowledged {
			inc, err = s.engine.Acknowledge(r.Context(), id, t)
		} else {
			inc, err = s.engine.Resolve(r.Context(), id, t)
		}
		if err != nil {
			if errorStatus(err) == http.StatusInternalServerError {
				// The change is made in memory and is written with the next
				// successful write; a retry would answer 409.
				s.log.Error("incident change not yet stored", "incident", id, "err", err)
				auditAs(r, engine.AuditOK, joinDetail(detail, "made, not yet on disk: "+err.Error()))
				writeError(w, http.StatusServiceUnavailable, "the change is made but not yet on disk (it is written with the next successful write): "+err.Error())
				return
			}
			s.fail(w, r, err)
			return
		}
		noteAudit(r, "", detail)
		sum := s.engine.Summary(inc)
		s.reply(w, r, http.StatusOK, toIncidentJSON(&sum))
	}
}

// transitionDetail is the audit detail of an ack, resolve, approval or
// rejection: on whose behalf ("by") and the note.
func transitionDetail(req transitionRequest) string {
	var d string
	if req.By != "" {
		d = "by " + truncate(req.By, 80)
	}
	if req.Note != "" {
		d = joinDetail(d, "note: "+req.Note)
	}
	return d
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// decodeOptionalJSON reads a small JSON object body, which must say it is
// JSON; an empty body is fine. Unknown fields are errors: this is our own
// API.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := bufio.NewReader(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if _, err := body.Peek(1); errors.Is(err, io.EOF) {
		return nil
	}
	if err := jsonBody(r); err != nil {
		return err
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return fmt.Errorf("invalid JSON body: %v: %w", err, engine.ErrInvalid)
	}
	if dec.More() {
		return fmt.Errorf("invalid JSON body: more than one JSON value: %w", engine.ErrInvalid)
	}
	return nil
}

// listAlerts: GET /api/v1/alerts?status= lists alert episodes newest
// first.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	if err := params(r, append([]string{"status"}, listParams...)...); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := page(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := engine.AlertFilter{Status: r.URL.Query().Get("status")}
	if f.Status != "" && f.Status != engine.StatusFiring && f.Status != engine.StatusResolved {
		s.fail(w, r, fmt.Errorf("status: must be firing or resolved, got %q: %w", truncate(f.Status, 20), engine.ErrInvalid))
		return
	}
	list, next := s.engine.Alerts(f, p)
	out := alertList{Alerts: make([]alertJSON, len(list)), NextCursor: cursor(next)}
	for i := range list {
		out.Alerts[i] = toAlertJSON(&list[i])
		if list[i].Status == engine.StatusFiring {
			if sup, ok := s.engine.Suppression(list[i].Labels); ok {
				out.Alerts[i].Suppressed = &sup
			}
		}
	}
	s.reply(w, r, http.StatusOK, out)
}
