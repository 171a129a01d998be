package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
)

// TestPolicyRuntimeErrorIsNoMatch: an expression that fails on one alert
// (a label that is not a number) is reported and counts as no match; the
// next level decides; Explain agrees with Classify and says why.
func TestPolicyRuntimeErrorIsNoMatch(t *testing.T) {
	cfg, err := Parse("p.yml", []byte(`
levels:
  - name: critical
    when: int(labels.errors) > 100
  - name: warning
    when: severity == "warning"
  - name: info
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var failures []string
	p := NewPolicy(cfg, func(level string, err error) { failures = append(failures, level+": "+err.Error()) })
	in := &engine.ClassifyInput{
		Alert:   &engine.WebhookAlert{Status: "firing", Labels: map[string]string{"errors": "lots", "severity": "warning"}},
		Webhook: &engine.Webhook{}, Now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
	}
	if got := p.Classify(in); got != "warning" {
		t.Fatalf("Classify = %s, want warning", got)
	}
	if len(failures) != 1 || !strings.HasPrefix(failures[0], "critical: ") {
		t.Fatalf("failures = %q", failures)
	}
	level, traces := p.Explain(in)
	if level != "warning" || len(traces) != 3 || !strings.HasPrefix(traces[0].Reason, "error (counts as no match)") || !traces[1].Matched {
		t.Fatalf("Explain = %s %+v", level, traces)
	}
	// A good value matches the first level.
	in.Alert.Labels["errors"] = "250"
	if got := p.Classify(in); got != "critical" {
		t.Fatalf("Classify = %s, want critical", got)
	}
}

// TestTargetValuesArePlaced: a remediation's target (the key of
// cooldowns and locks, and {{ .target }} in actions) places its values
// like any action: the default pattern and no leading "-"; a value that
// breaks either refuses the rule, and the refusal names the rule.
func TestTargetValuesArePlaced(t *testing.T) {
	cfg, err := Parse("t.yml", []byte(`
remediations:
  - name: restart
    when: 'alertname == "Down"'
    target: "{{ .labels.instance }}/{{ .labels.service }}"
    actions:
      - exec: {command: [/bin/true]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRemediations(cfg, nil)
	for _, tc := range []struct {
		instance, want string // want: the target, or "" when refused
	}{
		{"host1", "host1/api"},
		{"-oProxyCommand=/tmp/x", ""}, // an option
		{"a b", ""},                   // a space
		{"../etc", ""},                // a climb
		{"@/etc/shadow", ""},          // a file reference
		{"a\nb", ""},                  // a line break
		{"", ""},                      // nothing
	} {
		in := &engine.ClassifyInput{Alert: &engine.WebhookAlert{Status: "firing", Labels: map[string]string{"alertname": "Down", "instance": tc.instance, "service": "api"}},
			Webhook: &engine.Webhook{}, Now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
		m := r.Match(in, "critical", 1)[0]
		if tc.want == "" {
			if !m.Refused || m.Matched || !strings.Contains(m.Reason, `rule "restart"`) {
				t.Errorf("instance %q: %+v, want refused", tc.instance, m)
			}
			continue
		}
		if !m.Matched || m.Target != tc.want {
			t.Errorf("instance %q: %+v, want target %s", tc.instance, m, tc.want)
		}
	}
}
