package rules

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// mustWindow compiles a window over service="db" or fails the test.
func mustWindow(t testing.TB, c WindowConfig) *Window {
	t.Helper()
	if c.Matchers == nil && c.When == "" {
		c.Matchers = []string{`service="db"`}
	}
	w, err := NewWindow(&c)
	if err != nil {
		t.Fatalf("NewWindow: %v", err)
	}
	return w
}

// recurring returns a cron window config.
func recurring(spec string, d time.Duration) WindowConfig {
	return WindowConfig{Name: spec, Cron: spec, Duration: Duration(d)}
}

// activeCase is one instant checked against a window.
type activeCase struct {
	name    string
	at      time.Time
	active  bool
	wantEnd time.Time // when active
}

// checkActive runs cases against w.
func checkActive(t *testing.T, w *Window, cases []activeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			active, end := w.Active(tc.at)
			if active != tc.active || !end.Equal(tc.wantEnd) {
				t.Errorf("Active(%v) = %v, %v; want %v, %v", tc.at, active, end, tc.active, tc.wantEnd)
			}
		})
	}
}

func TestWindowDaily(t *testing.T) {
	w := mustWindow(t, recurring("0 2 * * *", time.Hour))
	end := utcAt(2026, 3, 10, 3, 0)
	checkActive(t, w, []activeCase{
		{"a minute before", utcAt(2026, 3, 10, 1, 59), false, time.Time{}},                      // not yet
		{"at the start", utcAt(2026, 3, 10, 2, 0), true, end},                                   // start is inclusive
		{"fraction after the start", time.Date(2026, 3, 10, 2, 0, 0, 5e8, time.UTC), true, end}, // sub-second instants
		{"last second", time.Date(2026, 3, 10, 2, 59, 59, 0, time.UTC), true, end},              // still inside
		{"at the end", utcAt(2026, 3, 10, 3, 0), false, time.Time{}},                            // end is exclusive
		{"asked in another zone", wallAt(shanghaiLoc, 2026, 3, 10, 10, 30), true, end},          // 02:30 UTC: a spec without CRON_TZ is UTC
		{"not the machine's zone", wallAt(shanghaiLoc, 2026, 3, 10, 2, 30), false, time.Time{}}, // 02:30 CST is 18:30 UTC the day before
	})
	t.Run("end is in the asker's location", func(t *testing.T) {
		_, got := w.Active(wallAt(shanghaiLoc, 2026, 3, 10, 10, 30))
		if got.Location() != shanghaiLoc {
			t.Errorf("end %v is not in Asia/Shanghai", got)
		}
	})
}

func TestWindowAcrossMidnight(t *testing.T) {
	w := mustWindow(t, recurring("30 23 * * *", time.Hour))
	checkActive(t, w, []activeCase{
		{"next day 00:15", utcAt(2026, 3, 11, 0, 15), true, utcAt(2026, 3, 11, 0, 30)}, // started yesterday
		{"next day 00:30", utcAt(2026, 3, 11, 0, 30), false, time.Time{}},              // ended
		{"23:29", utcAt(2026, 3, 11, 23, 29), false, time.Time{}},                      // before today's
		{"23:30", utcAt(2026, 3, 11, 23, 30), true, utcAt(2026, 3, 12, 0, 30)},         // today's starts
	})
}

func TestWindowWeekly(t *testing.T) {
	// Saturday 2026-03-14 22:00 to Sunday 02:00.
	w := mustWindow(t, recurring("0 22 * * sat", 4*time.Hour))
	end := utcAt(2026, 3, 15, 2, 0)
	checkActive(t, w, []activeCase{
		{"saturday before", utcAt(2026, 3, 14, 21, 59), false, time.Time{}}, // not yet
		{"saturday start", utcAt(2026, 3, 14, 22, 0), true, end},            // starts
		{"sunday night", utcAt(2026, 3, 15, 1, 59), true, end},              // into the next day
		{"sunday end", utcAt(2026, 3, 15, 2, 0), false, time.Time{}},        // ended
		{"wednesday 22:30", utcAt(2026, 3, 18, 22, 30), false, time.Time{}}, // other days are free
		{"next saturday", utcAt(2026, 3, 21, 23, 0), true, utcAt(2026, 3, 22, 2, 0)},
	})
}

