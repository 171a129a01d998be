package rules

import (
	"errors"
	"fmt"
	"strings"
	"time"

	amlabels "github.com/prometheus/alertmanager/pkg/labels"
	"github.com/robfig/cron/v3"
)

// maxLinearSteps is how many occurrences Window.Active walks one by one
// before it switches to a binary search, for schedules that start many
// overlapping occurrences within one window's duration.
const maxLinearSteps = 8

// WindowConfig is a maintenance window: a time during which matching
// alerts are expected. It is either recurring (cron and duration) or
// one-off (start and end).
type WindowConfig struct {
	Name string `yaml:"name"`
	// Cron is a standard 5-field cron spec or a descriptor (@daily,
	// @weekly…), optionally after "CRON_TZ=Area/City " (or "TZ="). Without
	// a time zone the schedule is in UTC, never the machine's local time.
	Cron     string   `yaml:"cron"`
	Duration Duration `yaml:"duration"` // with cron: how long each occurrence lasts
	Start    string   `yaml:"start"`    // RFC 3339, a one-off window (with end, without cron)
	End      string   `yaml:"end"`      // RFC 3339, exclusive
	Matchers []string `yaml:"matchers"` // Alertmanager matchers: service="db", env=~"prod.*"
	When     string   `yaml:"when"`     // an expression, compiled by the caller
}

// validate checks the window.
func (w *WindowConfig) validate(v *validator, path string) { w.compile(v, path) }

// Window is a WindowConfig ready to answer whether an instant is inside it.
type Window struct {
	name     string
	when     string
	spec     string        // the cron spec as written
	sched    cron.Schedule // nil for a one-off window
	duration time.Duration
	start    time.Time // one-off only
	end      time.Time // one-off only
	matchers []*amlabels.Matcher
}

// NewWindow compiles c.
func NewWindow(c *WindowConfig) (*Window, error) {
	var v validator
	w := c.compile(&v, "")
	if err := problemsError(&v); err != nil {
		return nil, err
	}
	return w, nil
}

// compile checks w and, when it is valid, builds its Window; it returns
// nil when it found a problem.
func (w *WindowConfig) compile(v *validator, path string) *Window {
	before := len(v.problems)
	win := &Window{name: w.Name, when: w.When, spec: w.Cron, duration: w.Duration.D()}

	hasCron, hasOneOff := w.Cron != "", w.Start != "" || w.End != ""
	switch {
	case hasCron && hasOneOff:
		v.addf(path, "cron and start/end cannot both be set: a window either recurs (cron with duration) or happens once (start with end)")
	case hasCron:
		sched, err := parseWindowCron(w.Cron)
		if err != nil {
			v.addf(joinKey(path, "cron"), "%q is not a usable cron schedule: %v", w.Cron, err)
		}
		win.sched = sched
		switch {
		case w.Duration == 0:
			v.addf(path, "duration is required with cron")
		case w.Duration < 0:
			v.addf(joinKey(path, "duration"), "must be positive (got %s)", w.Duration)
		}
	case hasOneOff:
		win.start = parseWindowTime(v, path, "start", w.Start)
		win.end = parseWindowTime(v, path, "end", w.End)
		if !win.start.IsZero() && !win.end.IsZero() && !win.end.After(win.start) {
			v.addf(joinKey(path, "end"), "must be after start (end %s, start %s)", w.End, w.Start)
		}
		if w.Duration != 0 {
			v.addf(joinKey(path, "duration"), "is only used with cron; a one-off window ends at end")
		}
	default:
		v.addf(path, "either cron with duration or start with end is required")
	}

	if len(w.Matchers) == 0 && strings.TrimSpace(w.When) == "" {
		v.addf(path, "at least one of matchers or when is required, to say which alerts the window covers")
	}
	for i, s := range w.Matchers {
		m, err := amlabels.ParseMatcher(s)
		if err != nil {
			v.addf(joinIndex(joinKey(path, "matchers"), i), "%q is not a matcher: %v", s, err)
			continue
		}
		win.matchers = append(win.matchers, m)
	}

	if len(v.problems) > before {
		return nil
	}
	return win
}

// parseWindowTime parses a one-off window's start or end, which is
// required when the other is set.
func parseWindowTime(v *validator, path, key, s string) time.Time {
	if s == "" {
		other := map[string]string{"start": "end", "end": "start"}[key]
		v.addf(path, "%s is required with %s", key, other)
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		v.addf(joinKey(path, key), "%q is not an RFC 3339 time (like 2026-03-29T02:00:00+01:00)", s)
		return time.Time{}
	}
	return t
}

