package report

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/remediator/remediator/engine"
)

// Unacknowledged is the person an incident counts for in Summary.People
// when nobody acknowledged it.
const Unacknowledged = "unacknowledged"

// The SLA clocks a Breach names.
const (
	ClockRespond = "respond" // acknowledge by RespondBy
	ClockResolve = "resolve" // resolve by ResolveBy
)

// Summary is the SLA report of the incidents opened in [From, To): per
// level and per person, how many, how fast they were acknowledged and
// resolved, and which breached their clocks. It is the body of GET
// /api/v1/reports/sla.
type Summary struct {
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Total Stats     `json:"total"`
	// Levels in order of priority (P1 first, levels without one last),
	// then name.
	Levels []LevelStats `json:"levels"`
	// People are the first acknowledgers, by name, and Unacknowledged
	// last.
	People []PersonStats `json:"people"`
	// Breaches by incident, the respond clock before the resolve clock.
	Breaches []Breach `json:"breaches"`
}

// Stats are the service-level figures of a set of incidents. The means
// are over the incidents that were acknowledged (MTTA) or resolved (MTTR);
// with none, the seconds are null and the strings empty.
type Stats struct {
	Count        int      `json:"count"`
	Acknowledged int      `json:"acknowledged"`
	Resolved     int      `json:"resolved"`
	MTTASeconds  *float64 `json:"mtta_seconds"`
	MTTA         string   `json:"mtta,omitempty"` // like "12m 30s"
	MTTRSeconds  *float64 `json:"mttr_seconds"`
	MTTR         string   `json:"mttr,omitempty"`
	// RespondBreaches and ResolveBreaches count the incidents that
	// breached each clock.
	RespondBreaches int `json:"respond_breaches"`
	ResolveBreaches int `json:"resolve_breaches"`
}

// LevelStats are one level's figures.
type LevelStats struct {
	Level    engine.Level `json:"level"`
	Priority string       `json:"priority,omitempty"`
	Stats
}

// PersonStats are the figures of the incidents a person acknowledged
// first (or of those nobody acknowledged: Unacknowledged).
type PersonStats struct {
	Person string `json:"person"`
	Stats
}

// Breach is one clock of one incident that ran out.
type Breach struct {
	Incident uint64       `json:"incident"`
	Title    string       `json:"title"`
	Level    engine.Level `json:"level"`
	Priority string       `json:"priority,omitempty"`
	Clock    string       `json:"clock"` // ClockRespond or ClockResolve
	Deadline time.Time    `json:"deadline"`
	// At is when the clock stopped: the first acknowledgement (respond),
	// or the resolution (resolve, and respond for an incident resolved
	// without one). Zero while the clock still runs: Ongoing.
	At      time.Time `json:"at,omitzero"`
	Ongoing bool      `json:"ongoing"`
	// Late is how far past the deadline the clock stopped or, while it
	// runs, how far past the deadline the summary's end (To) is.
	LateSeconds float64 `json:"late_seconds"`
	Late        string  `json:"late"`
}

