// Package template renders the small templates of remediation actions
// (an argv element, a unit name, a URL, a JSON body) from alert data,
// safely: a template may only name values ({{ .labels.service }},
// {{ .annotations.summary }}, {{ .alertname }}, {{ .level }},
// {{ .incident }}, {{ .fingerprint }}, {{ .target }}) — no functions, no
// pipelines, no conditionals — and every value is checked against a
// pattern before it is placed. A value is placed once, as text: it is
// never parsed as a template or handed to a shell.
package template

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/remediator/remediator/engine"
)

// ErrRefused is the error of a value that fails its pattern: the action
// is refused and the refusal recorded.
var ErrRefused = errors.New("refused")

// Pattern is a value pattern as the user wrote it, compiled anchored as
// a whole (^(?:…)$): "web|api" admits web and api, not game-api.
type Pattern struct {
	src string
	re  *regexp.Regexp
	// noDotDot refuses a value holding ".." (the default pattern).
	noDotDot bool
}

// CompilePattern compiles src anchored as a whole. src must be a pattern
// on its own: "a)|(b" would otherwise break out of the group.
func CompilePattern(src string) (*Pattern, error) {
	if _, err := regexp.Compile(src); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(`^(?:` + src + `)$`)
	if err != nil {
		return nil, err
	}
	return &Pattern{src: src, re: re}, nil
}

// MatchString reports whether the whole of v matches.
func (p *Pattern) MatchString(v string) bool {
	return p.re.MatchString(v) && !(p.noDotDot && strings.Contains(v, ".."))
}

// String is the pattern as the user wrote it.
func (p *Pattern) String() string {
	if p.noDotDot {
		return "the default pattern " + p.src + ` (without "..")`
	}
	return p.src
}

// DefaultPattern is what a value must match when the action names no
// pattern for it: letters, digits and . _ : / @ + = , -, at most 253
// characters, not beginning with @ or + (curl -d @FILE reads a file, vim
// +CMD runs one), and never "..". Like every value, it may not begin
// with "-" either (see Placement.LeadingDash).
var DefaultPattern = &Pattern{src: `[A-Za-z0-9._:/=,-][A-Za-z0-9._:/@+=,-]{0,252}`,
	re: regexp.MustCompile(`^[A-Za-z0-9._:/=,-][A-Za-z0-9._:/@+=,-]{0,252}$`), noDotDot: true}

// Placement is how the values of a template are placed.
type Placement struct {
	// Patterns are the action's validate patterns, by parameter name;
	// a parameter without one must match DefaultPattern.
	Patterns map[string]*Pattern
	// LeadingDash names the parameters whose value may begin with "-"
	// (the action's allow_leading_dash). No other value may: a program
	// could read it as an option (ssh -oProxyCommand=…).
	LeadingDash map[string]bool
	// Forbid lists characters no value may hold here (a unit name's "@",
	// which would choose a template instance), and Why says why.
	Forbid, Why string
	// Escape transforms each value once it is checked (nil: as is).
	Escape func(string) string
}

// Data is what templates may name.
type Data struct {
	// Rule names the remediation rule in refusals; templates cannot name it.
	Rule        string
	Labels      map[string]string
	Annotations map[string]string
	Alertname   string
	Level       string
	Incident    string
	Fingerprint string
	Target      string
}

// DataFor is what templates see of an action request. Incident is empty
// when the request has none (0), so a template that needs it is refused.
func DataFor(req *engine.ActionRequest) *Data {
	d := &Data{
		Rule:        req.Rule,
		Labels:      req.Alert.Labels,
		Annotations: req.Alert.Annotations,
		Alertname:   req.Alert.Labels["alertname"],
		Level:       string(req.Level),
		Fingerprint: req.Alert.Fingerprint,
		Target:      req.Target,
	}
	if req.Incident != 0 {
		d.Incident = strconv.FormatUint(req.Incident, 10)
	}
	return d
}

// Template is one parsed template.
type Template struct {
	src   string
	parts []part
}

// part is literal text or a reference to a value.
type part struct {
	text string
	ref  []string // e.g. ["labels", "service"]; nil for text
}

// Name returns the parameter name of a reference, the key of its
// pattern: the label or annotation name, or the field name.
func (p part) name() string { return p.ref[len(p.ref)-1] }

var fields = map[string]bool{"alertname": true, "level": true, "incident": true, "fingerprint": true, "target": true}

