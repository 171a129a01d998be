package rules

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the DST tests must not depend on the machine's zoneinfo

	"gopkg.in/yaml.v3"
)

// Fixed dates used below. January 2026: Mon 5 … Fri 9, Sat 10, Sun 11,
// Mon 12, Tue 13.
var (
	berlinLoc   = mustZone("Europe/Berlin")
	shanghaiLoc = mustZone("Asia/Shanghai")
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// utc returns the UTC instant at the given wall time.
func utcAt(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, time.UTC)
}

// in returns the instant at the given wall time in loc.
func wallAt(loc *time.Location, y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, loc)
}

// mustCalendar compiles c or fails the test.
func mustCalendar(t testing.TB, c CalendarConfig) *Calendar {
	t.Helper()
	cal, err := NewCalendar(&c)
	if err != nil {
		t.Fatalf("NewCalendar: %v", err)
	}
	return cal
}

// problemMessages runs validate and returns its problems the way Validate
// reports them, "path: message".
func problemMessages(validate func(*validator)) []string {
	var v validator
	validate(&v)
	msgs := []string{}
	for _, p := range v.problems {
		msgs = append(msgs, withPath(p.path, p.msg))
	}
	return msgs
}

func TestCalendarIsWorkingDay(t *testing.T) {
	cal := mustCalendar(t, CalendarConfig{
		Holidays: []string{"2026-01-12"},
		Workdays: []string{"2026-01-10"},
	})
	sh := mustCalendar(t, CalendarConfig{Timezone: "Asia/Shanghai"})
	cases := []struct {
		name string
		cal  *Calendar
		at   time.Time
		want bool
	}{
		{"friday", cal, utcAt(2026, 1, 9, 12, 0), true},                                // a plain weekday
		{"make-up saturday", cal, utcAt(2026, 1, 10, 12, 0), true},                     // a listed workday on a weekend
		{"sunday", cal, utcAt(2026, 1, 11, 12, 0), false},                              // a weekend day
		{"holiday monday", cal, utcAt(2026, 1, 12, 12, 0), false},                      // a listed holiday on a weekday
		{"tuesday", cal, utcAt(2026, 1, 13, 0, 0), true},                               // midnight starts the day
		{"friday night is saturday in shanghai", sh, utcAt(2026, 1, 9, 23, 30), false}, // the date is taken in the calendar's zone
		{"sunday night is monday in shanghai", sh, utcAt(2026, 1, 11, 16, 0), true},    // 00:00 CST on Monday
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cal.IsWorkingDay(tc.at); got != tc.want {
				t.Errorf("IsWorkingDay(%v) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestCalendarInBusinessHours(t *testing.T) {
	cal := mustCalendar(t, CalendarConfig{Workdays: []string{"2026-01-10"}})
	ber := mustCalendar(t, CalendarConfig{Timezone: "Europe/Berlin"})
	cases := []struct {
		name string
		cal  *Calendar
		at   time.Time
		want bool
	}{
		{"before opening", cal, time.Date(2026, 1, 9, 8, 59, 59, 0, time.UTC), false}, // one second early
		{"at opening", cal, utcAt(2026, 1, 9, 9, 0), true},                            // opening is inclusive
		{"last second", cal, time.Date(2026, 1, 9, 17, 59, 59, 0, time.UTC), true},    // still open
		{"at closing", cal, utcAt(2026, 1, 9, 18, 0), false},                          // closing is exclusive
		{"weekend", cal, utcAt(2026, 1, 11, 10, 0), false},                            // Sunday
		{"make-up saturday", cal, utcAt(2026, 1, 10, 10, 0), true},                    // a listed workday has working hours
		{"berlinLoc summer morning", ber, utcAt(2026, 3, 30, 7, 30), true},            // 09:30 CEST
		{"berlinLoc summer evening", ber, utcAt(2026, 3, 30, 16, 30), false},          // 18:30 CEST, though 17:30 in CET
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cal.InBusinessHours(tc.at); got != tc.want {
				t.Errorf("InBusinessHours(%v) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestCalendarWorkingDayLength(t *testing.T) {
	cases := []struct {
		hours WorkingHours
		want  time.Duration
	}{
		{WorkingHours{}, 9 * time.Hour},                                            // default 09:00–18:00
		{WorkingHours{Start: "08:30", End: "17:00"}, 8*time.Hour + 30*time.Minute}, // minutes count
		{WorkingHours{Start: "00:00", End: "24:00"}, 24 * time.Hour},               // round the clock
	}
	for _, tc := range cases {
		t.Run(tc.want.String(), func(t *testing.T) {
			cal := mustCalendar(t, CalendarConfig{WorkingHours: tc.hours})
			if got := cal.WorkingDayLength(); got != tc.want {
				t.Errorf("WorkingDayLength() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCalendarAddWorkingTime(t *testing.T) {
	plain := mustCalendar(t, CalendarConfig{})
	holiday := mustCalendar(t, CalendarConfig{Holidays: []string{"2026-01-12"}})
	shifted := mustCalendar(t, CalendarConfig{
		Holidays: []string{"2026-01-08", "2026-01-09"},
		Workdays: []string{"2026-01-10"},
	})
	cases := []struct {
		name  string
		cal   *Calendar
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{"within a day", plain, utcAt(2026, 1, 5, 10, 0), 2 * time.Hour, utcAt(2026, 1, 5, 12, 0)},               // Mon 10:00 + 2h
		{"across the evening", plain, utcAt(2026, 1, 5, 17, 0), 2 * time.Hour, utcAt(2026, 1, 6, 10, 0)},         // 1h Mon, 1h Tue
		{"across the weekend", plain, utcAt(2026, 1, 9, 17, 0), 2 * time.Hour, utcAt(2026, 1, 12, 10, 0)},        // 1h Fri, 1h Mon
		{"across a holiday", holiday, utcAt(2026, 1, 9, 17, 0), 2 * time.Hour, utcAt(2026, 1, 13, 10, 0)},        // Mon is a holiday
		{"before opening", plain, utcAt(2026, 1, 5, 7, 0), time.Hour, utcAt(2026, 1, 5, 10, 0)},                  // counting starts at 09:00
		{"after closing", plain, utcAt(2026, 1, 5, 20, 0), time.Hour, utcAt(2026, 1, 6, 10, 0)},                  // counting starts next morning
		{"on a weekend", plain, utcAt(2026, 1, 10, 12, 0), time.Hour, utcAt(2026, 1, 12, 10, 0)},                 // Sat: counting starts Mon
		{"on a holiday", holiday, utcAt(2026, 1, 12, 12, 0), time.Hour, utcAt(2026, 1, 13, 10, 0)},               // holiday Mon: counting starts Tue
		{"a whole day from opening", plain, utcAt(2026, 1, 5, 9, 0), 9 * time.Hour, utcAt(2026, 1, 5, 18, 0)},    // ends at closing, not next morning
		{"from closing", plain, utcAt(2026, 1, 5, 18, 0), time.Minute, utcAt(2026, 1, 6, 9, 1)},                  // closing time has no working time left
		{"from opening", plain, utcAt(2026, 1, 5, 9, 0), time.Minute, utcAt(2026, 1, 5, 9, 1)},                   // opening time counts
		{"up to closing", plain, utcAt(2026, 1, 5, 17, 0), time.Hour, utcAt(2026, 1, 5, 18, 0)},                  // exactly the rest of the day
		{"a working week", plain, utcAt(2026, 1, 5, 9, 0), 45 * time.Hour, utcAt(2026, 1, 9, 18, 0)},             // five 9h days
		{"onto a make-up saturday", shifted, utcAt(2026, 1, 7, 17, 0), 2 * time.Hour, utcAt(2026, 1, 10, 10, 0)}, // Thu, Fri off; Sat works
		{"zero", plain, utcAt(2026, 1, 10, 12, 0), 0, utcAt(2026, 1, 10, 12, 0)},                                 // nothing to add: start itself
		{"negative", plain, utcAt(2026, 1, 5, 12, 0), -time.Hour, utcAt(2026, 1, 5, 12, 0)},                      // never goes back
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cal.AddWorkingTime(tc.start, tc.d); !got.Equal(tc.want) {
				t.Errorf("AddWorkingTime(%v, %v) = %v, want %v", tc.start, tc.d, got, tc.want)
			}
		})
	}
}

func TestCalendarAddWorkingTimeKeepsLocation(t *testing.T) {
	cal := mustCalendar(t, CalendarConfig{})
	start := wallAt(shanghaiLoc, 2026, 1, 5, 17, 0) // 09:00 UTC
	got := cal.AddWorkingTime(start, time.Hour)
	if want := utcAt(2026, 1, 5, 10, 0); !got.Equal(want) || got.Location() != shanghaiLoc {
		t.Errorf("AddWorkingTime = %v, want %v in Asia/Shanghai", got, want)
	}
}

func TestCalendarShanghaiNationalDay(t *testing.T) {
	// 2026: 1–7 October off; Sunday 20 September and Saturday 10 October
	// are make-up working days.
	cal := mustCalendar(t, CalendarConfig{
		Timezone: "Asia/Shanghai",
		Holidays: []string{"2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07"},
		Workdays: []string{"2026-09-20", "2026-10-10"},
	})
	cases := []struct {
		name  string
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{"over the golden week", wallAt(shanghaiLoc, 2026, 9, 30, 17, 0), 9 * time.Hour, wallAt(shanghaiLoc, 2026, 10, 8, 17, 0)},  // 1h Wed 30th, 8h Thu 8th
		{"onto a make-up sunday", wallAt(shanghaiLoc, 2026, 9, 18, 17, 0), 2 * time.Hour, wallAt(shanghaiLoc, 2026, 9, 20, 10, 0)}, // Fri, then Sun 20th
		{"onto a make-up saturday", wallAt(shanghaiLoc, 2026, 10, 9, 17, 0), 2 * time.Hour, wallAt(shanghaiLoc, 2026, 10, 10, 10, 0)},
		{"from utc input", utcAt(2026, 9, 30, 9, 0), 2 * time.Hour, wallAt(shanghaiLoc, 2026, 10, 8, 10, 0)}, // 17:00 CST Wed: 1h that day, 1h on the 8th
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := cal.AddWorkingTime(tc.start, tc.d); !got.Equal(tc.want) {
				t.Errorf("AddWorkingTime(%v, %v) = %v, want %v", tc.start, tc.d, got, tc.want)
			}
		})
	}
	if cal.InBusinessHours(wallAt(shanghaiLoc, 2026, 10, 1, 10, 0)) {
		t.Error("National Day counts as business hours")
	}
}

func TestCalendarAcrossDST(t *testing.T) {
	// Berlin moves from CET (+01) to CEST (+02) at 02:00 on Sunday
	// 2026-03-29 and back at 03:00 on Sunday 2026-10-25.
	office := mustCalendar(t, CalendarConfig{Timezone: "Europe/Berlin"})
	allWeek := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	roundTheClock := mustCalendar(t, CalendarConfig{
		Timezone:     "Europe/Berlin",
		WorkingHours: WorkingHours{Start: "00:00", End: "24:00"},
		Weekdays:     allWeek,
	})
	night := mustCalendar(t, CalendarConfig{
		Timezone:     "Europe/Berlin",
		WorkingHours: WorkingHours{Start: "01:00", End: "04:00"},
		Weekdays:     allWeek,
	})
	cases := []struct {
		name  string
		cal   *Calendar
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{"office hours over spring forward", office, wallAt(berlinLoc, 2026, 3, 27, 17, 0), 9 * time.Hour, utcAt(2026, 3, 30, 15, 0)},    // due Mon 17:00 CEST
		{"office hours over fall back", office, wallAt(berlinLoc, 2026, 10, 23, 17, 0), 9 * time.Hour, utcAt(2026, 10, 26, 16, 0)},       // due Mon 17:00 CET
		{"24h over spring forward", roundTheClock, wallAt(berlinLoc, 2026, 3, 28, 12, 0), 24 * time.Hour, utcAt(2026, 3, 29, 11, 0)},     // elapsed time: 13:00 CEST
		{"24h over fall back", roundTheClock, wallAt(berlinLoc, 2026, 10, 24, 12, 0), 24 * time.Hour, utcAt(2026, 10, 25, 10, 0)},        // elapsed time: 11:00 CET
		{"short night in spring", night, wallAt(berlinLoc, 2026, 3, 29, 1, 0), 2 * time.Hour, utcAt(2026, 3, 29, 2, 0)},                  // 01:00–04:00 holds 2h: closes at 04:00 CEST
		{"short night overflows", night, wallAt(berlinLoc, 2026, 3, 29, 1, 0), 2*time.Hour + 30*time.Minute, utcAt(2026, 3, 29, 23, 30)}, // next night, 01:30 CEST
		{"long night in autumn", night, wallAt(berlinLoc, 2026, 10, 25, 1, 0), 3*time.Hour + 30*time.Minute, utcAt(2026, 10, 25, 2, 30)}, // 01:00–04:00 holds 4h: 03:30 CET
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cal.AddWorkingTime(tc.start, tc.d); !got.Equal(tc.want) {
				t.Errorf("AddWorkingTime(%v, %v) = %v, want %v", tc.start, tc.d, got, tc.want.In(berlinLoc))
			}
		})
	}
}

func TestCalendarConfigYAML(t *testing.T) {
	src := `
timezone: Asia/Shanghai
working_hours: {start: "09:30", end: "18:30"}
weekdays: [mon, tue, wed, thu, fri]
holidays: [2026-10-01, "2026-10-02"]
workdays: [2026-10-10]
`
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	var got CalendarConfig
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := CalendarConfig{
		Timezone:     "Asia/Shanghai",
		WorkingHours: WorkingHours{Start: "09:30", End: "18:30"},
		Weekdays:     []string{"mon", "tue", "wed", "thu", "fri"},
		Holidays:     []string{"2026-10-01", "2026-10-02"}, // an unquoted date stays as written
		Workdays:     []string{"2026-10-10"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}

func TestCalendarValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  CalendarConfig
		want []string
	}{
		{"defaults", CalendarConfig{}, []string{}}, // UTC, 09:00–18:00, mon–fri
		{"everything set", CalendarConfig{ // a full, valid calendar
			Timezone: "Asia/Shanghai", WorkingHours: WorkingHours{"09:30", "24:00"}, Weekdays: []string{"sat", "sun"},
			Holidays: []string{"2026-10-01"}, Workdays: []string{"2026-10-10"},
		}, []string{}},
		{"unknown zone", CalendarConfig{Timezone: "Mars/Base"}, []string{ // not in the tz database
			`calendar.timezone: "Mars/Base" is not a time zone (use an IANA name like Europe/Berlin)`,
		}},
		{"local zone", CalendarConfig{Timezone: "Local"}, []string{ // depends on the machine
			`calendar.timezone: "Local" is not a time zone (use an IANA name like Europe/Berlin)`,
		}},
		{"bad start", CalendarConfig{WorkingHours: WorkingHours{Start: "9:00"}}, []string{ // one-digit hour
			`calendar.working_hours.start: "9:00" is not a time of day (HH:MM, 24-hour clock)`,
		}},
		{"bad end", CalendarConfig{WorkingHours: WorkingHours{End: "25:00"}}, []string{ // no hour 25
			`calendar.working_hours.end: "25:00" is not a time of day (HH:MM, 24-hour clock)`,
		}},
		{"am/pm", CalendarConfig{WorkingHours: WorkingHours{Start: "9am", End: "6pm"}}, []string{ // 12-hour clock
			`calendar.working_hours.start: "9am" is not a time of day (HH:MM, 24-hour clock)`,
			`calendar.working_hours.end: "6pm" is not a time of day (HH:MM, 24-hour clock)`,
		}},
		{"start after end", CalendarConfig{WorkingHours: WorkingHours{Start: "18:00", End: "09:00"}}, []string{ // overnight hours are not supported
			`calendar.working_hours: start 18:00 must be before end 09:00`,
		}},
		{"start equals end", CalendarConfig{WorkingHours: WorkingHours{Start: "09:00", End: "09:00"}}, []string{ // no working time at all
			`calendar.working_hours: start 09:00 must be before end 09:00`,
		}},
		{"start at 24:00", CalendarConfig{WorkingHours: WorkingHours{Start: "24:00", End: "24:00"}}, []string{ // 24:00 only makes sense as an end
			`calendar.working_hours: start 24:00 must be before end 24:00`,
		}},
		{"bad weekday", CalendarConfig{Weekdays: []string{"mon", "monday", "Tue"}}, []string{ // only the three-letter lowercase names
			`calendar.weekdays[1]: "monday" is not a weekday (use mon, tue, wed, thu, fri, sat or sun)`,
			`calendar.weekdays[2]: "Tue" is not a weekday (use mon, tue, wed, thu, fri, sat or sun)`,
		}},
		{"duplicate weekday", CalendarConfig{Weekdays: []string{"mon", "tue", "mon"}}, []string{ // listed twice
			`calendar.weekdays[2]: duplicate weekday "mon" (also calendar.weekdays[0])`,
		}},
		{"no weekdays", CalendarConfig{Weekdays: []string{}}, []string{ // an explicit empty list
			`calendar.weekdays: at least one weekday is required`,
		}},
		{"bad dates", CalendarConfig{Holidays: []string{"2026-02-30", "2026/10/01"}, Workdays: []string{"2026-1-5"}}, []string{ // no 30 February, wrong separators, one digit
			`calendar.holidays[0]: "2026-02-30" is not a date (YYYY-MM-DD)`,
			`calendar.holidays[1]: "2026/10/01" is not a date (YYYY-MM-DD)`,
			`calendar.workdays[0]: "2026-1-5" is not a date (YYYY-MM-DD)`,
		}},
		{"duplicate dates", CalendarConfig{Holidays: []string{"2026-10-01", "2026-10-01"}, Workdays: []string{"2026-10-10", "2026-10-10"}}, []string{ // each list on its own
			`calendar.holidays[1]: duplicate date 2026-10-01 (also calendar.holidays[0])`,
			`calendar.workdays[1]: duplicate date 2026-10-10 (also calendar.workdays[0])`,
		}},
		{"holiday and workday", CalendarConfig{Holidays: []string{"2026-10-01"}, Workdays: []string{"2026-10-01", "2026-10-01"}}, []string{ // contradiction, reported once
			`calendar.workdays[1]: duplicate date 2026-10-01 (also calendar.workdays[0])`,
			`calendar.workdays[0]: 2026-10-01 is also a holiday (calendar.holidays[0]); a date is either a holiday or a workday`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.setDefaults()
			got := problemMessages(func(v *validator) { tc.cfg.validate(v, "calendar") })
			if !slices.Equal(got, tc.want) {
				t.Errorf("validate:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestNewCalendar(t *testing.T) {
	t.Run("defaults without changing the config", func(t *testing.T) {
		var cfg CalendarConfig
		cal, err := NewCalendar(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Timezone != "" || cfg.Weekdays != nil {
			t.Errorf("NewCalendar changed its config: %+v", cfg)
		}
		if cal.WorkingDayLength() != 9*time.Hour || !cal.InBusinessHours(utcAt(2026, 1, 5, 9, 0)) || cal.IsWorkingDay(utcAt(2026, 1, 10, 9, 0)) {
			t.Error("the zero config is not UTC 09:00–18:00, Monday to Friday")
		}
	})
	t.Run("errors by path", func(t *testing.T) {
		_, err := NewCalendar(&CalendarConfig{Timezone: "Mars/Base", Weekdays: []string{"xyz"}})
		want := `timezone: "Mars/Base" is not a time zone (use an IANA name like Europe/Berlin)` + "\n" +
			`weekdays[0]: "xyz" is not a weekday (use mon, tue, wed, thu, fri, sat or sun)`
		var errs Errors
		if err == nil || err.Error() != want || !errors.As(err, &errs) || len(errs) != 2 {
			t.Errorf("NewCalendar error = %v, want Errors:\n%s", err, want)
		}
	})
}

func TestParseSLADuration(t *testing.T) {
	cases := []struct {
		in   string
		want SLADuration
	}{
		{"15m", SLADuration{Wall: 15 * time.Minute}},            // wall clock, Prometheus style
		{"4h", SLADuration{Wall: 4 * time.Hour}},                // hours
		{"1d", SLADuration{Wall: 24 * time.Hour}},               // a wall-clock day is 24h
		{"1h30m", SLADuration{Wall: 90 * time.Minute}},          // combined units
		{"0", SLADuration{}},                                    // no SLA
		{"1 working day", SLADuration{WorkingDays: 1}},          // singular
		{"5 working days", SLADuration{WorkingDays: 5}},         // plural
		{"0.5 working days", SLADuration{WorkingDays: 0.5}},     // fraction
		{"8 working hours", SLADuration{WorkingHours: 8}},       // hours of working time
		{"1 working hour", SLADuration{WorkingHours: 1}},        // singular hour
		{"2.25 working hours", SLADuration{WorkingHours: 2.25}}, // fraction of hours
		{"  3   working   days ", SLADuration{WorkingDays: 3}},  // extra spaces
		{"1 working days", SLADuration{WorkingDays: 1}},         // grammar is not checked
		{"10000 working days", SLADuration{WorkingDays: 10000}}, // the longest allowed
		{"-5s", SLADuration{Wall: -5 * time.Second}},            // parses; validate refuses it
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSLADuration(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("ParseSLADuration(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseSLADurationErrors(t *testing.T) {
	const hint = ` is not a duration (like 15m, 4h, 1d, 1 working day or 8 working hours)`
	cases := []struct {
		in, want string
	}{
		{"", `""` + hint},                                 // empty
		{"1 day", `"1 day"` + hint},                       // "working" is required
		{"1 working week", `"1 working week"` + hint},     // no working weeks
		{"-1 working day", `"-1 working day"` + hint},     // no negative working time
		{"1e3 working days", `"1e3 working days"` + hint}, // no exponents
		{".5 working days", `".5 working days"` + hint},   // a digit before the point
		{"1 Working Day", `"1 Working Day"` + hint},       // lowercase only
		{"1workingday", `"1workingday"` + hint},           // words must be spaced
		{"5", `"5"` + hint},                               // a number without unit
		{"20000 working days", `"20000 working days" is too long (at most 10000 working days)`},    // over the limit
		{"10001 working hours", `"10001 working hours" is too long (at most 10000 working hours)`}, // over the limit for hours
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseSLADuration(tc.in)
			if err == nil || err.Error() != tc.want {
				t.Errorf("ParseSLADuration(%q) error = %v, want %s", tc.in, err, tc.want)
			}
		})
	}
}

func TestSLADurationYAML(t *testing.T) {
	cases := []struct {
		sla  SLADuration
		want string
	}{
		{SLADuration{}, "0s"},                               // zero
		{SLADuration{Wall: 15 * time.Minute}, "15m"},        // wall clock
		{SLADuration{Wall: 24 * time.Hour}, "1d"},           // a day of wall clock
		{SLADuration{WorkingDays: 1}, "1 working day"},      // singular
		{SLADuration{WorkingDays: 0.5}, "0.5 working days"}, // fraction: plural
		{SLADuration{WorkingDays: 5}, "5 working days"},     // plural
		{SLADuration{WorkingHours: 1}, "1 working hour"},    // singular hour
		{SLADuration{WorkingHours: 8}, "8 working hours"},   // plural hours
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.sla.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			out, err := yaml.Marshal(tc.sla)
			if err != nil || string(out) != tc.want+"\n" {
				t.Fatalf("Marshal = %q, %v; want %q", out, err, tc.want)
			}
			var back SLADuration
			if err := yaml.Unmarshal(out, &back); err != nil || back != tc.sla {
				t.Errorf("Unmarshal(%q) = %+v, %v; want %+v", out, back, err, tc.sla)
			}
		})
	}
	t.Run("not a duration", func(t *testing.T) {
		var s SLADuration
		err := yaml.Unmarshal([]byte("1 working week"), &s)
		if err == nil || !strings.Contains(err.Error(), `"1 working week" is not a duration`) {
			t.Errorf("Unmarshal of a bad duration: %v", err)
		}
	})
	t.Run("not a scalar", func(t *testing.T) {
		var s SLADuration
		err := yaml.Unmarshal([]byte("[1d]"), &s)
		if err == nil || !strings.Contains(err.Error(), "expected a duration, got a list") {
			t.Errorf("Unmarshal of a list: %v", err)
		}
	})
}

func TestSLADurationIsZero(t *testing.T) {
	cases := []struct {
		sla  SLADuration
		want bool
	}{
		{SLADuration{}, true},                   // unset
		{SLADuration{Wall: time.Second}, false}, // wall clock
		{SLADuration{WorkingDays: 0.5}, false},  // working days
		{SLADuration{WorkingHours: 0.1}, false}, // working hours
	}
	for _, tc := range cases {
		if got := tc.sla.IsZero(); got != tc.want {
			t.Errorf("%+v.IsZero() = %v, want %v", tc.sla, got, tc.want)
		}
	}
}

func TestSLADurationValidate(t *testing.T) {
	cases := []struct {
		name string
		sla  SLADuration
		want []string
	}{
		{"zero", SLADuration{}, []string{}},                                                                               // unset is fine
		{"working days", SLADuration{WorkingDays: 2}, []string{}},                                                         // one kind
		{"negative wall", SLADuration{Wall: -5 * time.Second}, []string{`sla: must not be negative (got -5s)`}},           // as written in a file
		{"negative working", SLADuration{WorkingHours: -1}, []string{`sla: must not be negative (got -1 working hours)`}}, // only from code
		{"two kinds", SLADuration{Wall: time.Hour, WorkingDays: 1}, []string{ // only from code
			`sla: set only one of a wall-clock duration, working days or working hours`,
		}},
		{"too long", SLADuration{WorkingDays: 1e9}, []string{`sla: is too long (at most 10000 working days or hours)`}}, // only from code
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := problemMessages(func(v *validator) { tc.sla.validate(v, "sla") })
			if !slices.Equal(got, tc.want) {
				t.Errorf("validate:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSLADurationDeadline(t *testing.T) {
	office := mustCalendar(t, CalendarConfig{})
	mondayOff := mustCalendar(t, CalendarConfig{Holidays: []string{"2026-01-12"}})
	berlinOffice := mustCalendar(t, CalendarConfig{Timezone: "Europe/Berlin"})
	friday5pm := utcAt(2026, 1, 9, 17, 0)
	cases := []struct {
		name  string
		sla   string
		cal   *Calendar
		start time.Time
		want  time.Time
	}{
		{"P4 raised Friday 17:00 is due Monday 17:00", "1 working day", office, friday5pm, utcAt(2026, 1, 12, 17, 0)},                                      // 1h Fri + 8h Mon
		{"and Tuesday 17:00 if Monday is a holiday", "1 working day", mondayOff, friday5pm, utcAt(2026, 1, 13, 17, 0)},                                     // Mon skipped
		{"working hours", "8 working hours", office, friday5pm, utcAt(2026, 1, 12, 16, 0)},                                                                 // 1h Fri + 7h Mon
		{"half a working day", "0.5 working days", office, friday5pm, utcAt(2026, 1, 12, 12, 30)},                                                          // 4.5h: 1h Fri + 3.5h Mon
		{"working week", "5 working days", office, utcAt(2026, 1, 5, 9, 0), utcAt(2026, 1, 9, 18, 0)},                                                      // Mon 09:00 to Fri closing
		{"raised on saturday", "1 working day", office, utcAt(2026, 1, 10, 11, 0), utcAt(2026, 1, 12, 18, 0)},                                              // clock starts Mon 09:00
		{"wall clock ignores the calendar", "4h", office, friday5pm, utcAt(2026, 1, 9, 21, 0)},                                                             // Friday 21:00
		{"wall-clock day is 24 elapsed hours", "1d", berlinOffice, wallAt(berlinLoc, 2026, 3, 28, 12, 0), utcAt(2026, 3, 29, 11, 0)},                       // 13:00 CEST
		{"working day across spring forward", "1 working day", berlinOffice, wallAt(berlinLoc, 2026, 3, 27, 17, 0), wallAt(berlinLoc, 2026, 3, 30, 17, 0)}, // Monday 17:00 CEST
		{"no calendar: all time works", "1 working day", nil, friday5pm, utcAt(2026, 1, 10, 17, 0)},                                                        // 24h
		{"no calendar: working hours", "8 working hours", nil, friday5pm, utcAt(2026, 1, 10, 1, 0)},                                                        // 8h
		{"zero", "0", office, friday5pm, friday5pm},                                                                                                        // no SLA: start
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sla, err := ParseSLADuration(tc.sla)
			if err != nil {
				t.Fatal(err)
			}
			if got := sla.Deadline(tc.start, tc.cal); !got.Equal(tc.want) {
				t.Errorf("%s from %v: Deadline = %v, want %v", tc.sla, tc.start, got, tc.want)
			}
		})
	}
}
