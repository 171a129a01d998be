package systemd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/template"
)

// TestTemplatedUnitTypes: a label may name a .service, never a target
// (poweroff.target, emergency.target), the root mount or slice, a scope,
// a device or a unit that begins with "-". The program is the real
// /usr/bin/touch in the place of systemctl: it is run as
// `touch ACTION -- UNIT` in an empty folder, so a file named after the
// unit is the trace of a unit that reached the program.
func TestTemplatedUnitTypes(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	a, err := New(&rules.SystemdConfig{Action: "start", Unit: "{{ .labels.service }}", Systemctl: "/usr/bin/touch",
		Validate: map[string]string{"service": `[A-Za-z0-9:_.@-]+`}})
	if err != nil {
		t.Fatal(err)
	}
	for _, unit := range []string{"poweroff.target", "emergency.target", "-.mount", "-.slice", "user.slice", "session-1.scope",
		"dev-sda.device", "backup.timer", "sshd.socket", "watch.path", "-x.service", "-x",
		"systemd-poweroff", "systemd-reboot.service", "systemd-halt", "systemd-kexec", "emergency", "rescue.service",
		"postgresql@-x", "modprobe@nf_tables", "user@0", "getty@tty1"} {
		t.Run(unit, func(t *testing.T) {
			inv, err := a.Render(request(unit))
			if err == nil {
				inv.Run(context.Background())
				if _, serr := os.Stat(filepath.Join(dir, unit)); serr == nil {
					t.Fatalf("a label chose the unit %s and it reached the program", unit)
				}
				t.Fatalf("Render accepted the templated unit %s: %s", unit, inv.Describe())
			}
			if !errors.Is(err, template.ErrRefused) {
				t.Fatalf("Render error = %v, want refused", err)
			}
		})
	}
	// A service (named with or without its suffix) reaches the program.
	for unit, file := range map[string]string{"game-api": "game-api.service", "game-api.service": "game-api.service"} {
		inv, err := a.Render(request(unit))
		if err != nil {
			t.Fatalf("%s: %v", unit, err)
		}
		if res := inv.Run(context.Background()); !res.OK {
			t.Fatalf("%s: %+v", unit, res)
		}
		if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
			t.Fatalf("%s did not reach the program: %v", unit, err)
		}
	}
}

// TestTemplateInstance: an instance unit writes its "@" in the template;
// the value after it is placed like any other.
func TestTemplateInstance(t *testing.T) {
	a, err := New(&rules.SystemdConfig{Action: "restart", Unit: "worker@{{ .labels.service }}", Systemctl: "/usr/bin/systemctl"})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := a.Render(request("3"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := inv.Describe(), `"/usr/bin/systemctl" "restart" "--" "worker@3.service"`; got != want {
		t.Fatalf("Describe = %s, want %s", got, want)
	}
	for _, v := range []string{"-x", "a@b", `a\x2d`} {
		if _, err := a.Render(request(v)); !errors.Is(err, template.ErrRefused) {
			t.Errorf("%q: %v, want refused", v, err)
		}
	}
}

// TestLiteralUnitTypes: a unit written out in the config may be of any
// type, the root mount included: the config's author chose it, not a
// label.
func TestLiteralUnitTypes(t *testing.T) {
	for _, unit := range []string{"multi-user.target", "-.mount", "user.slice", "backup.timer"} {
		a, err := New(&rules.SystemdConfig{Action: "start", Unit: unit, Systemctl: "/usr/bin/systemctl"})
		if err != nil {
			t.Fatalf("%s: %v", unit, err)
		}
		inv, err := a.Render(request("x"))
		if err != nil {
			t.Fatalf("%s: %v", unit, err)
		}
		if got, want := inv.Describe(), `"/usr/bin/systemctl" "start" "--" "`+unit+`"`; got != want {
			t.Fatalf("Describe = %s, want %s", got, want)
		}
	}
}

// TestNoSuchUnitIsNotStarted: systemctl's exit statuses 4 and 5 mean the
// unit does not exist, so nothing was tried (NotStarted); other failures
// are failures. The stand-in for systemctl is a real script.
func TestNoSuchUnitIsNotStarted(t *testing.T) {
	for code, want := range map[string]bool{"4": true, "5": true, "1": false, "3": false} {
		path := filepath.Join(t.TempDir(), "systemctl")
		if err := os.WriteFile(path, []byte("#!/bin/sh\necho \"Unit $3 not found.\" >&2\nexit "+code+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		a, err := New(&rules.SystemdConfig{Action: "restart", Unit: "{{ .labels.service }}", Systemctl: path})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := a.Render(request("game-api"))
		if err != nil {
			t.Fatal(err)
		}
		if res := inv.Run(context.Background()); res.OK || res.NotStarted != want {
			t.Errorf("exit %s: %+v, want NotStarted %v", code, res, want)
		}
	}
}
