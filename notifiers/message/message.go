// Package message renders notifications: the data every channel's
// templates see, the default templates per kind of channel and event, the
// overrides from config, and truncation at a safe boundary.
//
// Templates are Go text/template (html/template for an email's HTML
// part). Label and annotation values are data, never template text: a
// value that looks like a template is printed as it is.
package message

import (
	"fmt"
	htmltemplate "html/template"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/remediator/remediator/engine"
)

// EventDigest names the templates of a digest: several waiting pages in
// one message (see Data.Digest).
const EventDigest = "digest"

// Kind is a family of channels that share default templates.
type Kind string

const (
	KindSMS      Kind = "sms"      // a short text: title and id, how to reply
	KindVoice    Kind = "voice"    // what a phone call says
	KindEmail    Kind = "email"    // subject, plain text and HTML
	KindMarkdown Kind = "markdown" // IM robots: DingTalk, WeCom, Feishu
	KindSlack    Kind = "slack"    // Slack mrkdwn
	KindText     Kind = "text"     // the in-app pop-up, a generic webhook's summary
)

// Template is one event's templates for a channel. Title is a subject or
// heading; Body the text; HTML an email's HTML part (email only).
type Template struct {
	Title string `yaml:"title"`
	Body  string `yaml:"body"`
	HTML  string `yaml:"html"`
}

// Data is what templates see.
type Data struct {
	Event     string
	Incident  engine.Incident
	Alerts    []engine.Alert
	Firing    []engine.Alert // the alerts still firing
	Resolved  []engine.Alert
	Level     string
	Priority  string
	Status    string
	RespondBy time.Time // zero: no deadline
	ResolveBy time.Time
	// URL is the incident in remediator's console.
	URL string
	// RunbookURL is the first alert's annotations.runbook_url.
	RunbookURL string
	// Summary is the first alert's summary (or description) annotation.
	Summary   string
	Recipient engine.Recipient
	By        string
	Detail    string
	// Ack says how to acknowledge on this channel ("Reply ACK 12").
	Ack string
	// Location is the time zone times are printed in.
	Location *time.Location
	// Digest holds the other pages of a digest (a level that waits sends
	// a recipient's waiting pages together); All is this page and them.
	// Render uses the "digest" templates when Digest is not empty.
	Digest []*Data
	All    []*Data
}

// NewData builds the template data of n. ack is the channel's
// acknowledgement instruction; loc the time zone (nil: UTC).
func NewData(n *engine.Notification, ack string, loc *time.Location) *Data {
	if loc == nil {
		loc = time.UTC
	}
	d := &Data{
		Event: n.Event, Incident: n.Incident, Alerts: n.Alerts, Level: string(n.Incident.Level),
		Priority: n.Incident.Priority, Status: string(n.Incident.Status),
		RespondBy: n.Incident.RespondBy, ResolveBy: n.Incident.ResolveBy, URL: n.URL,
		Recipient: n.Recipient, By: n.By, Detail: n.Detail, Ack: ack, Location: loc,
	}
	d.All = []*Data{d}
	for i := range n.Digest {
		p := NewData(&n.Digest[i], ack, loc)
		p.All = nil
		d.Digest = append(d.Digest, p)
		d.All = append(d.All, p)
	}
	for _, a := range n.Alerts {
		if a.Status == engine.StatusFiring {
			d.Firing = append(d.Firing, a)
		} else {
			d.Resolved = append(d.Resolved, a)
		}
		if d.RunbookURL == "" {
			d.RunbookURL = a.Annotations["runbook_url"]
		}
		if d.Summary == "" {
			d.Summary = firstNonEmpty(a.Annotations["summary"], a.Annotations["description"])
		}
	}
	return d
}

