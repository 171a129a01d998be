package robot

import (
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

func TestCheckReportsEveryProblemInOrder(t *testing.T) {
	const token = "tok3n"
	cfg := &rules.IMConfig{
		Name: "ops", URL: "ftp://robot.example/send?access_token=" + token, MaxPerMinute: -1, Timeout: -1,
		Templates: map[string]rules.TemplateConfig{"firing": {Body: "{{"}},
	}
	check := NewCheck("dingtalk", cfg.Name)
	if u := check.URL(cfg.URL); u != "" {
		t.Errorf("URL = %q for a bad URL, want \"\"", u)
	}
	check.Settings(cfg, 20, 0, message.KindMarkdown)
	err := check.Err()
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"url is not an http(s) URL", "max_per_minute -1 is negative", "timeout -1ns is negative", "templates.firing.body"}
	if len(lines) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		// Each problem names the notifier, in the order it was checked.
		if !strings.HasPrefix(lines[i], `dingtalk "ops": `) || !strings.Contains(lines[i], w) {
			t.Errorf("problem %d = %q, want `dingtalk \"ops\": ` and %q", i, lines[i], w)
		}
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error shows the token: %v", err)
	}
}

func TestSettingsDefaults(t *testing.T) {
	check := NewCheck("wecom", "ops")
	s := check.Settings(&rules.IMConfig{Name: "ops"}, 20, 10*time.Second, message.KindMarkdown)
	if err := check.Err(); err != nil {
		t.Fatal(err)
	}
	// Zero values take the defaults; the templates compile.
	if s.Name != "ops" || s.MaxPerMinute != 20 || s.Timeout != 10*time.Second || s.Templates == nil {
		t.Errorf("settings %+v, want ops, 20 a minute, 10s, templates", s)
	}
}

func TestMentions(t *testing.T) {
	to := func(handles ...string) []*engine.Notification {
		var b []*engine.Notification
		for _, h := range handles {
			b = append(b, &engine.Notification{Recipient: engine.Recipient{Address: h}})
		}
		return b
	}
	at := func(nt *engine.Notification) string { return "@" + nt.Recipient.Address }
	tests := []struct {
		name  string
		batch []*engine.Notification
		want  string
	}{
		// Rooms mention nobody, and add no blank line.
		{"rooms", to("", ""), ""},
		// One person: after a blank line.
		{"one", to("ann"), "\n\n@ann"},
		// Each person once, in order, a space apart.
		{"several", to("ann", "", "bob", "ann"), "\n\n@ann @bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mentions(tt.batch, at); got != tt.want {
				t.Errorf("Mentions = %q, want %q", got, tt.want)
			}
		})
	}
}
