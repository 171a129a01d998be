package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/template"
)

// script writes body as a /bin/sh script and returns the argv that runs
// it: the program under test is /bin/sh, the action itself never uses a
// shell. (Running the file through /bin/sh rather than executing it
// avoids ETXTBSY when parallel tests fork while it is being written.)
func script(t *testing.T, body string) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"/bin/sh", path}
}

// request is one firing alert matched by a rule.
func request(labels, annotations map[string]string) *engine.ActionRequest {
	return &engine.ActionRequest{
		Rule:     "restart-game",
		Target:   "host1/game-api",
		Incident: 42,
		Level:    "critical",
		Alert: engine.Alert{
			ID:          7,
			Fingerprint: "abc123",
			Status:      engine.StatusFiring,
			Labels:      labels,
			Annotations: annotations,
			StartsAt:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Level:       "critical",
			Incident:    42,
		},
	}
}

func mustNew(t *testing.T, c *rules.ExecConfig) *Action {
	t.Helper()
	a, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func mustRender(t *testing.T, a *Action, req *engine.ActionRequest) *Process {
	t.Helper()
	inv, err := a.Render(req)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return inv.(*Process)
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    rules.ExecConfig
		want string
	}{
		// Nothing to run.
		{"empty command", rules.ExecConfig{}, "exec: command is empty"},
		// An empty program name.
		{"empty program", rules.ExecConfig{Command: []string{"", "x"}}, "exec: command[0]: the program is empty"},
		// A label must not choose the program.
		{"templated program", rules.ExecConfig{Command: []string{"/usr/bin/{{ .labels.tool }}"}},
			`exec: command[0]: the program "/usr/bin/{{ .labels.tool }}" must be literal, not a template`},
		// Pipelines and functions do not parse.
		{"bad template", rules.ExecConfig{Command: []string{"/bin/true", `{{ .labels.x | printf "%s" }}`}},
			`exec: command[1]: template "{{ .labels.x | printf \"%s\" }}": template: t:1: function "printf" not defined`},
		// Only known references parse.
		{"unknown reference", rules.ExecConfig{Command: []string{"/bin/true", "{{ .secret }}"}},
			`exec: command[1]: template "{{ .secret }}": {{.secret}}: unknown reference; use .labels.NAME, .annotations.NAME, .alertname, .level, .incident, .fingerprint or .target`},
		// A pattern that does not compile.
		{"bad pattern", rules.ExecConfig{Command: []string{"/bin/true", "{{ .labels.x }}"}, Validate: map[string]string{"x": "(("}},
			"exec: validate.x: error parsing regexp: missing closing ): `((`"},
		// A pattern no template uses is a typo waiting to happen.
		{"unused pattern", rules.ExecConfig{Command: []string{"/bin/true", "{{ .labels.x }}"}, Validate: map[string]string{"x": "a", "y": "b"}},
			"exec: validate.y: no template uses it"},
		// A negative timeout.
		{"negative timeout", rules.ExecConfig{Command: []string{"/bin/true"}, Timeout: rules.Duration(-time.Second)},
			"exec: timeout -1s is negative"},
		// A negative output bound.
		{"negative max output", rules.ExecConfig{Command: []string{"/bin/true"}, MaxOutputBytes: -1},
			"exec: max_output_bytes -1 is negative"},
		// Every problem is reported, in order, one per line.
		{"joined", rules.ExecConfig{Validate: map[string]string{"b": "((", "a": "x"}, Timeout: rules.Duration(-time.Second)},
			"exec: command is empty\nexec: validate.a: no template uses it\nexec: validate.b: error parsing regexp: missing closing ): `((`\nexec: timeout -1s is negative"},
		// Unused patterns are not reported when a template did not parse.
		{"no unused after a parse error", rules.ExecConfig{Command: []string{"/bin/true", "{{ .labels.x "}, Validate: map[string]string{"x": "a"}},
			`exec: command[1]: template "{{ .labels.x ": template: t:1: unclosed action`},
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
	t.Parallel()
	p := mustRender(t, mustNew(t, &rules.ExecConfig{Command: []string{"/bin/true"}}), request(nil, nil))
	if p.Timeout != 30*time.Second || p.MaxOutput != 65536 || p.Dir != "" {
		t.Fatalf("defaults: timeout %s, max output %d, dir %q", p.Timeout, p.MaxOutput, p.Dir)
	}
	p = mustRender(t, mustNew(t, &rules.ExecConfig{Command: []string{"/bin/true"}, Timeout: rules.Duration(time.Minute), MaxOutputBytes: 10, Dir: "/tmp"}), request(nil, nil))
	if p.Timeout != time.Minute || p.MaxOutput != 10 || p.Dir != "/tmp" {
		t.Fatalf("configured: timeout %s, max output %d, dir %q", p.Timeout, p.MaxOutput, p.Dir)
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	labels := map[string]string{"alertname": "GameServerDown", "service": "game-api", "bad": "a b", "nul": "a\x00b", "big": strings.Repeat("a", MaxArgBytes+1), "half": strings.Repeat("a", 600<<10)}
	annotations := map[string]string{"summary": "game-api is down"}
	tests := []struct {
		name     string
		command  []string
		validate map[string]string
		want     []string // nil: refused
		describe string
	}{
		// Every field a template may name.
		{"all fields", []string{"/usr/local/bin/fix", "{{ .alertname }}", "--level={{ .level }}", "{{ .incident }}", "{{ .fingerprint }}", "{{ .target }}", "{{ .labels.service }}.service"}, nil,
			[]string{"/usr/local/bin/fix", "GameServerDown", "--level=critical", "42", "abc123", "host1/game-api", "game-api.service"},
			`"/usr/local/bin/fix" "GameServerDown" "--level=critical" "42" "abc123" "host1/game-api" "game-api.service"`},
		// A pattern of its own lets an annotation with spaces through, as one argument.
		{"own pattern", []string{"/bin/echo", "{{ .annotations.summary }}"}, map[string]string{"summary": "[a-z -]+"},
			[]string{"/bin/echo", "game-api is down"}, `"/bin/echo" "game-api is down"`},
		// The default pattern refuses a space.
		{"default pattern refuses", []string{"/bin/echo", "{{ .labels.bad }}"}, nil, nil, ""},
		// A missing label is empty, which the default pattern refuses.
		{"missing label refused", []string{"/bin/echo", "{{ .labels.nope }}"}, nil, nil, ""},
		// A NUL byte cannot be an argument, whatever the pattern.
		{"nul refused", []string{"/bin/echo", "{{ .labels.nul }}"}, map[string]string{"nul": "(?s).*"}, nil, ""},
		// One argument over Linux's 128 KiB bound.
		{"argument too long", []string{"/bin/echo", "{{ .labels.big }}"}, map[string]string{"big": "a+"}, nil, ""},
		// Arguments that are each fine but together over 1 MiB.
		{"argv too long", []string{"/bin/echo", "{{ .labels.half }}", "{{ .labels.half }}"}, map[string]string{"half": "a+"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, &rules.ExecConfig{Command: tt.command, Validate: tt.validate})
			inv, err := a.Render(request(labels, annotations))
			if tt.want == nil {
				if !errors.Is(err, template.ErrRefused) {
					t.Fatalf("Render error = %v, want refused", err)
				}
				if inv != nil {
					t.Fatal("a refused render returned an invocation")
				}
				if len(err.Error()) > 300 {
					t.Fatalf("refusal is %d bytes long", len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got := inv.(*Process).Argv; !slices.Equal(got, tt.want) {
				t.Fatalf("argv = %q, want %q", got, tt.want)
			}
			if got := inv.Describe(); got != tt.describe {
				t.Fatalf("Describe = %s, want %s", got, tt.describe)
			}
		})
	}
}

func TestDescribeCutsLongArguments(t *testing.T) {
	t.Parallel()
	p := &Process{Argv: []string{"/bin/echo", strings.Repeat("x", 1000), "a\"b\n"}}
	want := `"/bin/echo" "` + strings.Repeat("x", 512) + `"…(1000 bytes) "a\"b\n"`
	if got := p.Describe(); got != want {
		t.Fatalf("Describe = %s", got)
	}
}

// TestHostileValues: a hostile label value is refused by the default
// pattern; a pattern loose enough to let it through places it as one
// literal argument that no shell or template ever reads.
func TestHostileValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	pwned := filepath.Join(dir, "pwned")
	if err := os.WriteFile(victim, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		value   string
		literal bool // with the loose pattern: passed literally (else refused)
	}{
		// A shell command separator.
		{"semicolon", "; rm -rf " + victim, true},
		// Command substitution.
		{"dollar substitution", "$(touch " + pwned + ")", true},
		// Backquote substitution.
		{"backquotes", "`touch " + pwned + "`", true},
		// Backquotes as the issue writes them.
		{"backquoted id", "`id`", true},
		// Path traversal.
		{"traversal", "../../etc/passwd", true},
		// A newline.
		{"newline", "a\nb", true},
		// Template syntax is not rendered again (x holds a substitution).
		{"template syntax", "{{ .labels.x }}", true},
		// Bytes that are not UTF-8.
		{"non-utf8", "\xff\xfe\xfd", true},
		// 1 MiB is over the bound of one argument.
		{"1 MiB", strings.Repeat("a", 1<<20), false},
		// NUL cannot be an argument.
		{"nul", "a\x00b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out")
			argv := append(script(t, `printf '%s' "$2" > "$1"`), out, "{{ .labels.v }}")
			labels := map[string]string{"v": tt.value, "x": "$(touch " + pwned + ")"}

			strict := mustNew(t, &rules.ExecConfig{Command: argv})
			if _, err := strict.Render(request(labels, nil)); !errors.Is(err, template.ErrRefused) {
				t.Fatalf("default pattern: Render error = %v, want refused", err)
			}

			loose := mustNew(t, &rules.ExecConfig{Command: argv, Validate: map[string]string{"v": "(?s).*"}})
			inv, err := loose.Render(request(labels, nil))
			if !tt.literal {
				if !errors.Is(err, template.ErrRefused) {
					t.Fatalf("loose pattern: Render error = %v, want refused", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loose pattern: Render: %v", err)
			}
			if res := inv.Run(context.Background()); !res.OK {
				t.Fatalf("run: %+v", res)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.value {
				t.Fatalf("the program got %q, want %q", got, tt.value)
			}
		})
	}
	t.Cleanup(func() {
		if _, err := os.Stat(pwned); err == nil {
			t.Error("a hostile value ran a command: " + pwned + " exists")
		}
		if _, err := os.Stat(victim); err != nil {
			t.Errorf("a hostile value ran a command: %v", err)
		}
	})
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"service", "SERVICE"},           // uppercased
		{"Foo_bar9", "FOO_BAR9"},         // letters, digits and _ kept
		{"runbook.url", "RUNBOOK_URL"},   // punctuation made _
		{"a-b=c d", "A_B_C_D"},           // = and space too
		{"déjà", "D_J_"},                 // one _ per non-ASCII character
		{"x\xffy", "X_Y"},                // one _ per invalid byte
		{"$(id)", "__ID_"},               // nothing a shell would read
		{"", ""},                         // empty stays empty
		{"__proto__", "__PROTO__"},       // underscores kept
		{"ÄÖÜ", "___"},                   // non-ASCII letters are not uppercased into ASCII
		{"k8s_pod-name", "K8S_POD_NAME"}, // the usual Kubernetes label
	}
	for _, tt := range tests {
		if got := envName(tt.in); got != tt.want {
			t.Errorf("envName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestEnvAndStdin runs real programs: env(1) prints the environment it
// got, cat(1) echoes the stdin it got.
func TestEnvAndStdin(t *testing.T) {
	envPath, err := osexec.LookPath("env")
	if err != nil {
		t.Skip("no env(1):", err)
	}
	// Nothing of remediator's own environment but PATH and HOME leaks.
	t.Setenv("REMEDIATOR_TEST_PARENT_SECRET", "leaked")
	t.Setenv("HOME", "/home/remediator-test")
	big := strings.Repeat("b", 1<<20)
	labels := map[string]string{
		"alertname": "GameServerDown",
		"service":   "game-api",
		"foo-bar":   "dash",       // REMEDIATOR_LABEL_FOO_BAR, like Foo_bar:
		"Foo_bar":   "underscore", // two labels for one name set neither
		"hostile":   "$(touch /nonexistent/pwned); `id`",
		"raw":       "\xff\xfe",
		"big":       big,      // over 32 KiB: left out
		"nul":       "a\x00b", // a NUL cannot be in the environment: left out
	}
	annotations := map[string]string{"summary": "line one\nline two", "runbook.url": "https://runbooks/x?a=1&b=2"}
	req := request(labels, annotations)

	a := mustNew(t, &rules.ExecConfig{Command: []string{envPath, "-0"}})
	res := mustRender(t, a, req).Run(context.Background())
	if !res.OK {
		t.Fatalf("env: %+v", res)
	}
	got := strings.Split(strings.TrimSuffix(res.Output, "\x00"), "\x00")
	want := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=/home/remediator-test",
		"REMEDIATOR_ALERTNAME=GameServerDown",
		"REMEDIATOR_LEVEL=critical",
		"REMEDIATOR_INCIDENT=42",
		"REMEDIATOR_FINGERPRINT=abc123",
		"REMEDIATOR_TARGET=host1/game-api",
		"REMEDIATOR_RULE=restart-game",
		"REMEDIATOR_STATUS=firing",
		"REMEDIATOR_LABEL_ALERTNAME=GameServerDown",
		"REMEDIATOR_LABEL_HOSTILE=$(touch /nonexistent/pwned); `id`",
		"REMEDIATOR_LABEL_RAW=\xff\xfe",
		"REMEDIATOR_LABEL_SERVICE=game-api",
		"REMEDIATOR_ANNOTATION_RUNBOOK_URL=https://runbooks/x?a=1&b=2",
		"REMEDIATOR_ANNOTATION_SUMMARY=line one\nline two",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("environment =\n%q\nwant\n%q", got, want)
	}

	// The alert arrives whole on stdin, as engine.Alert's JSON, big label included.
	a = mustNew(t, &rules.ExecConfig{Command: []string{"cat"}, MaxOutputBytes: 4 << 20})
	res = mustRender(t, a, req).Run(context.Background())
	if !res.OK {
		t.Fatalf("cat: %+v", res)
	}
	wantJSON, _ := json.Marshal(req.Alert)
	if res.Output != string(wantJSON) {
		t.Fatalf("stdin = %.200s…, want %.200s…", res.Output, wantJSON)
	}
	var back engine.Alert
	if err := json.Unmarshal([]byte(res.Output), &back); err != nil || back.Labels["big"] != big || back.Fingerprint != "abc123" {
		t.Fatalf("stdin does not decode to the alert: %v", err)
	}
}

// TestEnvCollisionSetsNothing: a label cannot stand in for another in
// the environment: instance=db1 with INSTANCE=evil sets no
// REMEDIATOR_LABEL_INSTANCE (the alert on stdin has both).
func TestEnvCollisionSetsNothing(t *testing.T) {
	t.Parallel()
	env := Env(request(map[string]string{"instance": "db1", "INSTANCE": "evil", "service": "api"}, map[string]string{"a.b": "1", "a_b": "2"}))
	for _, v := range env {
		if strings.HasPrefix(v, "REMEDIATOR_LABEL_INSTANCE=") || strings.HasPrefix(v, "REMEDIATOR_ANNOTATION_A_B=") {
			t.Fatalf("a colliding name is set: %q in %q", v, env)
		}
	}
	if !slices.Contains(env, "REMEDIATOR_LABEL_SERVICE=api") {
		t.Fatalf("env = %q", env)
	}
}

// TestEnvBudget: many large values stop at the total bound; the fixed
// variables come first, so they are always there.
func TestEnvBudget(t *testing.T) {
	t.Parallel()
	labels := map[string]string{}
	for i := range 20 {
		labels[string(rune('a'+i))] = strings.Repeat("v", 30<<10)
	}
	env := Env(request(labels, nil))
	size := 0
	for _, v := range env {
		size += len(v)
	}
	if size > maxEnvTotal || !slices.Contains(env, "REMEDIATOR_RULE=restart-game") || slices.ContainsFunc(env, func(v string) bool { return strings.HasPrefix(v, "REMEDIATOR_LABEL_T=") }) {
		t.Fatalf("%d variables, %d bytes", len(env), size)
	}
}

// TestActionTimeoutKillsGroup: an action that sleeps forever, with a
// child that sleeps forever too, is stopped at its timeout (SIGTERM to the
// group by default), child and all.
func TestActionTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	argv := append(script(t, "sleep 1000 &\necho $! > \"$1\"\nsleep 1000\n"), pidFile)
	a := mustNew(t, &rules.ExecConfig{Command: argv, Timeout: rules.Duration(2 * time.Second)})
	res := runWithin(t, mustRender(t, a, request(nil, nil)), context.Background())
	if res.OK || !res.Cancelled || res.ExitCode != -1 || res.Err != "stopped (terminated): timed out after 2s" {
		t.Fatalf("result = %+v", res)
	}
	pid := readPID(t, pidFile)
	waitGone(t, pid)
}

// TestActionFailure: through the action, exit code 1 is a recorded
// failure with its output.
func TestActionFailure(t *testing.T) {
	t.Parallel()
	a := mustNew(t, &rules.ExecConfig{Command: script(t, "echo \"cannot restart $REMEDIATOR_LABEL_SERVICE\" >&2\nexit 1\n")})
	res := mustRender(t, a, request(map[string]string{"service": "game-api"}, nil)).Run(context.Background())
	if res.OK || res.ExitCode != 1 || res.Err != "exit status 1" || res.Output != "cannot restart game-api\n" || res.Cancelled {
		t.Fatalf("result = %+v", res)
	}
	if res.Duration <= 0 {
		t.Fatalf("duration = %s", res.Duration)
	}
}

// runWithin runs inv and fails the test if it has not returned within a
// minute: a hang is a failure, not a stuck test binary.
func runWithin(t *testing.T, inv engine.Invocation, ctx context.Context) engine.Result {
	t.Helper()
	done := make(chan engine.Result, 1)
	go func() { done <- inv.Run(ctx) }()
	select {
	case res := <-done:
		return res
	case <-time.After(time.Minute):
		t.Fatalf("Run(%s) did not return", inv.Describe())
		return engine.Result{}
	}
}

// readPID polls path until a script has written a PID to it.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	poll(t, "a PID in "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			return false
		}
		_, err = fmt.Sscan(string(b), &pid)
		return err == nil && pid > 0
	})
	return pid
}

// waitGone polls until pid is no longer a running process (gone, or a
// zombie nobody has reaped yet: this container's init may not reap).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	poll(t, "process "+strconv.Itoa(pid)+" to be killed", func() bool { return !alive(pid) })
}

// alive reports whether pid is a process that is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold spaces and parentheses
	if i < 0 || i+2 >= len(b) {
		return false
	}
	state := b[i+2]
	return state != 'Z' && state != 'X'
}

// poll checks cond every 10ms until it holds, failing after 30s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		<-tick.C
	}
}
