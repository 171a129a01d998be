package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// HolidaysFromCalendar is what `holidays:` says to use the business
// calendar's holidays and make-up workdays.
const HolidaysFromCalendar = "calendar"

// maxRotationUnits bounds rotation.every, in days or in weeks.
const maxRotationUnits = 10000

// ScheduleConfig is an on-call schedule: who is on call when. Its layers
// are rotations; where several are active, the last one decides. An
// override names someone who covers the whole schedule for a while.
type ScheduleConfig struct {
	// Name is how escalations and the API refer to the schedule.
	Name string `yaml:"name"`
	// Timezone is the IANA zone of the layers' anchors and restriction
	// windows. Default: calendar.timezone.
	Timezone string `yaml:"timezone"`
	// Holidays are the dates that count as a Saturday in restriction
	// windows: "calendar" (calendar.holidays, and calendar.workdays count
	// as weekdays), or a list of YYYY-MM-DD dates. Default: none.
	Holidays ScheduleHolidays `yaml:"holidays"`
	Layers   []LayerConfig    `yaml:"layers"`
	// Overrides replace everyone of the schedule for a while.
	Overrides []OverrideConfig `yaml:"overrides"`
}

// ScheduleHolidays is a schedule's `holidays:`, either "calendar" or a
// list of dates.
type ScheduleHolidays struct {
	// FromCalendar: the calendar's holidays count as Saturdays and its
	// workdays as working weekdays.
	FromCalendar bool
	// Dates are YYYY-MM-DD dates that count as Saturdays.
	Dates []string
}

// UnmarshalYAML reads "calendar" or a list of dates. The dates are
// checked by validation.
func (h *ScheduleHolidays) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != HolidaysFromCalendar {
			return fmt.Errorf("expected %q or a list of dates (YYYY-MM-DD), got %q", HolidaysFromCalendar, n.Value)
		}
		*h = ScheduleHolidays{FromCalendar: true}
		return nil
	case yaml.SequenceNode:
		dates := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("expected a date (YYYY-MM-DD) in the list, got %s", nodeKind(item))
			}
			dates = append(dates, item.Value)
		}
		*h = ScheduleHolidays{Dates: dates}
		return nil
	}
	return fmt.Errorf("expected %q or a list of dates (YYYY-MM-DD), got %s", HolidaysFromCalendar, nodeKind(n))
}

// MarshalYAML writes h the way UnmarshalYAML reads it.
func (h ScheduleHolidays) MarshalYAML() (any, error) {
	if h.FromCalendar {
		return HolidaysFromCalendar, nil
	}
	return h.Dates, nil
}

// LayerConfig is one rotation of a schedule.
type LayerConfig struct {
	Name string `yaml:"name"`
	// Members are person ids, in rotation order.
	Members []string `yaml:"members"`
	// PerShift is how many consecutive members are on call at once.
	// Default 1. Each handoff moves on by one member, so with 4 members
	// and per_shift 2 the pairs are (1,2), (2,3), (3,4), (4,1).
	PerShift int `yaml:"per_shift"`
	// Rotation is when the members hand over; required when there are
	// more members than PerShift.
	Rotation RotationConfig `yaml:"rotation"`
	// Restrictions are the windows in which the layer is active; none
	// means always.
	Restrictions []RestrictionConfig `yaml:"restrictions"`
}

// RotationConfig is a handoff every Every, counted from Anchor.
type RotationConfig struct {
	Every  RotationPeriod `yaml:"every"`
	Anchor LocalDateTime  `yaml:"anchor"`
}

// RestrictionConfig is a weekly window: from From on each of Days to To
// on the same day, or on the next day when To is before From.
type RestrictionConfig struct {
	// Days name the day a window starts on; default every day. A holiday
	// counts as sat, and a make-up workday as each working weekday.
	Days []Day     `yaml:"days"`
	From TimeOfDay `yaml:"from"`
	To   TimeOfDay `yaml:"to"`
}

// OverrideConfig is someone covering the whole schedule for a while.
type OverrideConfig struct {
	Person string `yaml:"person"`
	From   string `yaml:"from"` // RFC 3339
	To     string `yaml:"to"`   // RFC 3339, exclusive
}

// rotationRE is a rotation period: a positive number of days or weeks.
var rotationRE = regexp.MustCompile(`^([0-9]+)([dw])$`)

// RotationPeriod is a whole number of days or weeks: 1d, 14d, 2w.
type RotationPeriod string

// Days returns the period in calendar days.
func (p RotationPeriod) Days() (int, error) {
	m := rotationRE.FindStringSubmatch(string(p))
	if m == nil {
		return 0, fmt.Errorf("%q is not a whole number of days or weeks (like 1d, 14d or 2w)", string(p))
	}
	n, err := strconv.Atoi(m[1])
	switch {
	case err != nil || n > maxRotationUnits:
		return 0, fmt.Errorf("%q is too long (at most %d%s)", string(p), maxRotationUnits, m[2])
	case n == 0:
		return 0, fmt.Errorf("%q is not a positive number of days or weeks", string(p))
	}
	if m[2] == "w" {
		n *= 7
	}
	return n, nil
}

// localDateTimeLayouts are the forms of a LocalDateTime.
var localDateTimeLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"}

// LocalDateTime is a wall-clock date and time without an offset, read in
// a schedule's time zone: 2026-01-05T09:00:00 or 2026-01-05T09:00.
type LocalDateTime string

// In returns the instant at s in loc. It refuses an offset and a time
// that a daylight-saving change skips in loc.
func (s LocalDateTime) In(loc *time.Location) (time.Time, error) {
	var wall time.Time
	var err error
	for _, layout := range localDateTimeLayouts {
		if wall, err = time.Parse(layout, string(s)); err == nil {
			break
		}
	}
	if err != nil {
		if _, rerr := time.Parse(time.RFC3339, string(s)); rerr == nil {
			return time.Time{}, fmt.Errorf("%q has an offset, but it is a local date-time in the schedule's time zone (like 2026-01-05T09:00:00)", string(s))
		}
		return time.Time{}, fmt.Errorf("%q is not a local date-time (like 2026-01-05T09:00:00, in the schedule's time zone)", string(s))
	}
	t := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, loc)
	if h, m, sec := t.Clock(); h != wall.Hour() || m != wall.Minute() || sec != wall.Second() {
		return time.Time{}, fmt.Errorf("%q does not exist in %s: a daylight-saving change skips it", string(s), loc)
	}
	return t, nil
}

// TimeOfDay is HH:MM on the 24-hour clock; 24:00 is the midnight that
// ends the day.
type TimeOfDay string

// Offset returns the time since midnight, from 0 to 24h.
func (c TimeOfDay) Offset() (time.Duration, error) {
	m, ok := parseClock(string(c))
	if !ok {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM, 24-hour clock)", string(c))
	}
	return time.Duration(m) * time.Minute, nil
}

// Day is a day of the week: mon, tue, wed, thu, fri, sat or sun.
type Day string

// Weekday returns d as a time.Weekday.
func (d Day) Weekday() (time.Weekday, error) {
	wd, ok := weekdayNames[string(d)]
	if !ok {
		return 0, fmt.Errorf("%q is not a day (use mon, tue, wed, thu, fri, sat or sun)", string(d))
	}
	return wd, nil
}

// dayName is the short name of a weekday, as a config writes it.
func dayName(wd time.Weekday) string { return strings.ToLower(wd.String()[:3]) }
