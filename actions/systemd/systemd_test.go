package systemd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/template"
)

// The tests of this package do not run in parallel: the fake systemctl
// is an executable written by the test, and executing a file while
// another goroutine forks with it open for writing fails with ETXTBSY.

// fake is a systemctl that records its argv and environment, and fails
// or hangs when told to.
type fake struct {
	path, dir string
}

func newFake(t *testing.T) *fake {
	t.Helper()
	dir := t.TempDir()
	f := &fake{path: filepath.Join(dir, "systemctl"), dir: dir}
	body := `#!/bin/sh
printf '%s\n' "$@" > '` + dir + `/argv'
tr '\0' '\n' < /proc/$$/environ > '` + dir + `/env'
if [ -e '` + dir + `/fail' ]; then
	echo "Failed to $1 $3: Unit $3 not found." >&2
	exit 1
fi
if [ -e '` + dir + `/hang' ]; then
	exec sleep 1000
fi
echo "ok $1 $3"
`
	if err := os.WriteFile(f.path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

// tell makes the fake fail or hang from now on.
func (f *fake) tell(t *testing.T, mode string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, mode), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// lines reads what the fake recorded, one item a line.
func (f *fake) lines(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		t.Fatalf("the fake systemctl did not run: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func request(service string) *engine.ActionRequest {
	labels := map[string]string{"alertname": "GameServerDown", "instance": "host1"}
	if service != "" {
		labels["service"] = service
	}
	return &engine.ActionRequest{
		Rule: "restart-game", Target: "host1/" + service, Incident: 42, Level: "critical",
		Alert: engine.Alert{Fingerprint: "abc123", Status: engine.StatusFiring, Labels: labels},
	}
}

func TestNewErrors(t *testing.T) {
	const suffixes = ".service, .socket, .target, .timer, .mount, .automount, .swap, .path, .slice, .scope, .device (or without a suffix, meaning .service): refused"
	tests := []struct {
		name string
		c    rules.SystemdConfig
		want string
	}{
		// Only four verbs.
		{"bad action", rules.SystemdConfig{Action: "kill", Unit: "nginx"},
			`systemd: action "kill" is not one of restart, start, stop, reload`},
		// The action is required.
		{"no action", rules.SystemdConfig{Unit: "nginx"},
			`systemd: action "" is not one of restart, start, stop, reload`},
		// The unit is required.
		{"no unit", rules.SystemdConfig{Action: "restart"}, "systemd: unit is required"},
		// The unit template must parse.
		{"bad template", rules.SystemdConfig{Action: "restart", Unit: `{{ .labels.service | printf "%s" }}`},
			`systemd: unit: template "{{ .labels.service | printf \"%s\" }}": template: t:1: function "printf" not defined`},
		// A literal unit is checked at load.
		{"bad literal unit", rules.SystemdConfig{Action: "restart", Unit: "nginx service"},
			`systemd: unit "nginx service" is not a unit name ending in ` + suffixes},
		// A literal unit of a type systemd does not have.
		{"unknown unit type", rules.SystemdConfig{Action: "restart", Unit: "dev-sda.disk"},
			`systemd: unit "dev-sda.disk" is not a unit name ending in ` + suffixes},
		// unit_suffixes names only unit types.
		{"bad unit suffix", rules.SystemdConfig{Action: "restart", Unit: "{{ .labels.service }}", UnitSuffixes: []string{".service", "conf"}},
			`systemd: unit_suffixes: "conf" is not a unit type (.service, .socket, .target, .timer, .mount, .automount, .swap, .path, .slice, .scope, .device)`},
		// allow_leading_dash names a parameter a template uses.
		{"unused allow_leading_dash", rules.SystemdConfig{Action: "restart", Unit: "{{ .labels.service }}", AllowLeadingDash: []string{"instance"}},
			"systemd: allow_leading_dash: instance: no template uses it"},
		// A pattern that does not compile.
		{"bad pattern", rules.SystemdConfig{Action: "restart", Unit: "{{ .labels.service }}", Validate: map[string]string{"service": "(("}},
			"systemd: validate.service: error parsing regexp: missing closing ): `((`"},
		// A pattern no template uses.
		{"unused pattern", rules.SystemdConfig{Action: "restart", Unit: "{{ .labels.service }}", Validate: map[string]string{"instance": "[a-z0-9]+"}},
			"systemd: validate.instance: no template uses it"},
		// A negative timeout.
		{"negative timeout", rules.SystemdConfig{Action: "restart", Unit: "nginx", Timeout: rules.Duration(-time.Second)},
			"systemd: timeout -1s is negative"},
		// Every problem is reported, one per line.
		{"joined", rules.SystemdConfig{Action: "reboot", Timeout: rules.Duration(-time.Second)},
			"systemd: action \"reboot\" is not one of restart, start, stop, reload\nsystemd: unit is required\nsystemd: timeout -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(&tt.c)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New() error =\n%v\nwant\n%s", err, tt.want)
			}
			if a != nil {
				t.Fatal("New returned an action with its error")
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	a, err := New(&rules.SystemdConfig{Action: "restart", Unit: "nginx"})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := a.Render(request(""))
	if err != nil {
		t.Fatal(err)
	}
	p := inv.(invocation).Process
	if p.Argv[0] != "systemctl" || p.Timeout != 60*time.Second {
		t.Fatalf("defaults: %q, timeout %s", p.Argv, p.Timeout)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name  string
		value string // the service label
		loose bool   // validate service with (?s).*, leaving only the unit-name check, and allow six unit types
		want  string // the unit; "" when refused
	}{
		// No suffix means .service.
		{"plain name", "nginx", false, "nginx.service"},
		// A .service suffix is kept.
		{"service", "nginx.service", false, "nginx.service"},
		// Each unit type unit_suffixes allows.
		{"socket", "sshd.socket", true, "sshd.socket"},
		{"target", "multi-user.target", true, "multi-user.target"},
		{"timer", "backup.timer", true, "backup.timer"},
		{"mount", "mnt-data.mount", true, "mnt-data.mount"},
		{"path", "watch.path", true, "watch.path"},
		// Without unit_suffixes a templated unit is a service.
		{"target by default", "multi-user.target", false, ""},
		{"socket by default", "sshd.socket", false, ""},
		// A value may not choose a template instance: "@" is the template's to write.
		{"instance", "worker@1", false, ""},
		{"instance, loose", "postgresql@-x", true, ""},
		// A name like an option is refused, whatever the pattern.
		{"dash", "-x", false, ""},
		{"dash, loose", "-x", true, ""},
		{"root mount", "-.mount", true, ""},
		// Nor a systemd escape.
		{"escape", `dev-disk-by\x2dlabel.mount`, true, ""},
		// systemd's own units, and those that stop the system, are never templated.
		{"poweroff service", "systemd-poweroff", false, ""},
		{"reboot service", "systemd-reboot.service", false, ""},
		{"emergency", "emergency", false, ""},
		{"rescue", "rescue.service", false, ""},
		{"dbus", "dbus", false, ""},
		// A name that only starts like one is fine.
		{"lookalike", "systemdx", false, "systemdx.service"},
		// A type not in the list.
		{"device", "dev-sda.device", false, ""},
		// A dot that is not a known suffix.
		{"other dot", "nginx.conf", false, ""},
		// A slash passes the default pattern but is no unit name.
		{"slash", "a/b", false, ""},
		// A shell separator fails the default pattern.
		{"separator", "nginx;reboot", false, ""},
		// Traversal fails the default pattern.
		{"traversal", "../etc", false, ""},
		// A missing label is empty.
		{"missing", "", false, ""},
		// A space, once the pattern lets it through, fails the unit check.
		{"space", "nginx service", true, ""},
		// A newline too.
		{"newline", "nginx\n", true, ""},
		// A glob would act on many units.
		{"glob", "*", true, ""},
		// Just a suffix.
		{"only suffix", ".service", true, ""},
		// Over 255 characters once .service is appended.
		{"too long", strings.Repeat("a", 250), true, ""},
		// Bytes that are not UTF-8.
		{"non-utf8", "\xff\xfe", true, ""},
		// Template syntax is not rendered again.
		{"template syntax", "{{ .labels.instance }}", true, ""},
	}
	strict, err := New(&rules.SystemdConfig{Action: "restart", Unit: "{{ .labels.service }}", Systemctl: "/usr/bin/systemctl"})
	if err != nil {
		t.Fatal(err)
	}
	// loose: any value the unit check takes, and more unit types.
	loose, err := New(&rules.SystemdConfig{Action: "restart", Unit: "{{ .labels.service }}", Systemctl: "/usr/bin/systemctl", Validate: map[string]string{"service": "(?s).*"},
		UnitSuffixes: []string{".service", ".socket", ".target", ".timer", ".mount", ".path"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := strict
			if tt.loose {
				a = loose
			}
			inv, err := a.Render(request(tt.value))
			if tt.want == "" {
				if !errors.Is(err, template.ErrRefused) || inv != nil {
					t.Fatalf("Render = %v, %v; want refused", inv, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			wantArgv := []string{"/usr/bin/systemctl", "restart", "--", tt.want}
			if got := inv.(invocation).Process.Argv; !slices.Equal(got, wantArgv) {
				t.Fatalf("argv = %q, want %q", got, wantArgv)
			}
			if got, want := inv.Describe(), `"/usr/bin/systemctl" "restart" "--" "`+strings.ReplaceAll(tt.want, `\`, `\\`)+`"`; got != want {
				t.Fatalf("Describe = %s, want %s", got, want)
			}
		})
	}
}

// TestRun runs a fake systemctl for real.
func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		action     string
		mode       string // "fail" or "hang": what the fake is told
		systemctl  string // instead of the fake
		wantOK     bool
		wantExit   int
		wantOutput string
		wantErr    string // or its beginning, when it ends in "…"
		cancelled  bool
	}{
		// A restart that works.
		{name: "restart", action: "restart", wantOK: true, wantOutput: "ok restart game-api.service\n"},
		// Each verb reaches systemctl.
		{name: "stop", action: "stop", wantOK: true, wantOutput: "ok stop game-api.service\n"},
		// systemctl exiting 1 is a recorded failure with its output.
		{name: "exit 1", action: "restart", mode: "fail", wantExit: 1,
			wantOutput: "Failed to restart game-api.service: Unit game-api.service not found.\n", wantErr: "exit status 1"},
		// A systemctl that hangs is killed at the timeout.
		{name: "hang", action: "reload", mode: "hang", wantExit: -1, wantErr: "stopped (terminated): timed out after 1s", cancelled: true},
		// No systemctl at all is a failure, not a panic.
		{name: "missing systemctl", action: "start", systemctl: "/nonexistent/systemctl", wantExit: -1,
			wantErr: "not started: fork/exec /nonexistent/systemctl: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			if tt.mode != "" {
				f.tell(t, tt.mode)
			}
			c := &rules.SystemdConfig{Action: tt.action, Unit: "{{ .labels.service }}", Systemctl: f.path, Timeout: rules.Duration(time.Second)}
			if tt.systemctl != "" {
				c.Systemctl = tt.systemctl
			}
			a, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			inv, err := a.Render(request("game-api"))
			if err != nil {
				t.Fatal(err)
			}
			res := inv.Run(context.Background())
			if res.OK != tt.wantOK || res.ExitCode != tt.wantExit || res.Output != tt.wantOutput || res.Err != tt.wantErr || res.Cancelled != tt.cancelled {
				t.Fatalf("result = %+v", res)
			}
			if tt.systemctl != "" {
				return
			}
			if got, want := f.lines(t, "argv"), []string{tt.action, "--", "game-api.service"}; !slices.Equal(got, want) {
				t.Fatalf("systemctl got %q, want %q", got, want)
			}
			// systemctl sees remediator's PATH and HOME, nothing else of it
			// and nothing of the alert.
			for _, v := range f.lines(t, "env") {
				if !strings.HasPrefix(v, "PATH=") && !strings.HasPrefix(v, "HOME=") {
					t.Fatalf("systemctl's environment has %q", v)
				}
			}
		})
	}
}
