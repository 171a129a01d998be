// Package exec is the exec remediation action: it runs a configured
// program, never through a shell, in its own process group with a timeout
// that kills the whole group. Templated arguments are checked against
// their patterns before anything runs; the alert reaches the program as
// REMEDIATOR_* environment variables and as JSON on stdin.
package exec

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/template"
)

// DefaultTimeout is the timeout of an action that sets none.
const DefaultTimeout = 30 * time.Second

// Bounds of what reaches the program. Linux refuses to start a program
// with one argument or environment string of 128 KiB or more (E2BIG), or
// with more than ARG_MAX (usually 2 MiB) of them all; an action is refused
// before it could fail that way, and an environment variable that would
// not fit is left out (the alert on stdin still carries every value).
const (
	// MaxArgBytes bounds one rendered argument.
	MaxArgBytes = 128<<10 - 1
	// MaxArgvBytes bounds all rendered arguments together.
	MaxArgvBytes = 1 << 20
	// maxEnvVar bounds one REMEDIATOR_* variable, NAME=value.
	maxEnvVar = 32 << 10
	// maxEnvTotal bounds all REMEDIATOR_* variables together.
	maxEnvTotal = 256 << 10
)

// Action is a configured exec action.
type Action struct {
	argv      []*template.Template
	place     template.Placement
	timeout   time.Duration
	maxOutput int
	dir       string
	stop      rules.StopConfig
}

var _ engine.Action = (*Action)(nil)

