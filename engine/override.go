package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ScheduleOverride is someone covering an on-call schedule for a while,
// made through the API and kept in the store (overrides written in the
// config live there). The engine stores them; the on-call schedules apply
// them.
type ScheduleOverride struct {
	ID        uint64    `json:"id"`
	Rev       uint64    `json:"rev"`
	Schedule  string    `json:"schedule"`
	Person    string    `json:"person"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Comment   string    `json:"comment,omitempty"`
}

// CreateOverride checks and stores an override. The caller has checked
// that the schedule and the person exist.
func (e *Engine) CreateOverride(ctx context.Context, o ScheduleOverride) (ScheduleOverride, error) {
	var problems []string
	if o.Schedule == "" {
		problems = append(problems, "schedule: required")
	}
	if o.Person == "" {
		problems = append(problems, "person: required")
	}
	if o.From.IsZero() || o.To.IsZero() {
		problems = append(problems, "from and to: required")
	} else if !o.To.After(o.From) {
		problems = append(problems, fmt.Sprintf("to (%s) must be after from (%s)", o.To.Format(time.RFC3339), o.From.Format(time.RFC3339)))
	}
	if strings.TrimSpace(o.CreatedBy) == "" {
		problems = append(problems, "created_by: required")
	}
	if len(problems) > 0 {
		return ScheduleOverride{}, fmt.Errorf("override: %s: %w", strings.Join(problems, "; "), ErrInvalid)
	}
	e.mu.Lock()
	c := e.begin()
	if !o.To.After(c.now) {
		e.mu.Unlock()
		return ScheduleOverride{}, fmt.Errorf("override: it ends at %s, in the past: %w", o.To.Format(time.RFC3339), ErrInvalid)
	}
	e.lastOverride++
	o.ID, o.Rev, o.CreatedAt = e.lastOverride, c.rev, c.now
	cp := o
	e.overrides = append(e.overrides, &cp)
	c.overrides = append(c.overrides, &cp)
	t := c.commit()
	e.mu.Unlock()
	return o, e.wait(ctx, t)
}

// Overrides lists the stored overrides that have not ended at t, oldest
// first.
func (e *Engine) Overrides(t time.Time) []ScheduleOverride {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []ScheduleOverride
	for _, o := range e.overrides {
		if o.To.After(t) {
			out = append(out, *o)
		}
	}
	return out
}

func (e *Engine) restoreOverrides(os []*ScheduleOverride) {
	for _, o := range os {
		e.overrides = append(e.overrides, o)
		e.lastOverride = max(e.lastOverride, o.ID)
		e.rev = max(e.rev, o.Rev)
	}
	slices.SortFunc(e.overrides, func(a, b *ScheduleOverride) int { return int(a.ID) - int(b.ID) })
}
