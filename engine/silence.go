package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
)

// Matcher is one label matcher of a silence, as Alertmanager's API writes
// them. IsEqual defaults to true, as in Alertmanager: a matcher without it
// is = (or =~), never != by omission.
type Matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"is_regex"`
	IsEqual *bool  `json:"is_equal,omitempty"`
}

// Equal reports whether the matcher is = or =~ (the default).
func (m Matcher) Equal() bool { return m.IsEqual == nil || *m.IsEqual }

func (m Matcher) compile() (*labels.Matcher, error) {
	if !model.LegacyValidation.IsValidLabelName(m.Name) {
		return nil, fmt.Errorf("%q is not a valid label name", m.Name)
	}
	t := labels.MatchEqual
	switch {
	case m.IsRegex && m.Equal():
		t = labels.MatchRegexp
	case m.IsRegex:
		t = labels.MatchNotRegexp
	case !m.Equal():
		t = labels.MatchNotEqual
	}
	return labels.NewMatcher(t, m.Name, m.Value)
}

// Silence mutes the alerts its matchers select between StartsAt and
// EndsAt: they are stored and shown, but not remediated and not paged.
type Silence struct {
	ID        uint64    `json:"id"`
	Rev       uint64    `json:"rev"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
	ExpiredBy string    `json:"expired_by,omitempty"`
	// CurrentState is the state when this copy was handed out (not stored).
	CurrentState string `json:"-"`

	compiled []*labels.Matcher
}

// Silence states.
const (
	SilencePending = "pending"
	SilenceActive  = "active"
	SilenceExpired = "expired"
)

// State is the silence's state at t.
func (s *Silence) State(t time.Time) string {
	switch {
	case !t.Before(s.EndsAt):
		return SilenceExpired
	case t.Before(s.StartsAt):
		return SilencePending
	}
	return SilenceActive
}

// Matches reports whether every matcher holds for ls.
func (s *Silence) Matches(ls map[string]string) bool {
	for _, m := range s.compiled {
		if !m.Matches(ls[m.Name]) {
			return false
		}
	}
	return true
}

// compile checks a new silence and prepares its matchers, like
// Alertmanager: at least one matcher, and not only matchers that match
// the empty string (which would silence every alert).
func (s *Silence) compile() error {
	if len(s.Matchers) == 0 {
		return fmt.Errorf("matchers: at least one is required: %w", ErrInvalid)
	}
	s.compiled = s.compiled[:0]
	allEmpty := true
	for i, m := range s.Matchers {
		if m.Name == "" {
			return fmt.Errorf("matchers[%d].name: required: %w", i, ErrInvalid)
		}
		c, err := m.compile()
		if err != nil {
			return fmt.Errorf("matchers[%d]: %v: %w", i, err, ErrInvalid)
		}
		if !c.Matches("") {
			allEmpty = false
		}
		s.compiled = append(s.compiled, c)
	}
	if allEmpty {
		return fmt.Errorf("matchers: at least one must not match the empty string, or the silence would mute every alert: %w", ErrInvalid)
	}
	return nil
}

// NewSilence is a silence as a person asks for it.
type NewSilence struct {
	Matchers  []Matcher
	StartsAt  time.Time // zero: now
	EndsAt    time.Time
	CreatedBy string
	Comment   string
}

// CreateSilence checks and stores a silence.
func (e *Engine) CreateSilence(ctx context.Context, n NewSilence) (Silence, error) {
	e.mu.Lock()
	c := e.begin()
	s, err := e.createSilence(c, n)
	if err != nil {
		e.mu.Unlock()
		return Silence{}, err
	}
	out := *s
	out.CurrentState = s.State(c.now)
	t := c.commit()
	e.mu.Unlock()
	return out, e.wait(ctx, t)
}

