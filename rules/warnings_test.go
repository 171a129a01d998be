package rules

import (
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestSLAWarnings: a level first paged when its respond-by time has come
// breaches its SLA before anyone hears of it: check warns, whether the
// clock is wall time or working time (compared at its shortest).
func TestSLAWarnings(t *testing.T) {
	tests := []struct {
		name, level string
		want        []string
	}{
		// The seed policy's old P2: paged after 1h, answered within 30m.
		{"late page", "respond_within: 30m\n    notify_within: 1h",
			[]string{`levels[0]: level "warning" is first paged 1h after an incident opens (notify_within), but must be answered within 30m (respond_within): its respond SLA is breached before anyone hears of it`}},
		// Paged at the very moment it must be answered.
		{"page at the deadline", "respond_within: 2h\n    notify_within: 2h",
			[]string{`levels[0]: level "warning" is first paged 2h after an incident opens (notify_within), but must be answered within 2h (respond_within): its respond SLA is breached before anyone hears of it`}},
		// Working time: one working hour can pass in one wall hour.
		{"working hours", "respond_within: 1 working hour\n    notify_within: 1h",
			[]string{`levels[0]: level "warning" is first paged 1h after an incident opens (notify_within), but must be answered within 1 working hour (respond_within): its respond SLA is breached before anyone hears of it`}},
		// A working day (9h here) is longer than a 1h delay.
		{"working day", "respond_within: 1 working day\n    notify_within: 1h", nil},
		// Paged before the deadline.
		{"early page", "respond_within: 30m\n    notify_within: 5m", nil},
		// Reports page nobody in time, by design.
		{"report", "respond_within: 30m\n    notify_within: report", nil},
		// No respond clock.
		{"no clock", "notify_within: 1h", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "levels:\n  - name: warning\n    " + tt.level + "\n"
			if !strings.Contains(tt.level, "report") {
				src += "    notify: {rooms: [app]}\n"
			}
			cfg, err := Parse("w.yml", []byte(src), testEnv)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.slaWarnings(); !slices.Equal(got, tt.want) {
				t.Errorf("warnings =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestShippedPoliciesPageBeforeRespondBy: the seed policy and the
// embedded default page every level before its respond-by time. (The
// seed used to page P2 after 1h with a 30m respond time, and P3 after
// 24h with 2h.)
func TestShippedPoliciesPageBeforeRespondBy(t *testing.T) {
	seed, err := Load("../testdata/seed-policy.yml", envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	def, err := Parse("<embedded default>", DefaultYAML, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*Config{"seed policy": seed, "embedded default": def} {
		if w := cfg.slaWarnings(); len(w) != 0 {
			t.Errorf("%s: %q", name, w)
		}
	}
	levels := &Config{Levels: DefaultLevels()}
	if w := levels.slaWarnings(); len(w) != 0 {
		t.Errorf("DefaultLevels: %q", w)
	}
}

// TestPlaceholderSecrets: every secret that is one of the seed policy's
// published placeholders is named (never shown); serve refuses them on an
// address that is not loopback.
func TestPlaceholderSecrets(t *testing.T) {
	seed, err := Load("../testdata/seed-policy.yml", envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"server.webhook_token", "auth.tokens[0].token", "auth.tokens[1].token", "notifiers.twilio.auth_token",
		"notifiers.im[0].url", "notifiers.im[0].secret", "remediations[1].actions[0].http.headers.Authorization"}
	if got := seed.Placeholders(); !slices.Equal(got, want) {
		t.Fatalf("Placeholders =\n%q\nwant\n%q", got, want)
	}
	for _, w := range seed.Warnings() {
		if strings.Contains(w, "change-me-") && !strings.Contains(w, "change-me-…") {
			t.Errorf("a warning shows a secret: %s", w)
		}
	}
	if err := seed.CheckExposedPlaceholders(); err != nil {
		t.Fatalf("loopback: %v", err)
	}
	env := map[string]string{"REMEDIATOR_LISTEN": "0.0.0.0:9095"}
	exposed, err := Load("../testdata/seed-policy.yml", envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	err = exposed.CheckExposedPlaceholders()
	if !errors.Is(err, ErrPlaceholderExposed) || !strings.Contains(err.Error(), "auth.tokens[0].token") || strings.Contains(err.Error(), "change-me-admin") {
		t.Fatalf("exposed: %v", err)
	}
	// Behind a proxy: listening on loopback, reached at another name.
	proxied, err := Load("../testdata/seed-policy.yml", envOf(map[string]string{"REMEDIATOR_EXTERNAL_URL": "https://remediator.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := proxied.CheckExposedPlaceholders(); !errors.Is(err, ErrPlaceholderExposed) {
		t.Fatalf("behind a proxy: %v", err)
	}
	// Secrets of one's own: nothing to say.
	for k, v := range map[string]string{"REMEDIATOR_WEBHOOK_TOKEN": "wh-0123456789abcdef", "REMEDIATOR_ADMIN_TOKEN": "ad-0123456789abcdef",
		"REMEDIATOR_RESPONDER_TOKEN": "rs-0123456789abcdef", "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
		"DINGTALK_TOKEN": "abc123", "DINGTALK_SECRET": "SECabc", "SCALE_TOKEN": "sc-0123456789"} {
		env[k] = v
	}
	own, err := Load("../testdata/seed-policy.yml", envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if got := own.Placeholders(); len(got) != 0 {
		t.Fatalf("own secrets: %q", got)
	}
	if err := own.CheckExposedPlaceholders(); err != nil {
		t.Fatal(err)
	}
}

// TestRemediationWarnings: allow_leading_dash, a program that runs its
// arguments (a shell, sudo, ssh…) given a placed value, and a templated
// systemd unit placed with only the default pattern, are warned of.
func TestRemediationWarnings(t *testing.T) {
	src := `remediations:
  - name: r
    when: 'alertname == "x"'
    target: "{{ .labels.instance }}"
    actions:
      - exec: {command: [/usr/bin/ssh, "{{ .labels.instance }}"], allow_leading_dash: [instance]}
      - exec: {command: [/usr/local/bin/fix, "{{ .labels.instance }}"]}
      - systemd: {action: restart, unit: "{{ .labels.service }}"}
      - systemd: {action: restart, unit: "{{ .labels.service }}", validate: {service: "web|api"}}
`
	cfg, err := Parse("r.yml", []byte(src), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"remediations[0].actions[0].exec.command: ssh runs its arguments as a command (ssh hands them to a shell on the other host), so a placed value may become one: run a program of your own that takes the value as one argument",
		`remediations[0].actions[0].exec.allow_leading_dash: a value of instance may begin with "-", and the program may read it as an option: anyone who can set that label chooses the option`,
		`remediations[0].actions[2].systemd.unit: "{{ .labels.service }}" places service with only the default pattern, so an alert can name any service of the host: list the allowed ones in validate.service`,
	}
	if got := cfg.remediationWarnings(); !slices.Equal(got, want) {
		t.Fatalf("warnings =\n%q\nwant\n%q", got, want)
	}
}

// TestSeedEnvironmentTable: the README's table of the seed policy's
// environment variables names exactly the variables the seed policy
// reads, and DINGTALK_URL moves the DingTalk robot.
func TestSeedEnvironmentTable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile("../testdata/seed-policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "| Variable | Used for | Default |\n")
	if !ok {
		t.Fatal("README has no environment table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	var listed []string
	for _, row := range strings.Split(table, "\n")[1:] {
		if !strings.HasPrefix(row, "| ") {
			t.Fatalf("the table is cut by %q", row)
		}
		first := strings.Split(row, "|")[1]
		for _, m := range regexp.MustCompile("`([A-Z_]+)`").FindAllStringSubmatch(first, -1) {
			listed = append(listed, m[1])
		}
	}
	var read []string
	for _, m := range regexp.MustCompile(`\$\{([A-Z_]+)`).FindAllStringSubmatch(string(seed), -1) {
		read = append(read, m[1])
	}
	slices.Sort(listed)
	slices.Sort(read)
	if read = slices.Compact(read); !slices.Equal(listed, read) {
		t.Fatalf("README lists\n%q\nthe seed policy reads\n%q", listed, read)
	}
	cfg, err := Load("../testdata/seed-policy.yml", envOf(map[string]string{"DINGTALK_URL": "http://127.0.0.1:8999/robot/send"}))
	if err != nil {
		t.Fatal(err)
	}
	if u := cfg.Notifiers.IM[0].URL.Value(); !strings.HasPrefix(u, "http://127.0.0.1:8999/robot/send?access_token=") {
		t.Fatalf("DingTalk URL %q", u)
	}
}

// TestREADMETablesAreWhole: no table of the README is cut in two by a
// blank line (Markdown would print the rest as text).
func TestREADMETablesAreWhole(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(readme), "\n")
	for i := 1; i+1 < len(lines); i++ {
		if strings.HasPrefix(lines[i], "|") && lines[i-1] == "" && !strings.HasPrefix(lines[i+1], "|---") {
			t.Errorf("README.md:%d: a table row after a blank line, not a header: %.60s", i+1, lines[i])
		}
	}
}
