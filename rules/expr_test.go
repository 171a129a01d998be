package rules

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"gopkg.in/yaml.v3"
)

// fakeFacts answers the helpers from fixed hours and a list of episode
// start times, relative to now.
type fakeFacts struct {
	now      time.Time
	open     int // business hours are [open, close) o'clock, UTC
	close    int
	episodes []time.Time
}

func (f *fakeFacts) InBusinessHours(t time.Time) bool {
	return t.Hour() >= f.open && t.Hour() < f.close
}

func (f *fakeFacts) FiredWithin(d time.Duration) int {
	n := 0
	for _, e := range f.episodes {
		if !e.Before(f.now.Add(-d)) {
			n++
		}
	}
	return n
}

var _ Facts = (*fakeFacts)(nil)

var testNow = time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC) // a Wednesday

// testEnvFor is a firing DiskFull alert that started 20 minutes before
// testNow, in business hours, its third episode within the hour.
func testEnvFor() *Env {
	startsAt := testNow.Add(-20 * time.Minute)
	return &Env{
		Labels: map[string]string{
			"alertname": "DiskFull", "severity": "warning", "instance": "db-3:9100",
			"service": "game-lobby", "team": "storage", "replicas": "3", "pct": "91.5",
		},
		Annotations:  map[string]string{"summary": "disk 91% full", "runbook": "https://runbooks/disk"},
		Status:       "firing",
		Alertname:    "DiskFull",
		Severity:     "warning",
		StartsAt:     startsAt,
		Duration:     testNow.Sub(startsAt),
		Receiver:     "remediator",
		GroupLabels:  map[string]string{"alertname": "DiskFull"},
		CommonLabels: map[string]string{"team": "storage"},
		ExternalURL:  "http://alertmanager:9093",
		Now:          testNow,
		Level:        "warning",
		Facts: &fakeFacts{now: testNow, open: 9, close: 18, episodes: []time.Time{
			testNow.Add(-50 * time.Minute), testNow.Add(-35 * time.Minute), startsAt, testNow.Add(-3 * time.Hour),
		}},
	}
}

// mustCompile compiles src or fails the test.
func mustCompile(t testing.TB, src string) *Condition {
	t.Helper()
	c, err := CompileCondition(src)
	if err != nil {
		t.Fatalf("CompileCondition(%q): %v", src, err)
	}
	return c
}