// MapValues returns a copy of nt whose strings went through f: the
// incident's, its labels and its alerts' labels and annotations, the
// recipient's, who acted and the detail, the URLs, and the same in each
// page of a digest. A channel escapes what its markup would read in alert
// data this way (Slack's <, > and &, a chat service's mention syntax)
// before the templates see it; nt is left as it is.
func MapValues(nt *engine.Notification, f func(string) string) *engine.Notification {
	c := *nt
	inc := &c.Incident
	inc.Key, inc.Receiver, inc.GroupKey, inc.Title = f(inc.Key), f(inc.Receiver), f(inc.GroupKey), f(inc.Title)
	inc.Level, inc.Priority, inc.ExternalURL = engine.Level(f(string(inc.Level))), f(inc.Priority), f(inc.ExternalURL)
	inc.AcknowledgedBy, inc.ResolvedBy = f(inc.AcknowledgedBy), f(inc.ResolvedBy)
	inc.Labels = mapMap(inc.Labels, f)
	c.Alerts = make([]engine.Alert, len(nt.Alerts))
	for i, a := range nt.Alerts {
		a.Fingerprint, a.GeneratorURL, a.Level = f(a.Fingerprint), f(a.GeneratorURL), engine.Level(f(string(a.Level)))
		a.Labels, a.Annotations = mapMap(a.Labels, f), mapMap(a.Annotations, f)
		c.Alerts[i] = a
	}
	c.Recipient = engine.Recipient{Person: f(nt.Recipient.Person), Name: f(nt.Recipient.Name), Address: f(nt.Recipient.Address)}
	c.URL, c.ExternalURL, c.By, c.Detail = f(c.URL), f(c.ExternalURL), f(c.By), f(c.Detail)
	c.Thread, c.MessageID = f(c.Thread), f(c.MessageID)
	if len(nt.Digest) > 0 { // a digest's other pages alike
		c.Digest = make([]engine.Notification, len(nt.Digest))
		for i := range nt.Digest {
			c.Digest[i] = *MapValues(&nt.Digest[i], f)
		}
	}
	return &c
}