// Parse parses src. It fails on anything but text and plain references.
func Parse(src string) (*Template, error) {
	trees, err := parse.Parse("t", src, "{{", "}}")
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", src, err)
	}
	t := &Template{src: src}
	for _, n := range trees["t"].Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			t.parts = append(t.parts, part{text: string(n.Text)})
		case *parse.ActionNode:
			ref, err := reference(n)
			if err != nil {
				return nil, fmt.Errorf("template %q: %w", src, err)
			}
			t.parts = append(t.parts, part{ref: ref})
		default:
			return nil, fmt.Errorf("template %q: only text and {{ .name }} references are allowed, not %s", src, n)
		}
	}
	return t, nil
}

func reference(n *parse.ActionNode) ([]string, error) {
	if len(n.Pipe.Decl) > 0 || len(n.Pipe.Cmds) != 1 || len(n.Pipe.Cmds[0].Args) != 1 {
		return nil, fmt.Errorf("%s: only a plain reference like {{ .labels.service }} is allowed", n)
	}
	f, ok := n.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok {
		return nil, fmt.Errorf("%s: only a plain reference like {{ .labels.service }} is allowed", n)
	}
	switch {
	case len(f.Ident) == 2 && (f.Ident[0] == "labels" || f.Ident[0] == "annotations"):
	case len(f.Ident) == 1 && fields[f.Ident[0]]:
	default:
		return nil, fmt.Errorf("%s: unknown reference; use .labels.NAME, .annotations.NAME, .alertname, .level, .incident, .fingerprint or .target", n)
	}
	return f.Ident, nil
}

// Refs returns the parameter names the template uses, for checking that
// every pattern an action names is used.
func (t *Template) Refs() []string {
	var out []string
	for _, p := range t.parts {
		if p.ref != nil {
			out = append(out, p.name())
		}
	}
	return out
}

// Source is the template as written.
func (t *Template) Source() string { return t.src }

// Render places each value, checked against its pattern (or
// DefaultPattern) and the leading-dash rule, then transformed by the
// placement's Escape. A value that fails is ErrRefused, naming the rule,
// the parameter and at most 40 bytes of the value.
func (t *Template) Render(d *Data, pl Placement) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.ref == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := place(d, p, &pl)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// place checks one value and escapes it.
func place(d *Data, p part, pl *Placement) (string, error) {
	name := p.name()
	v := lookup(d, p.ref)
	pat := pl.Patterns[name]
	if pat == nil {
		pat = DefaultPattern
	}
	if strings.HasPrefix(v, "-") && !pl.LeadingDash[name] {
		return "", fmt.Errorf("%s=%s begins with \"-\", which a program could read as an option; rule %q places it only with allow_leading_dash: [%s]: %w",
			name, quote(v), d.Rule, name, ErrRefused)
	}
	if !pat.MatchString(v) {
		return "", fmt.Errorf("%s=%s does not match %s (rule %q): %w", name, quote(v), pat, d.Rule, ErrRefused)
	}
	if i := strings.IndexAny(v, pl.Forbid); i >= 0 {
		return "", fmt.Errorf("%s=%s holds %q: %s (rule %q): %w", name, quote(v), v[i:i+1], pl.Why, d.Rule, ErrRefused)
	}
	if pl.Escape != nil {
		v = pl.Escape(v)
	}
	return v, nil
}

func lookup(d *Data, ref []string) string {
	switch ref[0] {
	case "labels":
		return d.Labels[ref[1]]
	case "annotations":
		return d.Annotations[ref[1]]
	case "alertname":
		return d.Alertname
	case "level":
		return d.Level
	case "incident":
		return d.Incident
	case "fingerprint":
		return d.Fingerprint
	}
	return d.Target
}

// quote shows at most 40 bytes of a refused value, quoted, so a log line
// or an audit record never carries a megabyte or raw control bytes.
func quote(v string) string {
	if len(v) > 40 {
		return fmt.Sprintf("%q… (%d bytes)", v[:40], len(v))
	}
	return fmt.Sprintf("%q", v)
}

// CompilePatterns compiles an action's validate map, each pattern
// anchored as a whole (see CompilePattern). Errors name validate.NAME and
// show the pattern as written.
func CompilePatterns(m map[string]string) (map[string]*Pattern, error) {
	out := make(map[string]*Pattern, len(m))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(m)) {
		p, err := CompilePattern(m[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("validate.%s: %w", name, err))
			continue
		}
		out[name] = p
	}
	return out, errors.Join(errs...)
}

// LeadingDash turns an action's allow_leading_dash list into a set.
func LeadingDash(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
