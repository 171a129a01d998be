package engine

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Audit outcomes.
const (
	AuditOK     = "ok"     // the change was made
	AuditDenied = "denied" // refused: no or a wrong token, or a role too low
	AuditFailed = "failed" // allowed, but it did not succeed (bad input, a conflict)
)

// Audit actions the engine writes itself; the API's list of actions
// (api.Action*) names these from here.
const (
	AuditIncidentAck     = "incident.ack"
	AuditIncidentResolve = "incident.resolve"
	AuditSilenceCreate   = "silence.create"
	// AuditCallback is a provider's callback (Twilio's) refused before
	// it could ask for anything: a wrong signature, or an SMS from a
	// number nobody has that is not a command.
	AuditCallback = "callback"
)

// AuditEntry is one state change (or attempt) by a person or a service:
// who, when, from where, what. The audit log is append-only: entries are
// never changed or removed.
type AuditEntry struct {
	ID      uint64    `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`          // token or person name; "" when unknown (a failed login)
	Role    string    `json:"role,omitempty"` // viewer, responder, admin
	Addr    string    `json:"addr,omitempty"` // the client's address
	Action  string    `json:"action"`         // e.g. incident.ack, silence.create, config.reload, login
	Target  string    `json:"target,omitempty"`
	Outcome string    `json:"outcome"` // ok, denied, failed
	Detail  string    `json:"detail,omitempty"`
}

// Audit records an entry durably (it returns once the entry is on disk).
// At is set from the engine's clock when zero.
func (e *Engine) Audit(ctx context.Context, a AuditEntry) error {
	if strings.TrimSpace(a.Action) == "" || a.Outcome == "" {
		return fmt.Errorf("audit: action and outcome are required: %w", ErrInvalid)
	}
	e.mu.Lock()
	c := e.begin()
	if !c.audit(a) {
		e.mu.Unlock()
		return nil
	}
	t := c.commit()
	e.mu.Unlock()
	return e.wait(ctx, t)
}

// audit adds a to the change, so that it is written with the change it
// records; it reports false when a was left out (too many anonymous
// denials from its address). At is set to the change's time when zero.
// Callers hold mu.
func (c *change) audit(a AuditEntry) bool {
	e := c.e
	if a.At.IsZero() {
		a.At = c.now
	}
	if a.Outcome == AuditDenied && a.Actor == "" {
		// Anyone can make these (no token at all): at most
		// anonymousPerMinute per address (an IPv6 /64) and
		// anonymousPerMinuteAll in all are written a minute; the next one
		// written says how many were not.
		ok, mine, others := e.anon.allow(a.Addr, a.At)
		if !ok {
			return false
		}
		if mine > 0 {
			a.Detail = strings.TrimSpace(fmt.Sprintf("%s (and %d more denied attempts from this address not recorded)", a.Detail, mine))
		}
		if others > 0 {
			a.Detail = strings.TrimSpace(fmt.Sprintf("%s (and %d more denied attempts from other addresses not recorded)", a.Detail, others))
		}
	}
	e.lastAudit++
	a.ID = e.lastAudit
	cp := a
	e.auditLog = append(e.auditLog, &cp)
	c.audits = append(c.audits, &cp)
	return true
}

// Bounds of the audit entries of requests without any credentials, so
// that nobody can grow the audit log without limit: per client (an IPv4
// address, or an IPv6 /64, which one host may rotate through) and in all,
// per minute; and how many clients' unrecorded counts are kept.
const (
	anonymousPerMinute    = 20
	anonymousPerMinuteAll = 200
	maxDroppedClients     = 1024
)

// anonLimiter counts anonymous denied entries per client in the current
// minute, and those left out. Callers hold Engine.mu.
type anonLimiter struct {
	minute time.Time
	total  int
	count  map[string]int
	// dropped counts, per client, the entries left out since its last
	// one written; others those left out by the overall bound (or of
	// clients past maxDroppedClients).
	dropped map[string]int
	others  int
}

// allow reports whether an entry from addr at may be written, and then
// how many were left out before it: of this client, and of others.
func (l *anonLimiter) allow(addr string, at time.Time) (ok bool, mine, others int) {
	m := at.Truncate(time.Minute)
	if !m.Equal(l.minute) || l.count == nil {
		l.minute, l.count, l.total = m, map[string]int{}, 0
	}
	if l.dropped == nil {
		l.dropped = map[string]int{}
	}
	key := clientKey(addr)
	switch {
	case l.count[key] >= anonymousPerMinute:
		if _, known := l.dropped[key]; known || len(l.dropped) < maxDroppedClients {
			l.dropped[key]++
		} else {
			l.others++
		}
		return false, 0, 0
	case l.total >= anonymousPerMinuteAll:
		l.others++
		return false, 0, 0
	}
	l.count[key]++
	l.total++
	mine, others = l.dropped[key], l.others
	delete(l.dropped, key)
	l.others = 0
	return true, mine, others
}

// clientKey is what the anonymous bound counts by: an IPv6 address's /64
// (a host may hold and rotate through all of it), an IPv4 address, or
// the text as it is when it is not an address.
func clientKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		if ap, err2 := netip.ParseAddrPort(addr); err2 == nil {
			ip, err = ap.Addr(), nil
		}
	}
	if err != nil {
		return addr
	}
	if ip = ip.Unmap(); ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// AuditFilter selects audit entries; empty fields select all.
type AuditFilter struct {
	Actor   string
	Action  string
	Outcome string
}

// AuditLog lists audit entries newest first.
func (e *Engine) AuditLog(f AuditFilter, p Page) (out []AuditEntry, next uint64) {
	match := func(a *AuditEntry) bool {
		return (f.Actor == "" || a.Actor == f.Actor) && (f.Action == "" || a.Action == f.Action) && (f.Outcome == "" || a.Outcome == f.Outcome)
	}
	return listPage(e, p, nil, func(limit int) (out []AuditEntry) {
		for i := len(e.auditLog) - 1; i >= 0 && len(out) < limit; i-- {
			if a := e.auditLog[i]; (p.Cursor == 0 || a.ID < p.Cursor) && match(a) {
				out = append(out, *a)
			}
		}
		return out
	}, func(id uint64) bool { return len(e.auditLog) > 0 && id >= e.auditLog[0].ID }, e.store.ScanAudit, match, func(a *AuditEntry) uint64 { return a.ID })
}

func (e *Engine) restoreAudit(as []*AuditEntry) {
	for _, a := range as {
		e.auditLog = append(e.auditLog, a)
		e.lastAudit = max(e.lastAudit, a.ID)
	}
}
