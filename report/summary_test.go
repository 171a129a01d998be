package report

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
)

// slaFrom and slaTo bound the week the SLA tests summarise.
var (
	slaFrom = time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC) // Monday 09:00 in Shanghai
	slaTo   = slaFrom.Add(7 * 24 * time.Hour)
)

// at is slaFrom plus d.
func at(d time.Duration) time.Time { return slaFrom.Add(d) }

// slaEntries are five incidents of the week, as the engine reports them.
func slaEntries() []engine.SLAEntry {
	const h, m = time.Hour, time.Minute
	return []engine.SLAEntry{
		// P1 acknowledged in 5m by li.na and resolved in 1h: no breach.
		{Incident: 1, Title: "db down", Level: "critical", Priority: "P1", CreatedAt: at(h),
			AckAt: at(h + 5*m), AckBy: "li.na", ResolvedAt: at(2 * h), ResolvedBy: "li.na",
			RespondBy: at(h + 15*m), ResolveBy: at(5 * h)},
		// P1 acknowledged 10m late by zhang.qiang, resolved in 5h: both clocks breached.
		{Incident: 2, Title: "api 5xx", Level: "critical", Priority: "P1", CreatedAt: at(24 * h),
			AckAt: at(24*h + 25*m), AckBy: "zhang.qiang", ResolvedAt: at(29 * h), ResolvedBy: "zhang.qiang",
			RespondBy: at(24*h + 15*m), ResolveBy: at(28 * h), RespondBreached: true, ResolveBreached: true},
		// P2 resolved by Alertmanager after 45m without an acknowledgement,
		// 15m past its respond-by.
		{Incident: 3, Title: "queue slow", Level: "warning", Priority: "P2", CreatedAt: at(48 * h),
			ResolvedAt: at(48*h + 45*m), ResolvedBy: "alertmanager",
			RespondBy: at(48*h + 30*m), ResolveBy: at(56 * h), RespondBreached: true},
		// P2 nobody acknowledged, still open at the end of the week.
		{Incident: 4, Title: "disk <b>full</b>", Level: "warning", Priority: "P2", CreatedAt: at(6 * 24 * h),
			RespondBy: at(6*24*h + 30*m), ResolveBy: at(6*24*h + 8*h), RespondBreached: true, ResolveBreached: true},
		// A level without a priority, acknowledged by li.na in 1m, open.
		{Incident: 5, Title: "cert expires", Level: "info", CreatedAt: at(2 * h), AckAt: at(2*h + m), AckBy: "li.na"},
	}
}

func secs(d time.Duration) *float64 { f := d.Seconds(); return &f }

