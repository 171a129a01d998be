package report

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/message"
)

// MaxListed is how many alerts, and how many incidents, a digest lists;
// it counts the rest, so that a flood of info alerts makes a long mail,
// not a huge one.
const MaxListed = 200

// maxLabelsBytes bounds an alert's label summary.
const maxLabelsBytes = 200

// timeLayout is how reports write times.
const timeLayout = "2006-01-02 15:04 MST"

// Message is a rendered report.
type Message struct {
	Subject string
	Text    string
	HTML    string
}

// RenderOptions say how a report is written.
type RenderOptions struct {
	// Location is the time zone of times. Nil: UTC.
	Location *time.Location
	// ConsoleURL, when set, links every incident to
	// ConsoleURL/api/v1/incidents/ID, as notifications do.
	ConsoleURL string
}

func (o RenderOptions) time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(timeLayout)
}

func (o RenderOptions) incidentURL(id uint64) string {
	if o.ConsoleURL == "" {
		return ""
	}
	return strings.TrimRight(o.ConsoleURL, "/") + "/api/v1/incidents/" + strconv.FormatUint(id, 10)
}

// DigestData is what a digest shows: the alerts of Levels first seen in
// [From, To), and the incidents of IncidentLevels open at To. An empty
// Levels (or IncidentLevels) leaves its section out.
type DigestData struct {
	Name           string // the report's name
	From, To       time.Time
	Levels         []engine.Level
	IncidentLevels []engine.Level
	Alerts         []engine.Alert
	Incidents      []engine.Incident
}

// digestView is a digest ready for its templates: every value is text.
type digestView struct {
	Title, Period    string
	ShowAlerts       bool
	AlertsHeading    string
	Alerts           []alertRow
	MoreAlerts       int
	ShowIncidents    bool
	IncidentsHeading string
	Incidents        []incidentRow
	MoreIncidents    int
}

type alertRow struct {
	Name, Labels, FirstSeen, Status string
}

type incidentRow struct {
	ID, Title, Level, State, Age, Deadlines, URL string
	Overdue                                      bool
}

// RenderDigest writes a digest: "N info alerts since …", each alert with
// its name, labels and when it was first seen (oldest first), then each
// open incident with its age and SLA deadlines.
func RenderDigest(d *DigestData, o RenderOptions) (Message, error) {
	v := digestView{Period: fmt.Sprintf("Report %s, from %s to %s.", d.Name, o.time(d.From), o.time(d.To))}
	var title []string
	if len(d.Levels) > 0 {
		v.ShowAlerts = true
		noun := joinLevels(d.Levels) + " alert"
		title = append(title, count(len(d.Alerts), noun, noun+"s")+" since "+o.time(d.From))
		v.AlertsHeading = fmt.Sprintf("%ss since %s (%d)", noun, o.time(d.From), len(d.Alerts))
		alerts := slices.Clone(d.Alerts)
		slices.SortStableFunc(alerts, func(a, b engine.Alert) int {
			if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
				return c
			}
			return int(a.ID) - int(b.ID)
		})
		for i, a := range alerts {
			if i == MaxListed {
				v.MoreAlerts = len(alerts) - MaxListed
				break
			}
			status := "firing"
			if a.Status == engine.StatusResolved {
				status = "resolved"
			}
			v.Alerts = append(v.Alerts, alertRow{Name: alertName(a.Labels), Labels: labelSummary(a.Labels),
				FirstSeen: o.time(a.FirstSeen), Status: status})
		}
	}
	if len(d.IncidentLevels) > 0 {
		v.ShowIncidents = true
		noun := "open " + joinLevels(d.IncidentLevels) + " incident"
		title = append(title, count(len(d.Incidents), noun, noun+"s"))
		v.IncidentsHeading = fmt.Sprintf("%ss (%d)", noun, len(d.Incidents))
		for i, inc := range d.Incidents {
			if i == MaxListed {
				v.MoreIncidents = len(d.Incidents) - MaxListed
				break
			}
			v.Incidents = append(v.Incidents, incidentView(&inc, d.To, o))
		}
	}
	v.Title = strings.Join(title, ", ")
	if v.Title == "" {
		v.Title = "nothing to report"
	}

	var text strings.Builder
	fmt.Fprintf(&text, "%s\n%s\n", v.Title, v.Period)
	if v.ShowAlerts {
		fmt.Fprintf(&text, "\n%s\n", capitalize(v.AlertsHeading))
		if len(v.Alerts) == 0 {
			text.WriteString("None.\n")
		}
		for _, a := range v.Alerts {
			fmt.Fprintf(&text, "- %s", a.Name)
			if a.Labels != "" {
				fmt.Fprintf(&text, " {%s}", a.Labels)
			}
			fmt.Fprintf(&text, "\n  first seen %s, %s\n", a.FirstSeen, a.Status)
		}
		if v.MoreAlerts > 0 {
			fmt.Fprintf(&text, "… and %d more.\n", v.MoreAlerts)
		}
	}
	if v.ShowIncidents {
		fmt.Fprintf(&text, "\n%s\n", capitalize(v.IncidentsHeading))
		if len(v.Incidents) == 0 {
			text.WriteString("None.\n")
		}
		for _, r := range v.Incidents {
			fmt.Fprintf(&text, "- #%s %s (%s), %s, open for %s\n", r.ID, r.Title, r.Level, r.State, r.Age)
			if r.Deadlines != "" {
				fmt.Fprintf(&text, "  %s\n", r.Deadlines)
			}
			if r.URL != "" {
				fmt.Fprintf(&text, "  %s\n", r.URL)
			}
		}
		if v.MoreIncidents > 0 {
			fmt.Fprintf(&text, "… and %d more.\n", v.MoreIncidents)
		}
	}

	var html bytes.Buffer
	if err := digestHTML.Execute(&html, v); err != nil {
		return Message{}, fmt.Errorf("report %s: digest html: %w", d.Name, err)
	}
	return Message{Subject: "[remediator] " + d.Name + ": " + v.Title, Text: text.String(), HTML: html.String()}, nil
}

