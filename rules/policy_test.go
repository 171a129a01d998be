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
