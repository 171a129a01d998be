package main

import (
	"regexp"
	"strings"
	"testing"
	_ "time/tzdata" // the schedules' zones must not depend on the machine's zoneinfo
)

// oncallConfig has the first-line schedule (a weekly phone
// rotation under two first-line engineers on weekdays 09:00–18:00) and an
// office schedule with nobody on call at night and on weekends.
const oncallConfig = `
calendar:
  timezone: Asia/Shanghai
  holidays: ["2026-10-01"]
people:
  - {id: zhang.qiang}
  - {id: chen.jie}
  - {id: zhao.lei}
  - {id: wang.wei}
  - {id: li.na}
schedules:
  - name: first-line
    holidays: calendar
    layers:
      - name: phone-rotation
        members: [zhang.qiang, chen.jie, zhao.lei]
        rotation: {every: 1w, anchor: "2026-01-05T09:00:00"}
      - name: weekday-rota
        members: [wang.wei, li.na]
        per_shift: 2
        restrictions:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
    overrides:
      - {person: zhang.qiang, from: "2026-12-24T18:00:00+08:00", to: "2026-12-26T09:00:00+08:00"}
  - name: office
    layers:
      - name: office-hours
        members: [li.na]
        restrictions:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
`

func TestOncall(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "oncall.yml", oncallConfig)
	tests := []struct {
		name string
		args []string
		want []string // stdout lines
	}{
		// Wednesday 10:00: both first-line engineers; the office person.
		{"weekday", []string{"--at", "2026-11-25T10:00:00+08:00"}, []string{
			"first-line: wang.wei, li.na (weekday-rota) from Wed 2026-11-25 09:00 CST until Wed 2026-11-25 18:00 CST; 2026-11-25T09:00:00+08:00/2026-11-25T18:00:00+08:00",
			"office: li.na (office-hours) from Wed 2026-11-25 09:00 CST until Wed 2026-11-25 18:00 CST; 2026-11-25T09:00:00+08:00/2026-11-25T18:00:00+08:00",
		}},
		// Saturday 03:00, asked in UTC: the phone rotation; nobody at the office.
		{"weekend", []string{"--at", "2026-11-27T19:00:00Z"}, []string{
			"first-line: chen.jie (phone-rotation) from Fri 2026-11-27 18:00 CST until Mon 2026-11-30 09:00 CST; 2026-11-27T18:00:00+08:00/2026-11-30T09:00:00+08:00",
			"office: nobody is on call from Fri 2026-11-27 18:00 CST until Mon 2026-11-30 09:00 CST; 2026-11-27T18:00:00+08:00/2026-11-30T09:00:00+08:00",
		}},
		// One schedule, on a holiday weekday.
		{"one schedule on a holiday", []string{"--schedule", "first-line", "--at", "2026-10-01T10:00:00+08:00"}, []string{
			"first-line: zhao.lei (phone-rotation) from Wed 2026-09-30 18:00 CST until Fri 2026-10-02 09:00 CST; 2026-09-30T18:00:00+08:00/2026-10-02T09:00:00+08:00",
		}},
		// Christmas: the override.
		{"override", []string{"--schedule", "first-line", "--at", "2026-12-25T10:00:00+08:00"}, []string{
			"first-line: zhang.qiang (override) from Thu 2026-12-24 18:00 CST until Sat 2026-12-26 09:00 CST; 2026-12-24T18:00:00+08:00/2026-12-26T09:00:00+08:00",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"oncall", "--config", cfg}, tt.args...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if got := lines(out); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, strings.Join(tt.want, "\n"))
			}
		})
	}

	t.Run("default time is now", func(t *testing.T) {
		code, out, errOut := runCLI("oncall", "--config", cfg, "--schedule", "first-line")
		line := regexp.MustCompile(`^first-line: [a-z., ]+ \((weekday-rota|phone-rotation|override)\) from \w{3} \d{4}-\d\d-\d\d \d\d:\d\d CST until \w{3} .+; \S+/\S+$`)
		if code != 0 || errOut != "" || len(lines(out)) != 1 || !line.MatchString(lines(out)[0]) {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}

// TestOncallErrors: bad flags, times, schedule names and files exit 1
// with a message that says what is wrong.
func TestOncallErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "oncall.yml", oncallConfig)
	none := writeFile(t, dir, "none.yml", "server:\n  listen: 127.0.0.1:9999\n")
	bad := writeFile(t, dir, "bad.yml", "people: [{id: a}]\nschedules:\n  - name: s\n    layers:\n      - {name: l, members: [b]}\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		// A flag oncall does not have.
		{"unknown flag", []string{"--config", cfg, "--when", "now"}, "flag provided but not defined: -when"},
		// A time without an offset.
		{"bad time", []string{"--config", cfg, "--at", "2026-11-25 10:00"}, `oncall: --at: "2026-11-25 10:00" is not an RFC 3339 time`},
		// A schedule that is not defined.
		{"unknown schedule", []string{"--config", cfg, "--schedule", "second-line"},
			`oncall: --schedule: schedule "second-line": unknown schedule (the schedules are first-line, office)`},
		// No --config.
		{"no config", nil, "oncall: --config FILE is required"},
		// A config without schedules.
		{"no schedules", []string{"--config", none}, "oncall: " + none + " defines no schedules"},
		// A config with an error, at its line.
		{"invalid config", []string{"--config", bad}, bad + `:5:29: schedules[0].layers[0].members[0]: person "b" is not defined in people`},
		// A stray argument.
		{"argument", []string{"--config", cfg, "first-line"}, `oncall: unexpected argument "first-line"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"oncall"}, tt.args...)...)
			if code != 1 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, tt.want)
			}
		})
	}
}

// TestCheckWarnings: check passes a config whose schedule has gaps or a
// shadowed layer, and names them on stderr as warnings.
func TestCheckWarnings(t *testing.T) {
	dir := t.TempDir()
	gappy := writeFile(t, dir, "gappy.yml", oncallConfig)
	// The first gap, in local time, and how many more in the year from
	// --at: the office has one every weekday evening and every weekend.
	// When --at falls in a gap, the gap is reported from --at.
	for _, c := range []struct{ at, want string }{
		{"2026-11-25T10:00:00+08:00", `warning: schedule "office" has nobody on call from Wed 2026-11-25 18:00 CST until Thu 2026-11-26 09:00 CST, and 260 more times within a year`},
		{"2026-11-28T12:30:00+08:00", `warning: schedule "office" has nobody on call from Sat 2026-11-28 12:30 CST until Mon 2026-11-30 09:00 CST, and 260 more times within a year`},
	} {
		code, out, errOut := runCLI("check", "--config", gappy, "--at", c.at)
		if code != 0 || len(lines(out)) != 1 || !strings.HasPrefix(out, "ok: ") {
			t.Fatalf("--at %s: exit %d, stdout %q, stderr %q", c.at, code, out, errOut)
		}
		if errOut != c.want+"\n" {
			t.Errorf("--at %s: stderr\n%s\nwant\n%s", c.at, errOut, c.want)
		}
	}
	// Without --at, from now: still one warning for the office.
	code, _, errOut := runCLI("check", "--config", gappy)
	gap := regexp.MustCompile(`^warning: schedule "office" has nobody on call from \w{3} \d{4}-\d\d-\d\d \d\d:\d\d CST until \w{3} \d{4}-\d\d-\d\d 09:00 CST, and [2-9]\d\d more times within a year$`)
	if got := lines(errOut); code != 0 || len(got) != 1 || !gap.MatchString(got[0]) {
		t.Fatalf("exit %d, stderr:\n%s\nwant one gap warning for office", code, errOut)
	}
	code, _, errOut = runCLI("check", "--config", gappy, "--at", "friday")
	if want := "check: --at: \"friday\" is not an RFC 3339 time (like 2026-11-27T17:00:00+08:00)\n"; code != 2 || errOut != want {
		t.Fatalf("bad --at: exit %d, stderr %q, want 2, %q", code, errOut, want)
	}

	shadowed := writeFile(t, dir, "shadowed.yml", `
people: [{id: a}]
schedules:
  - name: s
    layers:
      - {name: first, members: [a]}
      - {name: second, members: [a]}
`)
	code, _, errOut = runCLI("check", "--config", shadowed)
	want := `warning: schedules[0].layers[1]: layer "second" has the same members and restrictions as layers[0] ("first"), so "first" never decides who is on call` + "\n"
	if code != 0 || errOut != want {
		t.Fatalf("exit %d, stderr %q, want %q", code, errOut, want)
	}
}
