package exec

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/template"
)

// TestOptionInjection: a label value placed as a whole argument that
// begins with "-" would be read as an option by a real program. sort
// --output=FILE writes its input (the alert's JSON on stdin) to FILE, so
// the file is the trace of the injection. Whatever the pattern (the
// default one, or a user's that admits "-"), the value is refused before
// anything runs, naming the rule, the parameter and the value.
func TestOptionInjection(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		validate map[string]string
	}{
		{"default pattern", nil}, // [A-Za-z0-9._:/@+=,-]{1,253} admits "-"
		{"user pattern admitting a dash", map[string]string{"instance": ".+"}}, // the user's pattern admits it too
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			trace := filepath.Join(t.TempDir(), "trace")
			a := mustNew(t, &rules.ExecConfig{Command: []string{"/usr/bin/sort", "{{ .labels.instance }}"}, Validate: tt.validate})
			req := request(map[string]string{"instance": "--output=" + trace}, nil)
			inv, err := a.Render(req)
			if err == nil {
				res := inv.Run(context.Background())
				if _, serr := os.Stat(trace); serr == nil {
					t.Fatalf("the label's option reached sort and it wrote %s (run: %+v)", trace, res)
				}
				t.Fatalf("Render accepted a value beginning with \"-\": %s", inv.Describe())
			}
			if !errors.Is(err, template.ErrRefused) {
				t.Fatalf("Render error = %v, want refused", err)
			}
			for _, want := range []string{`"restart-game"`, "instance", `"--output=`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not name %s", err, want)
				}
			}
		})
	}
}

// TestSSHProxyCommand is the issue's own trick: ssh's -oProxyCommand runs
// a program of the label's choice. It needs a real ssh client (Debian's
// openssh-client); without one it is skipped, and TestOptionInjection
// proves the same with sort.
func TestSSHProxyCommand(t *testing.T) {
	t.Parallel()
	ssh, err := osexec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh client on this machine")
	}
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	prog := filepath.Join(dir, "prog")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ntouch "+trace+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := mustNew(t, &rules.ExecConfig{Command: []string{ssh, "-oBatchMode=yes", "-F/dev/null", "{{ .labels.instance }}", "uptime"}})
	inv, err := a.Render(request(map[string]string{"instance": "-oProxyCommand=" + prog}, nil))
	if err == nil {
		inv.Run(context.Background())
		if _, serr := os.Stat(trace); serr == nil {
			t.Fatal("the label's -oProxyCommand ran a program of its choice")
		}
		t.Fatalf("Render accepted -oProxyCommand: %s", inv.Describe())
	}
	if !errors.Is(err, template.ErrRefused) {
		t.Fatalf("Render error = %v, want refused", err)
	}
}

// TestPatternsAnchoredAsAWhole: validate: {service: "web|api"} admits web
// and api only, not every value that starts with web or ends with api.
func TestPatternsAnchoredAsAWhole(t *testing.T) {
	t.Parallel()
	a := mustNew(t, &rules.ExecConfig{Command: []string{"/bin/echo", "{{ .labels.service }}"}, Validate: map[string]string{"service": "web|api"}})
	for _, v := range []string{"web", "api"} {
		if _, err := a.Render(request(map[string]string{"service": v}, nil)); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
	for _, v := range []string{"game-api", "web; anything", "webapi", "xapi"} {
		_, err := a.Render(request(map[string]string{"service": v}, nil))
		if !errors.Is(err, template.ErrRefused) {
			t.Errorf("%q: err = %v, want refused", v, err)
			continue
		}
		// The pattern is shown as the user wrote it.
		if !strings.Contains(err.Error(), "web|api") || strings.Contains(err.Error(), "^") {
			t.Errorf("%q: refusal %q does not show the pattern as written", v, err)
		}
	}
}

// TestAllowLeadingDash: a parameter the config names in
// allow_leading_dash may begin with "-" (its pattern still applies); the
// others still may not.
func TestAllowLeadingDash(t *testing.T) {
	t.Parallel()
	a := mustNew(t, &rules.ExecConfig{Command: []string{"/bin/echo", "{{ .labels.flag }}", "{{ .labels.instance }}"},
		Validate: map[string]string{"flag": "-[a-z]"}, AllowLeadingDash: []string{"flag"}})
	inv, err := a.Render(request(map[string]string{"flag": "-n", "instance": "host1"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if res := inv.Run(context.Background()); !res.OK || res.Output != "host1" {
		t.Fatalf("echo -n host1: %+v", res)
	}
	for _, labels := range []map[string]string{
		{"flag": "-n", "instance": "-e"},    // instance is not allowed a dash
		{"flag": "--help", "instance": "h"}, // flag's pattern still applies
	} {
		if _, err := a.Render(request(labels, nil)); !errors.Is(err, template.ErrRefused) {
			t.Errorf("%v: err = %v, want refused", labels, err)
		}
	}
	if _, err := New(&rules.ExecConfig{Command: []string{"/bin/echo", "{{ .labels.flag }}"}, AllowLeadingDash: []string{"flag", "other"}}); err == nil ||
		err.Error() != "exec: allow_leading_dash: other: no template uses it" {
		t.Fatalf("unused allow_leading_dash: %v", err)
	}
}