func mapMap(m map[string]string, f func(string) string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[f(k)] = f(v)
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Set is the compiled templates of one channel: defaults for its kind,
// replaced event by event (and part by part) by the config's overrides.
type Set struct {
	kind Kind
	text map[string][2]*template.Template // event → title, body
	html map[string]*htmltemplate.Template
}

// Compile builds the templates of a channel of kind k. overrides maps an
// event to the parts that replace the defaults; an unknown event or a
// template that does not parse is an error naming it.
func Compile(k Kind, overrides map[string]Template) (*Set, error) {
	defs, ok := defaults[k]
	if !ok {
		return nil, fmt.Errorf("unknown template kind %q", k)
	}
	s := &Set{kind: k, text: map[string][2]*template.Template{}, html: map[string]*htmltemplate.Template{}}
	for ev := range overrides {
		if !isEvent(ev) && ev != EventDigest {
			return nil, fmt.Errorf("templates: unknown event %q (want one of %s, %s)", ev, strings.Join(engine.NotifyEvents, ", "), EventDigest)
		}
	}
	for _, ev := range append(slices.Clone(engine.NotifyEvents), EventDigest) {
		t := defs.forEvent(ev)
		if o, ok := overrides[ev]; ok {
			if o.Title != "" {
				t.Title = o.Title
			}
			if o.Body != "" {
				t.Body = o.Body
			}
			if o.HTML != "" {
				if k != KindEmail {
					return nil, fmt.Errorf("templates.%s.html: only email has an HTML part", ev)
				}
				t.HTML = o.HTML
			}
		}
		title, err := template.New(ev + ".title").Funcs(funcs).Option("missingkey=zero").Parse(t.Title)
		if err != nil {
			return nil, fmt.Errorf("templates.%s.title: %w", ev, err)
		}
		body, err := template.New(ev + ".body").Funcs(funcs).Option("missingkey=zero").Parse(t.Body)
		if err != nil {
			return nil, fmt.Errorf("templates.%s.body: %w", ev, err)
		}
		s.text[ev] = [2]*template.Template{title, body}
		if k == KindEmail {
			h, err := htmltemplate.New(ev + ".html").Funcs(htmltemplate.FuncMap(funcs)).Option("missingkey=zero").Parse(t.HTML)
			if err != nil {
				return nil, fmt.Errorf("templates.%s.html: %w", ev, err)
			}
			s.html[ev] = h
		}
	}
	return s, nil
}

func isEvent(ev string) bool {
	for _, e := range engine.NotifyEvents {
		if e == ev {
			return true
		}
	}
	return false
}

// Rendered is one notification's text.
type Rendered struct {
	Title string
	Body  string
	HTML  string // email only
}

// Render executes the event's templates on d.
func (s *Set) Render(d *Data) (Rendered, error) {
	ev := d.Event
	if len(d.Digest) > 0 {
		ev = EventDigest
	}
	tt, ok := s.text[ev]
	if !ok {
		return Rendered{}, fmt.Errorf("no template for event %q", ev)
	}
	var r Rendered
	var b strings.Builder
	if err := tt[0].Execute(&b, d); err != nil {
		return r, fmt.Errorf("render %s title: %w", d.Event, err)
	}
	r.Title = strings.TrimSpace(b.String())
	b.Reset()
	if err := tt[1].Execute(&b, d); err != nil {
		return r, fmt.Errorf("render %s body: %w", d.Event, err)
	}
	r.Body = strings.TrimSpace(b.String())
	if h := s.html[ev]; h != nil {
		b.Reset()
		if err := h.Execute(&b, d); err != nil {
			return r, fmt.Errorf("render %s html: %w", d.Event, err)
		}
		r.HTML = b.String()
	}
	return r, nil
}

var funcs = template.FuncMap{
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"join":  strings.Join,
	// time formats t in the data's time zone: "2006-01-02 15:04 MST".
	"time": func(loc *time.Location, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format("2006-01-02 15:04 MST")
	},
	// sortedLabels lists a label set as name=value, sorted by name.
	"sortedLabels": func(m map[string]string) []string {
		out := make([]string, 0, len(m))
		for k, v := range m {
			out = append(out, k+"="+v)
		}
		sort.Strings(out)
		return out
	},
	"eventTag": eventTag,
	// set reports whether a time is set (a struct is always true in if).
	"set": func(t time.Time) bool { return !t.IsZero() },
	"describe": func(a engine.Alert) string {
		name := a.Labels["alertname"]
		if s := firstNonEmpty(a.Annotations["summary"], a.Annotations["description"]); s != "" {
			return name + ": " + s
		}
		return name
	},
}

// eventTag is the short word a title starts with for an event.
func eventTag(ev string) string {
	switch ev {
	case engine.NotifyFiring:
		return "FIRING"
	case engine.NotifyEscalated:
		return "ESCALATED"
	case engine.NotifyAcknowledged:
		return "ACKNOWLEDGED"
	case engine.NotifyResolved:
		return "RESOLVED"
	case engine.NotifyRemediationFailed:
		return "REMEDIATION FAILED"
	}
	return strings.ToUpper(ev)
}

// Truncate cuts s to at most max bytes, at a line break or a space when
// one is near the end and never inside a UTF-8 character, and appends
// suffix (for example a link to the whole incident). The result, suffix
// included, is at most max bytes; s is returned as it is if it fits.
func Truncate(s string, max int, suffix string) string {
	if len(s) <= max {
		return s
	}
	room := max - len(suffix)
	if room <= 0 {
		return cutRunes(suffix, max)
	}
	cut := cutRunes(s, room)
	// Prefer a line break, then a space, in the last quarter.
	if i := strings.LastIndexByte(cut, '\n'); i >= len(cut)*3/4 {
		cut = cut[:i]
	} else if i := strings.LastIndexByte(cut, ' '); i >= len(cut)*3/4 {
		cut = cut[:i]
	}
	return cut + suffix
}

// cutRunes returns the longest prefix of s of at most n bytes that ends
// on a character boundary.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
