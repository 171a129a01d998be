package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const seedPolicy = "../../testdata/seed-policy.yml"

func TestSeedPolicyChecks(t *testing.T) {
	code, out, errOut := runCLI("check", "--config", seedPolicy)
	if code != 0 || !strings.HasPrefix(out, "ok: 4 levels, 2 API tokens") {
		t.Fatalf("check seed policy: %d %q %q", code, out, errOut)
	}
}

type explained struct {
	Alerts []struct {
		Fingerprint string
		Level       string
		Priority    string
		RespondBy   *time.Time `json:"respond_by"`
		ResolveBy   *time.Time `json:"resolve_by"`
		Rules       []struct {
			Level   string
			Matched bool
			Reason  string
		}
		Suppressed *struct{ By string }
		Actions    []struct{ Rule, Target, Run, Refused string }
	}
	Paging *struct {
		Level string
		Steps []struct {
			At     time.Time
			Step   int
			People []string
			Via    []string
		}
	}
}

// TestExplainSeedPolicy: explain on payloads gives the levels and SLA
// deadlines of the support process's table, working days on the business
// calendar, and the maintenance windows.
func TestExplainSeedPolicy(t *testing.T) {
	dir := t.TempDir()
	payload := func(labels string) string {
		return writeFile(t, dir, fmt.Sprintf("p%d.json", time.Now().UnixNano()),
			`{"receiver":"r","groupKey":"g","alerts":[{"status":"firing","labels":{`+labels+`},"startsAt":"2026-11-27T08:00:00Z"}]}`)
	}
	tests := []struct {
		name, labels, at          string
		level, priority           string
		respondBy, resolveBy      string // RFC 3339 in +08:00
		suppressedBy, matchedRule string
		// paging: the first step's local time and people ("" when
		// nobody is paged).
		firstStep string
	}{
		// P1: the GameServerDown rule; 15m and 4h of wall time.
		{"critical", `"alertname":"GameServerDown","service":"game-api"`, "2026-11-28T03:00:00+08:00",
			"critical", "P1", "2026-11-28T03:15:00+08:00", "2026-11-28T07:00:00+08:00", "", "critical",
			"2026-11-28T03:00:00+08:00 wang.wei by phone,sms,app"},
		// P2: 30m and 8h.
		{"warning", `"alertname":"HighLoad","severity":"warning"`, "2026-11-27T10:00:00+08:00",
			"warning", "P2", "2026-11-27T10:30:00+08:00", "2026-11-27T18:00:00+08:00", "", "warning",
			"2026-11-27T10:05:00+08:00 wang.wei,li.na by phone,email"}, // after notify_within 5m
		// P3: 2h and 24h.
		{"notice", `"alertname":"CertExpiresSoon","severity":"notice"`, "2026-11-27T10:00:00+08:00",
			"notice", "P3", "2026-11-27T12:00:00+08:00", "2026-11-28T10:00:00+08:00", "", "notice",
			"2026-11-27T10:30:00+08:00 wang.wei,li.na by email"}, // after notify_within 30m: Friday, the weekday rota
		// P4 raised Friday 17:00: one working day is due Monday 17:00, not
		// Saturday; five working days the Friday after.
		{"info on a Friday", `"alertname":"DiskTrend","severity":"info"`, "2026-11-27T17:00:00+08:00",
			"info", "P4", "2026-11-30T17:00:00+08:00", "2026-12-04T17:00:00+08:00", "", "info", ""},
		// P4 raised the evening before National Day: the holidays and the
		// weekend are skipped; the make-up working Saturday 10 Oct counts.
		{"info before a holiday", `"alertname":"DiskTrend","severity":"info"`, "2026-09-30T17:00:00+08:00",
			"info", "P4", "2026-10-08T17:00:00+08:00", "2026-10-13T17:00:00+08:00", "", "info", ""},
		// No when matches and no severity: the default level.
		{"no severity", `"alertname":"Something"`, "2026-11-27T10:00:00+08:00",
			"info", "P4", "2026-11-30T10:00:00+08:00", "2026-12-04T10:00:00+08:00", "", "info", ""},
		// The nightly DB backup window mutes matching alerts at 03:10.
		{"in maintenance", `"alertname":"DBSlowQueries","service":"db","severity":"warning"`, "2026-11-27T03:10:00+08:00",
			"warning", "P2", "2026-11-27T03:40:00+08:00", "2026-11-27T11:10:00+08:00", "maintenance window nightly-db-backup", "warning", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI("explain", "--config", seedPolicy, "--alert", payload(tt.labels), "--at", tt.at, "--json")
			if code != 0 {
				t.Fatalf("explain: %d %s", code, errOut)
			}
			var x explained
			if err := json.Unmarshal([]byte(out), &x); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			a := x.Alerts[0]
			cn := time.FixedZone("CST", 8*3600)
			if a.Level != tt.level || a.Priority != tt.priority ||
				a.RespondBy == nil || a.RespondBy.In(cn).Format(time.RFC3339) != tt.respondBy ||
				a.ResolveBy == nil || a.ResolveBy.In(cn).Format(time.RFC3339) != tt.resolveBy {
				t.Fatalf("got %s %s respond %v resolve %v\nwant %s %s %s %s", a.Level, a.Priority, a.RespondBy, a.ResolveBy, tt.level, tt.priority, tt.respondBy, tt.resolveBy)
			}
			if (a.Suppressed == nil) != (tt.suppressedBy == "") || (a.Suppressed != nil && a.Suppressed.By != tt.suppressedBy) {
				t.Fatalf("suppressed = %+v, want %q", a.Suppressed, tt.suppressedBy)
			}
			var matched []string
			for _, r := range a.Rules {
				if r.Matched {
					matched = append(matched, r.Level)
				}
			}
			if len(matched) != 1 || matched[0] != tt.matchedRule || a.Actions == nil {
				t.Fatalf("rules %+v", a.Rules)
			}
			first := ""
			if x.Paging != nil && len(x.Paging.Steps) > 0 {
				st := x.Paging.Steps[0]
				first = st.At.In(cn).Format(time.RFC3339) + " " + strings.Join(st.People, ",") + " by " + strings.Join(st.Via, ",")
			}
			if first != tt.firstStep {
				t.Fatalf("first paging step %q, want %q", first, tt.firstStep)
			}
		})
	}
}