// parseWindowCron parses a cron spec in the schedule's own time zone, UTC
// unless it starts with CRON_TZ= or TZ=. It refuses @every, which counts
// from whenever it is asked and so cannot place a window in time, and
// schedules that never fire.
func parseWindowCron(spec string) (*cron.SpecSchedule, error) {
	fields := strings.Fields(spec)
	loc := time.UTC
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if len(fields) == 0 {
			break
		}
		if name, ok := strings.CutPrefix(fields[0], prefix); ok {
			// The time zone is handled here: cron.Parse panics on one
			// that is not followed by a space and a schedule.
			var err error
			if loc, err = loadZone(name); err != nil {
				return nil, err
			}
			if fields = fields[1:]; len(fields) == 0 {
				return nil, errors.New("no schedule after the time zone")
			}
			break
		}
	}
	sched, err := cron.ParseStandard(strings.Join(fields, " "))
	if err != nil {
		return nil, err
	}
	ss, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, errors.New("@every counts from whenever it is asked, so it cannot place a window in time; use a cron expression")
	}
	ss.Location = loc
	if ss.Next(time.Unix(0, 0)).IsZero() {
		return nil, errors.New("it never fires")
	}
	return ss, nil
}

// Name returns the window's name.
func (w *Window) Name() string { return w.name }

// When returns the window's expression, for the caller to compile.
func (w *Window) When() string { return w.when }

// Active reports whether t is inside an occurrence of the window, from its
// start, inclusive, to its end, exclusive, and if so when that occurrence
// ends. When recurring occurrences overlap, it is the end of the latest
// one that has started. The end is in t's location.
//
// A recurring window is in its cron time zone, with robfig/cron's DST
// rules: a start time that a spring-forward change skips does not happen
// that day, and a start time that a fall-back change repeats happens
// twice, once in each offset. Occurrences last their duration in elapsed
// time.
func (w *Window) Active(t time.Time) (bool, time.Time) {
	if w.sched == nil {
		if !t.Before(w.start) && t.Before(w.end) {
			return true, w.end.In(t.Location())
		}
		return false, time.Time{}
	}
	s, ok := w.latestStart(t)
	if !ok {
		return false, time.Time{}
	}
	return true, s.Add(w.duration)
}

// latestStart returns the latest occurrence start s with t-duration < s
// <= t, which is the start of the occurrence that holds t, if any. cron
// only answers "the first start after x", so it walks forward from
// t-duration: an occurrence that started then or before has ended by t.
// The walk is bounded: after maxLinearSteps it binary-searches the rest,
// so a call costs at most maxLinearSteps + log2(duration/1s) + 2 calls
// to Next.
func (w *Window) latestStart(t time.Time) (time.Time, bool) {
	prev := t.Add(-w.duration)
	s := w.sched.Next(prev)
	if s.IsZero() || s.After(t) {
		return time.Time{}, false
	}
	for range maxLinearSteps {
		next := w.sched.Next(s)
		if next.IsZero() || !next.After(s) || next.After(t) {
			return s, true
		}
		prev, s = s, next
	}
	// Dense: find the last second lo in [prev, t) whose next start is
	// still <= t; that start is the latest. Next(prev) = s <= t and
	// Next(t) > t hold at the outset. A Next that is not monotonic could
	// only make the answer an earlier occurrence, never a wrong one: every
	// candidate is a start in (t-duration, t].
	lo, hi := prev, t
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if n := w.sched.Next(mid); !n.IsZero() && !n.After(t) {
			lo, s = mid, n
		} else {
			hi = mid
		}
	}
	return s, true
}

// Matches reports whether every matcher holds for an alert's labels, a
// missing label counting as the empty string, as in Alertmanager. It
// ignores When; a window with no matchers matches every alert.
func (w *Window) Matches(lset map[string]string) bool {
	for _, m := range w.matchers {
		if !m.Matches(lset[m.Name]) {
			return false
		}
	}
	return true
}

// String describes the window for logs.
func (w *Window) String() string {
	if w.sched == nil {
		return fmt.Sprintf("window %q from %s to %s", w.name, w.start.Format(time.RFC3339), w.end.Format(time.RFC3339))
	}
	return fmt.Sprintf("window %q at %q for %s", w.name, w.spec, Duration(w.duration))
}