// incidentView describes an open incident as of now.
func incidentView(inc *engine.Incident, now time.Time, o RenderOptions) incidentRow {
	r := incidentRow{ID: strconv.FormatUint(inc.ID, 10), Title: inc.Title, Level: string(inc.Level),
		Age: Human(max(now.Sub(inc.CreatedAt), 0)), URL: o.incidentURL(inc.ID), State: string(inc.Status)}
	if inc.Priority != "" {
		r.Level += ", " + inc.Priority
	}
	if inc.Status == engine.IncidentAcknowledged && inc.AcknowledgedBy != "" {
		r.State = "acknowledged by " + inc.AcknowledgedBy
	}
	var deadlines []string
	deadline := func(what string, t time.Time) {
		s := what + " by " + o.time(t)
		if !now.Before(t) {
			s += " (overdue)"
			r.Overdue = true
		}
		deadlines = append(deadlines, s)
	}
	if inc.Status == engine.IncidentOpen && !inc.RespondBy.IsZero() {
		deadline("respond", inc.RespondBy)
	}
	if !inc.ResolveBy.IsZero() {
		deadline("resolve", inc.ResolveBy)
	}
	r.Deadlines = strings.Join(deadlines, ", ")
	return r
}

// alertName is the alertname label, or a placeholder.
func alertName(labels map[string]string) string {
	if n := labels["alertname"]; n != "" {
		return n
	}
	return "(no alertname)"
}

// labelSummary writes the labels but alertname as k=v, by key, cut at
// maxLabelsBytes.
func labelSummary(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if k != "alertname" {
			parts = append(parts, k+"="+labels[k])
		}
	}
	return message.Truncate(strings.Join(parts, ", "), maxLabelsBytes, "…")
}

// capitalize upper-cases the first letter of s.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// joinLevels writes levels as "info" or "info/debug".
func joinLevels(levels []engine.Level) string {
	s := make([]string, len(levels))
	for i, l := range levels {
		s[i] = string(l)
	}
	return strings.Join(s, "/")
}

// count writes n and the noun, one or many.
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