func TestWindowDescriptors(t *testing.T) {
	t.Run("daily", func(t *testing.T) {
		w := mustWindow(t, recurring("@daily", 30*time.Minute))
		checkActive(t, w, []activeCase{
			{"inside", utcAt(2026, 3, 11, 0, 10), true, utcAt(2026, 3, 11, 0, 30)}, // midnight to 00:30
			{"after", utcAt(2026, 3, 11, 0, 30), false, time.Time{}},               // ended
		})
	})
	t.Run("weekly in berlin", func(t *testing.T) {
		// @weekly is Sunday 00:00, here in Berlin: Saturday 23:00 UTC.
		w := mustWindow(t, recurring("CRON_TZ=Europe/Berlin @weekly", 2*time.Hour))
		checkActive(t, w, []activeCase{
			{"saturday night utc", utcAt(2026, 3, 14, 23, 30), true, utcAt(2026, 3, 15, 1, 0)}, // 00:30 CET Sunday
			{"sunday utc", utcAt(2026, 3, 15, 1, 0), false, time.Time{}},                       // 02:00 CET: ended
		})
	})
}

func TestWindowCronTZ(t *testing.T) {
	w := mustWindow(t, recurring("CRON_TZ=Asia/Shanghai 0 2 * * *", time.Hour))
	checkActive(t, w, []activeCase{
		{"02:30 in shanghai", utcAt(2026, 3, 10, 18, 30), true, utcAt(2026, 3, 10, 19, 0)}, // 02:30 CST on the 11th
		{"02:30 utc", utcAt(2026, 3, 11, 2, 30), false, time.Time{}},                       // 10:30 CST
	})
	w = mustWindow(t, recurring("TZ=Asia/Shanghai\t0 2 * * *", time.Hour))
	checkActive(t, w, []activeCase{
		{"TZ= and a tab", utcAt(2026, 3, 10, 18, 30), true, utcAt(2026, 3, 10, 19, 0)}, // the shorter prefix, any whitespace
	})
}

// Berlin moves from CET (+01) to CEST (+02) at 02:00 on Sunday 2026-03-29,
// so 02:00–02:59 does not exist that day, and back at 03:00 on Sunday
// 2026-10-25, so 02:00–02:59 happens twice.

func TestWindowSpringForward(t *testing.T) {
	// robfig/cron skips a start time that does not exist: no window on the
	// 29th at all (not 03:30, as Vixie cron would run it).
	w := mustWindow(t, recurring("CRON_TZ=Europe/Berlin 30 2 * * *", time.Hour))
	checkActive(t, w, []activeCase{
		{"saturday 02:45 CET", wallAt(berlinLoc, 2026, 3, 28, 2, 45), true, wallAt(berlinLoc, 2026, 3, 28, 3, 30)}, // the day before is normal
		{"sunday 01:45 CET", wallAt(berlinLoc, 2026, 3, 29, 1, 45), false, time.Time{}},                            // before the change
		{"sunday 03:00 CEST", wallAt(berlinLoc, 2026, 3, 29, 3, 0), false, time.Time{}},                            // right after the change
		{"sunday 03:45 CEST", wallAt(berlinLoc, 2026, 3, 29, 3, 45), false, time.Time{}},                           // no shifted occurrence
		{"monday 02:45 CEST", wallAt(berlinLoc, 2026, 3, 30, 2, 45), true, wallAt(berlinLoc, 2026, 3, 30, 3, 30)},  // back to normal, in summer time
	})
	t.Run("no minute of the 29th is active", func(t *testing.T) {
		for at := wallAt(berlinLoc, 2026, 3, 29, 0, 0); at.Before(wallAt(berlinLoc, 2026, 3, 30, 0, 0)); at = at.Add(time.Minute) {
			if active, end := w.Active(at); active {
				t.Fatalf("Active(%v) = true until %v", at, end)
			}
		}
	})
}

