package rules

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/template"
)

// NotifyWithin is how soon people hear of a level: at once (0s), batched
// within a delay (1h, 24h), or only in periodic reports ("report").
type NotifyWithin struct {
	Report bool
	Within time.Duration
}

// UnmarshalYAML reads "report" or a duration.
func (n *NotifyWithin) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return fmt.Errorf("notify_within: expected a duration or \"report\"")
	}
	if strings.TrimSpace(node.Value) == "report" {
		*n = NotifyWithin{Report: true}
		return nil
	}
	d, err := ParseDuration(node.Value)
	if err != nil || d < 0 {
		return fmt.Errorf("%q is neither a duration (0s, 1h, 24h) nor \"report\"", node.Value)
	}
	*n = NotifyWithin{Within: d.D()}
	return nil
}

// MarshalYAML writes it back.
func (n NotifyWithin) MarshalYAML() (any, error) { return n.String(), nil }

// String is "report" or the delay ("0s" for at once).
func (n NotifyWithin) String() string {
	if n.Report {
		return "report"
	}
	return Duration(n.Within).String()
}

// Policy is the classification part of a config: levels with their
// expressions and SLA clocks, the classify fallback and the business
// calendar. It implements engine.Classifier; the expressions were
// compiled once, when the config was loaded.
type Policy struct {
	levels  []LevelConfig
	rank    map[engine.Level]int
	label   string
	def     engine.Level
	cal     *Calendar
	onError func(level string, err error)
}

var _ engine.Classifier = (*Policy)(nil)

// NewPolicy returns the policy of a validated config. onError hears of
// expressions that fail at run time on one alert (they count as no
// match); it may be nil.
func NewPolicy(c *Config, onError func(level string, err error)) *Policy {
	if onError == nil {
		onError = func(string, error) {}
	}
	p := &Policy{levels: c.Levels, rank: map[engine.Level]int{}, label: c.Classify.Label, def: engine.Level(c.Classify.Default), cal: c.calendar, onError: onError}
	for i, l := range c.Levels {
		p.rank[engine.Level(l.Name)] = i
	}
	return p
}

// facts answers the expression helpers for one evaluation.
type facts struct {
	cal     *Calendar
	history engine.History
}

func (f facts) InBusinessHours(t time.Time) bool {
	return f.cal != nil && f.cal.InBusinessHours(t)
}

func (f facts) FiredWithin(d time.Duration) int {
	if f.history == nil {
		return 0
	}
	return f.history.FiredWithin(d)
}

func (p *Policy) env(in *engine.ClassifyInput) *Env {
	a, w := in.Alert, in.Webhook
	return &Env{
		Labels: a.Labels, Annotations: a.Annotations, Status: a.Status,
		Alertname: a.Labels["alertname"], Severity: a.Labels["severity"],
		StartsAt: a.StartsAt, Duration: in.Now.Sub(a.StartsAt),
		Receiver: w.Receiver, GroupLabels: w.GroupLabels, CommonLabels: w.CommonLabels,
		ExternalURL: w.ExternalURL, Now: in.Now,
		Facts: facts{cal: p.cal, history: in.History},
	}
}

// Classify returns the first level whose expression holds, else the level
// the classify label names, else the default level.
func (p *Policy) Classify(in *engine.ClassifyInput) engine.Level {
	env := p.env(in)
	for i := range p.levels {
		l := &p.levels[i]
		if l.cond == nil {
			continue
		}
		ok, err := l.cond.Eval(env)
		if err != nil {
			p.onError(l.Name, err)
			continue
		}
		if ok {
			return engine.Level(l.Name)
		}
	}
	return p.fallback(in)
}

func (p *Policy) fallback(in *engine.ClassifyInput) engine.Level {
	if l := engine.Level(in.Alert.Labels[p.label]); l != "" {
		if _, ok := p.rank[l]; ok {
			return l
		}
	}
	return p.def
}

