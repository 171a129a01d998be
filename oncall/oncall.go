// Package oncall computes who is on call: schedules made of rotation
// layers, weekly restriction windows, holidays and overrides, each in its
// schedule's time zone. It does no I/O and reads no clock: every question
// names its instant, so the engine, the API, `remediator oncall` and
// `explain` get the same answers, in simulated time as in real time.
//
// A Set is built from plain Specs (New), or from a validated config
// (FromConfig). Rotations are computed by arithmetic from each layer's
// anchor in local time: a handoff happens every N calendar days at the
// anchor's local time of day, so a weekly 09:00 handoff stays at 09:00
// across daylight-saving changes.
package oncall

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Errors a Set returns, for errors.Is.
var (
	// ErrUnknownSchedule: no schedule has the name asked for.
	ErrUnknownSchedule = errors.New("unknown schedule")
	// ErrInvalidOverride: an override names nobody, someone unknown, or
	// ends before it starts.
	ErrInvalidOverride = errors.New("invalid override")
)

// Spec is the plain description of a schedule that New compiles.
type Spec struct {
	Name string
	// Location is the time zone of the anchors, windows and dates.
	Location *time.Location
	// Holidays are dates on which windows open as on a Saturday.
	Holidays []Date
	// Workdays are make-up working days: windows that name any of
	// Weekdays open on them. A date in both lists is a workday.
	Workdays []Date
	// Weekdays are the working weekdays a workday stands for. Default
	// Monday to Friday.
	Weekdays []time.Weekday
	// Layers are in precedence order: where several are active, the last
	// one decides.
	Layers []Layer
	// Overrides cover the whole schedule; where several overlap, the last
	// one decides.
	Overrides []Override
}

// Layer is one rotation of a schedule.
type Layer struct {
	Name string
	// Members are person ids, in rotation order.
	Members []string
	// PerShift is how many consecutive members are on call at once;
	// default (0) 1. Each handoff moves on by one member: with members
	// a, b, c, d and PerShift 2, shifts are (a, b), (b, c), (c, d), (d, a).
	PerShift int
	// Every is the number of calendar days between handoffs; 0 only when
	// every member is always on call (PerShift == len(Members)).
	Every int
	// Anchor is a handoff that starts shift 0 (Members[0] first). Its
	// wall clock in the schedule's Location is the handoff time of day.
	Anchor time.Time
	// Windows are when the layer is active; none means always.
	Windows []Window
}

// Window is a weekly restriction: from From on each of Days to To the
// same day, or the next day when To is not after From. Times are offsets
// from midnight on the wall clock; To may be 24h.
type Window struct {
	// Days name the day a window starts on; none means every day.
	Days     []time.Weekday
	From, To time.Duration
}

// Override is someone covering a whole schedule from From, inclusive, to
// To, exclusive.
type Override struct {
	Person   string
	From, To time.Time
}

// Shift says who is on call and for how long the assignment holds.
type Shift struct {
	Schedule string
	// People are on call, in rotation order; empty when nobody is.
	People []string
	// From and To bound the assignment: To is the next change of people,
	// layer or override. In At, a zero From or To means no change within
	// two years (Horizon) before or after the instant asked about; in
	// Shifts they are clipped to the range asked about.
	From, To time.Time
	// Layer is the name of the layer that decides; "" for an override or
	// nobody.
	Layer string
	// Override is true when an override decides.
	Override bool
}

// Gap is a time when nobody is on call.
type Gap struct{ From, To time.Time }

// Horizon is how far At looks, before and after the instant asked about,
// for the start and end of the current assignment.
const Horizon = 2 * 366 * 24 * time.Hour

// Set is a group of schedules by name. It is safe for concurrent use:
// readers never wait, and WithOverride swaps in a new copy of the
// schedule it changes.
type Set struct {
	people map[string]bool
	mu     sync.Mutex // serializes writers
	state  atomic.Pointer[setState]
}

// setState is one immutable version of a Set.
type setState struct {
	names  []string
	byName map[string]*Schedule
}

// New compiles specs. people are the person ids that layers and overrides
// may name.
func New(people []string, specs ...Spec) (*Set, error) {
	s := &Set{people: make(map[string]bool, len(people))}
	for _, p := range people {
		s.people[p] = true
	}
	st := &setState{byName: make(map[string]*Schedule, len(specs))}
	var errs []error
	for i := range specs {
		spec := &specs[i]
		name := spec.Name
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("schedule %d: name is required", i+1))
			continue
		case st.byName[name] != nil:
			errs = append(errs, fmt.Errorf("schedule %q: defined twice", name))
			continue
		}
		sc, err := compile(spec, s.people)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %q: %w", name, err))
			continue
		}
		st.names = append(st.names, name)
		st.byName[name] = sc
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("on-call schedules: %w", err)
	}
	s.state.Store(st)
	return s, nil
}