func TestSummarize(t *testing.T) {
	const h, m = time.Hour, time.Minute
	s := Summarize(slaEntries(), slaFrom, slaTo)

	t.Run("total", func(t *testing.T) {
		want := Stats{Count: 5, Acknowledged: 3, Resolved: 3,
			// (5m + 25m + 1m) / 3 and (1h + 5h + 45m) / 3
			MTTASeconds: secs(31 * m / 3), MTTA: "10m 20s", MTTRSeconds: secs((6*h + 45*m) / 3), MTTR: "2h 15m",
			RespondBreaches: 3, ResolveBreaches: 2}
		if !reflect.DeepEqual(s.Total, want) {
			t.Errorf("Total = %s\nwant    %s", dump(s.Total), dump(want))
		}
	})

	t.Run("levels by priority, a level without one last", func(t *testing.T) {
		want := []LevelStats{
			{Level: "critical", Priority: "P1", Stats: Stats{Count: 2, Acknowledged: 2, Resolved: 2,
				MTTASeconds: secs(15 * m), MTTA: "15m", MTTRSeconds: secs(3 * h), MTTR: "3h", RespondBreaches: 1, ResolveBreaches: 1}},
			{Level: "warning", Priority: "P2", Stats: Stats{Count: 2, Resolved: 1,
				MTTRSeconds: secs(45 * m), MTTR: "45m", RespondBreaches: 2, ResolveBreaches: 1}},
			{Level: "info", Stats: Stats{Count: 1, Acknowledged: 1, MTTASeconds: secs(m), MTTA: "1m"}},
		}
		if !reflect.DeepEqual(s.Levels, want) {
			t.Errorf("Levels = %s\nwant     %s", dump(s.Levels), dump(want))
		}
	})

	t.Run("people by first acknowledger, unacknowledged last", func(t *testing.T) {
		want := []PersonStats{
			{Person: "li.na", Stats: Stats{Count: 2, Acknowledged: 2, Resolved: 1,
				MTTASeconds: secs(3 * m), MTTA: "3m", MTTRSeconds: secs(h), MTTR: "1h"}},
			{Person: "zhang.qiang", Stats: Stats{Count: 1, Acknowledged: 1, Resolved: 1,
				MTTASeconds: secs(25 * m), MTTA: "25m", MTTRSeconds: secs(5 * h), MTTR: "5h", RespondBreaches: 1, ResolveBreaches: 1}},
			{Person: Unacknowledged, Stats: Stats{Count: 2, Resolved: 1,
				MTTRSeconds: secs(45 * m), MTTR: "45m", RespondBreaches: 2, ResolveBreaches: 1}},
		}
		if !reflect.DeepEqual(s.People, want) {
			t.Errorf("People = %s\nwant     %s", dump(s.People), dump(want))
		}
	})

	t.Run("breaches say which clock and by how much", func(t *testing.T) {
		want := []Breach{
			// Acknowledged at +25m against +15m.
			{Incident: 2, Title: "api 5xx", Level: "critical", Priority: "P1", Clock: ClockRespond, Deadline: at(24*h + 15*m),
				At: at(24*h + 25*m), LateSeconds: (10 * m).Seconds(), Late: "10m"},
			// Resolved at +5h against +4h.
			{Incident: 2, Title: "api 5xx", Level: "critical", Priority: "P1", Clock: ClockResolve, Deadline: at(28 * h),
				At: at(29 * h), LateSeconds: h.Seconds(), Late: "1h"},
			// The resolution stopped the respond clock, 15m late.
			{Incident: 3, Title: "queue slow", Level: "warning", Priority: "P2", Clock: ClockRespond, Deadline: at(48*h + 30*m),
				At: at(48*h + 45*m), LateSeconds: (15 * m).Seconds(), Late: "15m"},
			// Still running: measured at the end of the week.
			{Incident: 4, Title: "disk <b>full</b>", Level: "warning", Priority: "P2", Clock: ClockRespond, Deadline: at(6*24*h + 30*m),
				Ongoing: true, LateSeconds: (23*h + 30*m).Seconds(), Late: "23h 30m"},
			{Incident: 4, Title: "disk <b>full</b>", Level: "warning", Priority: "P2", Clock: ClockResolve, Deadline: at(6*24*h + 8*h),
				Ongoing: true, LateSeconds: (16 * h).Seconds(), Late: "16h"},
		}
		if !reflect.DeepEqual(s.Breaches, want) {
			t.Errorf("Breaches = %s\nwant       %s", dump(s.Breaches), dump(want))
		}
	})

	t.Run("JSON: null means with none, lists are never null", func(t *testing.T) {
		empty := Summarize(nil, slaFrom, slaTo)
		b, err := json.Marshal(empty)
		if err != nil {
			t.Fatal(err)
		}
		const want = `{"from":"2026-03-02T01:00:00Z","to":"2026-03-09T01:00:00Z","total":{"count":0,"acknowledged":0,"resolved":0,` +
			`"mtta_seconds":null,"mttr_seconds":null,"respond_breaches":0,"resolve_breaches":0},"levels":[],"people":[],"breaches":[]}`
		if string(b) != want {
			t.Errorf("JSON\n%s\nwant\n%s", b, want)
		}
		b, err = json.Marshal(s.Levels[0])
		if err != nil {
			t.Fatal(err)
		}
		const level = `{"level":"critical","priority":"P1","count":2,"acknowledged":2,"resolved":2,"mtta_seconds":900,"mtta":"15m",` +
			`"mttr_seconds":10800,"mttr":"3h","respond_breaches":1,"resolve_breaches":1}`
		if string(b) != level {
			t.Errorf("level JSON\n%s\nwant\n%s", b, level)
		}
		b, err = json.Marshal(s.Breaches[3])
		if err != nil {
			t.Fatal(err)
		}
		const ongoing = `{"incident":4,"title":"disk \u003cb\u003efull\u003c/b\u003e","level":"warning","priority":"P2","clock":"respond",` +
			`"deadline":"2026-03-08T01:30:00Z","ongoing":true,"late_seconds":84600,"late":"23h 30m"}`
		if string(b) != ongoing {
			t.Errorf("breach JSON\n%s\nwant\n%s", b, ongoing)
		}
	})
}

func TestHuman(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},                       // nothing
		{1499 * time.Millisecond, "1s"}, // rounded to the second
		{59 * time.Second, "59s"},       // seconds alone
		{90 * time.Second, "1m 30s"},    // minutes and seconds
		{time.Hour, "1h"},               // a unit alone when the next is zero
		{3*time.Hour + 5*time.Minute + 59*time.Second, "3h 5m"}, // the two largest units
		{50 * time.Hour, "2d 2h"},                               // days
		{-90 * time.Second, "-1m 30s"},                          // negative
	} {
		if got := Human(tc.d); got != tc.want {
			t.Errorf("Human(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// dump writes v as JSON, to compare values with pointers by eye.
func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
