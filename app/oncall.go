package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/oncall"
	"github.com/remediator/remediator/rules"
)

// schedules is the on-call schedules of the running config, with the
// overrides made through the API (stored by the engine) applied. A reload
// swaps in a new set.
type schedules struct {
	set    atomic.Pointer[oncall.Set]
	people atomic.Pointer[map[string]bool] // the config's person ids
	cfg    atomic.Pointer[rules.Config]
	engine *engine.Engine
	log    *slog.Logger
}

// install swaps in the schedules and people of a (re)loaded config.
func (s *schedules) install(set *oncall.Set, cfg *rules.Config) {
	people := make(map[string]bool, len(cfg.People))
	for _, p := range cfg.People {
		people[p.ID] = true
	}
	s.people.Store(&people)
	s.cfg.Store(cfg)
	s.set.Store(set)
}

// buildSchedules compiles cfg's schedules and applies the stored
// overrides that have not ended (e may be nil: check, explain).
func buildSchedules(cfg *rules.Config, e *engine.Engine, now time.Time, log *slog.Logger) (*oncall.Set, error) {
	set, err := oncall.FromConfig(cfg)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return set, nil
	}
	for _, o := range e.Overrides(now) {
		if err := set.WithOverride(o.Schedule, oncall.Override{Person: o.Person, From: o.From, To: o.To}); err != nil {
			// The schedule or person left the config: the override no
			// longer applies.
			log.Warn("stored schedule override no longer applies", "override", o.ID, "schedule", o.Schedule, "err", err)
		}
	}
	return set, nil
}

// Names lists the schedules.
func (s *schedules) Names() []string { return s.set.Load().Names() }

// At says who is on call on a schedule at t.
func (s *schedules) At(name string, t time.Time) (oncall.Shift, error) {
	return s.set.Load().At(name, t)
}

// AddOverride checks an override against the schedules, stores it, and
// applies it.
func (s *schedules) AddOverride(ctx context.Context, o engine.ScheduleOverride) (engine.ScheduleOverride, error) {
	set := s.set.Load()
	if _, err := set.Schedule(o.Schedule); err != nil {
		return engine.ScheduleOverride{}, fmt.Errorf("%w: %w", err, engine.ErrNotFound)
	}
	if !(*s.people.Load())[o.Person] {
		return engine.ScheduleOverride{}, fmt.Errorf("override: person %q is not defined in people: %w", o.Person, engine.ErrInvalid)
	}
	// Whoever covers must be reachable the way the chains page the
	// schedule, or the override would turn pages into failures.
	if err := s.cfg.Load().CheckCover(o.Schedule, o.Person); err != nil {
		return engine.ScheduleOverride{}, fmt.Errorf("override: %w: %w", err, engine.ErrInvalid)
	}
	stored, err := s.engine.CreateOverride(ctx, o)
	if err != nil {
		return engine.ScheduleOverride{}, err
	}
	if err := set.WithOverride(o.Schedule, oncall.Override{Person: o.Person, From: o.From, To: o.To}); err != nil {
		return stored, fmt.Errorf("override %d stored but not applied: %w", stored.ID, err)
	}
	return stored, nil
}
