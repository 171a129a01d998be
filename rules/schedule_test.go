package rules

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// scheduleYAML is a valid config with two schedules, for the decoding and
// warning tests.
const scheduleYAML = `
calendar:
  timezone: Asia/Shanghai
people: [{id: zhang.qiang}, {id: chen.jie}, {id: wang.wei}, {id: li.na}]
schedules:
  - name: first-line
    holidays: calendar
    layers:
      - name: phone-rotation
        members: [zhang.qiang, chen.jie]
        rotation: {every: 1w, anchor: 2026-01-05T09:00:00}
      - name: weekday-rota
        members: [wang.wei, li.na]
        per_shift: 2
        restrictions:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
    overrides:
      - {person: zhang.qiang, from: "2026-12-24T18:00:00+08:00", to: "2026-12-26T09:00:00+08:00"}
  - name: berlin
    timezone: Europe/Berlin
    holidays: ["2026-12-25", "2026-12-26"]
    layers:
      - name: nights
        members: [chen.jie]
        restrictions:
          - {from: "18:00", to: "09:00"}
`

// TestScheduleConfig: a schedule decodes as written, with the calendar's
// time zone and one person per shift by default, and an unquoted anchor
// (a YAML timestamp) read as written.
func TestScheduleConfig(t *testing.T) {
	cfg, err := Parse("s.yml", []byte(scheduleYAML), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []ScheduleConfig{
		{
			Name: "first-line", Timezone: "Asia/Shanghai", Holidays: ScheduleHolidays{FromCalendar: true},
			Layers: []LayerConfig{
				{Name: "phone-rotation", Members: []string{"zhang.qiang", "chen.jie"}, PerShift: 1,
					Rotation: RotationConfig{Every: "1w", Anchor: "2026-01-05T09:00:00"}},
				{Name: "weekday-rota", Members: []string{"wang.wei", "li.na"}, PerShift: 2,
					Restrictions: []RestrictionConfig{{Days: []Day{"mon", "tue", "wed", "thu", "fri"}, From: "09:00", To: "18:00"}}},
			},
			Overrides: []OverrideConfig{{Person: "zhang.qiang", From: "2026-12-24T18:00:00+08:00", To: "2026-12-26T09:00:00+08:00"}},
		},
		{
			Name: "berlin", Timezone: "Europe/Berlin", Holidays: ScheduleHolidays{Dates: []string{"2026-12-25", "2026-12-26"}},
			Layers: []LayerConfig{{Name: "nights", Members: []string{"chen.jie"}, PerShift: 1,
				Restrictions: []RestrictionConfig{{From: "18:00", To: "09:00"}}}},
		},
	}
	if !reflect.DeepEqual(cfg.Schedules, want) {
		t.Errorf("Schedules =\n%+v\nwant\n%+v", cfg.Schedules, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate after Parse: %v", err)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("Warnings = %q", w)
	}
	// The holidays round-trip through YAML.
	for _, h := range []ScheduleHolidays{{FromCalendar: true}, {Dates: []string{"2026-12-25"}}} {
		out, err := yaml.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var back ScheduleHolidays
		if err := yaml.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, h) {
			t.Errorf("%+v → %q → %+v, %v", h, out, back, err)
		}
	}
}

// TestScheduleWarnings: a layer with the same members and the same minutes
// of the week as an earlier one is a warning, not an error, however its
// members and windows are ordered or split.
func TestScheduleWarnings(t *testing.T) {
	base := func() *Config {
		cfg, err := Parse("s.yml", []byte(scheduleYAML), testEnv)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	tests := []struct {
		name  string
		layer LayerConfig
		want  []string
	}{
		// The same people in another order, the same hours split in two windows.
		{"same as weekday-rota", LayerConfig{Name: "copy", Members: []string{"li.na", "wang.wei"}, PerShift: 1,
			Rotation: RotationConfig{Every: "1d", Anchor: "2026-01-05T09:00"},
			Restrictions: []RestrictionConfig{
				{Days: []Day{"mon", "tue", "wed"}, From: "09:00", To: "18:00"},
				{Days: []Day{"fri", "thu"}, From: "09:00", To: "18:00"},
			}},
			[]string{`schedules[0].layers[2]: layer "copy" has the same members and restrictions as layers[1] ("weekday-rota"), so "weekday-rota" never decides who is on call`}},
		// No restrictions on either: both always active.
		{"same as phone-rotation", LayerConfig{Name: "again", Members: []string{"chen.jie", "zhang.qiang"}, PerShift: 1,
			Rotation: RotationConfig{Every: "2w", Anchor: "2026-01-05T09:00"}},
			[]string{`schedules[0].layers[2]: layer "again" has the same members and restrictions as layers[0] ("phone-rotation"), so "phone-rotation" never decides who is on call`}},
		// Same members, one hour more: no warning.
		{"different hours", LayerConfig{Name: "longer", Members: []string{"wang.wei", "li.na"}, PerShift: 2,
			Restrictions: []RestrictionConfig{{Days: []Day{"mon", "tue", "wed", "thu", "fri"}, From: "09:00", To: "19:00"}}}, nil},
		// Same hours, other people: no warning.
		{"different members", LayerConfig{Name: "others", Members: []string{"wang.wei"}, PerShift: 1,
			Restrictions: []RestrictionConfig{{Days: []Day{"mon", "tue", "wed", "thu", "fri"}, From: "09:00", To: "18:00"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			cfg.Schedules[0].Layers = append(cfg.Schedules[0].Layers, tt.layer)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("a warning is not an error: %v", err)
			}
			if got := cfg.Warnings(); !slices.Equal(got, tt.want) {
				t.Errorf("Warnings =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestRotationPeriod(t *testing.T) {
	tests := []struct {
		in   RotationPeriod
		days int
		err  string
	}{
		{"1d", 1, ""},   // a day
		{"14d", 14, ""}, // two weeks in days
		{"2w", 14, ""},  // two weeks
		{"0d", 0, `"0d" is not a positive number of days or weeks`},                       // nothing
		{"36h", 0, `"36h" is not a whole number of days or weeks (like 1d, 14d or 2w)`},   // hours
		{"1w2d", 0, `"1w2d" is not a whole number of days or weeks (like 1d, 14d or 2w)`}, // two units
		{"-1w", 0, `"-1w" is not a whole number of days or weeks (like 1d, 14d or 2w)`},   // negative
		{"99999w", 0, `"99999w" is too long (at most 10000w)`},                            // absurd
	}
	for _, tt := range tests {
		days, err := tt.in.Days()
		if got := errString(err); days != tt.days || got != tt.err {
			t.Errorf("%q: %d, %q; want %d, %q", tt.in, days, got, tt.days, tt.err)
		}
	}
}

func TestLocalDateTime(t *testing.T) {
	tests := []struct {
		in   LocalDateTime
		loc  *time.Location
		want string // RFC 3339
		err  string
	}{
		{"2026-01-05T09:00:00", shanghaiLoc, "2026-01-05T09:00:00+08:00", ""}, // seconds
		{"2026-01-05T09:00", berlinLoc, "2026-01-05T09:00:00+01:00", ""},      // minutes
		{"2026-07-06 09:30", berlinLoc, "2026-07-06T09:30:00+02:00", ""},      // a space, summer time
		// 02:30 on 25 October happens twice in Berlin; either is a valid anchor.
		{"2026-10-25T02:30:00", berlinLoc, "", ""},
		// 02:30 on 29 March does not happen in Berlin.
		{"2026-03-29T02:30:00", berlinLoc, "", `"2026-03-29T02:30:00" does not exist in Europe/Berlin: a daylight-saving change skips it`},
		// An offset contradicts the schedule's zone.
		{"2026-01-05T09:00:00Z", berlinLoc, "", `"2026-01-05T09:00:00Z" has an offset, but it is a local date-time in the schedule's time zone (like 2026-01-05T09:00:00)`},
		// A date alone has no time of day for the handoff.
		{"2026-01-05", berlinLoc, "", `"2026-01-05" is not a local date-time (like 2026-01-05T09:00:00, in the schedule's time zone)`},
	}
	for _, tt := range tests {
		got, err := tt.in.In(tt.loc)
		if errString(err) != tt.err {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			continue
		}
		if tt.want != "" && got.Format(time.RFC3339) != tt.want {
			t.Errorf("%q = %s, want %s", tt.in, got.Format(time.RFC3339), tt.want)
		}
	}
}

func TestTimeOfDayAndDay(t *testing.T) {
	for in, want := range map[TimeOfDay]time.Duration{"00:00": 0, "09:30": 9*time.Hour + 30*time.Minute, "24:00": 24 * time.Hour} {
		if got, err := in.Offset(); err != nil || got != want {
			t.Errorf("%q = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []TimeOfDay{"9:00", "24:01", "09:00:00", ""} {
		if _, err := bad.Offset(); err == nil {
			t.Errorf("%q is accepted", bad)
		}
	}
	if wd, err := Day("sat").Weekday(); err != nil || wd != time.Saturday {
		t.Errorf("sat = %v, %v", wd, err)
	}
	if _, err := Day("Saturday").Weekday(); errString(err) != `"Saturday" is not a day (use mon, tue, wed, thu, fri, sat or sun)` {
		t.Errorf("Saturday: %v", err)
	}
}

// errString is err's message, or "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