// Explain classifies like Classify and says, level by level, why.
func (p *Policy) Explain(in *engine.ClassifyInput) (engine.Level, []engine.RuleTrace) {
	env := p.env(in)
	var traces []engine.RuleTrace
	var chosen engine.Level
	for i := range p.levels {
		l := &p.levels[i]
		name := engine.Level(l.Name)
		switch {
		case chosen != "":
			traces = append(traces, engine.RuleTrace{Level: name, Reason: "not evaluated: " + string(chosen) + " matched first"})
		case l.cond == nil:
			traces = append(traces, engine.RuleTrace{Level: name, Reason: "no when expression"})
		default:
			ok, failed, err := l.cond.Explain(env)
			switch {
			case err != nil:
				p.onError(l.Name, err)
				traces = append(traces, engine.RuleTrace{Level: name, Reason: "error (counts as no match): " + err.Error()})
			case ok:
				chosen = name
				traces = append(traces, engine.RuleTrace{Level: name, Matched: true, Reason: "when holds: " + oneLine(l.When)})
			default:
				traces = append(traces, engine.RuleTrace{Level: name, Reason: "false: " + oneLine(failed)})
			}
		}
	}
	if chosen != "" {
		return chosen, traces
	}
	chosen = p.fallback(in)
	reason := fmt.Sprintf("no when matched; label %s=%q names no level, so the default level", p.label, in.Alert.Labels[p.label])
	if l := in.Alert.Labels[p.label]; engine.Level(l) == chosen {
		reason = fmt.Sprintf("no when matched; label %s=%q names it", p.label, l)
	}
	return chosen, append(traces, engine.RuleTrace{Level: chosen, Matched: true, Reason: reason})
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Levels returns the level names, most urgent first.
func (p *Policy) Levels() []engine.Level {
	out := make([]engine.Level, len(p.levels))
	for i, l := range p.levels {
		out[i] = engine.Level(l.Name)
	}
	return out
}

// Rank orders levels, 0 the most urgent; an unknown level ranks last.
func (p *Policy) Rank(l engine.Level) int {
	if r, ok := p.rank[l]; ok {
		return r
	}
	return len(p.rank)
}

// SLA returns the level's priority and its deadlines for an incident
// opened at t, on the business calendar where a clock counts working time.
func (p *Policy) SLA(l engine.Level, t time.Time) (string, time.Time, time.Time) {
	r, ok := p.rank[l]
	if !ok {
		return "", time.Time{}, time.Time{}
	}
	lc := &p.levels[r]
	var respond, resolve time.Time
	if !lc.RespondWithin.IsZero() {
		respond = lc.RespondWithin.Deadline(t, p.cal)
	}
	if !lc.ResolveWithin.IsZero() {
		resolve = lc.ResolveWithin.Deadline(t, p.cal)
	}
	return lc.Priority, respond, resolve
}

// Maintenance answers whether a maintenance window of the config mutes an
// alert. It implements engine.Suppressor.
type Maintenance struct {
	windows []*Window
	conds   []*Condition
	cal     *Calendar
	onError func(window string, err error)
}

var _ engine.Suppressor = (*Maintenance)(nil)

// NewMaintenance returns the maintenance windows of a validated config.
func NewMaintenance(c *Config, onError func(window string, err error)) *Maintenance {
	if onError == nil {
		onError = func(string, error) {}
	}
	return &Maintenance{windows: c.windows, conds: c.windowConds, cal: c.calendar, onError: onError}
}

// Suppressed reports the window, if any, that mutes ls at t: one that is
// active, whose matchers hold and whose when (if any) holds. With several,
// the one that ends last.
func (m *Maintenance) Suppressed(ls map[string]string, t time.Time) (engine.Suppression, bool) {
	var found engine.Suppression
	for i, w := range m.windows {
		active, until := w.Active(t)
		if !active || !w.Matches(ls) {
			continue
		}
		if c := m.conds[i]; c != nil {
			env := &Env{Labels: ls, Alertname: ls["alertname"], Severity: ls["severity"], Now: t, Facts: facts{cal: m.cal}}
			ok, err := c.Eval(env)
			if err != nil {
				m.onError(w.Name(), err)
				continue
			}
			if !ok {
				continue
			}
		}
		if until.After(found.Until) {
			found = engine.Suppression{By: "maintenance window " + w.Name(), Until: until}
		}
	}
	return found, found.By != ""
}

// Remediations matches the remediation rules of a config against a
// classified alert. (Running their actions, with the safeguards, comes
// with the remediation engine.)
type Remediations struct {
	rules   []RemediationConfig
	targets []*template.Template
	cal     *Calendar
	onError func(rule string, err error)
}

// NewRemediations returns the remediation rules of a validated config.
func NewRemediations(c *Config, onError func(rule string, err error)) *Remediations {
	if onError == nil {
		onError = func(string, error) {}
	}
	r := &Remediations{rules: c.Remediations, cal: c.calendar, onError: onError}
	for _, rc := range c.Remediations {
		t, _ := template.Parse(rc.Target) // validated at load
		r.targets = append(r.targets, t)
	}
	return r
}

// RuleMatch is one remediation rule's verdict on an alert.
type RuleMatch struct {
	Index   int // in Config.Remediations
	Name    string
	Matched bool
	Reason  string
	Target  string
	// Refused is set when the rule matched but its target did not render
	// (a value failed its pattern): the refusal is recorded.
	Refused bool
}

// Match evaluates every rule for an alert of the given level: firing
// alerts only; the rule's when must hold and its target must render.
func (r *Remediations) Match(in *engine.ClassifyInput, level engine.Level, incident uint64) []RuleMatch {
	p := &Policy{cal: r.cal}
	env := p.env(in)
	env.Level = string(level)
	out := make([]RuleMatch, 0, len(r.rules))
	for i := range r.rules {
		rc := &r.rules[i]
		m := RuleMatch{Index: i, Name: rc.Name}
		switch {
		case in.Alert.Status != engine.StatusFiring:
			m.Reason = "the alert is resolved: a resolved alert never starts an action"
		case rc.cond == nil:
			m.Reason = "no when expression"
		default:
			ok, failed, err := rc.cond.Explain(env)
			switch {
			case err != nil:
				r.onError(rc.Name, err)
				m.Reason = "error (counts as no match): " + err.Error()
			case !ok:
				m.Reason = "false: " + oneLine(failed)
			default:
				// Every value of a target matches the default pattern and
				// does not begin with "-": the target is placed again, as
				// {{ .target }}, in actions.
				target, err := r.targets[i].Render(&template.Data{
					Rule: rc.Name, Labels: in.Alert.Labels, Annotations: in.Alert.Annotations, Alertname: in.Alert.Labels["alertname"],
					Level: string(level), Incident: fmt.Sprint(incident), Fingerprint: in.Alert.Fingerprint,
				}, template.Placement{})
				if err != nil {
					m.Reason, m.Refused = "target refused: "+err.Error(), true
					break
				}
				m.Matched, m.Target, m.Reason = true, target, "when holds: "+oneLine(rc.When)
			}
		}
		out = append(out, m)
	}
	return out
}
