package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// Role is an API role; a higher role can do everything a lower one can.
type Role int

// Roles, least privileged first.
const (
	RoleNone Role = iota
	RoleViewer
	RoleResponder
	RoleAdmin
)

// ParseRole maps a config role name to a Role.
func ParseRole(s string) Role {
	switch s {
	case "viewer":
		return RoleViewer
	case "responder":
		return RoleResponder
	case "admin":
		return RoleAdmin
	}
	return RoleNone
}

func (r Role) String() string {
	return [...]string{"none", "viewer", "responder", "admin"}[r]
}

// Token is one API token from the config.
type Token struct {
	Name  string
	Role  Role
	Value string
}

// Principal is who made a request.
type Principal struct {
	Name string
	Role Role
	// credential is what the request authenticated with: "token NAME",
	// "session" and a digest of the session's CSRF token (unique to the
	// session), or "anonymous" (open mode). Event streams are bounded by
	// it.
	credential string
}

type tokenHash struct {
	name string
	role Role
	sum  [sha256.Size]byte
}

// authenticator checks bearer tokens. Tokens are compared as SHA-256 sums
// with subtle.ConstantTimeCompare against every configured token, so
// neither the length nor the position of a match shows in the timing.
type authenticator struct {
	tokens  []tokenHash
	webhook *[sha256.Size]byte // nil: the webhook needs no token
}

func newAuthenticator(tokens []Token, webhookToken string) *authenticator {
	a := &authenticator{}
	for _, t := range tokens {
		a.tokens = append(a.tokens, tokenHash{name: t.Name, role: t.Role, sum: sha256.Sum256([]byte(t.Value))})
	}
	if webhookToken != "" {
		sum := sha256.Sum256([]byte(webhookToken))
		a.webhook = &sum
	}
	return a
}

// open reports whether the API needs no token (none configured; the
// config then only allows a loopback listen address).
func (a *authenticator) open() bool { return len(a.tokens) == 0 }

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// principal returns who presented the request's token.
func (a *authenticator) principal(r *http.Request) (Principal, bool) {
	if a.open() {
		return Principal{Name: "anonymous", Role: RoleAdmin, credential: "anonymous"}, true
	}
	tok, ok := bearer(r)
	if !ok {
		return Principal{}, false
	}
	sum := sha256.Sum256([]byte(tok))
	found := -1
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	return Principal{Name: a.tokens[found].name, Role: a.tokens[found].role, credential: "token " + a.tokens[found].name}, true
}

// SessionAuth finds the principal of a browser session (the console's cookie).
type SessionAuth interface {
	// Session returns the session's principal and its CSRF token; ok is false without a valid session.
	Session(r *http.Request) (name string, role Role, csrf string, ok bool)
}

// CSRFHeader carries a session's CSRF token on a cookie-authenticated
// request that changes state.
const CSRFHeader = "X-CSRF-Token"

// authError is a refused request: Status is 401 (no or bad credentials)
// or 403 (a role too low, a missing or wrong CSRF token). Who is the
// principal when the credentials were good.
type authError struct {
	Status int
	Msg    string
	Who    Principal
}

// authorize finds who made r and checks that they may do what needs min.
// A bearer token, when the request carries one, decides; otherwise the
// session cookie. A session request that is not GET or HEAD must carry
// the session's CSRF token in X-CSRF-Token.
func authorize(a *authenticator, sessions SessionAuth, r *http.Request, min Role) (Principal, *authError) {
	unauthorized := &authError{Status: http.StatusUnauthorized, Msg: "missing or invalid bearer token"}
	if sessions != nil {
		unauthorized.Msg = "missing or invalid bearer token or session"
	}
	kind := "token"
	p, ok := a.principal(r)
	switch {
	case ok:
	case hasBearer(r) || sessions == nil:
		return Principal{}, unauthorized
	default:
		name, role, csrf, ok := sessions.Session(r)
		if !ok {
			return Principal{}, unauthorized
		}
		sum := sha256.Sum256([]byte(csrf))
		p, kind = Principal{Name: name, Role: role, credential: fmt.Sprintf("session %x", sum[:8])}, "session of"
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !csrfOK(r.Header.Get(CSRFHeader), csrf) {
			return Principal{}, &authError{Status: http.StatusForbidden, Msg: "missing or invalid CSRF token", Who: p}
		}
	}
	if p.Role < min {
		return Principal{}, &authError{Status: http.StatusForbidden, Who: p,
			Msg: fmt.Sprintf("%s %q has role %s; this needs %s", kind, p.Name, p.Role, min)}
	}
	return p, nil
}

func hasBearer(r *http.Request) bool {
	_, ok := bearer(r)
	return ok
}

// csrfOK compares a request's CSRF token with the session's in constant
// time (as SHA-256 sums, so the length does not show either). An empty
// session token matches nothing.
func csrfOK(got, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// webhookOK checks the webhook's bearer token.
func (a *authenticator) webhookOK(r *http.Request) bool {
	if a.webhook == nil {
		return true
	}
	tok, ok := bearer(r)
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], a.webhook[:]) == 1
}