// createSilence is CreateSilence within c. Callers hold mu.
func (e *Engine) createSilence(c *change, n NewSilence) (*Silence, error) {
	s := &Silence{Matchers: n.Matchers, StartsAt: n.StartsAt, EndsAt: n.EndsAt, CreatedBy: strings.TrimSpace(n.CreatedBy), Comment: n.Comment, CreatedAt: c.now}
	if s.StartsAt.IsZero() || s.StartsAt.Before(c.now) {
		s.StartsAt = c.now
	}
	err := s.compile()
	switch {
	case err != nil:
	case s.CreatedBy == "":
		err = fmt.Errorf("created_by: required: %w", ErrInvalid)
	case !s.EndsAt.After(s.StartsAt):
		err = fmt.Errorf("ends_at: must be after starts_at (%s) and in the future: %w", s.StartsAt.UTC().Format(time.RFC3339), ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	e.lastSilence++
	s.ID, s.Rev = e.lastSilence, c.rev
	e.silences.put(s.ID, s)
	e.live.valid = false
	c.silences = append(c.silences, s)
	e.log.Info("silence created", "silence", s.ID, "by", s.CreatedBy, "ends_at", s.EndsAt)
	return s, nil
}

// ExpireSilence ends a pending or active silence now.
func (e *Engine) ExpireSilence(ctx context.Context, id uint64, by string) (Silence, error) {
	if strings.TrimSpace(by) == "" {
		return Silence{}, fmt.Errorf("expiring a silence needs who did it: %w", ErrInvalid)
	}
	e.mu.Lock()
	s := e.silences.get(id)
	if s == nil {
		e.mu.Unlock()
		return Silence{}, fmt.Errorf("silence %d: %w", id, ErrNotFound)
	}
	c := e.begin()
	if s.State(c.now) == SilenceExpired {
		e.mu.Unlock()
		return Silence{}, e.flushFirst(ctx, fmt.Errorf("silence %d already expired: %w", id, ErrConflict))
	}
	cp := *s // replaced, never mutated: a copy may be on its way to the store
	cp.EndsAt, cp.ExpiredBy, cp.Rev = c.now, by, c.rev
	if cp.StartsAt.After(c.now) {
		cp.StartsAt = c.now
	}
	e.silences.put(id, &cp)
	e.live.valid = false
	c.silences = append(c.silences, &cp)
	out := cp
	out.CurrentState = SilenceExpired
	t := c.commit()
	e.mu.Unlock()
	e.log.Info("silence expired", "silence", id, "by", by)
	return out, e.wait(ctx, t)
}

// SilenceFilter selects silences by state; empty selects all.
type SilenceFilter struct {
	State string
}

// Silences lists silences newest first.
func (e *Engine) Silences(f SilenceFilter, p Page) (out []Silence, next uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now()
	e.silences.newestFirst(p.Cursor, func(s *Silence) bool {
		if f.State != "" && s.State(now) != f.State {
			return true
		}
		if len(out) == p.limit() {
			next = out[len(out)-1].ID
			return false
		}
		cp := *s
		cp.CurrentState = s.State(now)
		out = append(out, cp)
		return true
	})
	return out, next
}

// GetSilence returns one silence.
func (e *Engine) GetSilence(id uint64) (Silence, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.silences.get(id)
	if s == nil {
		return Silence{}, fmt.Errorf("silence %d: %w", id, ErrNotFound)
	}
	cp := *s
	cp.CurrentState = s.State(e.clock.Now())
	return cp, nil
}

// Suppression says why an alert is muted and until when.
type Suppression struct {
	By    string    `json:"by"` // "silence 3" or "maintenance nightly-db-backup"
	Until time.Time `json:"until"`
}

// Suppressor decides whether maintenance windows from the config mute an
// alert at t.
type Suppressor interface {
	Suppressed(ls map[string]string, t time.Time) (Suppression, bool)
}

// SetSuppressor swaps the maintenance windows (on reload).
func (e *Engine) SetSuppressor(s Suppressor) {
	e.mu.Lock()
	e.suppressor = s
	e.mu.Unlock()
}

// suppressed reports whether a silence or a maintenance window mutes ls at
// t. Callers hold mu.
func (e *Engine) suppressed(ls map[string]string, t time.Time) (Suppression, bool) {
	var found *Suppression
	for _, s := range e.liveSilences(t) {
		if s.State(t) == SilenceActive && s.Matches(ls) {
			if found == nil || s.EndsAt.After(found.Until) {
				found = &Suppression{By: fmt.Sprintf("silence %d", s.ID), Until: s.EndsAt}
			}
		}
	}
	if e.suppressor != nil {
		if w, ok := e.suppressor.Suppressed(ls, t); ok && (found == nil || w.Until.After(found.Until)) {
			found = &w
		}
	}
	if found != nil {
		return *found, true
	}
	return Suppression{}, false
}

// liveSilences returns the silences not expired at t, newest first: the
// ones a check has to look at. The list is cached until a silence is
// created or expired, or the earliest of them ends. Callers hold mu.
func (e *Engine) liveSilences(t time.Time) []*Silence {
	if e.live.valid && t.Before(e.live.until) && !t.Before(e.live.from) {
		return e.live.list
	}
	e.live.list, e.live.until, e.live.from, e.live.valid = e.live.list[:0], time.Time{}, t, true
	e.silences.newestFirst(0, func(s *Silence) bool {
		if t.Before(s.EndsAt) {
			e.live.list = append(e.live.list, s)
			if e.live.until.IsZero() || s.EndsAt.Before(e.live.until) {
				e.live.until = s.EndsAt
			}
		}
		return true
	})
	if e.live.until.IsZero() {
		e.live.until = t.Add(time.Hour) // none: look again in a while (or at the next change)
	}
	return e.live.list
}

// liveCache is liveSilences' cache.
type liveCache struct {
	list        []*Silence
	from, until time.Time
	valid       bool
}

// Suppression reports whether a silence or a maintenance window mutes ls
// now.
func (e *Engine) Suppression(ls map[string]string) (Suppression, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.suppressed(ls, e.clock.Now())
}
