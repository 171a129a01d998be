package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/engine"
)

// CookieName is the session cookie's name.
const CookieName = "remediator_session"

// maxSessions bounds the sessions kept at once; past it the oldest ends.
const maxSessions = 10000

// Sessions are the console's logins. It implements api.SessionAuth, so
// the API accepts the session cookie as it accepts a bearer token. It is
// safe for concurrent use.
//
// A session is a random 32-byte id (the cookie's value, base64url) and a
// random CSRF token. Only the SHA-256 of the id is kept, and it lasts
// SessionTTL from login whether used or not, or until logout.
type Sessions struct {
	clock  engine.Clock
	ttl    time.Duration
	secure bool // external URL is https: cookies are Secure even over plain HTTP

	mu     sync.Mutex
	tokens []tokenHash
	byID   map[[sha256.Size]byte]*session
}

var _ api.SessionAuth = (*Sessions)(nil)

type tokenHash struct {
	name string
	role api.Role
	sum  [sha256.Size]byte
}

type session struct {
	name    string
	role    api.Role
	csrf    string
	token   [sha256.Size]byte // the SHA-256 of the token logged in with
	expires time.Time
}

func newSessions(tokens []Token, clock engine.Clock, ttl time.Duration, secure bool) (*Sessions, error) {
	s := &Sessions{clock: clock, ttl: ttl, secure: secure, byID: map[[sha256.Size]byte]*session{}}
	if err := s.apply(tokens); err != nil {
		return nil, err
	}
	return s, nil
}

// hashTokens checks the tokens and keeps their SHA-256 sums.
func hashTokens(tokens []Token) ([]tokenHash, error) {
	out := make([]tokenHash, 0, len(tokens))
	var errs []error
	for i, t := range tokens {
		role := api.ParseRole(t.Role)
		switch {
		case strings.TrimSpace(t.Name) == "":
			errs = append(errs, fmt.Errorf("web: token %d: no name", i))
		case role == api.RoleNone:
			errs = append(errs, fmt.Errorf("web: token %q: role %q is not viewer, responder or admin", t.Name, t.Role))
		case t.Value == "":
			errs = append(errs, fmt.Errorf("web: token %q: empty value", t.Name))
		}
		out = append(out, tokenHash{name: t.Name, role: role, sum: sha256.Sum256([]byte(t.Value))})
	}
	return out, errors.Join(errs...)
}

func (s *Sessions) apply(tokens []Token) error {
	hashed, err := hashTokens(tokens)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = hashed
	for id, ss := range s.byID {
		t, ok := s.match(ss.token)
		if !ok {
			delete(s.byID, id)
			continue
		}
		ss.name, ss.role = t.name, t.role
	}
	return nil
}

// match finds the token whose sum is sum, comparing with every token in
// constant time. The caller holds mu.
func (s *Sessions) match(sum [sha256.Size]byte) (tokenHash, bool) {
	found := -1
	for i := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], s.tokens[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return tokenHash{}, false
	}
	return s.tokens[found], true
}

// hasTokens reports whether anyone can log in.
func (s *Sessions) hasTokens() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens) > 0
}

// principal is who a session belongs to, and its CSRF token.
type principal struct {
	Name string
	Role api.Role
	CSRF string
}

// login checks a token and starts a session; it returns the cookie's
// value. ok is false for a token that is not configured.
func (s *Sessions) login(token string) (value string, p principal, ok bool, err error) {
	sum := sha256.Sum256([]byte(token))
	id, err := randomToken()
	if err != nil {
		return "", principal{}, false, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", principal{}, false, err
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.match(sum)
	if !ok {
		return "", principal{}, false, nil
	}
	s.sweep(now)
	s.byID[idSum(id)] = &session{name: t.name, role: t.role, csrf: csrf, token: sum, expires: now.Add(s.ttl)}
	return id, principal{Name: t.name, Role: t.role, CSRF: csrf}, true, nil
}

// sweep drops expired sessions and, past maxSessions, the ones closest to
// expiry. The caller holds mu.
func (s *Sessions) sweep(now time.Time) {
	for id, ss := range s.byID {
		if !now.Before(ss.expires) {
			delete(s.byID, id)
		}
	}
	for len(s.byID) >= maxSessions {
		var oldest [sha256.Size]byte
		var at time.Time
		for id, ss := range s.byID {
			if at.IsZero() || ss.expires.Before(at) {
				oldest, at = id, ss.expires
			}
		}
		delete(s.byID, oldest)
	}
}

// lookup returns the principal of the request's session cookie, and the
// key of the session.
func (s *Sessions) lookup(r *http.Request) (principal, [sha256.Size]byte, bool) {
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return principal{}, [sha256.Size]byte{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(raw) != 32 {
		return principal{}, [sha256.Size]byte{}, false
	}
	key := idSum(ck.Value)
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[key]
	if !ok {
		return principal{}, key, false
	}
	if !now.Before(ss.expires) {
		delete(s.byID, key)
		return principal{}, key, false
	}
	return principal{Name: ss.name, Role: ss.role, CSRF: ss.csrf}, key, true
}

// Session returns the principal of the request's session cookie and the
// session's CSRF token; ok is false without a valid, unexpired session.
func (s *Sessions) Session(r *http.Request) (name string, role api.Role, csrf string, ok bool) {
	p, _, ok := s.lookup(r)
	if !ok {
		return "", api.RoleNone, "", false
	}
	return p.Name, p.Role, p.CSRF, true
}

// end ends a session.
func (s *Sessions) end(key [sha256.Size]byte) {
	s.mu.Lock()
	delete(s.byID, key)
	s.mu.Unlock()
}

// cookie is the session cookie for value; an empty value clears it.
func (s *Sessions) cookie(r *http.Request, value string) *http.Cookie {
	c := &http.Cookie{Name: CookieName, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || s.secure}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(s.ttl / time.Second)
	}
	return c
}

// csrfOK compares a presented CSRF token with the session's in constant
// time.
func csrfOK(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func idSum(value string) [sha256.Size]byte { return sha256.Sum256([]byte(value)) }

// randomToken is 32 random bytes, base64url without padding.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("web: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