func TestWindowFallBack(t *testing.T) {
	t.Run("01:00 is not repeated", func(t *testing.T) {
		w := mustWindow(t, recurring("CRON_TZ=Europe/Berlin 0 1 * * *", time.Hour))
		checkActive(t, w, []activeCase{
			{"01:30 CEST", utcAt(2026, 10, 24, 23, 30), true, utcAt(2026, 10, 25, 0, 0)}, // once, in summer time
			{"02:30 CEST", utcAt(2026, 10, 25, 0, 30), false, time.Time{}},               // first 02:30: ended
			{"02:30 CET", utcAt(2026, 10, 25, 1, 30), false, time.Time{}},                // second 02:30: no second occurrence
			{"next day 01:30 CET", utcAt(2026, 10, 26, 0, 30), true, utcAt(2026, 10, 26, 1, 0)},
		})
	})
	t.Run("02:30 happens twice", func(t *testing.T) {
		// robfig/cron starts the window at both 02:30s: the two hour-long
		// occurrences cover 02:30 CEST to 03:30 CET, two hours.
		w := mustWindow(t, recurring("CRON_TZ=Europe/Berlin 30 2 * * *", time.Hour))
		checkActive(t, w, []activeCase{
			{"02:15 CEST", utcAt(2026, 10, 25, 0, 15), false, time.Time{}},                       // before the first
			{"02:45 CEST", utcAt(2026, 10, 25, 0, 45), true, utcAt(2026, 10, 25, 1, 30)},         // first occurrence, ends at 02:30 CET
			{"02:15 CET", utcAt(2026, 10, 25, 1, 15), true, utcAt(2026, 10, 25, 1, 30)},          // still the first
			{"02:30 CET", utcAt(2026, 10, 25, 1, 30), true, utcAt(2026, 10, 25, 2, 30)},          // the second starts as the first ends
			{"03:15 CET", utcAt(2026, 10, 25, 2, 15), true, utcAt(2026, 10, 25, 2, 30)},          // second occurrence
			{"03:30 CET", utcAt(2026, 10, 25, 2, 30), false, time.Time{}},                        // over
			{"next day 02:45 CET", utcAt(2026, 10, 26, 1, 45), true, utcAt(2026, 10, 26, 2, 30)}, // once again
		})
	})
	t.Run("new york 01:30 happens twice", func(t *testing.T) {
		// New York falls back at 02:00 EDT on 2026-11-01, repeating 01:00–01:59.
		w := mustWindow(t, recurring("CRON_TZ=America/New_York 30 1 * * *", time.Hour))
		checkActive(t, w, []activeCase{
			{"01:45 EDT", utcAt(2026, 11, 1, 5, 45), true, utcAt(2026, 11, 1, 6, 30)}, // first 01:30, ends at 01:30 EST
			{"01:45 EST", utcAt(2026, 11, 1, 6, 45), true, utcAt(2026, 11, 1, 7, 30)}, // second 01:30
			{"02:30 EST", utcAt(2026, 11, 1, 7, 30), false, time.Time{}},              // over
		})
	})
}

func TestWindowOneOff(t *testing.T) {
	// Over the spring-forward change: two hours of elapsed time.
	w := mustWindow(t, WindowConfig{Start: "2026-03-29T01:00:00+01:00", End: "2026-03-29T04:00:00+02:00"})
	end := utcAt(2026, 3, 29, 2, 0)
	checkActive(t, w, []activeCase{
		{"before", utcAt(2026, 3, 28, 23, 59), false, time.Time{}},                 // not yet
		{"at start", utcAt(2026, 3, 29, 0, 0), true, end},                          // inclusive
		{"last second", time.Date(2026, 3, 29, 1, 59, 59, 0, time.UTC), true, end}, // still inside
		{"at end", end, false, time.Time{}},                                        // exclusive
		{"a year later", utcAt(2027, 3, 29, 0, 30), false, time.Time{}},            // does not recur
		{"asked in berlin", wallAt(berlinLoc, 2026, 3, 29, 3, 30), true, end},      // same instant, other zone
	})
}

