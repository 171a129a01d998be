package oncall

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the DST tests must not depend on the machine's zoneinfo

	"github.com/remediator/remediator/rules"
)

var (
	shanghai = mustZone("Asia/Shanghai")
	berlin   = mustZone("Europe/Berlin")
	newYork  = mustZone("America/New_York")
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// at parses an RFC 3339 time or panics.
func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// firstLineYAML is the support process of the issue: a weekly phone
// rotation around the clock, under two first-line engineers on weekdays
// 09:00–18:00 (both at once), on the Shanghai business calendar with
// National Day and its make-up workdays (Sun 27 Sep, Sat 10 Oct). The
// second schedule lists its own holiday, Thursday 26 November.
const firstLineYAML = `
calendar:
  timezone: Asia/Shanghai
  holidays: ["2026-01-01", "2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"]
  workdays: ["2026-09-27", "2026-10-10"]
people:
  - {id: zhang.qiang}
  - {id: chen.jie}
  - {id: zhao.lei}
  - {id: wang.wei}
  - {id: li.na}
schedules:
  - name: first-line
    holidays: calendar
    layers:
      - name: phone-rotation
        members: [zhang.qiang, chen.jie, zhao.lei]
        rotation: {every: 1w, anchor: 2026-01-05T09:00:00}
      - name: weekday-rota
        members: [wang.wei, li.na]
        per_shift: 2
        restrictions:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
    overrides:
      - {person: zhang.qiang, from: "2026-12-24T18:00:00+08:00", to: "2026-12-26T09:00:00+08:00"}
      - {person: li.na, from: "2026-12-01T12:00:00+08:00", to: "2026-12-01T14:00:00+08:00"}
  - name: listed
    timezone: Asia/Shanghai
    holidays: ["2026-11-26"]
    layers:
      - name: phone-rotation
        members: [zhang.qiang, chen.jie, zhao.lei]
        rotation: {every: 1w, anchor: 2026-01-05T09:00:00}
      - name: weekday-rota
        members: [wang.wei, li.na]
        per_shift: 2
        restrictions:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
`

// loadSet parses a config and builds its schedules.
func loadSet(t testing.TB, yml string) *Set {
	t.Helper()
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := rules.Parse("test.yml", []byte(yml), noEnv)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	set, err := FromConfig(cfg)
	if err != nil {
		t.Fatalf("FromConfig: %v", err)
	}
	return set
}

// mustNew builds a set or fails the test.
func mustNew(t *testing.T, people []string, specs ...Spec) *Set {
	t.Helper()
	set, err := New(people, specs...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return set
}

// wantShift is what a test expects of a Shift; From and To as RFC 3339,
// "" for zero.
type wantShift struct {
	people   []string
	layer    string
	override bool
	from, to string
}

// checkShift compares a Shift with what the test expects.
func checkShift(t *testing.T, got Shift, want wantShift) {
	t.Helper()
	fmtTime := func(x time.Time) string {
		if x.IsZero() {
			return ""
		}
		return x.Format(time.RFC3339)
	}
	if !slices.Equal(got.People, want.people) || got.Layer != want.layer || got.Override != want.override ||
		fmtTime(got.From) != want.from || fmtTime(got.To) != want.to {
		t.Errorf("got %v (%q, override %v) from %s to %s\nwant %v (%q, override %v) from %s to %s",
			got.People, got.Layer, got.Override, fmtTime(got.From), fmtTime(got.To),
			want.people, want.layer, want.override, want.from, want.to)
	}
}

// The phone rotation hands over every Monday at 09:00 from Monday 5
// January 2026 (zhang.qiang): week 46 (from Mon 23 Nov) is chen.jie's,
// week 38 (from Mon 28 Sep) zhao.lei's, week 50 (from Mon 21 Dec)
// zhao.lei's.
func TestFirstLine(t *testing.T) {
	set := loadSet(t, firstLineYAML)
	rota := []string{"wang.wei", "li.na"}
	tests := []struct {
		name     string
		schedule string
		at       string
		want     wantShift
	}{
		// Wednesday 10:00: both first-line engineers, until 18:00.
		{"weekday office hours", "first-line", "2026-11-25T10:00:00+08:00",
			wantShift{rota, "weekday-rota", false, "2026-11-25T09:00:00+08:00", "2026-11-25T18:00:00+08:00"}},
		// Wednesday 20:00: the phone rotation covers weekday nights.
		{"weekday night", "first-line", "2026-11-25T20:00:00+08:00",
			wantShift{[]string{"chen.jie"}, "phone-rotation", false, "2026-11-25T18:00:00+08:00", "2026-11-26T09:00:00+08:00"}},
		// Saturday 03:00: the phone rotation, from Friday 18:00 to Monday 09:00.
		{"weekend", "first-line", "2026-11-28T03:00:00+08:00",
			wantShift{[]string{"chen.jie"}, "phone-rotation", false, "2026-11-27T18:00:00+08:00", "2026-11-30T09:00:00+08:00"}},
		// Thursday 1 October (National Day) at 10:00: a holiday is a weekend day,
		// through the weekend and the Monday handoff.
		{"weekday on a calendar holiday", "first-line", "2026-10-01T10:00:00+08:00",
			wantShift{[]string{"zhao.lei"}, "phone-rotation", false, "2026-09-30T18:00:00+08:00", "2026-10-05T09:00:00+08:00"}},
		// Sunday 27 September, a make-up workday, at 10:00: first line.
		{"make-up Sunday", "first-line", "2026-09-27T10:00:00+08:00",
			wantShift{rota, "weekday-rota", false, "2026-09-27T09:00:00+08:00", "2026-09-27T18:00:00+08:00"}},
		// Saturday 10 October, a make-up workday, at 17:59: first line.
		{"make-up Saturday", "first-line", "2026-10-10T17:59:00+08:00",
			wantShift{rota, "weekday-rota", false, "2026-10-10T09:00:00+08:00", "2026-10-10T18:00:00+08:00"}},
		// Monday 09:00 exactly: the handoff and first line both start.
		{"Monday 09:00", "first-line", "2026-11-30T09:00:00+08:00",
			wantShift{rota, "weekday-rota", false, "2026-11-30T09:00:00+08:00", "2026-11-30T18:00:00+08:00"}},
		// Monday 08:59: still the week before's phone person.
		{"Monday 08:59", "first-line", "2026-11-30T08:59:00+08:00",
			wantShift{[]string{"chen.jie"}, "phone-rotation", false, "2026-11-27T18:00:00+08:00", "2026-11-30T09:00:00+08:00"}},
		// Christmas Day 10:00, a Friday: the override replaces first line.
		{"override covers a weekday", "first-line", "2026-12-25T10:00:00+08:00",
			wantShift{[]string{"zhang.qiang"}, "", true, "2026-12-24T18:00:00+08:00", "2026-12-26T09:00:00+08:00"}},
		// The override ends on time: Saturday 09:00 is the phone rotation again.
		{"override ends on time", "first-line", "2026-12-26T09:00:00+08:00",
			wantShift{[]string{"zhao.lei"}, "phone-rotation", false, "2026-12-26T09:00:00+08:00", "2026-12-28T09:00:00+08:00"}},
		// Just before the override: first line, until the override starts.
		{"before the override", "first-line", "2026-12-24T17:59:59+08:00",
			wantShift{rota, "weekday-rota", false, "2026-12-24T09:00:00+08:00", "2026-12-24T18:00:00+08:00"}},
		// A two-hour override inside first line's day: li.na alone.
		{"override inside a shift", "first-line", "2026-12-01T12:30:00+08:00",
			wantShift{[]string{"li.na"}, "", true, "2026-12-01T12:00:00+08:00", "2026-12-01T14:00:00+08:00"}},
		// Before it, first line's shift ends where the override starts…
		{"shift cut by an override", "first-line", "2026-12-01T11:00:00+08:00",
			wantShift{rota, "weekday-rota", false, "2026-12-01T09:00:00+08:00", "2026-12-01T12:00:00+08:00"}},
		// …and after it, resumes until 18:00.
		{"shift resumed after an override", "first-line", "2026-12-01T14:00:00+08:00",
			wantShift{rota, "weekday-rota", false, "2026-12-01T14:00:00+08:00", "2026-12-01T18:00:00+08:00"}},
		// A listed holiday (Thursday 26 November) of the second schedule.
		{"weekday on a listed holiday", "listed", "2026-11-26T10:00:00+08:00",
			wantShift{[]string{"chen.jie"}, "phone-rotation", false, "2026-11-25T18:00:00+08:00", "2026-11-27T09:00:00+08:00"}},
		// Without holidays: calendar, National Day is an ordinary Thursday.
		{"no calendar holidays", "listed", "2026-10-01T10:00:00+08:00",
			wantShift{rota, "weekday-rota", false, "2026-10-01T09:00:00+08:00", "2026-10-01T18:00:00+08:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := set.At(tt.schedule, at(tt.at))
			if err != nil {
				t.Fatal(err)
			}
			if got.Schedule != tt.schedule {
				t.Errorf("Schedule = %q", got.Schedule)
			}
			if loc := got.From.Location(); loc.String() != "Asia/Shanghai" {
				t.Errorf("From is in %v, want the schedule's zone", loc)
			}
			checkShift(t, got, tt.want)
		})
	}
}

// firstLineOracle says who is on call on the first-line schedule by
// reading the wall clock in Shanghai, the way a person reads the rota:
// overrides, then first line on weekdays and make-up workdays 09:00–18:00
// except holidays, else the phone person of the week, found by counting
// Mondays 09:00 from the anchor.
func firstLineOracle(t time.Time) []string {
	if !t.Before(at("2026-12-24T18:00:00+08:00")) && t.Before(at("2026-12-26T09:00:00+08:00")) {
		return []string{"zhang.qiang"}
	}
	if !t.Before(at("2026-12-01T12:00:00+08:00")) && t.Before(at("2026-12-01T14:00:00+08:00")) {
		return []string{"li.na"}
	}
	lt := t.In(shanghai)
	date := lt.Format(time.DateOnly)
	holiday := slices.Contains([]string{"2026-01-01", "2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"}, date)
	workday := slices.Contains([]string{"2026-09-27", "2026-10-10"}, date)
	weekday := lt.Weekday() >= time.Monday && lt.Weekday() <= time.Friday
	if minute := lt.Hour()*60 + lt.Minute(); (workday || weekday && !holiday) && minute >= 9*60 && minute < 18*60 {
		return []string{"wang.wei", "li.na"}
	}
	weeks := -1
	for h := time.Date(2026, 1, 5, 9, 0, 0, 0, shanghai); !h.After(t); h = h.AddDate(0, 0, 7) {
		weeks++
	}
	return []string{[]string{"zhang.qiang", "chen.jie", "zhao.lei"}[weeks%3]}
}

// TestShiftsMatchTheRota: every quarter hour from September to January
// (holidays, make-up days, overrides), the shifts Shifts lists agree with
// the oracle; consecutive shifts touch and differ; and At at a sample
// agrees with the shift that holds it.
func TestShiftsMatchTheRota(t *testing.T) {
	set := loadSet(t, firstLineYAML)
	sc, err := set.Schedule("first-line")
	if err != nil {
		t.Fatal(err)
	}
	from, to := at("2026-09-01T00:00:00+08:00"), at("2027-01-10T00:00:00+08:00")
	shifts := sc.Shifts(from, to)
	if len(shifts) == 0 || !shifts[0].From.Equal(from) || !shifts[len(shifts)-1].To.Equal(to) {
		t.Fatalf("shifts do not cover the range: %d shifts", len(shifts))
	}
	for i := 1; i < len(shifts); i++ {
		prev, cur := shifts[i-1], shifts[i]
		if !prev.To.Equal(cur.From) {
			t.Fatalf("shift %d ends %s but shift %d starts %s", i-1, prev.To, i, cur.From)
		}
		if slices.Equal(prev.People, cur.People) && prev.Layer == cur.Layer && prev.Override == cur.Override {
			t.Fatalf("shifts %d and %d are the same assignment: %+v", i-1, i, cur)
		}
	}
	i := 0
	for x := from; x.Before(to); x = x.Add(15 * time.Minute) {
		for !x.Before(shifts[i].To) {
			i++
		}
		if want := firstLineOracle(x); !slices.Equal(shifts[i].People, want) {
			t.Fatalf("at %s: shift says %v, the rota says %v", x.In(shanghai), shifts[i].People, want)
		}
		if x.Minute() == 0 && x.Hour()%6 == 0 && i > 0 && i < len(shifts)-1 {
			got := sc.At(x)
			if !got.From.Equal(shifts[i].From) || !got.To.Equal(shifts[i].To) || !slices.Equal(got.People, shifts[i].People) {
				t.Fatalf("At(%s) = %+v, but Shifts has %+v", x, got, shifts[i])
			}
		}
	}
	if gaps := sc.Gaps(from, to); len(gaps) != 0 {
		t.Errorf("the first-line schedule has gaps: %+v", gaps)
	}
}

// rotation is one layer of people who take turns, always active.
func rotation(members []string, every int, anchor time.Time) Layer {
	return Layer{Name: "rotation", Members: members, Every: every, Anchor: anchor}
}

// TestHandoffAcrossDST: handoffs happen at the anchor's local time of
// day on either side of daylight-saving changes, which 168-hour (or
// 24-hour) arithmetic from the anchor would get wrong by an hour.
func TestHandoffAcrossDST(t *testing.T) {
	people := []string{"a", "b", "c", "d"}
	// Weekly, Sundays 09:00 in Berlin from Sunday 1 March 2026 (a); the
	// clocks change on Sundays 29 March (weeks 4 → a) and 25 October
	// (weeks 33 → b, 34 → c).
	weekly := mustNew(t, people, Spec{Name: "berlin", Location: berlin,
		Layers: []Layer{rotation(people, 7, time.Date(2026, 3, 1, 9, 0, 0, 0, berlin))}})
	// Daily at 08:00 in New York from Sunday 1 March 2026 (a, then b);
	// the clocks change on 8 March and 1 November.
	daily := mustNew(t, people, Spec{Name: "new-york", Location: newYork,
		Layers: []Layer{rotation([]string{"a", "b"}, 1, time.Date(2026, 3, 1, 8, 0, 0, 0, newYork))}})
	tests := []struct {
		name string
		set  *Set
		at   string
		want wantShift
	}{
		// Berlin, 29 March 08:59 CEST: still d's week (from 22 March, CET).
		{"berlin spring, before", weekly, "2026-03-29T06:59:00Z",
			wantShift{[]string{"d"}, "rotation", false, "2026-03-22T09:00:00+01:00", "2026-03-29T09:00:00+02:00"}},
		// 09:30 CEST: a's week started at 09:00 local, a 167-hour week
		// after d's; counting 168 hours would still say d.
		{"berlin spring, after", weekly, "2026-03-29T07:30:00Z",
			wantShift{[]string{"a"}, "rotation", false, "2026-03-29T09:00:00+02:00", "2026-04-05T09:00:00+02:00"}},
		// 25 October 08:30 CET: b's week until 09:00 CET; 168-hour
		// arithmetic would have handed over at 08:00 CET.
		{"berlin autumn, before", weekly, "2026-10-25T07:30:00Z",
			wantShift{[]string{"b"}, "rotation", false, "2026-10-18T09:00:00+02:00", "2026-10-25T09:00:00+01:00"}},
		// 09:00 CET: c, for the 169-hour week that follows.
		{"berlin autumn, after", weekly, "2026-10-25T08:00:00Z",
			wantShift{[]string{"c"}, "rotation", false, "2026-10-25T09:00:00+01:00", "2026-11-01T09:00:00+01:00"}},
		// Before the anchor the rotation runs backwards: the week before
		// 1 March is d's…
		{"before the anchor", weekly, "2026-02-22T09:00:00+01:00",
			wantShift{[]string{"d"}, "rotation", false, "2026-02-22T09:00:00+01:00", "2026-03-01T09:00:00+01:00"}},
		// …and the one before that c's.
		{"two weeks before the anchor", weekly, "2026-02-22T08:59:00+01:00",
			wantShift{[]string{"c"}, "rotation", false, "2026-02-15T09:00:00+01:00", "2026-02-22T09:00:00+01:00"}},
		// New York, Sunday 8 March: the 23-hour day still hands over at 08:00 EDT.
		{"new york spring", daily, "2026-03-08T07:59:00-04:00",
			wantShift{[]string{"a"}, "rotation", false, "2026-03-07T08:00:00-05:00", "2026-03-08T08:00:00-04:00"}},
		// Sunday 1 November: the 25-hour day ends at 08:00 EST.
		{"new york autumn", daily, "2026-11-01T07:30:00-05:00",
			wantShift{[]string{"a"}, "rotation", false, "2026-10-31T08:00:00-04:00", "2026-11-01T08:00:00-05:00"}},
		// 08:00 EST on 1 November: b.
		{"new york autumn, after", daily, "2026-11-01T08:00:00-05:00",
			wantShift{[]string{"b"}, "rotation", false, "2026-11-01T08:00:00-05:00", "2026-11-02T08:00:00-05:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.set.Names()[0]
			got, err := tt.set.At(name, at(tt.at))
			if err != nil {
				t.Fatal(err)
			}
			checkShift(t, got, tt.want)
		})
	}
}

// TestPerShift: the window of people on call moves on by one member at
// each handoff, and a layer whose members are all on call never hands over.
func TestPerShift(t *testing.T) {
	anchor := time.Date(2026, 1, 5, 9, 0, 0, 0, shanghai)
	people := []string{"a", "b", "c", "d"}
	set := mustNew(t, people,
		Spec{Name: "pairs", Location: shanghai, Layers: []Layer{{Name: "pairs", Members: people, PerShift: 2, Every: 1, Anchor: anchor}}},
		Spec{Name: "all", Location: shanghai, Layers: []Layer{{Name: "all", Members: []string{"b", "a"}, PerShift: 2}}})
	for i, want := range [][]string{{"a", "b"}, {"b", "c"}, {"c", "d"}, {"d", "a"}, {"a", "b"}} {
		got, _ := set.At("pairs", anchor.AddDate(0, 0, i))
		if !slices.Equal(got.People, want) {
			t.Errorf("day %d: %v, want %v", i, got.People, want)
		}
	}
	got, _ := set.At("all", anchor)
	checkShift(t, got, wantShift{[]string{"b", "a"}, "all", false, "", ""})
	if _, ok := mustSchedule(t, set, "all").Next(anchor); ok {
		t.Error("Next found a change in a schedule that never changes")
	}
}

// mustSchedule returns the schedule called name.
func mustSchedule(t *testing.T, set *Set, name string) *Schedule {
	t.Helper()
	sc, err := set.Schedule(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestRestrictionWindows: overnight windows, windows on holidays, a
// window across a DST change, and the precedence of layers.
func TestRestrictionWindows(t *testing.T) {
	people := []string{"base", "night", "weekend"}
	always := Layer{Name: "base", Members: []string{"base"}}
	// Friday 18:00 to Saturday 09:00, and Saturday 22:00 to Sunday 06:00.
	nights := Layer{Name: "nights", Members: []string{"night"}, Windows: []Window{
		{Days: []time.Weekday{time.Friday}, From: 18 * time.Hour, To: 9 * time.Hour},
		{Days: []time.Weekday{time.Saturday}, From: 22 * time.Hour, To: 6 * time.Hour},
	}}
	// A holiday on Wednesday 7 October opens the Saturday window.
	shanghaiSet := mustNew(t, people, Spec{Name: "s", Location: shanghai, Holidays: []Date{{2026, 10, 7}}, Layers: []Layer{always, nights}})
	// Saturday 28 March 22:00 CET to Sunday 06:00 CEST is 7 hours.
	berlinSet := mustNew(t, people, Spec{Name: "s", Location: berlin, Layers: []Layer{always, nights}})
	// Saturdays, all day (00:00–24:00).
	weekend := Layer{Name: "weekend", Members: []string{"weekend"}, Windows: []Window{{Days: []time.Weekday{time.Saturday}, From: 0, To: 24 * time.Hour}}}
	wholeDay := mustNew(t, people, Spec{Name: "s", Location: shanghai, Layers: []Layer{always, weekend}})
	tests := []struct {
		name string
		set  *Set
		at   string
		want wantShift
	}{
		// Friday 20:00: the overnight window that opened at 18:00.
		{"overnight, evening", shanghaiSet, "2026-11-27T20:00:00+08:00",
			wantShift{[]string{"night"}, "nights", false, "2026-11-27T18:00:00+08:00", "2026-11-28T09:00:00+08:00"}},
		// Saturday 08:59: the same window, opened the day before.
		{"overnight, next morning", shanghaiSet, "2026-11-28T08:59:00+08:00",
			wantShift{[]string{"night"}, "nights", false, "2026-11-27T18:00:00+08:00", "2026-11-28T09:00:00+08:00"}},
		// Saturday 09:00: the window has closed; the base layer until 22:00.
		{"overnight, closed", shanghaiSet, "2026-11-28T09:00:00+08:00",
			wantShift{[]string{"base"}, "base", false, "2026-11-28T09:00:00+08:00", "2026-11-28T22:00:00+08:00"}},
		// Thursday 05:00 after the Wednesday holiday: its Saturday window.
		{"holiday opens the Saturday window", shanghaiSet, "2026-10-08T05:00:00+08:00",
			wantShift{[]string{"night"}, "nights", false, "2026-10-07T22:00:00+08:00", "2026-10-08T06:00:00+08:00"}},
		// Thursday 5 November 05:00, no holiday: the base layer.
		{"ordinary Thursday", shanghaiSet, "2026-11-05T05:00:00+08:00",
			wantShift{[]string{"base"}, "base", false, "2026-11-01T06:00:00+08:00", "2026-11-06T18:00:00+08:00"}},
		// Berlin, Sunday 29 March 05:30 CEST: the window that opened at
		// 22:00 CET ends at 06:00 CEST.
		{"overnight across DST", berlinSet, "2026-03-29T05:30:00+02:00",
			wantShift{[]string{"night"}, "nights", false, "2026-03-28T22:00:00+01:00", "2026-03-29T06:00:00+02:00"}},
		// 00:00 to 24:00 is the whole Saturday.
		{"whole day", wholeDay, "2026-11-28T23:59:00+08:00",
			wantShift{[]string{"weekend"}, "weekend", false, "2026-11-28T00:00:00+08:00", "2026-11-29T00:00:00+08:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.set.At("s", at(tt.at))
			if err != nil {
				t.Fatal(err)
			}
			checkShift(t, got, tt.want)
		})
	}
}

// weekdaysOnly is a schedule with nobody on call on weekday nights and
// weekends.
func weekdaysOnly(t *testing.T) *Set {
	t.Helper()
	return mustNew(t, []string{"a"}, Spec{Name: "office", Location: shanghai, Layers: []Layer{{
		Name: "office", Members: []string{"a"},
		Windows: []Window{{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, From: 9 * time.Hour, To: 18 * time.Hour}},
	}}})
}

// TestGaps: the times nobody is on call are found, named and counted.
func TestGaps(t *testing.T) {
	set := weekdaysOnly(t)
	sc := mustSchedule(t, set, "office")
	now := at("2026-11-25T10:00:00+08:00") // a Wednesday

	got := sc.Gaps(now, now.AddDate(0, 0, 7))
	want := []Gap{
		{at("2026-11-25T18:00:00+08:00"), at("2026-11-26T09:00:00+08:00")},
		{at("2026-11-26T18:00:00+08:00"), at("2026-11-27T09:00:00+08:00")},
		{at("2026-11-27T18:00:00+08:00"), at("2026-11-30T09:00:00+08:00")},
		{at("2026-11-30T18:00:00+08:00"), at("2026-12-01T09:00:00+08:00")},
		{at("2026-12-01T18:00:00+08:00"), at("2026-12-02T09:00:00+08:00")},
	}
	if len(got) != len(want) {
		t.Fatalf("Gaps = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].From.Equal(want[i].From) || !got[i].To.Equal(want[i].To) {
			t.Errorf("gap %d = %v, want %v", i, got[i], want[i])
		}
	}

	// At in a gap: nobody, from when to when.
	checkShift(t, sc.At(at("2026-11-28T12:00:00+08:00")),
		wantShift{[]string{}, "", false, "2026-11-27T18:00:00+08:00", "2026-11-30T09:00:00+08:00"})

	// In the year from Wednesday 25 November 2026 10:00 there is a gap
	// from 18:00 on each of its 261 weekdays (the Friday one lasts the
	// weekend); counted again here by sampling every quarter hour.
	starts := 0
	prevNobody := false
	for x := now; x.Before(now.AddDate(1, 0, 0)); x = x.Add(15 * time.Minute) {
		lt := x.In(shanghai)
		nobody := lt.Weekday() == time.Saturday || lt.Weekday() == time.Sunday || lt.Hour() < 9 || lt.Hour() >= 18
		if nobody && !prevNobody {
			starts++
		}
		prevNobody = nobody
	}
	if starts != 261 {
		t.Fatalf("the sampling counts %d gaps, want 261", starts)
	}
	wantWarnings := []string{`schedule "office" has nobody on call from Wed 2026-11-25 18:00 CST until Thu 2026-11-26 09:00 CST, and 260 more times within a year`}
	if got := set.Warnings(now); !slices.Equal(got, wantWarnings) {
		t.Errorf("Warnings =\n%q\nwant\n%q", got, wantWarnings)
	}
	// A schedule that always has someone warns of nothing.
	if got := loadSet(t, firstLineYAML).Warnings(now); len(got) != 0 {
		t.Errorf("Warnings of a full schedule = %q", got)
	}
}

// TestNext: the next shift with someone new on call, skipping gaps and
// shifts with the same people.
func TestNext(t *testing.T) {
	set := loadSet(t, firstLineYAML)
	sc := mustSchedule(t, set, "first-line")
	// Wednesday 20:00 (chen.jie): next is first line at Thursday 09:00.
	next, ok := sc.Next(at("2026-11-25T20:00:00+08:00"))
	if !ok {
		t.Fatal("no next shift")
	}
	checkShift(t, next, wantShift{[]string{"wang.wei", "li.na"}, "weekday-rota", false, "2026-11-26T09:00:00+08:00", "2026-11-26T18:00:00+08:00"})
	// In a gap of the office schedule: the next shift with someone on call.
	next, ok = mustSchedule(t, weekdaysOnly(t), "office").Next(at("2026-11-28T12:00:00+08:00"))
	if !ok {
		t.Fatal("no next shift after a gap")
	}
	checkShift(t, next, wantShift{[]string{"a"}, "office", false, "2026-11-30T09:00:00+08:00", "2026-11-30T18:00:00+08:00"})
}

// TestOverrides: later overrides win where they overlap; WithOverride
// adds one at run time without changing a schedule readers hold, and
// refuses bad ones.
func TestOverrides(t *testing.T) {
	people := []string{"a", "b", "c"}
	set := mustNew(t, people, Spec{Name: "s", Location: shanghai,
		Layers: []Layer{{Name: "base", Members: []string{"a"}}},
		Overrides: []Override{
			{Person: "b", From: at("2026-11-25T10:00:00+08:00"), To: at("2026-11-25T14:00:00+08:00")},
			{Person: "c", From: at("2026-11-25T12:00:00+08:00"), To: at("2026-11-25T13:00:00+08:00")},
		}})
	tests := []struct {
		at   string
		want wantShift
	}{
		// Inside the first override only.
		{"2026-11-25T11:00:00+08:00", wantShift{[]string{"b"}, "", true, "2026-11-25T10:00:00+08:00", "2026-11-25T12:00:00+08:00"}},
		// Where both cover, the later one decides.
		{"2026-11-25T12:30:00+08:00", wantShift{[]string{"c"}, "", true, "2026-11-25T12:00:00+08:00", "2026-11-25T13:00:00+08:00"}},
		// The first one resumes when the second ends.
		{"2026-11-25T13:00:00+08:00", wantShift{[]string{"b"}, "", true, "2026-11-25T13:00:00+08:00", "2026-11-25T14:00:00+08:00"}},
		// After both, the base layer.
		{"2026-11-25T14:00:00+08:00", wantShift{[]string{"a"}, "base", false, "2026-11-25T14:00:00+08:00", ""}},
	}
	for _, tt := range tests {
		got, _ := set.At("s", at(tt.at))
		checkShift(t, got, tt.want)
	}

	t.Run("added at run time, copy on write", func(t *testing.T) {
		held := mustSchedule(t, set, "s")
		o := Override{Person: "c", From: at("2026-11-26T00:00:00+08:00"), To: at("2026-11-27T00:00:00+08:00")}
		if err := set.WithOverride("s", o); err != nil {
			t.Fatal(err)
		}
		x := at("2026-11-26T12:00:00+08:00")
		got, _ := set.At("s", x)
		checkShift(t, got, wantShift{[]string{"c"}, "", true, "2026-11-26T00:00:00+08:00", "2026-11-27T00:00:00+08:00"})
		checkShift(t, held.At(x), wantShift{[]string{"a"}, "base", false, "2026-11-25T14:00:00+08:00", ""})
		if n := len(mustSchedule(t, set, "s").Overrides()); n != 3 {
			t.Errorf("%d overrides after adding one to 2", n)
		}
	})

	t.Run("refused", func(t *testing.T) {
		from, to := at("2026-11-26T00:00:00+08:00"), at("2026-11-27T00:00:00+08:00")
		tests := []struct {
			name     string
			schedule string
			o        Override
			is       error
			msg      string
		}{
			// A schedule that does not exist.
			{"unknown schedule", "nope", Override{Person: "a", From: from, To: to}, ErrUnknownSchedule, `schedule "nope": unknown schedule`},
			// Someone who is not in people.
			{"unknown person", "s", Override{Person: "zed", From: from, To: to}, ErrInvalidOverride, `schedule "s": invalid override: person "zed" is not defined in people`},
			// Nobody.
			{"no person", "s", Override{From: from, To: to}, ErrInvalidOverride, `schedule "s": invalid override: person is required`},
			// An end before the start.
			{"backwards", "s", Override{Person: "a", From: to, To: from}, ErrInvalidOverride,
				`schedule "s": invalid override: to (2026-11-26T00:00:00+08:00) must be after from (2026-11-27T00:00:00+08:00)`},
			// No end.
			{"no end", "s", Override{Person: "a", From: from}, ErrInvalidOverride, `schedule "s": invalid override: from and to are required`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := set.WithOverride(tt.schedule, tt.o)
				if !errors.Is(err, tt.is) || err.Error() != tt.msg {
					t.Fatalf("WithOverride = %v, want %q (%v)", err, tt.msg, tt.is)
				}
			})
		}
	})
}

// TestConcurrentReadersAndOverrides: readers ask while a writer adds
// overrides (run with -race); every answer is one of the two possible.
func TestConcurrentReadersAndOverrides(t *testing.T) {
	set := mustNew(t, []string{"a", "b"}, Spec{Name: "s", Location: shanghai, Layers: []Layer{{Name: "base", Members: []string{"a"}}}})
	x := at("2026-11-25T12:00:00+08:00")
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				sh, err := set.At("s", x)
				if err != nil || (sh.People[0] != "a" && sh.People[0] != "b") {
					errs <- fmt.Errorf("At = %+v, %v", sh, err)
					return
				}
			}
		})
	}
	for i := range 50 {
		o := Override{Person: "b", From: x.Add(time.Duration(i) * time.Hour), To: x.Add(time.Duration(i+1) * time.Hour)}
		if err := set.WithOverride("s", o); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, _ := set.At("s", x.Add(49*time.Hour+time.Minute)); got.People[0] != "b" {
		t.Errorf("the last override is lost: %+v", got)
	}
}