// Summarize computes the SLA summary of entries, the incidents opened in
// [from, to) as engine.SLAEntries returns them. Breaches are the
// engine's (RespondBreached, ResolveBreached: working-day clocks are
// already in the deadlines); Summarize only measures by how much.
func Summarize(entries []engine.SLAEntry, from, to time.Time) Summary {
	s := Summary{From: from, To: to, Levels: []LevelStats{}, People: []PersonStats{}, Breaches: []Breach{}}
	var total acc
	levels := map[engine.Level]*acc{}
	priorities := map[engine.Level]string{}
	people := map[string]*acc{}
	for i := range entries {
		e := &entries[i]
		who := e.AckBy
		switch {
		case e.AckAt.IsZero():
			who = Unacknowledged
		case who == "":
			who = "(unknown)"
		}
		if levels[e.Level] == nil {
			levels[e.Level] = &acc{}
		}
		if people[who] == nil {
			people[who] = &acc{}
		}
		if priorities[e.Level] == "" {
			priorities[e.Level] = e.Priority
		}
		for _, a := range []*acc{&total, levels[e.Level], people[who]} {
			a.add(e)
		}
		if e.RespondBreached {
			stop := e.AckAt
			if stop.IsZero() {
				stop = e.ResolvedAt // resolved without an acknowledgement
			}
			s.Breaches = append(s.Breaches, breach(e, ClockRespond, e.RespondBy, stop, to))
		}
		if e.ResolveBreached {
			s.Breaches = append(s.Breaches, breach(e, ClockResolve, e.ResolveBy, e.ResolvedAt, to))
		}
	}
	s.Total = total.stats()
	for l, a := range levels {
		s.Levels = append(s.Levels, LevelStats{Level: l, Priority: priorities[l], Stats: a.stats()})
	}
	slices.SortFunc(s.Levels, func(a, b LevelStats) int {
		if (a.Priority == "") != (b.Priority == "") {
			if a.Priority == "" {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Level, b.Level))
	})
	for p, a := range people {
		s.People = append(s.People, PersonStats{Person: p, Stats: a.stats()})
	}
	slices.SortFunc(s.People, func(a, b PersonStats) int {
		if (a.Person == Unacknowledged) != (b.Person == Unacknowledged) {
			if a.Person == Unacknowledged {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Person, b.Person)
	})
	slices.SortStableFunc(s.Breaches, func(a, b Breach) int { return cmp.Compare(a.Incident, b.Incident) })
	return s
}

// breach describes a clock that ran out; stop is when it stopped (zero:
// it still runs, and lateness is measured at to).
func breach(e *engine.SLAEntry, clock string, deadline, stop, to time.Time) Breach {
	b := Breach{Incident: e.Incident, Title: e.Title, Level: e.Level, Priority: e.Priority, Clock: clock, Deadline: deadline, At: stop}
	end := stop
	if stop.IsZero() {
		b.Ongoing, end = true, to
	}
	late := max(end.Sub(deadline), 0)
	b.LateSeconds, b.Late = late.Seconds(), Human(late)
	return b
}

// acc accumulates Stats.
type acc struct {
	count, acked, resolved int
	ackSum, resolveSum     time.Duration
	respondBr, resolveBr   int
}

func (a *acc) add(e *engine.SLAEntry) {
	a.count++
	if !e.AckAt.IsZero() {
		a.acked++
		a.ackSum += max(e.AckAt.Sub(e.CreatedAt), 0)
	}
	if !e.ResolvedAt.IsZero() {
		a.resolved++
		a.resolveSum += max(e.ResolvedAt.Sub(e.CreatedAt), 0)
	}
	if e.RespondBreached {
		a.respondBr++
	}
	if e.ResolveBreached {
		a.resolveBr++
	}
}

func (a *acc) stats() Stats {
	s := Stats{Count: a.count, Acknowledged: a.acked, Resolved: a.resolved, RespondBreaches: a.respondBr, ResolveBreaches: a.resolveBr}
	s.MTTASeconds, s.MTTA = mean(a.ackSum, a.acked)
	s.MTTRSeconds, s.MTTR = mean(a.resolveSum, a.resolved)
	return s
}

// mean returns sum/n in seconds and as Human, or nil and "" when n is 0.
func mean(sum time.Duration, n int) (*float64, string) {
	if n == 0 {
		return nil, ""
	}
	m := sum / time.Duration(n)
	secs := m.Seconds()
	return &secs, Human(m)
}

// Human writes d for people, to the second, in its two largest units:
// "45s", "12m 30s", "3h 5m", "2d 4h".
func Human(d time.Duration) string {
	d = d.Round(time.Second)
	neg := ""
	if d < 0 {
		neg, d = "-", -d
	}
	const day = 24 * time.Hour
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		s = twoUnits(d/time.Minute, "m", d%time.Minute/time.Second, "s")
	case d < day:
		s = twoUnits(d/time.Hour, "h", d%time.Hour/time.Minute, "m")
	default:
		s = twoUnits(d/day, "d", d%day/time.Hour, "h")
	}
	return neg + s
}

// twoUnits writes "3h 5m", or "3h" when the smaller unit is zero.
func twoUnits(big time.Duration, bu string, small time.Duration, su string) string {
	if small == 0 {
		return fmt.Sprintf("%d%s", big, bu)
	}
	return fmt.Sprintf("%d%s %d%s", big, bu, small, su)
}
