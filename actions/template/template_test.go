package template

import (
	"errors"
	"net/url"
	"regexp"
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
		for _, pats := range []map[string]*regexp.Regexp{svc, nil} {
			_, err := tpl.Render(&Data{Labels: map[string]string{"service": v}}, pats, nil)
			if !errors.Is(err, ErrRefused) {
				t.Errorf("value %.20q with patterns %v: err = %v, want refused", v, pats != nil, err)
			}
			if err != nil && len(err.Error()) > 200 {
				t.Errorf("refusal message is %d bytes long", len(err.Error()))
			}
		}
	}
	got, err := tpl.Render(&Data{Labels: map[string]string{"service": "game-api"}}, svc, nil)
	if err != nil || got != "restart game-api.service" {
		t.Fatalf("good value: %q %v", got, err)
	}
	// A pattern that allows template syntax places it literally.
	loose, _ := CompilePatterns(map[string]string{"x": `.*`})
	tx, _ := Parse("{{ .labels.x }}")
	got, err = tx.Render(&Data{Labels: map[string]string{"x": "{{ .level }}"}}, loose, nil)
	if err != nil || got != "{{ .level }}" {
		t.Fatalf("template syntax in a value: %q %v", got, err)
	}
	// An escape applies to values only.
	tu, _ := Parse("/scale/{{ .labels.x }}")
	got, _ = tu.Render(&Data{Labels: map[string]string{"x": "a b/c"}}, loose, url.PathEscape)
	if got != "/scale/a%20b%2Fc" {
		t.Fatalf("escaped: %q", got)
	}
}

func TestRefsAndPatterns(t *testing.T) {
	tpl, _ := Parse("{{ .labels.instance }}/{{ .labels.service }} {{ .level }}")
	if got := strings.Join(tpl.Refs(), ","); got != "instance,service,level" {
		t.Fatalf("refs = %s", got)
	}
	if _, err := CompilePatterns(map[string]string{"x": "(("}); err == nil || !strings.Contains(err.Error(), "validate.x") {
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
