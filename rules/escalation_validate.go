package rules

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Step target kinds.
const (
	TargetSchedule     = "schedule"      // schedule:NAME, who is on call
	TargetScheduleNext = "schedule-next" // schedule-next:NAME, who is on call next
	TargetPerson       = "person"        // person:ID
	TargetTeam         = "team"          // team:NAME
	TargetPaged        = "paged"         // everyone paged so far
)

// maxRepeat bounds escalations[].repeat.
const maxRepeat = 10

// validateEscalations checks teams, chains and each level's escalation:
// every reference exists, and everyone a step can page has the address
// each of its channels needs.
func (c *Config) validateEscalations(v *validator) {
	people := map[string]*PersonConfig{}
	for i := range c.People {
		people[c.People[i].ID] = &c.People[i]
	}
	teams := map[string][]string{}
	for i, t := range c.Teams {
		tp := joinIndex("teams", i)
		switch {
		case t.Name == "":
			v.addf(tp, "name is required")
		case teams[t.Name] != nil:
			v.addf(joinKey(tp, "name"), "duplicate team name %q", t.Name)
		}
		if len(t.Members) == 0 {
			v.addf(tp, "members is required: a team pages its members")
		}
		for j, m := range t.Members {
			if people[m] == nil {
				v.addf(joinIndex(joinKey(tp, "members"), j), "person %q is not defined in people", m)
			}
		}
		if t.Name != "" && teams[t.Name] == nil {
			teams[t.Name] = slices.Clone(t.Members)
			if teams[t.Name] == nil {
				teams[t.Name] = []string{}
			}
		}
	}
	schedules := map[string][]string{} // name → everyone it may name
	for _, s := range c.Schedules {
		var members []string
		for _, l := range s.Layers {
			members = append(members, l.Members...)
		}
		for _, o := range s.Overrides {
			members = append(members, o.Person)
		}
		schedules[s.Name] = members
	}
	names := make([]string, 0, len(c.Escalations))
	for name := range c.Escalations {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ep := joinKey("escalations", name)
		esc := c.Escalations[name]
		if !levelNameRE.MatchString(name) {
			v.addf(ep, "%q is not a valid chain name (lowercase letters, digits, _ and -, starting with a letter)", name)
		}
		if len(esc.Steps) == 0 {
			v.addf(ep, "steps is required: a chain pages someone")
		}
		if esc.Repeat < 0 || esc.Repeat > maxRepeat {
			v.addf(joinKey(ep, "repeat"), "must be between 0 and %d (got %d)", maxRepeat, esc.Repeat)
		}
		validateDurations(v, ep, []namedDuration{{"ack_timeout", &esc.AckTimeout}})
		for i := range esc.Steps {
			c.validateStep(v, joinIndex(joinKey(ep, "steps"), i), &esc, i, people, teams, schedules)
		}
	}
	for i := range c.Levels {
		l := &c.Levels[i]
		if l.Escalation == "" {
			continue
		}
		lp := joinKey(joinIndex("levels", i), "escalation")
		esc, ok := c.Escalations[l.Escalation]
		switch {
		case !ok:
			v.addf(lp, "escalation %q is not defined in escalations", l.Escalation)
		case l.NotifyWithin.Report:
			v.addf(lp, "level %q has notify_within: report (only periodic reports), so it pages nobody; remove escalation or set notify_within", l.Name)
		case len(esc.Steps) > 0 && esc.Steps[0].Wait == 0 && l.RespondWithin.Wall == 0:
			what := "has no respond_within"
			if l.RespondWithin.WorkingDays != 0 || l.RespondWithin.WorkingHours != 0 {
				what = "has a respond_within in working time, not a wall-clock duration,"
			}
			v.addf(lp, "the first step of %q has no wait, and level %q %s to default it to; set escalations.%s.steps[0].wait",
				l.Escalation, l.Name, what, l.Escalation)
		}
	}
}