func TestExplainBadInput(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.json", `{"receiver":"r","alerts":[{"status":"firing","labels":{"a":"b"}}]}`)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		// --alert is required.
		{"no alert", []string{"explain"}, 2, "--alert FILE is required"},
		// A file that does not exist.
		{"missing file", []string{"explain", "--alert", filepath.Join(dir, "nope.json")}, 1, "no such file"},
		// A payload the webhook would refuse.
		{"bad payload", []string{"explain", "--alert", writeFile(t, dir, "bad.json", `{"receiver":"r","alerts":[]}`)}, 1, "alerts: at least one alert is required"},
		// A time that is not RFC 3339.
		{"bad at", []string{"explain", "--alert", good, "--at", "tomorrow"}, 2, "--at: \"tomorrow\" is not an RFC 3339 time"},
		// A config with errors.
		{"bad config", []string{"explain", "--alert", good, "--config", writeFile(t, dir, "bad.yml", "levels:\n  - name: x\n    when: nope ==\n")}, 1, "bad.yml:3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Fatalf("code %d, stderr %q; want %d containing %q", code, errOut, tt.code, tt.want)
			}
		})
	}
	// The human form names the level, deadlines and rules.
	code, out, _ := runCLI("explain", "--config", seedPolicy, "--alert", "../../testdata/webhooks/firing.json", "--at", "2026-11-27T17:00:00+08:00")
	for _, want := range []string{"level:      critical (P1)", "respond by: 2026-11-27T17:15:00+08:00", "✓ critical   when holds:", "✗ warning    not evaluated: critical matched first"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
}

