package rules

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Calendar defaults.
const (
	defaultTimezone   = "UTC"
	defaultWorkStart  = "09:00"
	defaultWorkEnd    = "18:00"
	dateLayout        = "2006-01-02"
	maxWorkingSLAUnit = 10000 // working days or working hours in one SLADuration
)

// weekdayNames maps the names a calendar accepts to their weekdays.
var weekdayNames = map[string]time.Weekday{
	"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday,
	"fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday,
}

// clockRE is a time of day, HH:MM on the 24-hour clock; 24:00 is midnight
// at the end of the day.
var clockRE = regexp.MustCompile(`^(?:([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00))$`)

// CalendarConfig is when people are at work: the hours of a working day,
// the weekdays that are working days, and the dates that break the weekly
// rule (public holidays, and the make-up working days that some countries
// move onto a weekend, 调休).
type CalendarConfig struct {
	Timezone     string       `yaml:"timezone"`      // IANA name, default UTC
	WorkingHours WorkingHours `yaml:"working_hours"` // default 09:00 to 18:00
	Weekdays     []string     `yaml:"weekdays"`      // mon … sun, default mon to fri
	Holidays     []string     `yaml:"holidays"`      // YYYY-MM-DD dates that are not working days
	Workdays     []string     `yaml:"workdays"`      // YYYY-MM-DD working days, even on a weekend
}

// WorkingHours is the part of a working day that counts as working time,
// as HH:MM on the 24-hour clock in the calendar's time zone. End may be
// 24:00, the midnight that ends the day.
type WorkingHours struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// setDefaults fills the calendar's unset fields. An explicit empty list of
// weekdays stays empty, for validate to refuse.
func (c *CalendarConfig) setDefaults() {
	if c.Timezone == "" {
		c.Timezone = defaultTimezone
	}
	if c.WorkingHours.Start == "" {
		c.WorkingHours.Start = defaultWorkStart
	}
	if c.WorkingHours.End == "" {
		c.WorkingHours.End = defaultWorkEnd
	}
	if c.Weekdays == nil {
		c.Weekdays = []string{"mon", "tue", "wed", "thu", "fri"}
	}
}

// validate checks the calendar.
func (c *CalendarConfig) validate(v *validator, path string) { c.compile(v, path) }

// Calendar is a CalendarConfig ready to answer questions about instants.
type Calendar struct {
	loc         *time.Location
	open, close clock
	weekdays    [7]bool
	holidays    map[civilDate]bool
	workdays    map[civilDate]bool
}

// NewCalendar compiles c, with defaults for its unset fields; c itself is
// not changed.
func NewCalendar(c *CalendarConfig) (*Calendar, error) {
	cc := *c
	cc.setDefaults()
	var v validator
	cal := cc.compile(&v, "")
	if err := problemsError(&v); err != nil {
		return nil, err
	}
	return cal, nil
}

// compile checks c and, when it is valid, builds its Calendar; it returns
// nil when it found a problem.
func (c *CalendarConfig) compile(v *validator, path string) *Calendar {
	before := len(v.problems)
	cal := &Calendar{holidays: map[civilDate]bool{}, workdays: map[civilDate]bool{}}

	loc, err := loadZone(c.Timezone)
	if err != nil {
		v.addf(joinKey(path, "timezone"), "%v", err)
	}
	cal.loc = loc
	cal.open, cal.close = c.WorkingHours.compile(v, joinKey(path, "working_hours"))

	wp := joinKey(path, "weekdays")
	if len(c.Weekdays) == 0 {
		v.addf(wp, "at least one weekday is required")
	}
	seen := make(map[time.Weekday]string)
	for i, name := range c.Weekdays {
		ip := joinIndex(wp, i)
		wd, ok := weekdayNames[name]
		switch {
		case !ok:
			v.addf(ip, "%q is not a weekday (use mon, tue, wed, thu, fri, sat or sun)", name)
		case seen[wd] != "":
			v.addf(ip, "duplicate weekday %q (also %s)", name, seen[wd])
		default:
			seen[wd] = ip
			cal.weekdays[wd] = true
		}
	}

	holidays := compileDates(v, joinKey(path, "holidays"), c.Holidays, cal.holidays)
	workdays := compileDates(v, joinKey(path, "workdays"), c.Workdays, cal.workdays)
	for i, s := range c.Workdays {
		ip := joinIndex(joinKey(path, "workdays"), i)
		// Report each date once, where it is first listed as a workday.
		if d, ok := parseDate(s); ok && workdays[d] == ip && holidays[d] != "" {
			v.addf(ip, "%s is also a holiday (%s); a date is either a holiday or a workday", s, holidays[d])
		}
	}

	if len(v.problems) > before {
		return nil
	}
	return cal
}

