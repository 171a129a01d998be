package template

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/remediator/remediator/engine"
)

func TestParseRejects(t *testing.T) {
	tests := []struct{ src, want string }{
		{`{{ .labels.x | printf "%s" }}`, `function "printf" not defined`}, // pipelines
		{`{{ printf "%s" .labels.x }}`, `function "printf" not defined`},   // functions
		{`{{ .labels.x .labels.y }}`, "only a plain reference"},            // two arguments
		{`{{ if .labels.x }}y{{ end }}`, "only text and"},                  // conditionals
		{`{{ .labels }}`, "unknown reference"},                             // a whole map
		{`{{ .secret }}`, "unknown reference"},                             // unknown field
		{`{{ $x := .level }}`, "only a plain reference"},                   // variables
		{`{{ .labels.x `, "unclosed action"},                               // syntax
	}
	for _, tt := range tests {
		if _, err := Parse(tt.src); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.src, err, tt.want)
		}
	}
}

// TestHostileValues: values are checked, placed once as text, and never
// re-templated.
func TestHostileValues(t *testing.T) {
	tpl, err := Parse("restart {{ .labels.service }}.service")
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := CompilePatterns(map[string]string{"service": `[a-z0-9-]{1,63}`})
	for _, v := range []string{"; rm -rf /", "$(touch /tmp/pwned)", "`id`", "../../etc/passwd", "a\nb", "{{ .labels.x }}", strings.Repeat("a", 1<<20), "\xff\xfe"} {
		for _, pats := range []map[string]*Pattern{svc, nil} {
			_, err := tpl.Render(&Data{Labels: map[string]string{"service": v}}, Placement{Patterns: pats})
			if !errors.Is(err, ErrRefused) {
				t.Errorf("value %.20q with patterns %v: err = %v, want refused", v, pats != nil, err)
			}
			if err != nil && len(err.Error()) > 200 {
				t.Errorf("refusal message is %d bytes long", len(err.Error()))
			}
		}
	}
	got, err := tpl.Render(&Data{Labels: map[string]string{"service": "game-api"}}, Placement{Patterns: svc})
	if err != nil || got != "restart game-api.service" {
		t.Fatalf("good value: %q %v", got, err)
	}
	// A pattern that allows template syntax places it literally.
	loose, _ := CompilePatterns(map[string]string{"x": `.*`})
	tx, _ := Parse("{{ .labels.x }}")
	got, err = tx.Render(&Data{Labels: map[string]string{"x": "{{ .level }}"}}, Placement{Patterns: loose})
	if err != nil || got != "{{ .level }}" {
		t.Fatalf("template syntax in a value: %q %v", got, err)
	}
	// An escape applies to values only.
	tu, _ := Parse("/scale/{{ .labels.x }}")
	got, _ = tu.Render(&Data{Labels: map[string]string{"x": "a b/c"}}, Placement{Patterns: loose, Escape: url.PathEscape})
	if got != "/scale/a%20b%2Fc" {
		t.Fatalf("escaped: %q", got)
	}
}

func TestRefsAndPatterns(t *testing.T) {
	tpl, _ := Parse("{{ .labels.instance }}/{{ .labels.service }} {{ .level }}")
	if got := strings.Join(tpl.Refs(), ","); got != "instance,service,level" {
		t.Fatalf("refs = %s", got)
	}
	// The error names the parameter and shows the pattern as written.
	if _, err := CompilePatterns(map[string]string{"x": "(("}); err == nil || err.Error() != "validate.x: error parsing regexp: missing closing ): `((`" {
		t.Fatalf("bad pattern: %v", err)
	}
	p, _ := CompilePatterns(map[string]string{"x": "[a-z]+"})
	if !p["x"].MatchString("abc") || p["x"].MatchString("abc1") {
		t.Fatal("patterns must be anchored")
	}
}

func TestDataFor(t *testing.T) {
	req := &engine.ActionRequest{Rule: "r", Target: "t", Incident: 7, Level: "critical",
		Alert: engine.Alert{Fingerprint: "fp", Labels: map[string]string{"alertname": "Down"}, Annotations: map[string]string{"a": "b"}}}
	d := DataFor(req)
	if d.Incident != "7" || d.Alertname != "Down" || d.Level != "critical" || d.Target != "t" || d.Fingerprint != "fp" || d.Annotations["a"] != "b" {
		t.Fatalf("DataFor = %+v", d)
	}
	req.Incident = 0
	if DataFor(req).Incident != "" {
		t.Fatal("no incident must read as empty")
	}
}

