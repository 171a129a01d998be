// Package web is remediator's console: server-rendered pages (incidents,
// on-call, approvals, silences, audit) embedded in the binary, a login with
// an API token that makes a session cookie, and a small script that follows
// the in-app event stream and raises a pop-up for critical incidents.
//
// The console only reads: every change (ack, resolve, approve, silence…)
// goes from the page's script to the JSON API, which checks the role and
// the CSRF token of the session (Sessions implements api.SessionAuth).
// Nothing is inline: the pages load /static/app.js and /static/app.css
// only, and pass data in <meta> tags and data-* attributes, so the
// Content-Security-Policy allows no inline script or style.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/oncall"
)

//go:embed templates static
var assets embed.FS

// Data is what the console reads from the engine (and writes: audit
// entries of logins and logouts).
type Data interface {
	Incidents(f engine.IncidentFilter, p engine.Page) ([]engine.IncidentSummary, uint64)
	Incident(id uint64, alerts, timeline engine.Page) (engine.IncidentDetail, error)
	Actions(f engine.ActionFilter, p engine.Page) ([]engine.ActionRecord, uint64)
	Silences(f engine.SilenceFilter, p engine.Page) ([]engine.Silence, uint64)
	Notifications(f engine.NotificationFilter, p engine.Page) ([]engine.NotificationRecord, uint64)
	AuditLog(f engine.AuditFilter, p engine.Page) ([]engine.AuditEntry, uint64)
	Audit(ctx context.Context, a engine.AuditEntry) error
}

// OnCall says who is on call on each schedule.
type OnCall interface {
	Names() []string
	At(name string, t time.Time) (oncall.Shift, error)
}

// Token is one API token from the config: logging in with Value makes a
// session for Name with Role (viewer, responder or admin).
type Token struct {
	Name  string
	Role  string
	Value string
}

// Options wire a Console. Data and Tokens are required (a console without
// tokens has nobody who can log in).
type Options struct {
	Tokens []Token
	Data   Data
	// OnCall answers /oncall; nil: no schedules.
	OnCall OnCall
	// Clock tells the time of sessions and countdowns (nil: the wall
	// clock).
	Clock  engine.Clock
	Logger *slog.Logger
	// ExternalURL is how people reach remediator; an https URL makes the
	// session cookie Secure even behind a proxy that ends TLS, and its
	// origin is the console's own for forms.
	ExternalURL string
	// SessionTTL is how long a session lasts from login, active or not
	// (default 12h).
	SessionTTL time.Duration
}

// DefaultSessionTTL is the life of a session when Options set none.
const DefaultSessionTTL = 12 * time.Hour

// Limits of the console's own endpoints.
const (
	maxFormBytes = 4 << 10 // POST /login and /logout
	listLimit    = 50      // rows of a list page
	alertsLimit  = 100     // alerts on an incident's page
	eventsLimit  = 500     // timeline events on an incident's page
)

// securityHeaders are set on every console response. connect-src 'self'
// covers fetch() and EventSource; nothing is framed, nothing inline.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	"X-Frame-Options":        "DENY",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
}

// Console serves the console's pages. It is an http.Handler for /,
// /login, /logout, /incidents/{id}, /oncall, /approvals, /silences, /audit
// and /static/.
type Console struct {
	data     Data
	oncall   OnCall
	clock    engine.Clock
	log      *slog.Logger
	sessions *Sessions
	pages    map[string]*template.Template
	static   *staticFiles
	mux      *http.ServeMux
	// cop refuses login and logout forms from another origin: a browser
	// says where a form comes from with Sec-Fetch-Site (same-origin or
	// none pass), or else with Origin, which must name this host or the
	// external URL's origin (behind a proxy the Host differs).
	cop *http.CrossOriginProtection
}

// New builds a Console.
func New(o Options) (*Console, error) {
	if o.Data == nil {
		return nil, errors.New("web: data is required")
	}
	if o.Clock == nil {
		o.Clock = engine.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	sessions, err := newSessions(o.Tokens, o.Clock, o.SessionTTL, strings.HasPrefix(strings.ToLower(o.ExternalURL), "https://"))
	if err != nil {
		return nil, err
	}
	static, err := loadStatic(assets)
	if err != nil {
		return nil, err
	}
	c := &Console{data: o.Data, oncall: o.OnCall, clock: o.Clock, log: o.Logger, sessions: sessions, static: static, mux: http.NewServeMux(),
		cop: http.NewCrossOriginProtection()}
	if o.ExternalURL != "" {
		u, err := url.Parse(o.ExternalURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("web: external URL %q is not an absolute URL", o.ExternalURL)
		}
		if err := c.cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, fmt.Errorf("web: external URL: %w", err)
		}
	}
	if c.pages, err = parsePages(assets, c.funcs()); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// Sessions returns the console's sessions, for the API (api.Options.Sessions).
func (c *Console) Sessions() *Sessions { return c.sessions }

// Apply replaces the tokens (on a config reload). Sessions made with a
// token that is gone end; the others take its new name and role.
func (c *Console) Apply(tokens []Token) error { return c.sessions.apply(tokens) }

func (c *Console) routes() {
	c.mux.HandleFunc("GET /login", c.loginPage)
	c.mux.HandleFunc("POST /login", c.login)
	c.mux.HandleFunc("POST /logout", c.logout)
	c.mux.Handle("GET /static/", c.static)
	c.mux.HandleFunc("GET /{$}", c.needSession(c.incidentsPage))
	c.mux.HandleFunc("GET /incidents/{id}", c.needSession(c.incidentPage))
	c.mux.HandleFunc("GET /oncall", c.needSession(c.oncallPage))
	c.mux.HandleFunc("GET /approvals", c.needSession(c.approvalsPage))
	c.mux.HandleFunc("GET /silences", c.needSession(c.silencesPage))
	c.mux.HandleFunc("GET /audit", c.needSession(c.auditPage))
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, http.StatusNotFound, "No such page: "+r.URL.Path)
	})
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range securityHeaders {
		h.Set(k, v)
	}
	c.mux.ServeHTTP(w, r)
}

// parsePages parses each page template together with the layout.
func parsePages(fsys fs.FS, funcs template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(fsys, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", base, err)
		}
		pages[base] = t
	}
	return pages, nil
}