// compile checks the working hours and returns them as clock times.
func (h WorkingHours) compile(v *validator, path string) (start, end clock) {
	start, okStart := parseClock(h.Start)
	if !okStart {
		v.addf(joinKey(path, "start"), "%q is not a time of day (HH:MM, 24-hour clock)", h.Start)
	}
	end, okEnd := parseClock(h.End)
	if !okEnd {
		v.addf(joinKey(path, "end"), "%q is not a time of day (HH:MM, 24-hour clock)", h.End)
	}
	if okStart && okEnd && start >= end {
		v.addf(path, "start %s must be before end %s", h.Start, h.End)
	}
	return start, end
}

// compileDates parses a list of dates into set, reporting bad and
// duplicate ones. It returns where each date is listed.
func compileDates(v *validator, path string, dates []string, set map[civilDate]bool) map[civilDate]string {
	where := make(map[civilDate]string, len(dates))
	for i, s := range dates {
		ip := joinIndex(path, i)
		d, ok := parseDate(s)
		switch {
		case !ok:
			v.addf(ip, "%q is not a date (YYYY-MM-DD)", s)
		case where[d] != "":
			v.addf(ip, "duplicate date %s (also %s)", s, where[d])
		default:
			where[d] = ip
			set[d] = true
		}
	}
	return where
}

// problemsError returns v's problems as Errors, by path and without file
// positions, or nil when there are none.
func problemsError(v *validator) error {
	if len(v.problems) == 0 {
		return nil
	}
	errs := make(Errors, len(v.problems))
	for i, p := range v.problems {
		errs[i] = Error{Msg: withPath(p.path, p.msg)}
	}
	return errs
}

// loadZone loads an IANA time zone. It refuses "Local", whose meaning
// depends on the machine.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%q is not a time zone (use an IANA name like Europe/Berlin)", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not a time zone (use an IANA name like Europe/Berlin)", name)
	}
	return loc, nil
}

// clock is a time of day in minutes after midnight, from 0 to 24*60.
type clock int

// parseClock parses HH:MM on the 24-hour clock, or 24:00.
func parseClock(s string) (clock, bool) {
	m := clockRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	if m[3] != "" {
		return 24 * 60, true
	}
	h, _ := strconv.Atoi(m[1])
	mm, _ := strconv.Atoi(m[2])
	return clock(h*60 + mm), true
}

// civilDate is a date on the wall calendar, without a time zone.
type civilDate struct {
	year  int
	month time.Month
	day   int
}

// parseDate parses YYYY-MM-DD.
func parseDate(s string) (civilDate, bool) {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return civilDate{}, false
	}
	return dateOf(t), true
}

// dateOf returns the date of t in t's location.
func dateOf(t time.Time) civilDate {
	y, m, d := t.Date()
	return civilDate{y, m, d}
}

// next returns the following date.
func (d civilDate) next() civilDate {
	return dateOf(time.Date(d.year, d.month, d.day+1, 0, 0, 0, 0, time.UTC))
}

// weekday returns the day of the week of d.
func (d civilDate) weekday() time.Weekday {
	return time.Date(d.year, d.month, d.day, 0, 0, 0, 0, time.UTC).Weekday()
}