// referenceActive answers Active from a list of every occurrence start,
// sorted: the latest start at or before t holds t if it has not ended.
func referenceActive(starts []time.Time, d time.Duration, t time.Time) (bool, time.Time) {
	i := sort.Search(len(starts), func(i int) bool { return starts[i].After(t) })
	if i == 0 || !starts[i-1].Add(d).After(t) {
		return false, time.Time{}
	}
	return true, starts[i-1].Add(d)
}

func TestWindowActiveAgreesWithEnumeration(t *testing.T) {
	cases := []struct {
		name     string
		spec     string
		d        time.Duration
		from, to time.Time
	}{
		{"berlinLoc spring", "CRON_TZ=Europe/Berlin 30 2 * * *", time.Hour, utcAt(2026, 3, 26, 0, 0), utcAt(2026, 4, 1, 0, 0)},                   // skipped start
		{"berlinLoc autumn", "CRON_TZ=Europe/Berlin 30 2 * * *", time.Hour, utcAt(2026, 10, 22, 0, 0), utcAt(2026, 10, 28, 0, 0)},                // doubled start
		{"berlinLoc autumn dense", "CRON_TZ=Europe/Berlin */10 2 * * *", 90 * time.Minute, utcAt(2026, 10, 24, 0, 0), utcAt(2026, 10, 27, 0, 0)}, // overlapping, doubled hour
		{"every five minutes for a week", "*/5 * * * *", 7 * 24 * time.Hour, utcAt(2026, 3, 1, 0, 0), utcAt(2026, 3, 3, 0, 0)},                   // binary search path
		{"every minute of 01:xx for two days", "* 1 * * *", 48 * time.Hour, utcAt(2026, 3, 1, 0, 0), utcAt(2026, 3, 4, 0, 0)},                    // dense with gaps
		{"weekly over a year's turn", "0 22 * * sat", 4 * time.Hour, utcAt(2026, 12, 20, 0, 0), utcAt(2027, 1, 10, 0, 0)},                        // across years
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := mustWindow(t, recurring(tc.spec, tc.d))
			sched, err := parseWindowCron(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			var starts []time.Time
			for s := sched.Next(tc.from.Add(-tc.d - time.Second)); !s.After(tc.to); s = sched.Next(s) {
				starts = append(starts, s)
			}
			// 7m13s is prime to the minute and hour, so it visits every
			// offset within them.
			for at := tc.from; at.Before(tc.to); at = at.Add(7*time.Minute + 13*time.Second) {
				gotActive, gotEnd := w.Active(at)
				wantActive, wantEnd := referenceActive(starts, tc.d, at)
				if gotActive != wantActive || !gotEnd.Equal(wantEnd) {
					t.Fatalf("Active(%v) = %v, %v; enumeration says %v, %v", at, gotActive, gotEnd, wantActive, wantEnd)
				}
			}
		})
	}
}