// TestExplainActions: the seed policy's remediation rules, with their
// rendered arguments, and the refusals a hostile label or a maintenance
// window brings.
func TestExplainActions(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, labels, at string
		rule, target     string
		run, refused     string // substrings
	}{
		// A critical game server restarts its service through systemctl.
		{"restart", `"alertname":"GameServerDown","service":"game-api","instance":"gs-01:9100"`, "2026-11-27T10:00:00+08:00",
			"restart-failed-service", "gs-01:9100/game-api", `"systemctl" "restart" "--" "game-api.service"`, ""},
		// A load warning scales up through the scale endpoint.
		{"scale", `"alertname":"HighLoad","severity":"warning","service":"matchmaker"`, "2026-11-27T10:00:00+08:00",
			"scale-up-on-load", "matchmaker", "POST http://127.0.0.1:9999/scale", ""},
		// A service label that is a shell injection is refused, not run.
		{"hostile label", `"alertname":"GameServerDown","service":"x; rm -rf /","instance":"gs-01:9100"`, "2026-11-27T10:00:00+08:00",
			"restart-failed-service", "", "", "refused"},
		// A window mutes it: the action would not run.
		{"in maintenance", `"alertname":"HighLoad","severity":"warning","service":"game-lobby"`, "2026-11-25T06:30:00+08:00",
			"scale-up-on-load", "game-lobby", "", "suppressed by maintenance window weekly-game-patch"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, dir, fmt.Sprintf("a%d.json", i), `{"receiver":"r","groupKey":"g","alerts":[{"status":"firing","labels":{`+tt.labels+`},"startsAt":"2026-11-25T08:00:00Z"}]}`)
			code, out, errOut := runCLI("explain", "--config", seedPolicy, "--alert", file, "--at", tt.at, "--json")
			if code != 0 {
				t.Fatalf("explain: %d %s", code, errOut)
			}
			var x explained
			if err := json.Unmarshal([]byte(out), &x); err != nil {
				t.Fatal(err)
			}
			acts := x.Alerts[0].Actions
			if tt.rule == "restart-failed-service" && tt.refused != "" {
				// A refused target means the rule does not match at all.
				if len(acts) != 0 {
					t.Fatalf("actions for a hostile target: %+v", acts)
				}
				if !strings.Contains(out, "target refused") {
					t.Fatalf("no target refusal in %s", out)
				}
				return
			}
			if len(acts) != 1 || acts[0].Rule != tt.rule || acts[0].Target != tt.target ||
				!strings.Contains(acts[0].Run, tt.run) || !strings.Contains(acts[0].Refused, tt.refused) || (tt.refused == "") != (acts[0].Refused == "") {
				t.Fatalf("actions = %+v", acts)
			}
			if strings.Contains(out, "change-me-scale-token") {
				t.Fatal("explain printed the scale token")
			}
		})
	}
}

// TestExplainTextSaysMuted: the text output says that a maintenance
// window (or a silence) mutes the alert, and until when, as --json does.
func TestExplainTextSaysMuted(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "db.json", `{"receiver":"r","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"DBSlowQueries","service":"db","severity":"warning"},"startsAt":"2026-11-27T08:00:00Z"}]}`)
	code, out, errOut := runCLI("explain", "--config", seedPolicy, "--alert", p, "--at", "2026-11-27T03:10:00+08:00")
	if code != 0 {
		t.Fatalf("explain: %d %s", code, errOut)
	}
	want := "  muted:      by maintenance window nightly-db-backup until 2026-11-27T03:30:00+08:00: stored and shown, not remediated, pages nobody\n"
	if !strings.Contains(out, want) {
		t.Fatalf("explain does not say the alert is muted:\n%s", out)
	}
	// Out of the window: no such line.
	code, out, _ = runCLI("explain", "--config", seedPolicy, "--alert", p, "--at", "2026-11-27T04:10:00+08:00")
	if code != 0 || strings.Contains(out, "muted:") {
		t.Fatalf("out of the window: %d\n%s", code, out)
	}
}
