package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/engine"
)

// page is what every template gets: the layout reads the principal, the
// role's permissions and the server's time; Body is the page's own data.
type page struct {
	Title   string
	Nav     string // the active navigation entry
	User    principal
	Respond bool // the role can ack, resolve, silence, approve
	Admin   bool // the role can read the audit log
	Now     time.Time
	Body    any
}

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) (string, error) { return c.static.url(name) },
		// rfc3339 is a machine-readable time for <time datetime>.
		"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		// when is a time people read.
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		// due is a deadline relative to now: "in 12m", "overdue 3m".
		"due": func(t time.Time) string { return dueText(t, c.clock.Now()) },
		"overdue": func(t time.Time) bool {
			return !t.IsZero() && !c.clock.Now().Before(t)
		},
		// ago is a past time relative to now: "3m ago".
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return shortDuration(c.clock.Now().Sub(t)) + " ago"
		},
	}
}

// dueText says how far a deadline is from now.
func dueText(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	if d := t.Sub(now); d > 0 {
		return "in " + shortDuration(d)
	}
	return "overdue " + shortDuration(now.Sub(t))
}

// shortDuration writes d the way the page's script does: 45s, 12m, 2h5m,
// 3d4h.
func shortDuration(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 0 {
		s = -s
	}
	switch {
	case s < 60:
		return strconv.FormatInt(s, 10) + "s"
	case s < 3600:
		return strconv.FormatInt(s/60, 10) + "m"
	case s < 86400:
		h, m := s/3600, s%3600/60
		if m == 0 {
			return strconv.FormatInt(h, 10) + "h"
		}
		return strconv.FormatInt(h, 10) + "h" + strconv.FormatInt(m, 10) + "m"
	}
	dd, h := s/86400, s%86400/3600
	if h == 0 {
		return strconv.FormatInt(dd, 10) + "d"
	}
	return strconv.FormatInt(dd, 10) + "d" + strconv.FormatInt(h, 10) + "h"
}

func (c *Console) newPage(p principal, title, nav string, body any) *page {
	return &page{Title: title, Nav: nav, User: p, Respond: p.Role >= api.RoleResponder, Admin: p.Role >= api.RoleAdmin,
		Now: c.clock.Now(), Body: body}
}

// render executes a page into a buffer first, so that a template error
// is a clean 500 and not half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, ok := c.pages[name]
	if !ok {
		c.log.Error("web: no such template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		c.log.Error("web: rendering a page", "template", name, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages carry the session's CSRF token: no cache keeps them.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage answers with an HTML page saying msg.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p, _, _ := c.sessions.lookup(r)
	c.render(w, r, status, "error", c.newPage(p, http.StatusText(status), "", struct {
		Status int
		Msg    string
	}{status, msg}))
}

// needSession wraps h so that only a request with a session reaches it;
// any other goes to the login page, which comes back after the login.
func (c *Console) needSession(h func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _, ok := c.sessions.lookup(r)
		if !ok {
			http.Redirect(w, r, "/login?"+url.Values{"next": {r.URL.RequestURI()}}.Encode(), http.StatusSeeOther)
			return
		}
		h(w, r, p)
	}
}

// incidentRow is one row of the incident list.
type incidentRow struct {
	engine.IncidentSummary
	// ShowRespond and ShowResolve: the SLA countdowns that still matter.
	ShowRespond, ShowResolve bool
}

type incidentsBody struct {
	Status, Level, Priority string
	Statuses                []engine.IncidentStatus
	Rows                    []incidentRow
	Next                    string // the next page's URL; "" on the last
}