// New checks c and builds its action. Every problem is reported, joined.
func New(c *rules.ExecConfig) (*Action, error) {
	a := &Action{
		timeout:   c.Timeout.D(),
		maxOutput: c.MaxOutputBytes,
		dir:       c.Dir,
		stop:      c.Stop,
	}
	var errs []error
	if len(c.Command) == 0 {
		errs = append(errs, errors.New("exec: command is empty"))
	}
	used := map[string]bool{}
	parsed := true
	for i, src := range c.Command {
		t, err := template.Parse(src)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("exec: command[%d]: %w", i, err))
			parsed = false
			continue
		case i == 0 && src == "":
			errs = append(errs, errors.New("exec: command[0]: the program is empty"))
		case i == 0 && len(t.Refs()) > 0:
			// A label must never choose which program runs.
			errs = append(errs, fmt.Errorf("exec: command[0]: the program %q must be literal, not a template", src))
		}
		for _, r := range t.Refs() {
			used[r] = true
		}
		a.argv = append(a.argv, t)
	}
	a.place, errs = Placement("exec", c.Validate, c.AllowLeadingDash, used, parsed, errs)
	if a.timeout < 0 {
		errs = append(errs, fmt.Errorf("exec: timeout %s is negative", a.timeout))
	} else if a.timeout == 0 {
		a.timeout = DefaultTimeout
	}
	if a.maxOutput < 0 {
		errs = append(errs, fmt.Errorf("exec: max_output_bytes %d is negative", a.maxOutput))
	} else if a.maxOutput == 0 {
		a.maxOutput = DefaultMaxOutput
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

// Placement compiles an action's validate patterns in name order and its
// allow_leading_dash list, each error prefixed with kind, and (when every
// template parsed, so used is complete) adds an error for each name that
// no template uses.
func Placement(kind string, validate map[string]string, leadingDash []string, used map[string]bool, parsed bool, errs []error) (template.Placement, []error) {
	patterns := map[string]*template.Pattern{}
	for _, name := range slices.Sorted(maps.Keys(validate)) {
		p, err := template.CompilePattern(validate[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: validate.%s: %w", kind, name, err))
			continue
		}
		patterns[name] = p
		if parsed && !used[name] {
			errs = append(errs, fmt.Errorf("%s: validate.%s: no template uses it", kind, name))
		}
	}
	for _, name := range leadingDash {
		if parsed && !used[name] {
			errs = append(errs, fmt.Errorf("%s: allow_leading_dash: %s: no template uses it", kind, name))
		}
	}
	return template.Placement{Patterns: patterns, LeadingDash: template.LeadingDash(leadingDash)}, errs
}

// Render renders every argument; a value that fails its pattern, or an
// argument beyond the bounds, refuses the action (template.ErrRefused).
func (a *Action) Render(req *engine.ActionRequest) (engine.Invocation, error) {
	d := template.DataFor(req)
	argv := make([]string, len(a.argv))
	total := 0
	for i, t := range a.argv {
		s, err := t.Render(d, a.place)
		if err != nil {
			return nil, fmt.Errorf("exec: command[%d]: %w", i, err)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("exec: command[%d]: an argument cannot hold a NUL byte: %w", i, template.ErrRefused)
		}
		if len(s) > MaxArgBytes {
			return nil, fmt.Errorf("exec: command[%d]: %d bytes is over the %d-byte bound of one argument: %w", i, len(s), MaxArgBytes, template.ErrRefused)
		}
		total += len(s)
		argv[i] = s
	}
	if total > MaxArgvBytes {
		return nil, fmt.Errorf("exec: command: %d bytes is over the %d-byte bound of all arguments: %w", total, MaxArgvBytes, template.ErrRefused)
	}
	stdin, err := json.Marshal(req.Alert)
	if err != nil {
		return nil, fmt.Errorf("exec: alert as json: %w", err)
	}
	return &Process{
		Argv:       argv,
		Env:        append(BaseEnv(), Env(req)...),
		Stdin:      stdin,
		Dir:        a.dir,
		Timeout:    a.timeout,
		MaxOutput:  a.maxOutput,
		StopSignal: a.stop.SignalValue(),
		StopGrace:  a.stop.GraceValue(),
	}, nil
}

// Env is the request as REMEDIATOR_* environment variables: ALERTNAME,
// LEVEL, INCIDENT, FINGERPRINT, TARGET, RULE, STATUS, then LABEL_<NAME>
// and ANNOTATION_<NAME> in name order, NAME uppercased with every
// character but A-Z, 0-9 and _ made _. Values are passed as they are.
// A variable is left out when its value holds a NUL byte, when it is over
// 32 KiB, once all of them reach 256 KiB, or when two labels (or two
// annotations) map to its name ("a-b", "a_b" and "A_B" are all A_B):
// then neither sets it, so a label cannot stand in for another
// (instance=db1 with INSTANCE=evil). The alert on stdin has them all.
func Env(req *engine.ActionRequest) []string {
	var env []string
	seen := map[string]bool{}
	size := 0
	add := func(name, value string) {
		v := "REMEDIATOR_" + name + "=" + value
		if seen[name] || strings.IndexByte(value, 0) >= 0 || len(v) > maxEnvVar || size+len(v) > maxEnvTotal {
			return
		}
		seen[name] = true
		size += len(v)
		env = append(env, v)
	}
	add("ALERTNAME", req.Alert.Labels["alertname"])
	add("LEVEL", string(req.Level))
	add("INCIDENT", strconv.FormatUint(req.Incident, 10))
	add("FINGERPRINT", req.Alert.Fingerprint)
	add("TARGET", req.Target)
	add("RULE", req.Rule)
	add("STATUS", req.Alert.Status)
	addAll := func(prefix string, m map[string]string) {
		count := map[string]int{}
		for k := range m {
			count[envName(k)]++
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if n := envName(k); count[n] == 1 {
				add(prefix+n, m[k])
			}
		}
	}
	addAll("LABEL_", req.Alert.Labels)
	addAll("ANNOTATION_", req.Alert.Annotations)
	return env
}

// envName uppercases s and makes every character but A-Z, 0-9 and _ an
// underscore (one per character; an invalid UTF-8 byte is one).
func envName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Timeout is how long the action may run (its process group is stopped
// then), for the lock a crash leaves behind.
func (a *Action) Timeout() time.Duration { return a.timeout }
