package api

import (
	"crypto/sha256"
	"crypto/subtle"
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
		return Principal{Name: "anonymous", Role: RoleAdmin}, true
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
	return Principal{Name: a.tokens[found].name, Role: a.tokens[found].role}, true
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