var digestHTML = htmltemplate.Must(htmltemplate.New("digest").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif; font-size: 14px">
<h2>{{.Title}}</h2>
<p>{{.Period}}</p>
{{- if .ShowAlerts}}
<h3>{{.AlertsHeading}}</h3>
{{- if .Alerts}}
<table cellpadding="4" style="border-collapse: collapse">
<tr><th align="left">Alert</th><th align="left">Labels</th><th align="left">First seen</th><th align="left">Status</th></tr>
{{- range .Alerts}}
<tr><td>{{.Name}}</td><td>{{.Labels}}</td><td>{{.FirstSeen}}</td><td>{{.Status}}</td></tr>
{{- end}}
</table>
{{- else}}
<p>None.</p>
{{- end}}
{{- if .MoreAlerts}}
<p>… and {{.MoreAlerts}} more.</p>
{{- end}}
{{- end}}
{{- if .ShowIncidents}}
<h3>{{.IncidentsHeading}}</h3>
{{- if .Incidents}}
<table cellpadding="4" style="border-collapse: collapse">
<tr><th align="left">Incident</th><th align="left">Title</th><th align="left">Level</th><th align="left">State</th><th align="left">Open for</th><th align="left">SLA</th></tr>
{{- range .Incidents}}
<tr><td>{{if .URL}}<a href="{{.URL}}">#{{.ID}}</a>{{else}}#{{.ID}}{{end}}</td><td>{{.Title}}</td><td>{{.Level}}</td><td>{{.State}}</td><td>{{.Age}}</td><td{{if .Overdue}} style="color: #b00"{{end}}>{{.Deadlines}}</td></tr>
{{- end}}
</table>
{{- else}}
<p>None.</p>
{{- end}}
{{- if .MoreIncidents}}
<p>… and {{.MoreIncidents}} more.</p>
{{- end}}
{{- end}}
</body></html>
`))

// slaView is an SLA summary ready for its templates.
type slaView struct {
	Title, Period string
	Levels        []statsRow
	People        []statsRow
	Total         statsRow
	Breaches      []breachRow
}

type statsRow struct {
	Name, Priority                   string
	Count, Acknowledged, Resolved    int
	MTTA, MTTR                       string
	RespondBreaches, ResolveBreaches int
}

type breachRow struct {
	ID, URL, Line string
}

func statsRowOf(name, priority string, s *Stats) statsRow {
	dash := func(v string) string {
		if v == "" {
			return "-"
		}
		return v
	}
	return statsRow{Name: name, Priority: dash(priority), Count: s.Count, Acknowledged: s.Acknowledged, Resolved: s.Resolved,
		MTTA: dash(s.MTTA), MTTR: dash(s.MTTR), RespondBreaches: s.RespondBreaches, ResolveBreaches: s.ResolveBreaches}
}

// RenderSLA writes the SLA summary of report name: tables per level and
// per person (the first acknowledger), and each breach as a line.
func RenderSLA(name string, s *Summary, o RenderOptions) (Message, error) {
	v := slaView{
		Title: fmt.Sprintf("SLA report: %s, %s since %s", count(s.Total.Count, "incident", "incidents"), count(len(s.Breaches), "breach", "breaches"),
			o.time(s.From)),
		Period: fmt.Sprintf("Report %s: incidents opened from %s to %s.", name, o.time(s.From), o.time(s.To)),
		Total:  statsRowOf("total", "", &s.Total),
	}
	for i := range s.Levels {
		l := &s.Levels[i]
		v.Levels = append(v.Levels, statsRowOf(string(l.Level), l.Priority, &l.Stats))
	}
	for i := range s.People {
		p := &s.People[i]
		v.People = append(v.People, statsRowOf(p.Person, "", &p.Stats))
	}
	for _, b := range s.Breaches {
		v.Breaches = append(v.Breaches, breachRow{ID: strconv.FormatUint(b.Incident, 10), URL: o.incidentURL(b.Incident), Line: breachLine(&b, o)})
	}

	var text strings.Builder
	fmt.Fprintf(&text, "%s\n%s\n", v.Title, v.Period)
	table := func(heading, first string, rows []statsRow, priority bool) {
		fmt.Fprintf(&text, "\n%s\n", heading)
		if len(rows) == 0 {
			text.WriteString("None.\n")
			return
		}
		tw := tabwriter.NewWriter(&text, 0, 0, 2, ' ', 0)
		cols := first + "\t"
		if priority {
			cols += "Priority\t"
		}
		fmt.Fprintln(tw, cols+"Incidents\tAcked\tResolved\tMTTA\tMTTR\tLate ack\tLate resolve")
		for _, r := range rows {
			line := r.Name + "\t"
			if priority {
				line += r.Priority + "\t"
			}
			fmt.Fprintf(tw, "%s%d\t%d\t%d\t%s\t%s\t%d\t%d\n", line, r.Count, r.Acknowledged, r.Resolved, r.MTTA, r.MTTR,
				r.RespondBreaches, r.ResolveBreaches)
		}
		_ = tw.Flush() // writes to a strings.Builder
	}
	table("By level", "Level", append(slices.Clone(v.Levels), v.Total), true)
	table("By person (first acknowledgement)", "Person", v.People, false)
	fmt.Fprintf(&text, "\nBreaches (%d)\n", len(v.Breaches))
	if len(v.Breaches) == 0 {
		text.WriteString("None.\n")
	}
	for _, b := range v.Breaches {
		fmt.Fprintf(&text, "- %s\n", b.Line)
		if b.URL != "" {
			fmt.Fprintf(&text, "  %s\n", b.URL)
		}
	}

	var html bytes.Buffer
	if err := slaHTML.Execute(&html, v); err != nil {
		return Message{}, fmt.Errorf("report %s: sla html: %w", name, err)
	}
	return Message{Subject: "[remediator] " + name + ": " + v.Title, Text: text.String(), HTML: html.String()}, nil
}

// breachLine writes a breach as one line: which incident, which clock,
// by how much, and the deadline.
func breachLine(b *Breach, o RenderOptions) string {
	level := string(b.Level)
	if b.Priority != "" {
		level += ", " + b.Priority
	}
	s := fmt.Sprintf("#%d %s (%s): %s %s late", b.Incident, b.Title, level, b.Clock, b.Late)
	if b.Ongoing {
		if b.Clock == ClockRespond {
			s += " and still unacknowledged"
		} else {
			s += " and still open"
		}
		return s + " (due " + o.time(b.Deadline) + ")"
	}
	return s + " (due " + o.time(b.Deadline) + ", stopped " + o.time(b.At) + ")"
}

var slaHTML = htmltemplate.Must(htmltemplate.New("sla").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif; font-size: 14px">
<h2>{{.Title}}</h2>
<p>{{.Period}}</p>
{{- define "head"}}<tr><th align="left">{{.}}</th><th align="right">Incidents</th><th align="right">Acked</th><th align="right">Resolved</th><th align="right">MTTA</th><th align="right">MTTR</th><th align="right">Late ack</th><th align="right">Late resolve</th></tr>{{end}}
{{- define "row"}}<td align="right">{{.Count}}</td><td align="right">{{.Acknowledged}}</td><td align="right">{{.Resolved}}</td><td align="right">{{.MTTA}}</td><td align="right">{{.MTTR}}</td><td align="right">{{.RespondBreaches}}</td><td align="right">{{.ResolveBreaches}}</td>{{end}}
<h3>By level</h3>
<table cellpadding="4" style="border-collapse: collapse">
{{template "head" "Level"}}
{{- range .Levels}}
<tr><td>{{.Name}}{{if ne .Priority "-"}} ({{.Priority}}){{end}}</td>{{template "row" .}}</tr>
{{- end}}
<tr style="font-weight: bold"><td>{{.Total.Name}}</td>{{template "row" .Total}}</tr>
</table>
<h3>By person (first acknowledgement)</h3>
{{- if .People}}
<table cellpadding="4" style="border-collapse: collapse">
{{template "head" "Person"}}
{{- range .People}}
<tr><td>{{.Name}}</td>{{template "row" .}}</tr>
{{- end}}
</table>
{{- else}}
<p>None.</p>
{{- end}}
<h3>Breaches ({{len .Breaches}})</h3>
{{- if .Breaches}}
<ul>
{{- range .Breaches}}
<li>{{.Line}}{{if .URL}} <a href="{{.URL}}">open</a>{{end}}</li>
{{- end}}
</ul>
{{- else}}
<p>None.</p>
{{- end}}
</body></html>
`))