// Names returns the schedules' names, in the order they were given.
func (s *Set) Names() []string { return slices.Clone(s.state.Load().names) }

// Schedule returns the current version of the schedule called name. It
// does not change: a later WithOverride makes a new version.
func (s *Set) Schedule(name string) (*Schedule, error) {
	sc := s.state.Load().byName[name]
	if sc == nil {
		return nil, fmt.Errorf("schedule %q: %w", name, ErrUnknownSchedule)
	}
	return sc, nil
}

// At says who is on call on the schedule called name at t.
func (s *Set) At(name string, t time.Time) (Shift, error) {
	sc, err := s.Schedule(name)
	if err != nil {
		return Shift{}, err
	}
	return sc.At(t), nil
}

// Shifts lists the shifts of the schedule called name from from to to.
func (s *Set) Shifts(name string, from, to time.Time) ([]Shift, error) {
	sc, err := s.Schedule(name)
	if err != nil {
		return nil, err
	}
	return sc.Shifts(from, to), nil
}

// WithOverride adds o to the schedule called name, after (so above) its
// other overrides. Readers that already hold the schedule keep the
// version they have; the caller checks who may add it and records it.
func (s *Set) WithOverride(name string, o Override) error {
	if err := checkOverride(s.people, o); err != nil {
		return fmt.Errorf("schedule %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.state.Load()
	sc := old.byName[name]
	if sc == nil {
		return fmt.Errorf("schedule %q: %w", name, ErrUnknownSchedule)
	}
	next := *sc
	next.overrides = append(slices.Clone(sc.overrides), o)
	st := &setState{names: old.names, byName: make(map[string]*Schedule, len(old.byName))}
	for n, v := range old.byName {
		st.byName[n] = v
	}
	st.byName[name] = &next
	s.state.Store(st)
	return nil
}

// checkOverride refuses an override that names nobody, someone unknown,
// or does not last.
func checkOverride(people map[string]bool, o Override) error {
	switch {
	case o.Person == "":
		return fmt.Errorf("%w: person is required", ErrInvalidOverride)
	case !people[o.Person]:
		return fmt.Errorf("%w: person %q is not defined in people", ErrInvalidOverride, o.Person)
	case o.From.IsZero() || o.To.IsZero():
		return fmt.Errorf("%w: from and to are required", ErrInvalidOverride)
	case !o.To.After(o.From):
		return fmt.Errorf("%w: to (%s) must be after from (%s)", ErrInvalidOverride, o.To.Format(time.RFC3339), o.From.Format(time.RFC3339))
	}
	return nil
}

// Warnings reports, for each schedule, the times in the year from now
// when nobody is on call: the first one, in the schedule's local time,
// and how many more.
func (s *Set) Warnings(now time.Time) []string {
	st := s.state.Load()
	end := now.AddDate(1, 0, 0)
	var out []string
	for _, name := range st.names {
		sc := st.byName[name]
		gaps := sc.Gaps(now, end)
		if len(gaps) == 0 {
			continue
		}
		msg := fmt.Sprintf("schedule %q has nobody on call from %s until %s", name, LocalTime(gaps[0].From), LocalTime(gaps[0].To))
		switch n := len(gaps) - 1; n {
		case 0:
		case 1:
			msg += ", and 1 more time within a year"
		default:
			msg += fmt.Sprintf(", and %d more times within a year", n)
		}
		out = append(out, msg)
	}
	return out
}

// LocalTime writes t for people, in its own location: Wed 2026-11-25
// 09:00 CST.
func LocalTime(t time.Time) string { return t.Format("Mon 2006-01-02 15:04 MST") }

// Date is a date on the wall calendar, without a time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
	}
	return DateOf(t), nil
}

// String writes d as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// dayNumber counts days from 1970-01-01.
func (d Date) dayNumber() int64 {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// dateOfDay is the date with day number n.
func dateOfDay(n int64) Date { return DateOf(time.Unix(n*86400, 0).UTC()) }

// addDays returns the date n days after d.
func (d Date) addDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 0, 0, 0, 0, time.UTC))
}

// weekday returns the day of the week of d.
func (d Date) weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Weekday()
}

// at returns the instant at wall-clock offset off (0 to 24h) after the
// midnight that starts d in loc. 24h is the midnight that ends it; a time
// that a DST change skips is normalized the way time.Date does it.
func (d Date) at(off time.Duration, loc *time.Location) time.Time {
	h, m, s := int(off/time.Hour), int(off%time.Hour/time.Minute), int(off%time.Minute/time.Second)
	return time.Date(d.Year, d.Month, d.Day, h, m, s, int(off%time.Second), loc)
}