// TestLeadingDash: no value begins with "-", whatever its pattern, unless
// the placement allows it for that parameter; the refusal names the rule,
// the parameter and the value.
func TestLeadingDash(t *testing.T) {
	tpl, _ := Parse("{{ .labels.instance }}")
	loose, _ := CompilePatterns(map[string]string{"instance": ".+"})
	d := &Data{Rule: "ssh-fix", Labels: map[string]string{"instance": "-oProxyCommand=/tmp/x"}}
	for _, pats := range []map[string]*Pattern{nil, loose} {
		_, err := tpl.Render(d, Placement{Patterns: pats})
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("patterns %v: err = %v, want refused", pats != nil, err)
		}
		want := `instance="-oProxyCommand=/tmp/x" begins with "-", which a program could read as an option; rule "ssh-fix" places it only with allow_leading_dash: [instance]: refused`
		if err.Error() != want {
			t.Fatalf("refusal =\n%s\nwant\n%s", err, want)
		}
	}
	// Allowed for this parameter: placed, still checked by its pattern.
	got, err := tpl.Render(d, Placement{LeadingDash: LeadingDash([]string{"instance"})})
	if err != nil || got != "-oProxyCommand=/tmp/x" {
		t.Fatalf("allowed: %q %v", got, err)
	}
	if _, err := tpl.Render(&Data{Labels: map[string]string{"instance": "-a b"}}, Placement{LeadingDash: LeadingDash([]string{"instance"})}); !errors.Is(err, ErrRefused) {
		t.Fatalf("allowed dash, failing pattern: %v", err)
	}
	// Allowing another parameter allows nothing here.
	if _, err := tpl.Render(d, Placement{LeadingDash: LeadingDash([]string{"service"})}); !errors.Is(err, ErrRefused) {
		t.Fatalf("another parameter allowed: %v", err)
	}
	// A dash inside a value is fine.
	if got, err := tpl.Render(&Data{Labels: map[string]string{"instance": "game-api-1"}}, Placement{}); err != nil || got != "game-api-1" {
		t.Fatalf("inner dash: %q %v", got, err)
	}
}

// TestAnchoredAsAWhole: an alternation is anchored around all of it, and
// the refusal shows the pattern as the user wrote it.
func TestAnchoredAsAWhole(t *testing.T) {
	p, err := CompilePatterns(map[string]string{"service": "web|api"})
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{"web": true, "api": true, "game-api": false, "web; anything": false, "webapi": false, "": false} {
		if got := p["service"].MatchString(v); got != want {
			t.Errorf("web|api on %q = %v, want %v", v, got, want)
		}
	}
	tpl, _ := Parse("{{ .labels.service }}")
	_, err = tpl.Render(&Data{Rule: "r", Labels: map[string]string{"service": "game-api"}}, Placement{Patterns: p})
	if want := `service="game-api" does not match web|api (rule "r"): refused`; err == nil || err.Error() != want {
		t.Fatalf("refusal = %v, want %s", err, want)
	}
	// A pattern that is not one on its own cannot break out of the group.
	if _, err := CompilePattern("a)|(?:b"); err == nil {
		t.Fatal(`"a)|(?:b" compiled`)
	}
	// A pattern the user anchored still works.
	q, _ := CompilePattern("^[a-z]+$")
	if !q.MatchString("abc") || q.MatchString("abc1") {
		t.Fatal("an anchored pattern")
	}
}

// TestDefaultPatternFirstCharacter: by default a value may not begin with
// "@" or "+" (curl -d @/etc/shadow posts the file; vim +CMD runs CMD),
// though either may appear later.
func TestDefaultPatternFirstCharacter(t *testing.T) {
	tpl, _ := Parse("{{ .labels.v }}")
	for v, ok := range map[string]bool{"@/etc/shadow": false, "+cmd": false, "user@host": true, "a+b": true, "/data": true, ":8080": true} {
		_, err := tpl.Render(&Data{Labels: map[string]string{"v": v}}, Placement{})
		if (err == nil) != ok {
			t.Errorf("%q: %v, want ok %v", v, err, ok)
		}
	}
}