// at returns the instant at clock c on d in loc. 24:00 is midnight at the
// start of the next day. A time of day that a DST change skips is
// normalized the way time.Date does it.
func (d civilDate) at(c clock, loc *time.Location) time.Time {
	return time.Date(d.year, d.month, d.day, int(c)/60, int(c)%60, 0, 0, loc)
}

// isWorkingDate reports whether d is a working day: a listed workday, or
// a working weekday that is not a listed holiday.
func (c *Calendar) isWorkingDate(d civilDate, wd time.Weekday) bool {
	if c.workdays[d] {
		return true
	}
	return c.weekdays[wd] && !c.holidays[d]
}

// IsWorkingDay reports whether t falls on a working day in the calendar's
// time zone.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	lt := t.In(c.loc)
	return c.isWorkingDate(dateOf(lt), lt.Weekday())
}

// InBusinessHours reports whether t is inside the working hours of a
// working day: from the opening time, inclusive, to the closing time,
// exclusive.
func (c *Calendar) InBusinessHours(t time.Time) bool {
	lt := t.In(c.loc)
	d := dateOf(lt)
	if !c.isWorkingDate(d, lt.Weekday()) {
		return false
	}
	return !lt.Before(d.at(c.open, c.loc)) && lt.Before(d.at(c.close, c.loc))
}

// WorkingDayLength is the nominal length of a working day: its closing
// time minus its opening time on the clock. On the day of a DST change
// inside the working hours the real length differs by the change.
func (c *Calendar) WorkingDayLength() time.Duration {
	return time.Duration(c.close-c.open) * time.Minute
}

// AddWorkingTime returns the earliest instant by which d of working time
// has passed since start. Only real elapsed time inside the working hours
// of working days counts, so a start outside them begins counting at the
// next opening, and a deadline that uses up a day's working time exactly
// falls on that day's closing time. A d of zero or less returns start.
// The result is in start's location.
func (c *Calendar) AddWorkingTime(start time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return start
	}
	t := start.In(c.loc)
	day := dateOf(t)
	// The loop ends: validation guarantees a working weekday, so every
	// week past the last listed holiday has working time.
	for {
		if c.isWorkingDate(day, day.weekday()) {
			open, closing := day.at(c.open, c.loc), day.at(c.close, c.loc)
			from := open
			if t.After(open) {
				from = t
			}
			if avail := closing.Sub(from); avail > 0 {
				if d <= avail {
					return from.Add(d).In(start.Location())
				}
				d -= avail
			}
		}
		day = day.next()
	}
}

// SLADuration is how long an SLA clock runs: wall-clock time, or working
// time on a Calendar. Exactly one of the fields is set; all zero means no
// SLA.
//
// A working day is one working day's worth of working time
// (Calendar.WorkingDayLength), not "the same time on the next working
// day". The two agree when the clock starts inside working hours: with
// working hours 09:00–18:00 Monday to Friday, an info (P4) alert raised on
// Friday at 17:00 with "1 working day" has one hour on Friday and eight on
// Monday, so it is due on Monday at 17:00, and on Tuesday at 17:00 when
// that Monday is a listed holiday. An alert raised outside working hours
// starts its clock at the next opening: raised on Saturday, it is due at
// Monday's closing time.
type SLADuration struct {
	Wall         time.Duration
	WorkingDays  float64
	WorkingHours float64
}