func TestEvalEnv(t *testing.T) {
	tests := []struct {
		src  string
		want bool
	}{
		// labels is the alert's label set.
		{`labels.instance == "db-3:9100"`, true},
		// labels can be indexed with any key.
		{`labels["team"] == "storage" && labels["team"] != "db"`, true},
		// annotations is the alert's annotation set.
		{`annotations.summary contains "91%"`, true},
		// status is firing or resolved.
		{`status == "firing"`, true},
		// alertname is labels.alertname.
		{`alertname == "DiskFull" && alertname == labels.alertname`, true},
		// severity is labels.severity.
		{`severity in ["warning", "critical"]`, true},
		// startsAt is a time, comparable with now.
		{`startsAt < now && startsAt.Minute() == 10`, true},
		// duration is now - startsAt, comparable with duration().
		{`duration > duration("15m") && duration <= duration("20m")`, true},
		// duration() takes the configuration's units too.
		{`duration < duration("1d")`, true},
		// now - startsAt is a duration as well.
		{`now - startsAt == duration`, true},
		// receiver is the Alertmanager receiver.
		{`receiver == "remediator"`, true},
		// groupLabels are the labels the notification was grouped by.
		{`groupLabels.alertname == "DiskFull"`, true},
		// commonLabels are the labels every alert of the group shares.
		{`commonLabels.team == "storage"`, true},
		// externalURL is Alertmanager's.
		{`externalURL startsWith "http://alertmanager"`, true},
		// now is the evaluation time, not the wall clock.
		{`now.Year() == 2026 && now.Hour() == 10`, true},
		// level is the level classification gave.
		{`level == "warning"`, true},
		// expr's builtins still work on label values.
		{`int(labels.replicas) >= 3 && float(labels.pct) > 90`, true},
		// a false condition is false, not an error.
		{`severity == "critical"`, false},
		// the `matches` operator works as well as the helper.
		{`labels.instance matches "^db-[0-9]+:" && !(labels.service matches "^web")`, true},
	}
	env := testEnvFor()
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			got, err := mustCompile(t, tc.src).Eval(env)
			if err != nil || got != tc.want {
				t.Errorf("Eval = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestEvalHelpers(t *testing.T) {
	inHours := testEnvFor()
	night := testEnvFor()
	night.Now = testNow.Add(12 * time.Hour)
	noFacts := testEnvFor()
	noFacts.Facts = nil
	tests := []struct {
		name string
		env  *Env
		src  string
		want bool
	}{
		// inBusinessHours asks Facts about now.
		{"in hours", inHours, `inBusinessHours()`, true},
		// outside the hours it is false.
		{"out of hours", night, `!inBusinessHours()`, true},
		// without Facts there are no business hours.
		{"no calendar", noFacts, `!inBusinessHours()`, true},
		// firedWithin takes a duration.
		{"firedWithin duration", inHours, `firedWithin(duration("1h")) == 3`, true},
		// or a string, in the configuration's units.
		{"firedWithin string", inHours, `firedWithin("1h") == 3 && firedWithin("1d") == 4 && firedWithin("30m") == 1`, true},
		// or a duration computed at run time.
		{"firedWithin computed", inHours, `firedWithin(duration * 2) == 2`, true},
		// or a string computed at run time.
		{"firedWithin computed string", inHours, `firedWithin(labels.replicas + "h") == 4`, true},
		// without Facts nothing fired.
		{"no history", noFacts, `firedWithin("1h") == 0`, true},
		// matches takes a constant pattern.
		{"matches constant", inHours, `matches(labels.instance, "^db-[0-9]+:9100$")`, true},
		// and a computed one.
		{"matches computed", inHours, `matches(labels.service, "^" + "game-")`, true},
		// a pattern from a label value.
		{"matches from label", inHours, `matches(alertname, labels.alertname)`, true},
		// matches inside other calls and in pipes.
		{"matches nested", inHours, `all(["db-3:9100"], matches(#, "db")) && (labels.team | matches("^stor"))`, true},
		// not matches(...) negates the call.
		{"not matches", inHours, `not matches(labels.team, "^web")`, true},
		// x not matches (re) stays expr's operator.
		{"not matches operator", inHours, `labels.team not matches ("^web")`, true},
		// "matches(" inside a string is left alone.
		{"matches in a string", inHours, `"matches(x, y)" startsWith "matches("`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustCompile(t, tc.src).Eval(tc.env)
			if err != nil || got != tc.want {
				t.Errorf("Eval(%s) = %v, %v; want %v", tc.src, got, err, tc.want)
			}
		})
	}
}

func TestFastPathAgreesWithExpr(t *testing.T) {
	// Each of these compiles, in part or whole, to fieldPatcher's fast
	// tests; expr alone must give the same answers.
	srcs := []string{
		`severity == "warning"`,
		`"warning" == severity`,
		`severity != "warning"`,
		`labels.team == "storage"`,
		`labels["team"] != "db"`,
		`labels.nope == ""`,
		`annotations.summary contains "91%"`,
		`labels.instance startsWith "db-"`,
		`labels.instance endsWith ":9100"`,
		`labels.instance matches "^db-[0-9]+"`,
		`labels.instance not matches "^web"`,
		`alertname in ["DiskFull", "NodeDown"]`,
		`alertname not in ["DiskFull"]`,
		`severity in []`,
		`!(status == "firing") || level == "warning"`,
		`not (receiver == "remediator") and externalURL startsWith "http"`,
		`groupLabels.alertname == alertname`,
		`commonLabels.team in ["storage"] && (labels.team == "db" || labels.service startsWith "game-")`,
		`status == "firing" && severity == "warning" && labels.team != "" && int(labels.replicas) > 2`,
	}
	other := testEnvFor()
	other.Status, other.Severity, other.Alertname, other.Level = "resolved", "critical", "NodeDown", ""
	other.Labels = map[string]string{"team": "db", "instance": "web-1:9100", "service": "web", "replicas": "1"}
	bare := &Env{Status: "firing", Severity: "warning", Labels: map[string]string{"replicas": "5"}}
	envs := map[string]*Env{"alert": testEnvFor(), "other": other, "bare": bare}
	for _, src := range srcs {
		t.Run(src, func(t *testing.T) {
			c := mustCompile(t, src)
			plain, err := expr.Compile(src, expr.Env(Env{}), expr.AsBool())
			if err != nil {
				t.Fatal(err)
			}
			for name, env := range envs {
				want, err := expr.Run(plain, env)
				if err != nil {
					t.Fatalf("%s: expr: %v", name, err)
				}
				if got, err := c.Eval(env); err != nil || got != want {
					t.Errorf("%s: Eval = %v, %v; expr says %v", name, got, err, want)
				}
			}
		})
	}
}

func TestFastPathDurations(t *testing.T) {
	env := testEnvFor() // duration is exactly 20m
	tests := []struct {
		src  string
		want bool
	}{
		// >= holds at the boundary.
		{`duration >= duration("20m")`, true},
		// > does not.
		{`duration > duration("20m")`, false},
		// <= holds.
		{`duration <= duration("20m")`, true},
		// < does not.
		{`duration < duration("20m")`, false},
		// == holds.
		{`duration == duration("20m")`, true},
		// != does not.
		{`duration != duration("20m")`, false},
		// the constant on the left, operators flipped.
		{`duration("20m") <= duration && duration("20m") >= duration`, true},
		// and on the other side of the boundary.
		{`duration("19m") > duration || duration("21m") < duration`, false},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			c := mustCompile(t, tc.src)
			if c.whole.fast == nil {
				t.Error("not compiled to a fast test")
			}
			if got, err := c.Eval(env); err != nil || got != tc.want {
				t.Errorf("Eval = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestFastPathTaken(t *testing.T) {
	tests := []struct {
		src  string
		fast bool
		want bool // for testEnvFor
	}{
		// label and field tests, whole.
		{`severity == "warning" && labels.team in ["db", "storage"] && duration > duration("5m")`, true, true},
		// negation, disjunction, the matches operator and contains.
		{`!(labels.team matches "^web") || annotations.summary contains "x"`, true, true},
		// the helper matches with a constant pattern.
		{`matches(labels.instance, "^db-")`, true, true},
		// optional chaining reads the same.
		{`labels?.team == "storage"`, true, true},
		// the helpers with constants.
		{`inBusinessHours() && severity == "warning" && firedWithin("1h") >= 3 && 4 > firedWithin("1h")`, true, true},
		// a computed window needs the VM.
		{`firedWithin(duration * 2) == 2`, false, true},
		// so does a fast test joined to it, though its part is fast.
		{`severity == "warning" && firedWithin("1h") >= len(labels.team)`, false, false},
		// two reads compared.
		{`severity == labels.severity`, false, true},
		// conversions and time arithmetic.
		{`int(labels.replicas) > 2 && now - startsAt > duration("10m")`, false, true},
	}
	env := testEnvFor()
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			c := mustCompile(t, tc.src)
			if got := c.whole.fast != nil; got != tc.fast {
				t.Errorf("fast = %v, want %v", got, tc.fast)
			}
			if got, err := c.Eval(env); err != nil || got != tc.want {
				t.Errorf("Eval = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestMatchesCachesComputedPatterns(t *testing.T) {
	c := mustCompile(t, `matches(labels.team, "^st" + "orage$")`)
	for range 2 {
		if ok, err := c.Eval(testEnvFor()); !ok || err != nil {
			t.Fatalf("Eval = %v, %v", ok, err)
		}
	}
	if _, ok := regexps.Load("^storage$"); !ok {
		t.Error("computed pattern not cached")
	}
}

func TestMissingLabels(t *testing.T) {
	tests := []struct {
		src string
	}{
		// a missing label equals "".
		{`labels.nope == ""`},
		// it concatenates as "".
		{`labels.nope + "x" == "x"`},
		// it matches ^$.
		{`matches(labels.nope, "^$")`},
		// and through the operator too.
		{`labels.nope matches "^$"`},
		// by index as well.
		{`labels["no such label"] == ""`},
		// its length is 0.
		{`len(labels.nope) == 0`},
		// it is not nil.
		{`labels.nope != nil`},
		// the same holds for annotations and the group's label sets.
		{`annotations.nope == "" && groupLabels.nope == "" && commonLabels.nope == ""`},
		// optional chaining is harmless.
		{`labels?.nope == "" && labels?.["nope"] + "x" == "x"`},
	}
	full := testEnvFor()
	empty := &Env{} // nil maps: an alert without labels at all
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			c := mustCompile(t, tc.src)
			for name, env := range map[string]*Env{"labels": full, "nil maps": empty} {
				if got, err := c.Eval(env); !got || err != nil {
					t.Errorf("%s: Eval = %v, %v; want true", name, got, err)
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	// tooBig has more than maxExprNodes nodes: severity is node 1, "s0"
	// node 2, so "s1999" is node 2001, and expr reports the token after it.
	var b strings.Builder
	b.WriteString(`severity in [`)
	for i := range 2100 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"s%d"`, i)
	}
	b.WriteString(`]`)
	tooBig := b.String()

	tests := []struct {
		name      string
		src       string
		line, col int
		msg       string
		snippet   string // when not empty, the exact snippet
	}{
		// = is not an operator.
		{"syntax error", `labels.a = "x"`, 1, 10, `unexpected token Operator("=")`,
			" | labels.a = \"x\"\n | .........^"},
		// an unclosed parenthesis is reported at the end.
		{"unclosed paren", `severity == "critical" && (status == "firing"`, 1, 45, "unexpected token EOF", ""},
		// an unterminated string.
		{"unterminated string", `severity == 'critical`, 1, 22, "literal not terminated", ""},
		// a misspelt variable.
		{"unknown variable", `severity == "critical" || lables.x == "y"`, 1, 27, "unknown name lables",
			" | severity == \"critical\" || lables.x == \"y\"\n | ..........................^"},
		// Facts is not for expressions.
		{"hidden field", `Facts == nil`, 1, 1, "unknown name Facts", ""},
		// a label is not a boolean.
		{"non-boolean", `labels.x`, 1, 1, "expected bool, but got string", " | labels.x\n | ^"},
		// leading blanks are skipped when placing it.
		{"non-boolean indented", "  \n  labels.x", 2, 3, "expected bool, but got string", ""},
		// comparing a label with a number.
		{"mismatched types", `labels.replicas > 3`, 1, 17, "invalid operation: > (mismatched types string and int)", ""},
		// a bad constant pattern in matches().
		{"bad regexp", `matches(labels.instance, "db-(")`, 1, 26, "error parsing regexp: missing closing ): `db-(`",
			" | matches(labels.instance, \"db-(\")\n | .........................^"},
		// and in the operator.
		{"bad regexp operator", `labels.instance matches "[z-a]"`, 1, 17, "error parsing regexp: invalid character class range: `z-a`", ""},
		// matches needs two strings.
		{"matches arity", `matches("a")`, 1, 1, "not enough arguments to call matches", ""},
		// matches needs string arguments.
		{"matches types", `matches(labels.a, 1)`, 1, 19, "cannot use int as argument (type string) to call matches ", ""},
		// inBusinessHours takes no arguments.
		{"inBusinessHours arity", `inBusinessHours(now)`, 1, 1, "too many arguments to call inBusinessHours", ""},
		// firedWithin needs a window.
		{"firedWithin arity", `firedWithin() > 1`, 1, 1, "not enough arguments to call firedWithin", ""},
		// a bad constant window.
		{"firedWithin bad window", `firedWithin("1 hour") > 1`, 1, 13, `firedWithin: "1 hour" is not a duration`, ""},
		// a bad constant duration.
		{"bad duration", `duration > duration("soon")`, 1, 21, `duration: "soon" is not a duration`, ""},
		// now is a value, not expr's now().
		{"now is a field", `now() > startsAt`, 1, 1, "time.Time is not callable", ""},
		// so is severity, though the fast path reads it through a call.
		{"field called", `severity() == ""`, 1, 1, "string is not callable", ""},
		// a type error in the argument of a method call is found too.
		{"error in an argument", `now.Add(-duration) == startsAt`, 1, 9, "invalid operation: - (mismatched type time.Duration)", ""},
		// too many nodes.
		{"too many nodes", tooBig, 1, strings.Index(tooBig, `, "s2000"`) + 1,
			"compilation failed: expression exceeds maximum allowed nodes", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileCondition(tc.src)
			var e *ExprError
			if !errors.As(err, &e) {
				t.Fatalf("error = %v (%T), want *ExprError", err, err)
			}
			if e.Line != tc.line || e.Column != tc.col || e.Msg != tc.msg {
				t.Errorf("error at %d:%d %q, want %d:%d %q", e.Line, e.Column, e.Msg, tc.line, tc.col, tc.msg)
			}
			if tc.snippet != "" && e.Snippet != tc.snippet {
				t.Errorf("snippet\n%s\nwant\n%s", e.Snippet, tc.snippet)
			}
		})
	}
}

func TestCompileEmpty(t *testing.T) {
	for _, src := range []string{"", " \n\t"} {
		if _, err := CompileCondition(src); !errors.Is(err, errEmptyCondition) {
			t.Errorf("CompileCondition(%q) error = %v, want %v", src, err, errEmptyCondition)
		}
	}
}

func TestExprErrorFormat(t *testing.T) {
	_, err := CompileCondition(`severity == "critical" || lables.x == "y"`)
	want := "unknown name lables (1:27)\n" +
		" | severity == \"critical\" || lables.x == \"y\"\n" +
		" | ..........................^"
	if err == nil || err.Error() != want {
		t.Errorf("error =\n%v\nwant\n%s", err, want)
	}
}

// whenOf decodes a rule's `when` the way the configuration does, so block
// scalars reach CompileCondition as YAML delivers them.
func whenOf(t *testing.T, doc string) string {
	t.Helper()
	var rule struct {
		When string `yaml:"when"`
	}
	if err := yaml.Unmarshal([]byte(doc), &rule); err != nil {
		t.Fatal(err)
	}
	return rule.When
}

func TestCompileErrorsInBlockScalars(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		line, col int
		msg       string
		snippet   string
	}{
		// a literal block keeps its lines.
		{"literal", "when: |\n  severity == \"critical\" &&\n  lables.team == \"db\"\n", 2, 1, "unknown name lables",
			" | lables.team == \"db\"\n | ^"},
		// indentation beyond the block's is part of the text.
		{"literal indented", "when: |-\n  severity == \"critical\" ||\n  (status == \"firing\" &&\n     matches(alertname, \"(\"))\n", 3, 23,
			"error parsing regexp: missing closing ): `(`", " |    matches(alertname, \"(\"))\n | ......................^"},
		// a syntax error at the end of the last line.
		{"literal syntax", "when: |\n  alertname == \"A\" ||\n  alertname ==\n", 2, 13, "unexpected token EOF", ""},
		// a folded block joins its lines into one.
		{"folded", "when: >-\n  severity == \"critical\" &&\n  lables.team == \"db\"\n", 1, 27, "unknown name lables", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileCondition(whenOf(t, tc.doc))
			var e *ExprError
			if !errors.As(err, &e) {
				t.Fatalf("error = %v, want *ExprError", err)
			}
			if e.Line != tc.line || e.Column != tc.col || e.Msg != tc.msg {
				t.Errorf("error at %d:%d %q, want %d:%d %q", e.Line, e.Column, e.Msg, tc.line, tc.col, tc.msg)
			}
			if tc.snippet != "" && e.Snippet != tc.snippet {
				t.Errorf("snippet\n%s\nwant\n%s", e.Snippet, tc.snippet)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	env := testEnvFor() // status firing, severity warning, team storage
	tests := []struct {
		name   string
		src    string
		ok     bool
		failed string
	}{
		// all conjuncts hold.
		{"all true", `status == "firing" && severity == "warning" && labels.team == "storage"`, true, ""},
		// the first of a && b && c fails.
		{"a fails", `status == "resolved" && severity == "warning" && labels.team == "storage"`, false, `status == "resolved"`},
		// the second fails.
		{"b fails", `status == "firing" && severity == "critical" && labels.team == "storage"`, false, `severity == "critical"`},
		// the third fails.
		{"c fails", `status == "firing" && severity == "warning" && labels.team == "db"`, false, `labels.team == "db"`},
		// the first failing one is named, not a later one.
		{"b and c fail", `status == "firing" && severity == "critical" && labels.team == "db"`, false, `severity == "critical"`},
		// `and` splits like &&.
		{"and keyword", `status == "firing" and severity == "critical"`, false, `severity == "critical"`},
		// a parenthesised group of && is split too.
		{"nested group", `(status == "firing" && (severity == "warning" && labels.team == "db")) && alertname == "DiskFull"`, false, `labels.team == "db"`},
		// a parenthesised || is one conjunct, named with its parentheses.
		{"or conjunct", `status == "firing" && (severity == "critical" || labels.team == "db") && alertname == "DiskFull"`, false,
			`(severity == "critical" || labels.team == "db")`},
		// a || at the top is not split: the whole expression failed.
		{"or at top", `severity == "critical" || labels.team == "db" && status == "firing"`, false,
			`severity == "critical" || labels.team == "db" && status == "firing"`},
		// a single condition fails as a whole.
		{"single", `severity == "critical"`, false, `severity == "critical"`},
		// calls and indexes keep their brackets.
		{"brackets", `matches(labels.team, "^stor") && labels["team"] in ["db", "web"]`, false, `labels["team"] in ["db", "web"]`},
		// a conjunct starting inside parentheses keeps them.
		{"leading paren", `status == "firing" && (labels).team == "db"`, false, `(labels).team == "db"`},
		// negation and the helpers.
		{"helpers", `inBusinessHours() && firedWithin("1h") >= 3 && not matches(alertname, "^Disk")`, false, `not matches(alertname, "^Disk")`},
		// text across lines of a block scalar, as written.
		{"multi-line", "status == \"firing\" &&\n  (severity == \"critical\" ||\n   labels.team == \"db\")\n", false,
			"(severity == \"critical\" ||\n   labels.team == \"db\")"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, tc.src)
			ok, failed, err := c.Explain(env)
			if err != nil || ok != tc.ok || failed != tc.failed {
				t.Errorf("Explain = %v, %q, %v; want %v, %q", ok, failed, err, tc.ok, tc.failed)
			}
			if want, err := c.Eval(env); err != nil || want != ok {
				t.Errorf("Eval = %v, %v; Explain said %v", want, err, ok)
			}
		})
	}
}

func TestExplainRuntimeError(t *testing.T) {
	env := testEnvFor()
	env.Labels["replicas"] = "three"
	c := mustCompile(t, `status == "firing" && int(labels.replicas) > 2`)
	if ok, failed, err := c.Explain(env); err == nil || ok || failed != "" {
		t.Errorf("Explain = %v, %q, %v; want an error", ok, failed, err)
	}
}

func TestEvalRuntimeErrors(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		src    string
	}{
		// a label that is not a number, converted to one.
		{"not an int", map[string]string{"replicas": "three"}, `int(labels.replicas) > 2`},
		// a float conversion.
		{"not a float", map[string]string{"pct": "high"}, `float(labels.pct) > 90`},
		// a window from a label that is not a duration.
		{"bad window", map[string]string{"window": "soon"}, `firedWithin(labels.window) > 2`},
		// a duration from a label that is not a duration.
		{"bad duration", map[string]string{"window": "soon"}, `duration > duration(labels.window)`},
		// a pattern from a label that does not compile.
		{"bad pattern", map[string]string{"re": "("}, `matches(alertname, labels.re)`},
		// and through the operator.
		{"bad pattern operator", map[string]string{"re": "("}, `alertname matches labels.re`},
		// indexing past the parts of a label.
		{"index out of range", map[string]string{"a": "x,y"}, `split(labels.a, ",")[3] == "y"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, tc.src)
			got, err := c.Eval(&Env{Labels: tc.labels})
			var e *ExprError
			if got || !errors.As(err, &e) {
				t.Fatalf("Eval = %v, %v; want false and an *ExprError", got, err)
			}
			if e.Line != 1 || e.Snippet == "" {
				t.Errorf("error %q not placed in the source", err)
			}
		})
	}
	t.Run("nil env", func(t *testing.T) {
		if _, err := mustCompile(t, `true`).Eval(nil); err == nil {
			t.Error("Eval(nil) succeeded")
		}
	})
}

func TestRewriteMatchesCalls(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		// a call at the start.
		{`matches(a, "b")`, `$regexp(a, "b")`},
		// the operator is left alone, with or without parentheses.
		{`a matches "b" || a matches ("b")`, `a matches "b" || a matches ("b")`},
		// the negated operator too.
		{`a not matches ("b")`, `a not matches ("b")`},
		// a negated call.
		{`not matches(a, "b")`, `not $regexp(a, "b")`},
		// calls after operators, brackets and commas.
		{`x && matches(a, "b") || f(matches(a, "b"), [matches(c, "d")])`, `x && $regexp(a, "b") || f($regexp(a, "b"), [$regexp(c, "d")])`},
		// a property or method named matches.
		{`x.matches(a) && x?.matches(b)`, `x.matches(a) && x?.matches(b)`},
		// text in strings.
		{`"matches(a)" == 'matches(b)'`, `"matches(a)" == 'matches(b)'`},
		// offsets count runes, not bytes.
		{`"größe" == "" && matches(a, "b")`, `"größe" == "" && $regexp(a, "b")`},
	}
	for _, tc := range tests {
		if got := rewriteMatchesCalls(tc.src); got != tc.want {
			t.Errorf("rewriteMatchesCalls(%s) = %s, want %s", tc.src, got, tc.want)
		}
	}
}

func TestEvalConcurrent(t *testing.T) {
	c := mustCompile(t, `status == "firing" && matches(labels.instance, "^db-") &&
		firedWithin("1h") >= 1 && labels.n in ["0", "2", "4", "6", "8"] && inBusinessHours()`)
	const goroutines, evals = 16, 500
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range evals {
				env := testEnvFor()
				env.Labels["n"] = fmt.Sprint((g + i) % 10)
				ok, err := c.Eval(env)
				if want := (g+i)%2 == 0; err != nil || ok != want {
					errs <- fmt.Errorf("goroutine %d eval %d: Eval = %v, %v; want %v", g, i, ok, err, want)
					return
				}
				if _, failed, err := c.Explain(env); err != nil || ok != (failed == "") {
					errs <- fmt.Errorf("goroutine %d eval %d: Explain = %q, %v", g, i, failed, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// benchConditions are 100 conditions of the kinds rules use: label
// equality, `in` lists, regular expressions, durations, mixes of them (80,
// which compile to fast tests), and helpers, conversions and time
// arithmetic (20, which run on expr's VM).
func benchConditions() []string {
	var conds []string
	teams := []string{"storage", "db", "web", "game", "infra"}
	for i := range 16 {
		conds = append(conds,
			fmt.Sprintf(`severity == "critical" && labels.team == %q`, teams[i%len(teams)]),
			fmt.Sprintf(`alertname in ["DiskFull", "HighLoad%d", "HighLatency", "NodeDown"] && status == "firing"`, i),
			fmt.Sprintf(`matches(labels.instance, "^db-[0-9]+:91%02d$") || labels.service startsWith "game-"`, i),
			fmt.Sprintf(`duration > duration("%dm") && labels.env != "staging"`, i+1),
			fmt.Sprintf(`severity in ["warning", "critical"] && (labels.team == %q || matches(labels.service, "^game-")) && duration < duration("%dh")`, teams[(i+1)%len(teams)], i+1),
		)
	}
	for i := range 5 {
		conds = append(conds,
			fmt.Sprintf(`severity == "notice" && firedWithin("1h") >= %d`, i+3),
			fmt.Sprintf(`inBusinessHours() && labels.team == %q`, teams[i]),
			fmt.Sprintf(`now - startsAt > duration("%dh") && status == "firing"`, i+1),
			fmt.Sprintf(`int(labels.replicas) < %d || labels.team == %q`, i+2, teams[i]),
		)
	}
	return conds
}

func BenchmarkEval100Rules(b *testing.B) {
	conds := benchConditions()
	compiled := make([]*Condition, len(conds))
	for i, src := range conds {
		compiled[i] = mustCompile(b, src)
	}
	env := testEnvFor()
	b.ReportAllocs()
	matched := 0
	for b.Loop() {
		for _, c := range compiled {
			ok, err := c.Eval(env)
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				matched++
			}
		}
	}
	if matched == 0 {
		b.Fatal("no condition matched")
	}
}
