// Package systemd is the systemd remediation action: it restarts,
// starts, stops or reloads a unit by running systemctl (never through a
// shell), with the unit name rendered from the alert and checked against
// systemd's unit-name rules before anything runs.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/remediator/remediator/actions/exec"
	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/template"
)

// Defaults of an action that sets none.
const (
	DefaultSystemctl = "systemctl"
	DefaultTimeout   = 60 * time.Second
)

// unitRE is what a unit name may hold. Globs (* ? [) and whitespace are
// never allowed, so systemctl cannot read one name as many.
var unitRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]{1,255}$`)

// templatedSuffixes is what a templated unit may end in when the config
// names no unit_suffixes: a label names a service, never a target
// (poweroff.target), a slice, a scope, a mount or a device.
var templatedSuffixes = []string{".service"}

// systemUnits are the names (before the suffix) a templated unit may
// never have, whatever the patterns: systemd's own units and those that
// change the state of the whole system (systemd-poweroff.service has
// SuccessAction=poweroff-force; emergency and rescue stop everything).
// A prefix ends in "-" or "@". Writing such a unit out in the config is
// still allowed.
var systemUnits = []string{"systemd-", "dbus", "emergency", "rescue", "debug-shell", "halt", "poweroff", "reboot", "kexec",
	"shutdown", "exit", "ctrl-alt-del", "default", "initrd-", "user@", "user-runtime-dir@", "getty@", "serial-getty@",
	"container-getty@", "console-getty", "autovt@", "modprobe@", "polkit", "init"}

// isSystemUnit reports whether base (a unit name without its suffix) is
// one of systemUnits.
func isSystemUnit(base string) bool {
	return slices.ContainsFunc(systemUnits, func(u string) bool {
		if strings.HasSuffix(u, "-") || strings.HasSuffix(u, "@") {
			return strings.HasPrefix(base, u)
		}
		return base == u
	})
}

var actions = []string{"restart", "start", "stop", "reload"}

// Action is a configured systemd action.
type Action struct {
	action    string
	unit      *template.Template
	place     template.Placement
	suffixes  []string // of a templated unit
	systemctl string
	timeout   time.Duration
	stop      rules.StopConfig
}

var _ engine.Action = (*Action)(nil)

// New checks c and builds its action. Every problem is reported, joined.
func New(c *rules.SystemdConfig) (*Action, error) {
	a := &Action{
		action:    c.Action,
		systemctl: c.Systemctl,
		timeout:   c.Timeout.D(),
		stop:      c.Stop,
	}
	var errs []error
	if !slices.Contains(actions, c.Action) {
		errs = append(errs, fmt.Errorf("systemd: action %q is not one of %s", c.Action, strings.Join(actions, ", ")))
	}
	used := map[string]bool{}
	parsed := false
	if c.Unit == "" {
		errs = append(errs, errors.New("systemd: unit is required"))
	} else if t, err := template.Parse(c.Unit); err != nil {
		errs = append(errs, fmt.Errorf("systemd: unit: %w", err))
	} else {
		a.unit, parsed = t, true
		for _, r := range t.Refs() {
			used[r] = true
		}
		if len(t.Refs()) == 0 {
			// A literal unit is checked now, not at the first alert.
			if _, err := unitName(c.Unit, rules.UnitTypes, false); err != nil {
				errs = append(errs, err)
			}
		}
	}
	a.place, errs = exec.Placement("systemd", c.Validate, c.AllowLeadingDash, used, parsed, errs)
	// "@" would let a value choose a template instance (postgresql@-x
	// passes "-x" to the service's command line), and "\" a systemd
	// escape: an instance unit writes its "@" in the template.
	a.place.Forbid, a.place.Why = `@\`, "in a unit name it would choose a template instance or an escape; write the \"@\" in the template"
	a.suffixes = templatedSuffixes
	if len(c.UnitSuffixes) > 0 {
		a.suffixes = nil
		for _, suf := range c.UnitSuffixes {
			if !slices.Contains(rules.UnitTypes, suf) {
				errs = append(errs, fmt.Errorf("systemd: unit_suffixes: %q is not a unit type (%s)", suf, strings.Join(rules.UnitTypes, ", ")))
				continue
			}
			a.suffixes = append(a.suffixes, suf)
		}
	}
	if a.systemctl == "" {
		a.systemctl = DefaultSystemctl
	}
	if a.timeout < 0 {
		errs = append(errs, fmt.Errorf("systemd: timeout %s is negative", a.timeout))
	} else if a.timeout == 0 {
		a.timeout = DefaultTimeout
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

// Render renders the unit name and checks it; a name that is not a valid
// unit name of an allowed type refuses the action (template.ErrRefused).
// A templated unit may be a .service only (or of the unit_suffixes
// types), and never begins with "-"; a literal one may be any unit.
// The invocation is [systemctl, action, "--", unit].
func (a *Action) Render(req *engine.ActionRequest) (engine.Invocation, error) {
	s, err := a.unit.Render(template.DataFor(req), a.place)
	if err != nil {
		return nil, fmt.Errorf("systemd: unit: %w", err)
	}
	templated := len(a.unit.Refs()) > 0
	suffixes := rules.UnitTypes
	if templated {
		suffixes = a.suffixes
	}
	unit, err := unitName(s, suffixes, templated)
	if err != nil {
		return nil, err
	}
	return invocation{&exec.Process{
		Argv:       []string{a.systemctl, a.action, "--", unit},
		Env:        exec.BaseEnv(),
		Timeout:    a.timeout,
		StopSignal: a.stop.SignalValue(),
		StopGrace:  a.stop.GraceValue(),
	}}, nil
}

// unitName checks a unit name, appending ".service" when it has no
// suffix: it must be a unit name ending in one of suffixes and, when
// templated, not begin with "-" (-.mount, -.slice). Its errors wrap
// template.ErrRefused.
func unitName(s string, suffixes []string, templated bool) (string, error) {
	name := s
	if !strings.Contains(name, ".") {
		name += ".service"
	}
	if templated && strings.HasPrefix(name, "-") {
		return "", fmt.Errorf("systemd: unit %s begins with \"-\": a templated unit never does (write the unit out in the config to act on it): %w",
			quote(s), template.ErrRefused)
	}
	if base, _, _ := strings.Cut(name, "."); templated && isSystemUnit(base) {
		return "", fmt.Errorf("systemd: unit %s is one of systemd's own or changes the whole system's state: a templated unit never is (write it out in the config to act on it): %w",
			quote(s), template.ErrRefused)
	}
	valid := unitRE.MatchString(name) && slices.ContainsFunc(suffixes, func(suffix string) bool {
		return len(name) > len(suffix) && strings.HasSuffix(name, suffix)
	})
	if !valid {
		what := "a unit name"
		if templated {
			what = "a templated unit name"
		}
		return "", fmt.Errorf("systemd: unit %s is not %s ending in %s (or without a suffix, meaning .service): %w",
			quote(s), what, strings.Join(suffixes, ", "), template.ErrRefused)
	}
	return name, nil
}

// quote shows at most 40 bytes of a refused name.
func quote(v string) string {
	if len(v) > 40 {
		return fmt.Sprintf("%q… (%d bytes)", v[:40], len(v))
	}
	return fmt.Sprintf("%q", v)
}

// Timeout is how long the action may run (its process group is stopped
// then), for the lock a crash leaves behind.
func (a *Action) Timeout() time.Duration { return a.timeout }

// Exit statuses of systemctl (systemctl(1), "Exit status"; LSB's for
// init scripts): 4 "no such unit", 5 "program is not installed" — what
// `systemctl restart` answers for a unit that does not exist.
const (
	exitNoSuchUnit   = 4
	exitNotInstalled = 5
)

// invocation is systemctl run for one unit: an exec.Process whose exit
// status 4 or 5 means the unit does not exist, so nothing was tried.
type invocation struct{ *exec.Process }

// Run runs systemctl; a unit that does not exist is NotStarted.
func (inv invocation) Run(ctx context.Context) engine.Result {
	res := inv.Process.Run(ctx)
	if !res.OK && !res.Cancelled && (res.ExitCode == exitNoSuchUnit || res.ExitCode == exitNotInstalled) {
		res.NotStarted = true
		res.Err += ": the unit does not exist"
	}
	return res
}