// validateStep checks one step of a chain.
func (c *Config) validateStep(v *validator, sp string, esc *EscalationConfig, i int, people map[string]*PersonConfig, teams, schedules map[string][]string) {
	st := &esc.Steps[i]
	if len(st.Notify) == 0 {
		v.addf(sp, "notify is required: schedule:NAME, schedule-next:NAME, person:ID, team:NAME or paged")
	}
	if len(st.Via) == 0 {
		v.addf(sp, "via is required: the channels (%s)", strings.Join(notifyChannels, ", "))
	}
	n := &c.Notifiers
	for j, ch := range st.Via {
		vp := joinIndex(joinKey(sp, "via"), j)
		switch {
		case !slices.Contains(notifyChannels, ch):
			v.addf(vp, "unknown channel %q (want one of %s)", ch, strings.Join(notifyChannels, ", "))
		case slices.Contains(st.Via[:j], ch):
			v.addf(vp, "duplicate channel %q", ch)
		case (ch == "phone" || ch == "sms") && n.Twilio == nil:
			v.addf(vp, "channel %s needs notifiers.twilio", ch)
		case ch == "email" && n.Email == nil:
			v.addf(vp, "channel email needs notifiers.email")
		}
	}
	validateDurations(v, sp, []namedDuration{{"wait", &st.Wait}})
	last := i == len(esc.Steps)-1
	if i > 0 && st.Wait == 0 && (!last || esc.Repeat > 0) {
		v.addf(sp, "wait is required: how long this step waits for an acknowledgement before the next")
	}
	// Everyone the step may page, by target.
	for j, target := range st.Notify {
		tp := joinIndex(joinKey(sp, "notify"), j)
		kind, name, _ := strings.Cut(target, ":")
		var who []string
		switch {
		case target == TargetPaged:
			if i == 0 {
				v.addf(tp, "paged in the first step pages nobody: nobody was paged before it")
			}
			continue // already paged, so reachable
		case kind == TargetSchedule || kind == TargetScheduleNext:
			members, ok := schedules[name]
			if !ok {
				v.addf(tp, "schedule %q is not defined in schedules", name)
				continue
			}
			who = members
		case kind == TargetPerson:
			if people[name] == nil {
				v.addf(tp, "person %q is not defined in people", name)
				continue
			}
			who = []string{name}
		case kind == TargetTeam:
			members, ok := teams[name]
			if !ok {
				v.addf(tp, "team %q is not defined in teams", name)
				continue
			}
			who = members
		default:
			v.addf(tp, "%q is not a target (schedule:NAME, schedule-next:NAME, person:ID, team:NAME or paged)", target)
			continue
		}
		seen := map[string]bool{}
		for _, id := range who {
			p := people[id]
			if p == nil || seen[id] {
				continue
			}
			seen[id] = true
			if missing := missingAddresses(p, st.Via); len(missing) > 0 {
				v.addf(tp, "%s may page %q, who has no %s, which this step's via (%s) needs",
					target, id, strings.Join(missing, " and no "), strings.Join(st.Via, ", "))
			}
		}
	}
}

// missingAddresses lists the address fields p lacks for the channels.
func missingAddresses(p *PersonConfig, via []string) []string {
	var missing []string
	need := func(field string, have bool) {
		if !have && !slices.Contains(missing, field) {
			missing = append(missing, field)
		}
	}
	for _, ch := range via {
		switch ch {
		case "phone", "sms":
			need("phone", p.Phone != "")
		case "email":
			need("email", p.Email != "")
		case "im":
			need("im", p.IM != nil)
		}
	}
	return missing
}

// CheckCover reports why person cannot be put on schedule (an override
// made at run time): a chain step that pages the schedule needs an
// address the person lacks. nil when they can.
func (c *Config) CheckCover(schedule, person string) error {
	var p *PersonConfig
	for i := range c.People {
		if c.People[i].ID == person {
			p = &c.People[i]
		}
	}
	if p == nil {
		return fmt.Errorf("person %q is not defined in people", person)
	}
	names := make([]string, 0, len(c.Escalations))
	for name := range c.Escalations {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for i, st := range c.Escalations[name].Steps {
			if !slices.Contains(st.Notify, TargetSchedule+":"+schedule) && !slices.Contains(st.Notify, TargetScheduleNext+":"+schedule) {
				continue
			}
			if missing := missingAddresses(p, st.Via); len(missing) > 0 {
				return fmt.Errorf("escalations.%s.steps[%d] pages schedule %q by %s, and %q has no %s",
					name, i, schedule, strings.Join(st.Via, ", "), person, strings.Join(missing, " and no "))
			}
		}
	}
	return nil
}
