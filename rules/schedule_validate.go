package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// scheduleNameRE is what a schedule may be called: it appears in API
// paths and in escalation steps (schedule:NAME).
var scheduleNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Minutes in a day and in a week, for restriction windows.
const (
	minutesPerDay  = 24 * 60
	minutesPerWeek = 7 * minutesPerDay
)

// setScheduleDefaults fills each schedule's unset fields: the calendar's
// time zone and one member per shift. Run after the calendar's defaults.
func (c *Config) setScheduleDefaults() {
	for i := range c.Schedules {
		s := &c.Schedules[i]
		if s.Timezone == "" {
			s.Timezone = c.Calendar.Timezone
		}
		for j := range s.Layers {
			if s.Layers[j].PerShift == 0 {
				s.Layers[j].PerShift = 1
			}
		}
	}
}

// validateSchedules checks every schedule, and that names are unique.
func (c *Config) validateSchedules(v *validator) {
	people := make(map[string]bool, len(c.People))
	for _, p := range c.People {
		if p.ID != "" {
			people[p.ID] = true
		}
	}
	names := make(map[string]string)
	for i := range c.Schedules {
		sp := joinIndex("schedules", i)
		s := &c.Schedules[i]
		switch {
		case s.Name == "":
			v.addf(sp, "name is required: escalations and the API refer to a schedule by it")
		case !scheduleNameRE.MatchString(s.Name):
			v.addf(joinKey(sp, "name"), "%q is not a valid schedule name (letters, digits, '.', '_' and '-', starting with a letter or digit)", s.Name)
		case names[s.Name] != "":
			v.addf(joinKey(sp, "name"), "duplicate schedule name %q (also %s)", s.Name, names[s.Name])
		default:
			names[s.Name] = sp
		}
		s.validate(v, sp, people)
	}
}

// validate checks one schedule against the people who exist.
func (s *ScheduleConfig) validate(v *validator, path string, people map[string]bool) {
	loc, err := loadZone(s.Timezone)
	if err != nil {
		v.addf(joinKey(path, "timezone"), "%v", err)
		loc = time.UTC // to go on checking anchors
	}
	if !s.Holidays.FromCalendar {
		compileDates(v, joinKey(path, "holidays"), s.Holidays.Dates, map[civilDate]bool{})
	}

	lp := joinKey(path, "layers")
	if len(s.Layers) == 0 {
		v.addf(lp, "at least one layer is required")
	}
	layerNames := make(map[string]string)
	for j := range s.Layers {
		ljp := joinIndex(lp, j)
		l := &s.Layers[j]
		if l.Name == "" {
			v.addf(ljp, "name is required")
		} else if first := layerNames[l.Name]; first != "" {
			v.addf(joinKey(ljp, "name"), "duplicate layer name %q (also %s)", l.Name, first)
		} else {
			layerNames[l.Name] = ljp
		}
		l.validate(v, ljp, loc, people)
	}

	for k := range s.Overrides {
		s.Overrides[k].validate(v, joinIndex(joinKey(path, "overrides"), k), people)
	}
}

// validate checks one layer: its members, rotation and restrictions.
func (l *LayerConfig) validate(v *validator, path string, loc *time.Location, people map[string]bool) {
	mp := joinKey(path, "members")
	if len(l.Members) == 0 {
		v.addf(mp, "at least one member is required")
	}
	seen := make(map[string]string)
	for k, id := range l.Members {
		ip := joinIndex(mp, k)
		switch {
		case !people[id]:
			v.addf(ip, "person %q is not defined in people", id)
		case seen[id] != "":
			v.addf(ip, "duplicate member %q (also %s)", id, seen[id])
		default:
			seen[id] = ip
		}
	}
	n := len(l.Members)
	rotates := false
	switch {
	case l.PerShift < 1:
		v.addf(joinKey(path, "per_shift"), "must be at least 1 (got %d)", l.PerShift)
	case n > 0 && l.PerShift > n:
		v.addf(joinKey(path, "per_shift"), "must be at most the number of members (%d), got %d", n, l.PerShift)
	default:
		rotates = n > l.PerShift
	}
	l.Rotation.validate(v, joinKey(path, "rotation"), loc, rotates, n, l.PerShift)

	rp := joinKey(path, "restrictions")
	var compiled [][]weekSpan
	var where []int
	for k := range l.Restrictions {
		kp := joinIndex(rp, k)
		spans, ok := l.Restrictions[k].compile(v, kp)
		if !ok {
			continue
		}
		for i, other := range compiled {
			if o, found := firstOverlap(other, spans); found {
				v.addf(kp, "overlaps %s from %s to %s; the windows of one layer must not overlap",
					joinIndex("restrictions", where[i]), weekMinute(o.from), weekMinute(o.to))
				break
			}
		}
		compiled = append(compiled, spans)
		where = append(where, k)
	}
}