// incidentsPage: GET /?status=&level=&priority=&cursor= lists incidents
// newest first.
func (c *Console) incidentsPage(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	b := incidentsBody{Status: q.Get("status"), Level: q.Get("level"), Priority: q.Get("priority"),
		Statuses: []engine.IncidentStatus{engine.IncidentOpen, engine.IncidentAcknowledged, engine.IncidentResolved}}
	f := engine.IncidentFilter{Status: engine.IncidentStatus(b.Status), Level: engine.Level(b.Level), Priority: b.Priority}
	if f.Status != "" && !f.Status.Valid() {
		c.errorPage(w, r, http.StatusBadRequest, "status must be open, acknowledged or resolved")
		return
	}
	cur, err := cursorOf(q)
	if err != nil {
		c.errorPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	// The engine filters, level and priority in any case.
	list, next := c.data.Incidents(f, engine.Page{Limit: listLimit, Cursor: cur})
	rows := make([]incidentRow, len(list))
	for i, inc := range list {
		rows[i] = incidentRow{IncidentSummary: inc,
			ShowRespond: inc.Status == engine.IncidentOpen && !inc.RespondBy.IsZero(),
			ShowResolve: inc.Status != engine.IncidentResolved && !inc.ResolveBy.IsZero()}
	}
	if next != 0 {
		b.Next = pageURL("/", q, next)
	}
	b.Rows = rows
	c.render(w, r, http.StatusOK, "incidents", c.newPage(p, "Incidents", "incidents", b))
}

type incidentBody struct {
	engine.IncidentDetail
	// MoreAlerts is the URL of the page with the next alerts ("": none);
	// Later says that this page does not start at the first.
	MoreAlerts    string
	MoreEvents    string // the next page of the timeline, when there is one
	Later         bool
	Actions       []engine.ActionRecord       // oldest first
	Notifications []engine.NotificationRecord // oldest first
	Notes         []engine.TimelineEvent
	CanAck        bool
	CanResolve    bool
}

// incidentPage: GET /incidents/{id}?alerts_cursor= shows the incident
// with 100 of its alerts, oldest first, from the alert after the cursor.
func (c *Console) incidentPage(w http.ResponseWriter, r *http.Request, p principal) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		c.errorPage(w, r, http.StatusNotFound, "No such incident.")
		return
	}
	q := r.URL.Query()
	after, err := strconv.ParseUint(q.Get("alerts_cursor"), 10, 64)
	if err != nil && q.Get("alerts_cursor") != "" {
		c.errorPage(w, r, http.StatusBadRequest, "alerts_cursor must be a number")
		return
	}
	from, err := strconv.ParseUint(q.Get("timeline_cursor"), 10, 64)
	if err != nil && q.Get("timeline_cursor") != "" {
		c.errorPage(w, r, http.StatusBadRequest, "timeline_cursor must be a number")
		return
	}
	d, err := c.data.Incident(id, engine.Page{Limit: alertsLimit, Cursor: after}, engine.Page{Limit: eventsLimit, Cursor: from})
	if errors.Is(err, engine.ErrNotFound) {
		c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("Incident %d not found.", id))
		return
	}
	if errors.Is(err, engine.ErrInvalid) {
		c.errorPage(w, r, http.StatusBadRequest, "That is not a page of this incident's alerts.")
		return
	}
	if err != nil {
		c.log.Error("web: reading an incident", "incident", id, "err", err)
		c.errorPage(w, r, http.StatusInternalServerError, "The incident could not be read.")
		return
	}
	b := incidentBody{IncidentDetail: d, Later: after != 0,
		CanAck:     p.Role >= api.RoleResponder && d.Status == engine.IncidentOpen,
		CanResolve: p.Role >= api.RoleResponder && d.Status != engine.IncidentResolved}
	b.Actions, _ = c.data.Actions(engine.ActionFilter{Incident: id}, engine.Page{Limit: 500})
	slices.Reverse(b.Actions)
	if d.AlertsNext != 0 {
		b.MoreAlerts = fmt.Sprintf("/incidents/%d?alerts_cursor=%d#alerts", id, d.AlertsNext)
	}
	if d.TimelineNext != 0 {
		b.MoreEvents = fmt.Sprintf("/incidents/%d?timeline_cursor=%d#timeline", id, d.TimelineNext)
	}
	b.Notifications, _ = c.data.Notifications(engine.NotificationFilter{Incident: id}, engine.Page{Limit: 500})
	slices.Reverse(b.Notifications)
	for _, ev := range d.Timeline {
		if ev.Type == engine.EventNote {
			b.Notes = append(b.Notes, ev)
		}
	}
	c.render(w, r, http.StatusOK, "incident", c.newPage(p, fmt.Sprintf("Incident %d", id), "incidents", b))
}