// TestNewRefuses: New checks what a caller building Specs by hand can get
// wrong, and says where.
func TestNewRefuses(t *testing.T) {
	anchor := time.Date(2026, 1, 5, 9, 0, 0, 0, shanghai)
	ok := Layer{Name: "l", Members: []string{"a"}}
	tests := []struct {
		name  string
		specs []Spec
		want  string
	}{
		// Two schedules with one name.
		{"duplicate", []Spec{{Name: "s", Location: shanghai, Layers: []Layer{ok}}, {Name: "s", Location: shanghai, Layers: []Layer{ok}}},
			`schedule "s": defined twice`},
		// No name.
		{"no name", []Spec{{Location: shanghai, Layers: []Layer{ok}}}, `schedule 1: name is required`},
		// No time zone.
		{"no location", []Spec{{Name: "s", Layers: []Layer{ok}}}, `schedule "s": location is required`},
		// No layers.
		{"no layers", []Spec{{Name: "s", Location: shanghai}}, `schedule "s": at least one layer is required`},
		// Someone not in people, twice.
		{"unknown member", []Spec{{Name: "s", Location: shanghai, Layers: []Layer{{Name: "l", Members: []string{"zed", "zed"}, Every: 1, Anchor: anchor}}}},
			`schedule "s": layer "l": person "zed" is not defined in people`},
		// More on call at once than members.
		{"per shift", []Spec{{Name: "s", Location: shanghai, Layers: []Layer{{Name: "l", Members: []string{"a"}, PerShift: 2}}}},
			`schedule "s": layer "l": per shift must be from 1 to the number of members (1), got 2`},
		// Members who take turns without a period.
		{"no period", []Spec{{Name: "s", Location: shanghai, Layers: []Layer{{Name: "l", Members: []string{"a", "b"}}}}},
			`schedule "s": layer "l": every is required: 2 members take turns, 1 at a time`},
		// A period without an anchor.
		{"no anchor", []Spec{{Name: "s", Location: shanghai, Layers: []Layer{{Name: "l", Members: []string{"a", "b"}, Every: 7}}}},
			`schedule "s": layer "l": anchor is required with every`},
		// A window without a length.
		{"empty window", []Spec{{Name: "s", Location: shanghai, Layers: []Layer{{Name: "l", Members: []string{"a"}, Windows: []Window{{From: time.Hour, To: time.Hour}}}}}},
			`schedule "s": layer "l": window 1: from and to are both 1h0m0s: a window needs a length`},
		// An override that ends before it starts.
		{"backwards override", []Spec{{Name: "s", Location: shanghai, Layers: []Layer{ok},
			Overrides: []Override{{Person: "a", From: anchor, To: anchor.Add(-time.Hour)}}}},
			`schedule "s": invalid override: to (2026-01-05T08:00:00+08:00) must be after from (2026-01-05T09:00:00+08:00)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]string{"a", "b"}, tt.specs...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "on-call schedules: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
}

// TestUnknownSchedule: asking for a schedule that does not exist is an
// error, not an empty answer.
func TestUnknownSchedule(t *testing.T) {
	set := loadSet(t, firstLineYAML)
	if got := set.Names(); !slices.Equal(got, []string{"first-line", "listed"}) {
		t.Errorf("Names = %v", got)
	}
	if _, err := set.At("second-line", at("2026-11-25T10:00:00+08:00")); !errors.Is(err, ErrUnknownSchedule) {
		t.Errorf("At(unknown) = %v", err)
	}
	if _, err := set.Shifts("second-line", at("2026-11-25T10:00:00+08:00"), at("2026-11-26T10:00:00+08:00")); !errors.Is(err, ErrUnknownSchedule) {
		t.Errorf("Shifts(unknown) = %v", err)
	}
}

// TestFromConfigDefaults: a schedule without a time zone takes the
// calendar's, a layer without per_shift has one person on call.
func TestFromConfigDefaults(t *testing.T) {
	set := loadSet(t, `
calendar: {timezone: Europe/Berlin}
people: [{id: a}, {id: b}]
schedules:
  - name: s
    layers:
      - name: l
        members: [a, b]
        rotation: {every: 2d, anchor: "2026-03-28T09:00"}
`)
	sc := mustSchedule(t, set, "s")
	if sc.Location().String() != "Europe/Berlin" {
		t.Errorf("Location = %v, want the calendar's", sc.Location())
	}
	// Two-day shifts from Saturday 28 March 09:00 CET: b from Monday 30
	// March 09:00 CEST.
	checkShift(t, sc.At(at("2026-03-30T09:00:00+02:00")), wantShift{[]string{"b"}, "l", false, "2026-03-30T09:00:00+02:00", "2026-04-01T09:00:00+02:00"})
}

// BenchmarkAt: one question to the first-line schedule, with the search
// for the start and end of the shift.
func BenchmarkAt(b *testing.B) {
	set := loadSet(b, firstLineYAML)
	x := at("2026-11-28T03:00:00+08:00")
	for b.Loop() {
		if _, err := set.At("first-line", x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGapsYear: the gap check `remediator check` runs, over a year
// of the first-line schedule.
func BenchmarkGapsYear(b *testing.B) {
	set := loadSet(b, firstLineYAML)
	now := at("2026-11-25T10:00:00+08:00")
	for b.Loop() {
		set.Warnings(now)
	}
}