func TestWindowMatches(t *testing.T) {
	w := mustWindow(t, WindowConfig{
		Cron: "0 2 * * *", Duration: Duration(time.Hour),
		Matchers: []string{`service="db"`, `env=~"prod.*"`, `team!="x"`},
	})
	cases := []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"all hold", map[string]string{"service": "db", "env": "prod-eu", "team": "y"}, true},    // every matcher
		{"missing label for !=", map[string]string{"service": "db", "env": "prod"}, true},        // "" != "x"
		{"regex does not match", map[string]string{"service": "db", "env": "staging"}, false},    // env
		{"regex is anchored", map[string]string{"service": "db", "env": "preprod"}, false},       // not a substring match
		{"excluded team", map[string]string{"service": "db", "env": "prod", "team": "x"}, false}, // team!="x"
		{"missing label for =", map[string]string{"env": "prod"}, false},                         // service must be db
		{"nil labels", nil, false}, // nothing set
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := w.Matches(tc.labels); got != tc.want {
				t.Errorf("Matches(%v) = %v, want %v", tc.labels, got, tc.want)
			}
		})
	}
	t.Run("when only", func(t *testing.T) {
		w := mustWindow(t, WindowConfig{Name: "deploys", Cron: "@daily", Duration: Duration(time.Hour), When: `labels.env == "prod"`})
		if !w.Matches(map[string]string{"any": "thing"}) || w.When() != `labels.env == "prod"` || w.Name() != "deploys" {
			t.Errorf("a window without matchers: Matches = false or When/Name lost (%q, %q)", w.When(), w.Name())
		}
	})
}

