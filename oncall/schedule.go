package oncall

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// maxScanDays bounds the search for a layer's next or previous window
// edge, for a layer whose windows open on no day for a long time.
const maxScanDays = 400

// Schedule is a compiled Spec. It never changes; it is safe for
// concurrent use.
type Schedule struct {
	name      string
	loc       *time.Location
	holidays  map[Date]bool
	workdays  map[Date]bool
	weekdays  [7]bool
	layers    []layer
	overrides []Override
}

// layer is a compiled Layer.
type layer struct {
	name     string
	members  []string
	perShift int
	every    int64 // days between handoffs; 0 when the people never change
	// anchorDay is the day number of the anchor's local date, anchorClock
	// its local time of day.
	anchorDay   int64
	anchorClock time.Duration
	windows     []window
}

// window is a compiled Window.
type window struct {
	days     [7]bool
	from, to time.Duration
}

// compile checks spec and builds its Schedule.
func compile(spec *Spec, people map[string]bool) (*Schedule, error) {
	var errs []error
	if spec.Location == nil {
		return nil, errors.New("location is required")
	}
	sc := &Schedule{
		name:      spec.Name,
		loc:       spec.Location,
		holidays:  make(map[Date]bool, len(spec.Holidays)),
		workdays:  make(map[Date]bool, len(spec.Workdays)),
		overrides: slices.Clone(spec.Overrides),
	}
	for _, d := range spec.Holidays {
		sc.holidays[d] = true
	}
	for _, d := range spec.Workdays {
		sc.workdays[d] = true
	}
	weekdays := spec.Weekdays
	if weekdays == nil {
		weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	}
	for _, wd := range weekdays {
		if wd < time.Sunday || wd > time.Saturday {
			errs = append(errs, fmt.Errorf("weekday %d is not a day of the week", wd))
			continue
		}
		sc.weekdays[wd] = true
	}
	if len(spec.Layers) == 0 {
		errs = append(errs, errors.New("at least one layer is required"))
	}
	for i := range spec.Layers {
		l, err := compileLayer(&spec.Layers[i], spec.Location, people)
		if err != nil {
			errs = append(errs, fmt.Errorf("layer %q: %w", spec.Layers[i].Name, err))
			continue
		}
		sc.layers = append(sc.layers, l)
	}
	for _, o := range spec.Overrides {
		if err := checkOverride(people, o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return sc, nil
}

// compileLayer checks a layer and builds it.
func compileLayer(l *Layer, loc *time.Location, people map[string]bool) (layer, error) {
	var errs []error
	out := layer{name: l.Name, members: slices.Clone(l.Members), perShift: l.PerShift, every: int64(l.Every)}
	if out.perShift == 0 {
		out.perShift = 1
	}
	n := len(l.Members)
	if n == 0 {
		errs = append(errs, errors.New("at least one member is required"))
	}
	seen := make(map[string]bool, n)
	for _, m := range l.Members {
		if !people[m] {
			errs = append(errs, fmt.Errorf("person %q is not defined in people", m))
		}
		if seen[m] {
			errs = append(errs, fmt.Errorf("duplicate member %q", m))
		}
		seen[m] = true
	}
	switch {
	case out.perShift < 1 || (n > 0 && out.perShift > n):
		errs = append(errs, fmt.Errorf("per shift must be from 1 to the number of members (%d), got %d", n, l.PerShift))
	case l.Every < 0:
		errs = append(errs, fmt.Errorf("every must not be negative (got %d days)", l.Every))
	case out.perShift == n:
		out.every = 0 // everyone is always on call: no handoff changes anything
	case l.Every == 0:
		errs = append(errs, fmt.Errorf("every is required: %d members take turns, %d at a time", n, out.perShift))
	case l.Anchor.IsZero():
		errs = append(errs, errors.New("anchor is required with every"))
	default:
		a := l.Anchor.In(loc)
		out.anchorDay = DateOf(a).dayNumber()
		h, m, s := a.Clock()
		out.anchorClock = time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second +
			time.Duration(a.Nanosecond())
	}
	for i, w := range l.Windows {
		cw, err := compileWindow(w)
		if err != nil {
			errs = append(errs, fmt.Errorf("window %d: %w", i+1, err))
			continue
		}
		out.windows = append(out.windows, cw)
	}
	if err := errors.Join(errs...); err != nil {
		return layer{}, err
	}
	return out, nil
}

// compileWindow checks a window and builds it.
func compileWindow(w Window) (window, error) {
	out := window{from: w.From, to: w.To}
	switch {
	case w.From < 0 || w.From >= 24*time.Hour:
		return window{}, fmt.Errorf("from must be from 0 to before 24h, got %s", w.From)
	case w.To < 0 || w.To > 24*time.Hour:
		return window{}, fmt.Errorf("to must be from 0 to 24h, got %s", w.To)
	case w.From == w.To:
		return window{}, fmt.Errorf("from and to are both %s: a window needs a length", w.From)
	}
	if len(w.Days) == 0 {
		out.days = [7]bool{true, true, true, true, true, true, true}
	}
	for _, d := range w.Days {
		if d < time.Sunday || d > time.Saturday {
			return window{}, fmt.Errorf("weekday %d is not a day of the week", d)
		}
		out.days[d] = true
	}
	return out, nil
}

// Name returns the schedule's name.
func (s *Schedule) Name() string { return s.name }

// Location returns the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Overrides returns the schedule's overrides, lowest precedence first.
func (s *Schedule) Overrides() []Override { return slices.Clone(s.overrides) }

// assignment is who is on call at an instant, and what decides it.
type assignment struct {
	people   []string
	layer    int // index in layers; -1 for an override or nobody
	override bool
}

// equal reports whether two assignments are the same: a Shift ends
// where its assignment changes.
func (a assignment) equal(b assignment) bool {
	return a.layer == b.layer && a.override == b.override && slices.Equal(a.people, b.people)
}

// assign says who is on call at t: the last override that covers t, else
// the last layer that is active at t, else nobody.
func (s *Schedule) assign(t time.Time) assignment {
	for i := len(s.overrides) - 1; i >= 0; i-- {
		if o := s.overrides[i]; !t.Before(o.From) && t.Before(o.To) {
			return assignment{people: []string{o.Person}, layer: -1, override: true}
		}
	}
	for i := len(s.layers) - 1; i >= 0; i-- {
		if l := &s.layers[i]; s.active(l, t) {
			return assignment{people: l.peopleAt(s.index(l, t)), layer: i}
		}
	}
	return assignment{layer: -1}
}

// shift turns an assignment held from from to to into a Shift.
func (s *Schedule) shift(a assignment, from, to time.Time) Shift {
	sh := Shift{Schedule: s.name, People: slices.Clone(a.people), Override: a.override}
	if sh.People == nil {
		sh.People = []string{}
	}
	if a.layer >= 0 {
		sh.Layer = s.layers[a.layer].name
	}
	if !from.IsZero() {
		sh.From = from.In(s.loc)
	}
	if !to.IsZero() {
		sh.To = to.In(s.loc)
	}
	return sh
}

// At says who is on call at t, and from when to when that holds (see
// Shift). Times are in the schedule's location.
func (s *Schedule) At(t time.Time) Shift {
	cur := s.assign(t)
	return s.shift(cur, s.changeBefore(t, cur, t.Add(-Horizon)), s.changeAfter(t, cur, t.Add(Horizon)))
}

// Next returns the first shift after the one holding t in which someone
// is on call who is not on call at t; false when there is none within
// Horizon.
func (s *Schedule) Next(t time.Time) (Shift, bool) {
	cur := s.assign(t)
	limit := t.Add(Horizon)
	for e := s.nextEdge(t); !e.IsZero() && e.Before(limit); e = s.nextEdge(e) {
		a := s.assign(e)
		if len(a.people) == 0 || !hasNewcomer(a.people, cur.people) {
			continue
		}
		return s.shift(a, e, s.changeAfter(e, a, e.Add(Horizon))), true
	}
	return Shift{}, false
}

// hasNewcomer reports whether people holds someone not in before.
func hasNewcomer(people, before []string) bool {
	for _, p := range people {
		if !slices.Contains(before, p) {
			return true
		}
	}
	return false
}

// Shifts lists the shifts from from to to, in order: the first starts at
// from and the last ends at to; a shift with no People is a gap.
func (s *Schedule) Shifts(from, to time.Time) []Shift {
	if !from.Before(to) {
		return nil
	}
	var out []Shift
	cur, start := s.assign(from), from
	for e := s.nextEdge(from); !e.IsZero() && e.Before(to); e = s.nextEdge(e) {
		a := s.assign(e)
		if a.equal(cur) {
			continue
		}
		out = append(out, s.shift(cur, start, e))
		cur, start = a, e
	}
	return append(out, s.shift(cur, start, to))
}

// Gaps lists the times from from to to when nobody is on call.
func (s *Schedule) Gaps(from, to time.Time) []Gap {
	var gaps []Gap
	for _, sh := range s.Shifts(from, to) {
		if len(sh.People) == 0 {
			gaps = append(gaps, Gap{From: sh.From, To: sh.To})
		}
	}
	return gaps
}

// changeAfter returns the first instant after t, before limit, at which
// the assignment is no longer cur; zero when there is none.
func (s *Schedule) changeAfter(t time.Time, cur assignment, limit time.Time) time.Time {
	for e := s.nextEdge(t); !e.IsZero() && e.Before(limit); e = s.nextEdge(e) {
		if !s.assign(e).equal(cur) {
			return e
		}
	}
	return time.Time{}
}

// changeBefore returns the instant at or before t, not before limit, from
// which the assignment has been cur; zero when it has been cur since
// before limit.
func (s *Schedule) changeBefore(t time.Time, cur assignment, limit time.Time) time.Time {
	for p := s.prevEdge(t); !p.IsZero() && !p.Before(limit); p = s.prevEdge(p.Add(-time.Nanosecond)) {
		if !s.assign(p.Add(-time.Nanosecond)).equal(cur) {
			return p
		}
	}
	return time.Time{}
}

// nextEdge returns the first instant after t at which an override, a
// handoff or a window starts or ends; zero when there is none.
func (s *Schedule) nextEdge(t time.Time) time.Time {
	var best time.Time
	consider := func(e time.Time) {
		if e.After(t) && (best.IsZero() || e.Before(best)) {
			best = e
		}
	}
	for _, o := range s.overrides {
		consider(o.From)
		consider(o.To)
	}
	for i := range s.layers {
		l := &s.layers[i]
		if l.every > 0 {
			consider(s.handoff(l, s.index(l, t)+1))
		}
		consider(s.nextWindowEdge(l, t))
	}
	return best
}

// prevEdge returns the last instant at or before t at which an override,
// a handoff or a window starts or ends; zero when there is none.
func (s *Schedule) prevEdge(t time.Time) time.Time {
	var best time.Time
	consider := func(e time.Time) {
		if !e.IsZero() && !e.After(t) && e.After(best) {
			best = e
		}
	}
	for _, o := range s.overrides {
		consider(o.From)
		consider(o.To)
	}
	for i := range s.layers {
		l := &s.layers[i]
		if l.every > 0 {
			consider(s.handoff(l, s.index(l, t)))
		}
		consider(s.prevWindowEdge(l, t))
	}
	return best
}

// index returns the number of the shift of l at t: how many whole
// rotation periods have passed from the anchor's local date-time to t's,
// counted in calendar days (negative before the anchor); 0 for a layer
// that does not rotate.
func (s *Schedule) index(l *layer, t time.Time) int64 {
	if l.every == 0 {
		return 0
	}
	d := DateOf(t.In(s.loc))
	days := d.dayNumber() - l.anchorDay
	if t.Before(d.at(l.anchorClock, s.loc)) {
		days-- // today's handoff is still to come
	}
	return floorDiv(days, l.every)
}

// handoff returns the instant shift i of l starts.
func (s *Schedule) handoff(l *layer, i int64) time.Time {
	return dateOfDay(l.anchorDay+i*l.every).at(l.anchorClock, s.loc)
}

// peopleAt returns who is on call in shift i of l.
func (l *layer) peopleAt(i int64) []string {
	n := int64(len(l.members))
	if l.every == 0 {
		return slices.Clone(l.members)
	}
	start := ((i % n) + n) % n
	out := make([]string, l.perShift)
	for j := range out {
		out[j] = l.members[(start+int64(j))%n]
	}
	return out
}

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// opens reports whether w opens on d: a workday stands for every working
// weekday, a holiday for a Saturday, any other day for itself.
func (s *Schedule) opens(w *window, d Date) bool {
	switch {
	case s.workdays[d]:
		for wd, working := range s.weekdays {
			if working && w.days[wd] {
				return true
			}
		}
		return false
	case s.holidays[d]:
		return w.days[time.Saturday]
	}
	return w.days[d.weekday()]
}

// occurrence returns when w, opening on d, starts and ends.
func (s *Schedule) occurrence(w *window, d Date) (start, end time.Time) {
	start = d.at(w.from, s.loc)
	if w.to > w.from {
		return start, d.at(w.to, s.loc)
	}
	return start, d.addDays(1).at(w.to, s.loc)
}

// active reports whether l is active at t: it has no windows, or t is
// inside an occurrence of one (which opened today or yesterday).
func (s *Schedule) active(l *layer, t time.Time) bool {
	if len(l.windows) == 0 {
		return true
	}
	today := DateOf(t.In(s.loc))
	for _, d := range [...]Date{today.addDays(-1), today} {
		for i := range l.windows {
			w := &l.windows[i]
			if !s.opens(w, d) {
				continue
			}
			if start, end := s.occurrence(w, d); !t.Before(start) && t.Before(end) {
				return true
			}
		}
	}
	return false
}

// nextWindowEdge returns the first start or end of a window occurrence of
// l after t; zero when there is none within maxScanDays.
func (s *Schedule) nextWindowEdge(l *layer, t time.Time) time.Time {
	if len(l.windows) == 0 {
		return time.Time{}
	}
	var best time.Time
	first := DateOf(t.In(s.loc)).addDays(-1)
	for i := range maxScanDays {
		d := first.addDays(i)
		// Occurrences that open on d or later start at d's midnight or later.
		if !best.IsZero() && d.at(0, s.loc).After(best) {
			break
		}
		for j := range l.windows {
			w := &l.windows[j]
			if !s.opens(w, d) {
				continue
			}
			start, end := s.occurrence(w, d)
			for _, e := range [...]time.Time{start, end} {
				if e.After(t) && (best.IsZero() || e.Before(best)) {
					best = e
				}
			}
		}
	}
	return best
}

// prevWindowEdge returns the last start or end of a window occurrence of
// l at or before t; zero when there is none within maxScanDays.
func (s *Schedule) prevWindowEdge(l *layer, t time.Time) time.Time {
	if len(l.windows) == 0 {
		return time.Time{}
	}
	var best time.Time
	last := DateOf(t.In(s.loc))
	for i := range maxScanDays {
		d := last.addDays(-i)
		// Occurrences that open on d or earlier end by the midnight two
		// days later.
		if !best.IsZero() && !d.addDays(2).at(0, s.loc).After(best) {
			break
		}
		for j := range l.windows {
			w := &l.windows[j]
			if !s.opens(w, d) {
				continue
			}
			start, end := s.occurrence(w, d)
			for _, e := range [...]time.Time{start, end} {
				if !e.After(t) && e.After(best) {
					best = e
				}
			}
		}
	}
	return best
}
