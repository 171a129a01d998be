package web

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/remediator/remediator/engine"
)

// Audit actions of the console.
const (
	actionLogin  = "login"
	actionLogout = "logout"
)

type loginBody struct {
	Next      string // where to go after the login
	Msg       string
	NoTokens  bool // nobody can log in: the config has no auth.tokens
	LoggedOut bool
}

// loginPage: GET /login shows the token form (or goes home with a
// session).
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, _, ok := c.sessions.lookup(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, loginBody{Next: next, LoggedOut: r.URL.Query().Has("logged_out")})
}

// safeNext is next when it is a path of this console, else "/": the
// login never sends anyone to another site.
func safeNext(next string) string {
	if len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\x00\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Path == "/login" || u.Path == "/logout" || strings.HasPrefix(u.Path, "/static/") {
		return "/"
	}
	return next
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, b loginBody) {
	b.NoTokens = !c.sessions.hasTokens()
	c.render(w, r, status, "login", c.newPage(principal{}, "Log in", "", b))
}

// readForm parses a small urlencoded POST body.
func (c *Console) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			c.errorPage(w, r, http.StatusRequestEntityTooLarge, "The form is larger than 4 KiB.")
		} else {
			c.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		}
		return false
	}
	// A login or logout form comes from this origin (see Console.cop):
	// this refuses forms posted from another site and from a sibling host
	// or port (a login CSRF would log the victim in as the attacker).
	// The attempt is audited without an actor, so rate-limited per address
	// like other anonymous denials.
	if err := c.cop.Check(r); err != nil {
		action := actionLogin
		if r.URL.Path == "/logout" {
			action = actionLogout
		}
		addr := clientAddr(r)
		if err := c.data.Audit(r.Context(), engine.AuditEntry{Action: action, Addr: addr, Outcome: engine.AuditDenied,
			Detail: "form posted from another origin (Origin " + strconv.Quote(truncate(r.Header.Get("Origin"), 100)) + ")"}); err != nil {
			c.log.Error("web: audit of a cross-origin form not stored", "addr", addr, "err", err)
		}
		c.errorPage(w, r, http.StatusForbidden, "Form posts from another origin are refused.")
		return false
	}
	return true
}

// login: POST /login with the form fields token and next. A good token
// starts a session (audited ok) and goes to next (default /); a bad one
// is audited denied and answered 401.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !c.readForm(w, r) {
		return
	}
	value, p, ok, err := c.sessions.login(strings.TrimSpace(r.PostForm.Get("token")))
	if err != nil {
		c.log.Error("web: starting a session", "err", err)
		c.errorPage(w, r, http.StatusInternalServerError, "The session could not be started.")
		return
	}
	addr := clientAddr(r)
	next := safeNext(r.PostForm.Get("next"))
	if !ok {
		// The token is neither logged nor audited: it may be a real one
		// with a typo.
		if err := c.data.Audit(r.Context(), engine.AuditEntry{Action: actionLogin, Addr: addr, Outcome: engine.AuditDenied,
			Detail: "invalid token"}); err != nil {
			c.log.Error("web: audit of a failed login not stored", "addr", addr, "err", err)
		}
		c.log.Info("web: login refused", "addr", addr)
		c.renderLogin(w, r, http.StatusUnauthorized, loginBody{Next: next, Msg: "Invalid token."})
		return
	}
	// A login that is not in the audit log does not happen.
	if err := c.data.Audit(r.Context(), engine.AuditEntry{Actor: p.Name, Role: p.Role.String(), Addr: addr,
		Action: actionLogin, Outcome: engine.AuditOK}); err != nil {
		c.sessions.end(idSum(value))
		c.log.Error("web: audit of a login not stored; login refused", "actor", p.Name, "addr", addr, "err", err)
		c.renderLogin(w, r, http.StatusServiceUnavailable, loginBody{Next: next, Msg: "The login could not be recorded; try again later."})
		return
	}
	// A new login ends the session the browser had (if any).
	if old, err := r.Cookie(CookieName); err == nil && old.Value != "" {
		c.sessions.end(idSum(old.Value))
	}
	c.log.Info("web: login", "actor", p.Name, "role", p.Role.String(), "addr", addr)
	http.SetCookie(w, c.sessions.cookie(r, value))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout: POST /logout with the form field csrf ends the session and
// clears the cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if !c.readForm(w, r) {
		return
	}
	p, key, ok := c.sessions.lookup(r)
	if !ok {
		http.SetCookie(w, c.sessions.cookie(r, ""))
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	addr := clientAddr(r)
	if !csrfOK(r.PostForm.Get("csrf"), p.CSRF) {
		if err := c.data.Audit(r.Context(), engine.AuditEntry{Actor: p.Name, Role: p.Role.String(), Addr: addr,
			Action: actionLogout, Outcome: engine.AuditDenied, Detail: "missing or invalid CSRF token"}); err != nil {
			c.log.Error("web: audit of a refused logout not stored", "actor", p.Name, "addr", addr, "err", err)
		}
		c.errorPage(w, r, http.StatusForbidden, "missing or invalid CSRF token")
		return
	}
	c.sessions.end(key)
	http.SetCookie(w, c.sessions.cookie(r, ""))
	if err := c.data.Audit(r.Context(), engine.AuditEntry{Actor: p.Name, Role: p.Role.String(), Addr: addr,
		Action: actionLogout, Outcome: engine.AuditOK}); err != nil {
		c.log.Error("web: audit of a logout not stored", "actor", p.Name, "addr", addr, "err", err)
	}
	c.log.Info("web: logout", "actor", p.Name, "addr", addr)
	http.Redirect(w, r, "/login?logged_out", http.StatusSeeOther)
}

// clientAddr is the host of the connection's remote address. Forwarding
// headers are not trusted: anyone can send them.
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