// workingSLARE is "<number> working day(s)" or "<number> working hour(s)",
// with single spaces.
var workingSLARE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?) working (day|days|hour|hours)$`)

// ParseSLADuration parses a wall-clock duration that ParseDuration
// accepts (15m, 4h, 1d) or an amount of working time: "1 working day",
// "0.5 working days", "8 working hours".
func ParseSLADuration(s string) (SLADuration, error) {
	if d, err := ParseDuration(s); err == nil {
		return SLADuration{Wall: d.D()}, nil
	}
	m := workingSLARE.FindStringSubmatch(strings.Join(strings.Fields(s), " "))
	if m == nil {
		return SLADuration{}, fmt.Errorf("%q is not a duration (like 15m, 4h, 1d, 1 working day or 8 working hours)", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	unit := strings.TrimSuffix(m[2], "s")
	if err != nil || n > maxWorkingSLAUnit {
		return SLADuration{}, fmt.Errorf("%q is too long (at most %d working %ss)", s, maxWorkingSLAUnit, unit)
	}
	if unit == "day" {
		return SLADuration{WorkingDays: n}, nil
	}
	return SLADuration{WorkingHours: n}, nil
}

// UnmarshalYAML parses a scalar with ParseSLADuration.
func (s *SLADuration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration, got %s", nodeKind(n))
	}
	v, err := ParseSLADuration(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalYAML writes s the way String does, which ParseSLADuration reads
// back.
func (s SLADuration) MarshalYAML() (any, error) { return s.String(), nil }

// String writes a wall-clock duration the way Duration does (15m, 1d) and
// working time as "1 working day", "0.5 working days", "8 working hours".
func (s SLADuration) String() string {
	switch {
	case s.WorkingDays != 0:
		return workingString(s.WorkingDays, "day")
	case s.WorkingHours != 0:
		return workingString(s.WorkingHours, "hour")
	}
	return Duration(s.Wall).String()
}

// workingString writes n working units, singular only for exactly one.
func workingString(n float64, unit string) string {
	if n != 1 {
		unit += "s"
	}
	return strconv.FormatFloat(n, 'f', -1, 64) + " working " + unit
}

// IsZero reports whether s is unset.
func (s SLADuration) IsZero() bool {
	return s.Wall == 0 && s.WorkingDays == 0 && s.WorkingHours == 0
}

// validate refuses negative durations and more than one kind, which only
// code can construct.
func (s SLADuration) validate(v *validator, path string) {
	set := 0
	for _, nonzero := range []bool{s.Wall != 0, s.WorkingDays != 0, s.WorkingHours != 0} {
		if nonzero {
			set++
		}
	}
	switch {
	case set > 1:
		v.addf(path, "set only one of a wall-clock duration, working days or working hours")
	case s.Wall < 0 || s.WorkingDays < 0 || s.WorkingHours < 0:
		v.addf(path, "must not be negative (got %s)", s)
	case s.WorkingDays > maxWorkingSLAUnit || s.WorkingHours > maxWorkingSLAUnit:
		v.addf(path, "is too long (at most %d working days or hours)", maxWorkingSLAUnit)
	}
}

// Deadline returns when an SLA clock started at start runs out: start
// plus the wall-clock duration (elapsed time, so 1d is 24 hours even
// across a DST change), or start plus the working time on cal (see
// SLADuration for what a working day means). A nil cal counts every
// moment as working time, with 24-hour working days.
func (s SLADuration) Deadline(start time.Time, cal *Calendar) time.Time {
	d, working := s.workingTime(cal)
	switch {
	case !working:
		return start.Add(s.Wall)
	case cal == nil:
		return start.Add(d)
	}
	return cal.AddWorkingTime(start, d)
}

// workingTime is the working time s asks for on cal (a working day is
// cal's working-day length, 24 hours without a calendar), and false when
// s is wall time.
func (s SLADuration) workingTime(cal *Calendar) (time.Duration, bool) {
	var amount float64
	var unit time.Duration
	switch {
	case s.WorkingDays != 0:
		amount, unit = s.WorkingDays, 24*time.Hour
		if cal != nil {
			unit = cal.WorkingDayLength()
		}
	case s.WorkingHours != 0:
		amount, unit = s.WorkingHours, time.Hour
	default:
		return 0, false
	}
	d := time.Duration(math.MaxInt64)
	if x := math.Round(amount * float64(unit)); x < math.MaxInt64 { // false for NaN
		d = time.Duration(x)
	}
	return d, true
}

// Shortest is the least wall time from a start to its deadline: the wall
// duration, or the working time itself (reached when all of it falls
// inside one stretch of working hours).
func (s SLADuration) Shortest(cal *Calendar) time.Duration {
	if d, working := s.workingTime(cal); working {
		return d
	}
	return s.Wall
}