// validate checks a rotation; rotates says whether the layer needs one.
func (r *RotationConfig) validate(v *validator, path string, loc *time.Location, rotates bool, members, perShift int) {
	if r.Every == "" && r.Anchor == "" {
		if rotates {
			v.addf(path, "every and anchor are required: the layer has %d members and %d on call at once, so they take turns", members, perShift)
		}
		return
	}
	if r.Every == "" {
		v.addf(path, "every is required with anchor")
	} else if _, err := r.Every.Days(); err != nil {
		v.addf(joinKey(path, "every"), "%v", err)
	}
	if r.Anchor == "" {
		v.addf(path, "anchor is required with every: handoffs are counted from it")
	} else if _, err := r.Anchor.In(loc); err != nil {
		v.addf(joinKey(path, "anchor"), "%v", err)
	}
}

// weekSpan is a half-open interval of minutes of the week, Monday 00:00
// being 0.
type weekSpan struct{ from, to int }

// mondayIndex numbers the days of the week from Monday (0) to Sunday (6).
func mondayIndex(wd time.Weekday) int { return (int(wd) + 6) % 7 }

// compile checks a restriction window and returns the minutes of the
// week it covers; ok is false when it found a problem.
func (r *RestrictionConfig) compile(v *validator, path string) (spans []weekSpan, ok bool) {
	before := len(v.problems)
	var days [7]bool
	dp := joinKey(path, "days")
	if r.Days == nil {
		days = [7]bool{true, true, true, true, true, true, true}
	} else if len(r.Days) == 0 {
		v.addf(dp, "at least one day is required (leave days out for every day)")
	}
	seen := make(map[time.Weekday]string)
	for m, d := range r.Days {
		ip := joinIndex(dp, m)
		wd, err := d.Weekday()
		switch {
		case err != nil:
			v.addf(ip, "%v", err)
		case seen[wd] != "":
			v.addf(ip, "duplicate day %q (also %s)", string(d), seen[wd])
		default:
			seen[wd] = ip
			days[wd] = true
		}
	}
	from, okFrom := r.From.check(v, path, "from")
	to, okTo := r.To.check(v, path, "to")
	if okFrom && from == 24*time.Hour {
		v.addf(joinKey(path, "from"), "must be before 24:00: a window starts on the day it names")
	}
	if okFrom && okTo && from == to {
		v.addf(path, "from and to are both %s: a window needs a length (a to before from ends the next day)", r.From)
	}
	if len(v.problems) > before {
		return nil, false
	}
	start := int(from / time.Minute)
	length := int((to - from) / time.Minute)
	if to < from {
		length += minutesPerDay
	}
	for wd, on := range days {
		if !on {
			continue
		}
		s := mondayIndex(time.Weekday(wd))*minutesPerDay + start
		if e := s + length; e <= minutesPerWeek {
			spans = append(spans, weekSpan{s, e})
		} else {
			spans = append(spans, weekSpan{s, minutesPerWeek}, weekSpan{0, e - minutesPerWeek})
		}
	}
	return spans, true
}

// check parses a window's from or to, which is required.
func (c TimeOfDay) check(v *validator, path, key string) (time.Duration, bool) {
	if c == "" {
		v.addf(path, "%s is required (HH:MM)", key)
		return 0, false
	}
	d, err := c.Offset()
	if err != nil {
		v.addf(joinKey(path, key), "%v", err)
		return 0, false
	}
	return d, true
}

// firstOverlap returns the earliest interval of the week where a and b
// overlap.
func firstOverlap(a, b []weekSpan) (weekSpan, bool) {
	best, found := weekSpan{}, false
	for _, x := range a {
		for _, y := range b {
			lo, hi := max(x.from, y.from), min(x.to, y.to)
			if lo < hi && (!found || lo < best.from) {
				best, found = weekSpan{lo, hi}, true
			}
		}
	}
	return best, found
}