func TestWindowString(t *testing.T) {
	cases := []struct {
		cfg  WindowConfig
		want string
	}{
		{WindowConfig{Name: "backup", Cron: "0 2 * * *", Duration: Duration(time.Hour)}, `window "backup" at "0 2 * * *" for 1h`},                                                       // recurring
		{WindowConfig{Name: "move", Start: "2026-03-29T01:00:00+01:00", End: "2026-03-29T04:00:00+02:00"}, `window "move" from 2026-03-29T01:00:00+01:00 to 2026-03-29T04:00:00+02:00`}, // one-off
	}
	for _, tc := range cases {
		if got := mustWindow(t, tc.cfg).String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestWindowConfigYAML(t *testing.T) {
	src := `
name: nightly backup
cron: CRON_TZ=Europe/Berlin 0 2 * * *
duration: 1h30m
matchers: ['service="db"', 'env=~"prod.*"']
when: labels.team == "dba"
`
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	var got WindowConfig
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := WindowConfig{
		Name: "nightly backup", Cron: "CRON_TZ=Europe/Berlin 0 2 * * *", Duration: Duration(90 * time.Minute),
		Matchers: []string{`service="db"`, `env=~"prod.*"`}, When: `labels.team == "dba"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}

func TestWindowValidate(t *testing.T) {
	db := []string{`service="db"`}
	hour := Duration(time.Hour)
	cases := []struct {
		name string
		cfg  WindowConfig
		want []string
	}{
		{"recurring", WindowConfig{Cron: "0 2 * * *", Duration: hour, Matchers: db}, []string{}},                             // valid
		{"one-off", WindowConfig{Start: "2026-03-29T01:00:00+01:00", End: "2026-03-29T04:00:00Z", Matchers: db}, []string{}}, // valid
		{"when only", WindowConfig{Cron: "@weekly", Duration: hour, When: "true"}, []string{}},                               // an expression instead of matchers
		{"cron_tz", WindowConfig{Cron: "CRON_TZ=Europe/Berlin 30 2 * * *", Duration: hour, Matchers: db}, []string{}},        // with a time zone
		{"neither", WindowConfig{Matchers: db}, []string{ // no time at all
			`windows[0]: either cron with duration or start with end is required`,
		}},
		{"both", WindowConfig{Cron: "0 2 * * *", Duration: hour, Start: "2026-03-29T01:00:00Z", End: "2026-03-29T02:00:00Z", Matchers: db}, []string{ // recurring and one-off
			`windows[0]: cron and start/end cannot both be set: a window either recurs (cron with duration) or happens once (start with end)`,
		}},
		{"bad field", WindowConfig{Cron: "61 * * * *", Duration: hour, Matchers: db}, []string{ // minute out of range
			`windows[0].cron: "61 * * * *" is not a usable cron schedule: end of range (61) above maximum (59): 61`,
		}},
		{"four fields", WindowConfig{Cron: "0 2 * *", Duration: hour, Matchers: db}, []string{ // too few
			`windows[0].cron: "0 2 * *" is not a usable cron schedule: expected exactly 5 fields, found 4: [0 2 * *]`,
		}},
		{"seconds field", WindowConfig{Cron: "0 0 2 * * *", Duration: hour, Matchers: db}, []string{ // standard specs have no seconds
			`windows[0].cron: "0 0 2 * * *" is not a usable cron schedule: expected exactly 5 fields, found 6: [0 0 2 * * *]`,
		}},
		{"blank", WindowConfig{Cron: " ", Duration: hour, Matchers: db}, []string{ // only whitespace
			`windows[0].cron: " " is not a usable cron schedule: empty spec string`,
		}},
		{"unknown descriptor", WindowConfig{Cron: "@fortnightly", Duration: hour, Matchers: db}, []string{ // not one of robfig's
			`windows[0].cron: "@fortnightly" is not a usable cron schedule: unrecognized descriptor: @fortnightly`,
		}},
		{"@every", WindowConfig{Cron: "@every 1h", Duration: hour, Matchers: db}, []string{ // not anchored to the clock
			`windows[0].cron: "@every 1h" is not a usable cron schedule: @every counts from whenever it is asked, so it cannot place a window in time; use a cron expression`,
		}},
		{"never fires", WindowConfig{Cron: "0 0 30 2 *", Duration: hour, Matchers: db}, []string{ // 30 February
			`windows[0].cron: "0 0 30 2 *" is not a usable cron schedule: it never fires`,
		}},
		{"unknown zone", WindowConfig{Cron: "CRON_TZ=Mars/Base 0 2 * * *", Duration: hour, Matchers: db}, []string{ // not in the tz database
			`windows[0].cron: "CRON_TZ=Mars/Base 0 2 * * *" is not a usable cron schedule: "Mars/Base" is not a time zone (use an IANA name like Europe/Berlin)`,
		}},
		{"local zone", WindowConfig{Cron: "TZ=Local 0 2 * * *", Duration: hour, Matchers: db}, []string{ // depends on the machine
			`windows[0].cron: "TZ=Local 0 2 * * *" is not a usable cron schedule: "Local" is not a time zone (use an IANA name like Europe/Berlin)`,
		}},
		{"zone only", WindowConfig{Cron: "CRON_TZ=UTC", Duration: hour, Matchers: db}, []string{ // robfig/cron would panic
			`windows[0].cron: "CRON_TZ=UTC" is not a usable cron schedule: no schedule after the time zone`,
		}},
		{"no duration", WindowConfig{Cron: "0 2 * * *", Matchers: db}, []string{ // each occurrence needs a length
			`windows[0]: duration is required with cron`,
		}},
		{"negative duration", WindowConfig{Cron: "0 2 * * *", Duration: Duration(-time.Hour), Matchers: db}, []string{ // would never be active
			`windows[0].duration: must be positive (got -1h0m0s)`,
		}},
		{"start without end", WindowConfig{Start: "2026-03-29T01:00:00Z", Matchers: db}, []string{ // open-ended
			`windows[0]: end is required with start`,
		}},
		{"end without start", WindowConfig{End: "2026-03-29T01:00:00Z", Matchers: db}, []string{ // no beginning
			`windows[0]: start is required with end`,
		}},
		{"not rfc 3339", WindowConfig{Start: "2026-03-29 01:00", End: "2026-03-29T01:00", Matchers: db}, []string{ // space; no offset
			`windows[0].start: "2026-03-29 01:00" is not an RFC 3339 time (like 2026-03-29T02:00:00+01:00)`,
			`windows[0].end: "2026-03-29T01:00" is not an RFC 3339 time (like 2026-03-29T02:00:00+01:00)`,
		}},
		{"end equals start", WindowConfig{Start: "2026-03-29T01:00:00Z", End: "2026-03-29T02:00:00+01:00", Matchers: db}, []string{ // the same instant
			`windows[0].end: must be after start (end 2026-03-29T02:00:00+01:00, start 2026-03-29T01:00:00Z)`,
		}},
		{"end before start", WindowConfig{Start: "2026-03-29T02:00:00Z", End: "2026-03-29T01:00:00Z", Matchers: db}, []string{ // backwards
			`windows[0].end: must be after start (end 2026-03-29T01:00:00Z, start 2026-03-29T02:00:00Z)`,
		}},
		{"duration on a one-off", WindowConfig{Start: "2026-03-29T01:00:00Z", End: "2026-03-29T02:00:00Z", Duration: hour, Matchers: db}, []string{ // ignored otherwise
			`windows[0].duration: is only used with cron; a one-off window ends at end`,
		}},
		{"bad matchers", WindowConfig{Cron: "0 2 * * *", Duration: hour, Matchers: []string{`service`, `service="db`, `env=~"("`}}, []string{ // no operator, open quote, bad regex
			`windows[0].matchers[0]: "service" is not a matcher: bad matcher format: service`,
			`windows[0].matchers[1]: "service=\"db" is not a matcher: matcher value contains unescaped double quote: "db`,
			"windows[0].matchers[2]: \"env=~\\\"(\\\"\" is not a matcher: error parsing regexp: missing closing ): `^(?:()$`",
		}},
		{"nothing to match", WindowConfig{Cron: "0 2 * * *", Duration: hour}, []string{ // would cover every alert by accident
			`windows[0]: at least one of matchers or when is required, to say which alerts the window covers`,
		}},
		{"blank when", WindowConfig{Cron: "0 2 * * *", Duration: hour, When: "  "}, []string{ // whitespace is not an expression
			`windows[0]: at least one of matchers or when is required, to say which alerts the window covers`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := problemMessages(func(v *validator) { tc.cfg.validate(v, "windows[0]") })
			if !slices.Equal(got, tc.want) {
				t.Errorf("validate:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestNewWindowError(t *testing.T) {
	_, err := NewWindow(&WindowConfig{Cron: "0 2 * * *"})
	want := "duration is required with cron\nat least one of matchers or when is required, to say which alerts the window covers"
	var errs Errors
	if err == nil || err.Error() != want || !errors.As(err, &errs) {
		t.Errorf("NewWindow error = %v, want Errors:\n%s", err, want)
	}
}

func TestParseWindowCronRobfigPanics(t *testing.T) {
	// The reason parseWindowCron reads the time zone itself.
	defer func() {
		if recover() == nil {
			t.Error("robfig/cron no longer panics on a bare CRON_TZ; parseWindowCron's workaround can go")
		}
	}()
	_, _ = cron.ParseStandard("CRON_TZ=UTC")
}

func BenchmarkWindowActive(b *testing.B) {
	cases := []struct {
		name string
		cfg  WindowConfig
	}{
		{"daily", recurring("0 2 * * *", time.Hour)},
		{"weekly berlin", recurring("CRON_TZ=Europe/Berlin 0 22 * * sat", 4*time.Hour)},
		{"dense", recurring("*/5 * * * *", 7*24*time.Hour)},
		{"one-off", WindowConfig{Start: "2026-03-29T01:00:00Z", End: "2026-03-29T04:00:00Z"}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			w := mustWindow(b, bc.cfg)
			at := utcAt(2026, 3, 14, 23, 0)
			for i := 0; b.Loop(); i++ {
				w.Active(at.Add(time.Duration(i%1440) * time.Minute))
			}
		})
	}
}

// ExampleWindow_Active shows a nightly window.
func ExampleWindow_Active() {
	w, err := NewWindow(&WindowConfig{
		Name: "nightly backup", Cron: "CRON_TZ=Europe/Berlin 0 2 * * *", Duration: Duration(time.Hour),
		Matchers: []string{`service="db"`},
	})
	if err != nil {
		panic(err)
	}
	active, end := w.Active(time.Date(2026, 3, 10, 2, 30, 0, 0, mustZone("Europe/Berlin")))
	fmt.Println(active, end)
	// Output: true 2026-03-10 03:00:00 +0100 CET
}