type shiftRow struct {
	Schedule string
	People   []string
	Until    time.Time
	Layer    string
	Override bool
	Err      string
}

// oncallPage: GET /oncall says who is on call now on each schedule.
func (c *Console) oncallPage(w http.ResponseWriter, r *http.Request, p principal) {
	var rows []shiftRow
	if c.oncall != nil {
		now := c.clock.Now()
		for _, name := range c.oncall.Names() {
			sh, err := c.oncall.At(name, now)
			row := shiftRow{Schedule: name, People: sh.People, Until: sh.To, Layer: sh.Layer, Override: sh.Override}
			if err != nil {
				row.Err = err.Error()
			}
			rows = append(rows, row)
		}
	}
	c.render(w, r, http.StatusOK, "oncall", c.newPage(p, "On call", "oncall", rows))
}

// approvalsPage: GET /approvals lists the runs awaiting approval.
func (c *Console) approvalsPage(w http.ResponseWriter, r *http.Request, p principal) {
	list, _ := c.data.Actions(engine.ActionFilter{Status: engine.ActionAwaiting}, engine.Page{Limit: 500})
	c.render(w, r, http.StatusOK, "approvals", c.newPage(p, "Approvals", "approvals", list))
}

type silencesBody struct {
	State    string
	States   []string
	Silences []engine.Silence
	Next     string
}

// silencesPage: GET /silences?state=&cursor=.
func (c *Console) silencesPage(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	b := silencesBody{State: q.Get("state"), States: []string{engine.SilenceActive, engine.SilencePending, engine.SilenceExpired}}
	if b.State != "" && !slices.Contains(b.States, b.State) {
		c.errorPage(w, r, http.StatusBadRequest, "state must be active, pending or expired")
		return
	}
	cur, err := cursorOf(q)
	if err != nil {
		c.errorPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	list, next := c.data.Silences(engine.SilenceFilter{State: b.State}, engine.Page{Limit: listLimit, Cursor: cur})
	b.Silences = list
	if next != 0 {
		b.Next = pageURL("/silences", q, next)
	}
	c.render(w, r, http.StatusOK, "silences", c.newPage(p, "Silences", "silences", b))
}

type auditBody struct {
	Actor, Action, Outcome string
	Entries                []engine.AuditEntry
	Next                   string
}

// auditPage: GET /audit?actor=&action=&outcome=&cursor=, for admins.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, p principal) {
	if p.Role < api.RoleAdmin {
		c.errorPage(w, r, http.StatusForbidden, "The audit log is for admins; you are "+p.Role.String()+".")
		return
	}
	q := r.URL.Query()
	b := auditBody{Actor: q.Get("actor"), Action: q.Get("action"), Outcome: q.Get("outcome")}
	cur, err := cursorOf(q)
	if err != nil {
		c.errorPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	list, next := c.data.AuditLog(engine.AuditFilter{Actor: b.Actor, Action: b.Action, Outcome: b.Outcome},
		engine.Page{Limit: 100, Cursor: cur})
	b.Entries = list
	if next != 0 {
		b.Next = pageURL("/audit", q, next)
	}
	c.render(w, r, http.StatusOK, "audit", c.newPage(p, "Audit log", "audit", b))
}

// cursorOf reads ?cursor=, the ID of the previous page's last row.
func cursorOf(q url.Values) (uint64, error) {
	v := q.Get("cursor")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, errors.New("cursor must be a number")
	}
	return n, nil
}

// pageURL is path with the query q and the cursor of the next page.
func pageURL(path string, q url.Values, cursor uint64) string {
	next := url.Values{}
	for k, vs := range q {
		if k != "cursor" && len(vs) > 0 && strings.TrimSpace(vs[0]) != "" {
			next.Set(k, vs[0])
		}
	}
	next.Set("cursor", strconv.FormatUint(cursor, 10))
	return path + "?" + next.Encode()
}