// weekMinute writes a minute of the week as "mon 09:00".
func weekMinute(m int) string {
	m %= minutesPerWeek
	wd := time.Weekday((m/minutesPerDay + 1) % 7)
	return fmt.Sprintf("%s %02d:%02d", dayName(wd), m%minutesPerDay/60, m%60)
}

// validate checks an override: someone who exists, from before to.
func (o *OverrideConfig) validate(v *validator, path string, people map[string]bool) {
	switch {
	case o.Person == "":
		v.addf(path, "person is required")
	case !people[o.Person]:
		v.addf(joinKey(path, "person"), "person %q is not defined in people", o.Person)
	}
	from, okFrom := parseOverrideTime(v, path, "from", o.From)
	to, okTo := parseOverrideTime(v, path, "to", o.To)
	if okFrom && okTo && !to.After(from) {
		v.addf(joinKey(path, "to"), "must be after from (from %s, to %s)", o.From, o.To)
	}
}

// parseOverrideTime parses an override's from or to, which is required.
func parseOverrideTime(v *validator, path, key, s string) (time.Time, bool) {
	if s == "" {
		v.addf(path, "%s is required (RFC 3339, like 2026-12-24T18:00:00+08:00)", key)
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		v.addf(joinKey(path, key), "%q is not an RFC 3339 time (like 2026-12-24T18:00:00+08:00)", s)
		return time.Time{}, false
	}
	return t, true
}

// Warnings are problems that do not stop a config from loading, for
// `remediator check` to print (and serve to log): two layers of a
// schedule with the same members and restriction windows, where the
// earlier never decides who is on call, and the remediation warnings
// (remediationWarnings). (Gaps in a schedule need the schedule computed:
// package oncall reports them.)
func (c *Config) Warnings() []string {
	out := append(c.placeholderWarnings(), c.remediationWarnings()...)
	out = append(out, c.slaWarnings()...)
	for i := range c.Schedules {
		s := &c.Schedules[i]
		sp := joinIndex("schedules", i)
		keys := make([]string, len(s.Layers))
		for j := range s.Layers {
			keys[j] = s.Layers[j].identity()
		}
		for j := range s.Layers {
			for k := range j {
				if keys[j] != "" && keys[j] == keys[k] {
					out = append(out, fmt.Sprintf("%s: layer %q has the same members and restrictions as layers[%d] (%q), so %q never decides who is on call",
						joinIndex(joinKey(sp, "layers"), j), s.Layers[j].Name, k, s.Layers[k].Name, s.Layers[k].Name))
					break
				}
			}
		}
	}
	return out
}

// slaWarnings: a level whose first page is due when its respond-by time
// has already come (notify_within at or past the shortest respond_within)
// breaches its own SLA before anyone is paged.
func (c *Config) slaWarnings() []string {
	var out []string
	for i := range c.Levels {
		l := &c.Levels[i]
		pages := l.Escalation != "" || len(l.Notify.People) > 0 || len(l.Notify.Rooms) > 0
		if l.NotifyWithin.Report || l.RespondWithin.IsZero() || !pages {
			continue
		}
		if respond := l.RespondWithin.Shortest(c.calendar); l.NotifyWithin.Within >= respond {
			out = append(out, fmt.Sprintf("%s: level %q is first paged %s after an incident opens (notify_within), but must be answered within %s (respond_within): its respond SLA is breached before anyone hears of it",
				joinIndex("levels", i), l.Name, Duration(l.NotifyWithin.Within), l.RespondWithin))
		}
	}
	return out
}

// identity describes a layer's members (in any order) and the minutes of
// the week its windows cover, or "" when its windows do not compile.
func (l *LayerConfig) identity() string {
	var spans []weekSpan
	if len(l.Restrictions) == 0 {
		spans = []weekSpan{{0, minutesPerWeek}}
	}
	for k := range l.Restrictions {
		var v validator
		ws, ok := l.Restrictions[k].compile(&v, "")
		if !ok {
			return ""
		}
		spans = append(spans, ws...)
	}
	slices.SortFunc(spans, func(a, b weekSpan) int { return a.from - b.from })
	var merged []weekSpan
	for _, s := range spans {
		if n := len(merged); n > 0 && s.from <= merged[n-1].to {
			merged[n-1].to = max(merged[n-1].to, s.to)
			continue
		}
		merged = append(merged, s)
	}
	members := slices.Clone(l.Members)
	slices.Sort(members)
	return fmt.Sprintf("%s|%v", strings.Join(members, ","), merged)
}
