package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker/nature"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/parser/lexer"
	"github.com/expr-lang/expr/vm"
)

// Env is what a `when` expression sees. Field names in expressions are the
// expr tags. A label, annotation or group label that the alert does not
// carry reads as "": labels.nope == "" holds and labels.nope + "x" is "x".
//
// Besides the fields, an expression can call three helpers:
//
//	inBusinessHours()  bool  whether now is within the business calendar's hours
//	matches(s, re)     bool  whether the regular expression re matches s
//	firedWithin(d)     int   how many episodes of this alert started within d
//	                         before now (d a duration("1h") or a string "1h")
//
// and expr's own operators and builtins (`in`, `matches`, `startsWith`,
// len(), int(), …). duration("1h") is a duration, in the configuration's
// units (1d and 1w too); now() is not there: now is the field, the time of
// the evaluation.
type Env struct {
	Labels       map[string]string `expr:"labels"`
	Annotations  map[string]string `expr:"annotations"`
	Status       string            `expr:"status"`    // firing|resolved
	Alertname    string            `expr:"alertname"` // labels.alertname
	Severity     string            `expr:"severity"`  // labels.severity
	StartsAt     time.Time         `expr:"startsAt"`
	Duration     time.Duration     `expr:"duration"` // now - startsAt
	Receiver     string            `expr:"receiver"`
	GroupLabels  map[string]string `expr:"groupLabels"`
	CommonLabels map[string]string `expr:"commonLabels"`
	ExternalURL  string            `expr:"externalURL"`
	Now          time.Time         `expr:"now"`
	// Level is set in remediation and notification rules, after
	// classification; it is "" while classifying.
	Level string `expr:"level"`

	// Facts answers inBusinessHours() and firedWithin(d) for this
	// evaluation; expressions cannot name it. Nil means no calendar and no
	// history: inBusinessHours() is false and firedWithin(d) is 0.
	Facts Facts `expr:"-"`
}

// Facts is what the helpers need to know beyond the alert itself: the
// business calendar and the alert's history. An evaluator can keep one
// value per worker and point it at the alert at hand, so that no
// evaluation allocates.
type Facts interface {
	// InBusinessHours reports whether t is within business hours.
	InBusinessHours(t time.Time) bool
	// FiredWithin counts the episodes of the alert (the one being
	// evaluated included) that started within d before now.
	FiredWithin(d time.Duration) int
}

// maxExprNodes bounds the size of one expression; rules are short, and a
// bound keeps a generated or pasted monster from slowing every alert.
const maxExprNodes = 2000

// Helper names as expressions write them.
const (
	fnInBusinessHours = "inBusinessHours"
	fnFiredWithin     = "firedWithin"
	fnMatches         = "matches"
	fnDuration        = "duration"
)

// Names calls are compiled under, where the name the user writes cannot
// be the function's.
const (
	// fnRegexp is matches(s, re). expr lexes `matches` as its binary
	// operator (s matches re), so a call to a function of that name does
	// not parse; rewriteMatchesCalls renames the word where it starts a
	// call to this identifier of the same length, so that every position
	// expr reports is a position in the user's text.
	fnRegexp = "$regexp"
	// fnParseDuration is duration(s). The Env field `duration` hides
	// expr's builtin of that name (expr looks a name up in the Env first),
	// so helperPatcher renames the callee of each call. It parses a
	// duration the way the configuration does (1h30m, 1d, 1w).
	fnParseDuration = "$parseDuration"
)

// internalNames maps the names calls are compiled under back to the names
// the user wrote, for error messages.
var internalNames = strings.NewReplacer(fnRegexp, fnMatches, fnParseDuration, fnDuration)

// How the helpers reach the Env: expr passes a function only its
// arguments, so a helper that needs the alert's Facts would otherwise be a
// closure built per alert (or a func-typed Env field, set per alert).
// Instead helperPatcher rewrites inBusinessHours() to
// inBusinessHours($env) and firedWithin(d) to firedWithin($env, d) at
// compile time; $env is the *Env handed to the VM, so the functions are
// package-level, built once, and read env.Facts on each call. The types
// say Env where the value is an *Env: expr checks $env as the Env it was
// given and passes the run's env as is.
var exprOptions = []expr.Option{
	expr.Env(Env{}),
	expr.AsBool(),
	expr.MaxNodes(maxExprNodes),
	expr.Function(fnInBusinessHours, inBusinessHours, new(func(Env) bool)),
	expr.Function(fnFiredWithin, firedWithin,
		new(func(Env, time.Duration) int),
		new(func(Env, string) int)),
	expr.Function(fnRegexp, matchRegexp, new(func(string, string) bool)),
	expr.Function(fnParseDuration, parseDuration, new(func(string) time.Duration)),
}

// Condition is one compiled `when` expression, safe for concurrent use.
type Condition struct {
	// Source is the expression as written.
	Source string

	whole compiled
	// conjuncts are the top-level && operands, each compiled on its own,
	// for Explain; nil when the expression is not a conjunction.
	conjuncts []compiled
}

// compiled is an expression ready to evaluate.
type compiled struct {
	source  string
	program *vm.Program
	fast    *fastTest // the whole expression, when fieldPatcher made it one
}

// ExprError is an expression that does not compile, or one that failed
// while evaluating. Line and Column are 1-based positions within the
// expression's source. Snippet is the offending source line and a caret
// line under it, as expr prints them: each starts with " | ", and the caret
// line has a dot for each character before the column, then "^".
type ExprError struct {
	Line, Column int
	Msg          string
	Snippet      string

	err error // the cause, when expr reported one
}

// Error formats the error the way expr does: message, position, snippet.
func (e *ExprError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	s := fmt.Sprintf("%s (%d:%d)", e.Msg, e.Line, e.Column)
	if e.Snippet != "" {
		s += "\n" + e.Snippet
	}
	return s
}

// Unwrap returns the error's cause, if expr reported one.
func (e *ExprError) Unwrap() error { return e.err }

// errEmptyCondition is CompileCondition's answer to an empty expression.
var errEmptyCondition = errors.New("empty expression")

// CompileCondition compiles a `when` expression: it must be a boolean
// expression over Env. Errors are *ExprError, placed within src.
func CompileCondition(src string) (*Condition, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errEmptyCondition
	}
	whole, err := compileExpr(src)
	if err != nil {
		return nil, err
	}
	return &Condition{Source: src, whole: whole, conjuncts: compileConjuncts(src)}, nil
}

// compileExpr compiles src with the Env and helpers, reporting errors as
// *ExprError against src itself. When the whole expression is one
// fastTest (see fieldPatcher), it returns that too.
func compileExpr(src string) (compiled, error) {
	rewritten := rewriteMatchesCalls(src)
	p := &helperPatcher{callees: map[*ast.IdentifierNode]bool{}}
	fp := &fieldPatcher{callees: p.callees, reads: map[ast.Node]func(*Env) string{}, tests: map[ast.Node]*fastTest{}}
	opts := append(exprOptions[:len(exprOptions):len(exprOptions)], expr.Patch(p), expr.Patch(fp))
	program, err := expr.Compile(rewritten, opts...)
	if p.err != nil {
		// The patchers run before the final type check, on a tree that
		// parsed; a constant the helper patcher rejected comes first.
		err = p.err
	}
	if err != nil {
		return compiled{}, newExprError(src, err)
	}
	return compiled{source: src, program: program, fast: fp.tests[program.Node()]}, nil
}

// newExprError turns expr's error into an *ExprError whose position and
// snippet refer to src.
func newExprError(src string, err error) *ExprError {
	var fe *file.Error
	if !errors.As(err, &fe) {
		// expr places the errors about the whole expression (AsBool's
		// "expected bool") nowhere: place them at its start.
		start := len([]rune(src)) - len([]rune(strings.TrimLeftFunc(src, unicode.IsSpace)))
		fe = &file.Error{Location: file.Location{From: start, To: start + 1}, Message: err.Error(), Prev: err}
	}
	// Bind again: the snippet must show src, not the rewritten text, and a
	// patcher's error is not bound yet. The offsets are the same in both.
	bound := *fe
	bound.Bind(file.NewSource(src))
	return &ExprError{
		Line:    bound.Line,
		Column:  bound.Column + 1,
		Msg:     internalNames.Replace(bound.Message),
		Snippet: strings.TrimPrefix(bound.Snippet, "\n"),
		err:     fe.Unwrap(),
	}
}

// vms holds the VMs evaluations run on. A vm.VM keeps its stack between
// runs, so a worker reusing one allocates nothing for it; the pool gives
// each concurrent evaluation its own.
var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// Eval reports whether the condition holds for env. A runtime failure (a
// label that is not a number where one is converted, a bad regular
// expression computed from a label) is an *ExprError; the caller counts it
// as no match.
func (c *Condition) Eval(env *Env) (bool, error) {
	return c.whole.eval(env)
}

// Explain evaluates the condition one top-level conjunct at a time and
// reports the source text of the first that is false; for an expression
// that is not a conjunction, failed is the whole expression. ok and err
// are those of Eval.
func (c *Condition) Explain(env *Env) (ok bool, failed string, err error) {
	if len(c.conjuncts) == 0 {
		ok, err = c.Eval(env)
		if ok || err != nil {
			return ok, "", err
		}
		return false, strings.TrimSpace(c.Source), nil
	}
	for _, cj := range c.conjuncts {
		ok, err = cj.eval(env)
		if err != nil {
			return false, "", err
		}
		if !ok {
			return false, cj.source, nil
		}
	}
	return true, "", nil
}

func (c *compiled) eval(env *Env) (bool, error) {
	if env == nil {
		return false, errors.New("evaluating a condition: nil env")
	}
	if c.fast != nil {
		// The program would call c.fast and return what it says.
		return c.fast.run(env), nil
	}
	m := vms.Get().(*vm.VM)
	out, err := m.Run(c.program, env)
	vms.Put(m)
	if err != nil {
		return false, newExprError(c.source, err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, &ExprError{Msg: fmt.Sprintf("expected bool, but got %T", out)}
	}
	return b, nil
}

// helperPatcher prepares calls to the helpers: it passes $env to the
// helpers that read Facts, turns constant duration strings (of duration()
// and firedWithin()) into durations, and compiles matches(s, "re") with a
// constant pattern as expr's own `s matches "re"`, whose regexp expr
// compiles once. It records the first constant it rejects, so that a bad
// one fails at load.
type helperPatcher struct {
	err     *file.Error
	callees map[*ast.IdentifierNode]bool // the names called as functions
}

func (p *helperPatcher) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	callee, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	p.callees[callee] = true
	switch callee.Value {
	case fnDuration:
		if len(call.Arguments) == 1 {
			if s, ok := call.Arguments[0].(*ast.StringNode); ok {
				if d, ok := p.duration(fnDuration, s); ok {
					ast.Patch(node, d)
				}
				return
			}
		}
		callee.Value = fnParseDuration
	case fnInBusinessHours, fnFiredWithin:
		if callee.Value == fnFiredWithin && len(call.Arguments) == 1 {
			if s, ok := call.Arguments[0].(*ast.StringNode); ok {
				d, ok := p.duration(fnFiredWithin, s)
				if !ok {
					return
				}
				call.Arguments[0] = d
			}
		}
		call.Arguments = append([]ast.Node{envNode(callee)}, call.Arguments...)
	case fnRegexp:
		if len(call.Arguments) != 2 {
			return // the type check reports it
		}
		s, ok := call.Arguments[1].(*ast.StringNode)
		if !ok {
			return // computed: matchRegexp compiles and caches it
		}
		if _, err := regexp.Compile(s.Value); err != nil {
			p.fail(s, "%v", err)
			return
		}
		ast.Patch(node, &ast.BinaryNode{Operator: "matches", Left: call.Arguments[0], Right: s})
	}
}

// duration parses the constant argument s of fn into a constant.
func (p *helperPatcher) duration(fn string, s *ast.StringNode) (ast.Node, bool) {
	d, err := ParseDuration(s.Value)
	if err != nil {
		p.fail(s, "%s: %v", fn, err)
		return nil, false
	}
	c := &ast.ConstantNode{Value: d.D()}
	c.SetLocation(s.Location())
	return c, true
}

func (p *helperPatcher) fail(at ast.Node, format string, args ...any) {
	if p.err == nil {
		p.err = &file.Error{Location: at.Location(), Message: fmt.Sprintf(format, args...)}
	}
}

// envNode returns a $env placed at the node at.
func envNode(at ast.Node) ast.Node {
	env := &ast.IdentifierNode{Value: "$env"}
	env.SetLocation(at.Location())
	return env
}

// inBusinessHours is inBusinessHours(), called as inBusinessHours($env).
func inBusinessHours(params ...any) (any, error) {
	env := params[0].(*Env)
	if env.Facts == nil {
		return false, nil
	}
	return env.Facts.InBusinessHours(env.Now), nil
}

// firedWithin is firedWithin(d), called as firedWithin($env, d); a
// constant string d was made a duration at compile time.
func firedWithin(params ...any) (any, error) {
	env := params[0].(*Env)
	var d time.Duration
	switch v := params[1].(type) {
	case time.Duration:
		d = v
	case string:
		pd, err := ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fnFiredWithin, err)
		}
		d = pd.D()
	default:
		return nil, fmt.Errorf("%s: want a duration, got %T", fnFiredWithin, v)
	}
	if env.Facts == nil {
		return 0, nil
	}
	return env.Facts.FiredWithin(d), nil
}

// parseDuration is duration(s) with s computed at run time.
func parseDuration(params ...any) (any, error) {
	s, ok := params[0].(string)
	if !ok {
		return nil, fmt.Errorf("%s: want a string, got %T", fnDuration, params[0])
	}
	d, err := ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fnDuration, err)
	}
	return d.D(), nil
}

// matchRegexp is matches(s, re) with a pattern computed at run time; a
// constant pattern never gets here (see helperPatcher).
func matchRegexp(params ...any) (any, error) {
	s, ok1 := params[0].(string)
	pattern, ok2 := params[1].(string)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s: want two strings, got %T and %T", fnMatches, params[0], params[1])
	}
	re, err := cachedRegexp(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fnMatches, err)
	}
	return re.MatchString(s), nil
}

// regexps caches the patterns matches() compiled at run time, up to
// maxCachedRegexps of them, so that patterns built from label values
// cannot grow it without bound.
var (
	regexps     sync.Map // pattern → *regexp.Regexp
	regexpCount atomic.Int64
)

const maxCachedRegexps = 1000

func cachedRegexp(pattern string) (*regexp.Regexp, error) {
	if re, ok := regexps.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	if regexpCount.Load() < maxCachedRegexps {
		if _, loaded := regexps.LoadOrStore(pattern, re); !loaded {
			regexpCount.Add(1)
		}
	}
	return re, nil
}

// Reading the Env fast. expr reads a field of a struct env by reflection,
// a map entry by reflection again, and boxes each string it reads: that
// was most of the time a condition took. fieldPatcher compiles
//
//   - a string field (severity) or a label of a constant name
//     (labels.team, labels["team"], also of annotations, groupLabels,
//     commonLabels) to a call of a function that reads it directly;
//   - a test of such a value against constants (severity == "critical",
//     labels.team in ["db", "web"], labels.instance matches "^db-",
//     startsWith, endsWith, contains, !=), a comparison of duration or
//     firedWithin(d) with a constant (duration > duration("5m"),
//     firedWithin("1h") >= 5), inBusinessHours(), and &&, || and ! of
//     those, to one call that does the whole test without boxing a
//     value. An expression that is one such test skips the VM.
//
// Each function is a constant of the program, of a type that expr's VM
// calls without reflection and without an argument slice (func(any)
// string, func(any, any) bool), and gets the *Env as $env. The other
// reads (times, whole maps) are expr's. A `let` cannot hide a field: expr
// refuses to redeclare an Env name.
//
// fieldPatcher also makes the final type check see the whole tree. expr
// type-checks before each patcher and ignores those errors, and its final
// check takes a call's type from the earlier checks without looking at
// the arguments again, so an error there (now.Add(-duration)) would pass.
// fieldPatcher forgets the type of each call. It is a "repeatable"
// patcher (Reset, ShouldRepeat) only to run after the others and their
// checks, right before the final check.
type fieldPatcher struct {
	callees map[*ast.IdentifierNode]bool // from helperPatcher
	reads   map[ast.Node]func(*Env) string
	tests   map[ast.Node]*fastTest
}

func (*fieldPatcher) Reset()             {}
func (*fieldPatcher) ShouldRepeat() bool { return false }

func (p *fieldPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		// severity() is left for expr to refuse.
		if read, ok := stringFields[n.Value]; ok && !p.callees[n] {
			p.read(node, read)
		}
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok {
			if labels, ok := labelFields[id.Value]; ok {
				if key, ok := n.Property.(*ast.StringNode); ok {
					name := key.Value
					p.read(node, func(e *Env) string { return labels(e)[name] })
					return
				}
			}
		}
		if n.Node.Type() == stringMapType {
			// labels?.x on a nil map would be nil; a lookup in a nil map
			// gives "", as for a label missing from a map that has others.
			n.Optional = false
		}
	case *ast.ChainNode:
		// labels?.x is a read like labels.x.
		if _, ok := p.reads[n.Node]; ok {
			*node = n.Node
		}
	case *ast.BinaryNode:
		if t := p.fastTest(n); t != nil {
			p.test(node, t)
		}
	case *ast.UnaryNode:
		if t, ok := p.tests[n.Node]; ok && (n.Operator == "!" || n.Operator == "not") {
			p.test(node, &fastTest{op: opNot, parts: []*fastTest{t}})
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == fnInBusinessHours && len(n.Arguments) == 1 {
			p.test(node, &fastTest{op: opInBusinessHours})
			return
		}
		n.SetNature(nature.Nature{}) // see above
	}
}

// read replaces *node by a call of read.
func (p *fieldPatcher) read(node *ast.Node, read func(*Env) string) {
	call := &ast.CallNode{
		Callee:    at(&ast.ConstantNode{Value: func(env any) string { return read(env.(*Env)) }}, *node),
		Arguments: []ast.Node{envNode(*node)},
	}
	ast.Patch(node, call)
	p.reads[call] = read
}

// test replaces *node by a call of t.
func (p *fieldPatcher) test(node *ast.Node, t *fastTest) {
	call := &ast.CallNode{
		Callee:    at(&ast.ConstantNode{Value: runFastTest}, *node),
		Arguments: []ast.Node{envNode(*node), at(&ast.ConstantNode{Value: t}, *node)},
	}
	ast.Patch(node, call)
	p.tests[call] = t
}

// fastTest returns the test n makes, if it is one of those fieldPatcher
// compiles.
func (p *fieldPatcher) fastTest(n *ast.BinaryNode) *fastTest {
	left, right, op := n.Left, n.Right, n.Operator
	if l, ok := p.tests[left]; ok {
		r, ok := p.tests[right]
		if !ok {
			return nil
		}
		switch op {
		case "&&", "and":
			return &fastTest{op: opAnd, parts: append(l.flat(opAnd), r.flat(opAnd)...)}
		case "||", "or":
			return &fastTest{op: opOr, parts: append(l.flat(opOr), r.flat(opOr)...)}
		}
		return nil
	}
	if _, ok := p.reads[right]; ok && (op == "==" || op == "!=") {
		left, right = right, left
	}
	if read, ok := p.reads[left]; ok {
		t := &fastTest{read: read}
		switch r := right.(type) {
		case *ast.StringNode:
			t.value = r.Value
			switch op {
			case "==":
				t.op = opEqual
			case "!=":
				t.op = opNotEqual
			case "startsWith":
				t.op = opStartsWith
			case "endsWith":
				t.op = opEndsWith
			case "contains":
				t.op = opContains
			case "matches":
				re, err := regexp.Compile(r.Value)
				if err != nil {
					return nil // expr reports it
				}
				t.op, t.re = opMatches, re
			default:
				return nil
			}
			return t
		case *ast.ArrayNode:
			if op != "in" {
				return nil
			}
			t.op = opIn
			for _, e := range r.Nodes {
				s, ok := e.(*ast.StringNode)
				if !ok {
					return nil
				}
				t.set = append(t.set, s.Value)
			}
			return t
		}
		return nil
	}
	// duration or firedWithin(d) against a constant.
	if isNumber(left) {
		left, right = right, left
		op = flipped[op]
	}
	t := &fastTest{}
	switch l := left.(type) {
	case *ast.IdentifierNode:
		c, ok := right.(*ast.ConstantNode)
		if !ok || l.Value != fnDuration {
			return nil
		}
		d, ok := c.Value.(time.Duration)
		if !ok {
			return nil
		}
		t.num = func(e *Env) int64 { return int64(e.Duration) }
		t.n = int64(d)
	case *ast.CallNode:
		id, ok := l.Callee.(*ast.IdentifierNode)
		if !ok || id.Value != fnFiredWithin || len(l.Arguments) != 2 {
			return nil
		}
		c, ok := l.Arguments[1].(*ast.ConstantNode)
		if !ok {
			return nil
		}
		d, ok := c.Value.(time.Duration)
		if !ok {
			return nil
		}
		i, ok := right.(*ast.IntegerNode)
		if !ok {
			return nil
		}
		t.num = func(e *Env) int64 {
			if e.Facts == nil {
				return 0
			}
			return int64(e.Facts.FiredWithin(d))
		}
		t.n = int64(i.Value)
	default:
		return nil
	}
	switch op {
	case "<":
		t.op = opLess
	case "<=":
		t.op = opLessOrEqual
	case ">":
		t.op = opMore
	case ">=":
		t.op = opMoreOrEqual
	case "==":
		t.op = opEqual
	case "!=":
		t.op = opNotEqual
	default:
		return nil
	}
	return t
}

// isNumber reports whether n is a constant duration or integer.
func isNumber(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return true
	case *ast.ConstantNode:
		_, ok := n.Value.(time.Duration)
		return ok
	}
	return false
}

// flipped is the operator that holds for b op' a when a op b does.
var flipped = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}

// fastTest is a string read from the Env tested against constants, a
// number (duration, firedWithin(d)) compared with a constant,
// inBusinessHours(), or the conjunction, disjunction or negation of
// fastTests.
type fastTest struct {
	op    fastOp
	read  func(*Env) string // the string tested, or
	num   func(*Env) int64  // the number compared
	value string
	set   []string
	re    *regexp.Regexp
	n     int64       // what num is compared with
	parts []*fastTest // of opAnd, opOr, opNot
}

// flat returns the parts of t if it is an op, or t.
func (t *fastTest) flat(op fastOp) []*fastTest {
	if t.op == op {
		return t.parts
	}
	return []*fastTest{t}
}

type fastOp int

const (
	opEqual fastOp = iota
	opNotEqual
	opIn
	opMatches
	opStartsWith
	opEndsWith
	opContains
	opLess
	opLessOrEqual
	opMore
	opMoreOrEqual
	opAnd
	opOr
	opNot
	opInBusinessHours
)

// runFastTest is what the VM calls for a fastTest.
func runFastTest(env, test any) bool { return test.(*fastTest).run(env.(*Env)) }

func (t *fastTest) run(e *Env) bool {
	switch t.op {
	case opAnd:
		for _, p := range t.parts {
			if !p.run(e) {
				return false
			}
		}
		return true
	case opOr:
		for _, p := range t.parts {
			if p.run(e) {
				return true
			}
		}
		return false
	case opNot:
		return !t.parts[0].run(e)
	case opInBusinessHours:
		return e.Facts != nil && e.Facts.InBusinessHours(e.Now)
	}
	if t.num != nil {
		return compare(t.op, t.num(e), t.n)
	}
	s := t.read(e)
	switch t.op {
	case opEqual:
		return s == t.value
	case opNotEqual:
		return s != t.value
	case opIn:
		return slices.Contains(t.set, s)
	case opMatches:
		return t.re.MatchString(s)
	case opStartsWith:
		return strings.HasPrefix(s, t.value)
	case opEndsWith:
		return strings.HasSuffix(s, t.value)
	case opContains:
		return strings.Contains(s, t.value)
	}
	return false
}

func compare(op fastOp, a, b int64) bool {
	switch op {
	case opEqual:
		return a == b
	case opNotEqual:
		return a != b
	case opLess:
		return a < b
	case opLessOrEqual:
		return a <= b
	case opMore:
		return a > b
	case opMoreOrEqual:
		return a >= b
	}
	return false
}

// at places node where other is, and returns it.
func at(node ast.Node, other ast.Node) ast.Node {
	node.SetLocation(other.Location())
	return node
}

var stringMapType = reflect.TypeFor[map[string]string]()

// stringFields read Env's string fields, by expr tag.
var stringFields = map[string]func(*Env) string{
	"status":      func(e *Env) string { return e.Status },
	"alertname":   func(e *Env) string { return e.Alertname },
	"severity":    func(e *Env) string { return e.Severity },
	"receiver":    func(e *Env) string { return e.Receiver },
	"externalURL": func(e *Env) string { return e.ExternalURL },
	"level":       func(e *Env) string { return e.Level },
}

// labelFields read Env's map[string]string fields, by expr tag.
var labelFields = map[string]func(*Env) map[string]string{
	"labels":       func(e *Env) map[string]string { return e.Labels },
	"annotations":  func(e *Env) map[string]string { return e.Annotations },
	"groupLabels":  func(e *Env) map[string]string { return e.GroupLabels },
	"commonLabels": func(e *Env) map[string]string { return e.CommonLabels },
}

// rewriteMatchesCalls renames `matches` to fnRegexp where it starts a
// call, leaving the operator (s matches re, s not matches (re)) and
// properties (x.matches) alone. src is returned as is when it does not
// lex; compiling it reports why.
func rewriteMatchesCalls(src string) string {
	if !strings.Contains(src, fnMatches) {
		return src
	}
	tokens, err := lexer.Lex(file.NewSource(src))
	if err != nil {
		return src
	}
	var out []byte
	for i, t := range tokens {
		if !t.Is(lexer.Operator, fnMatches) || i+1 >= len(tokens) || !tokens[i+1].Is(lexer.Bracket, "(") || !startsOperand(tokens, i) {
			continue
		}
		if out == nil {
			out = []byte(src)
		}
		at := byteOffset(src, t.From)
		copy(out[at:at+len(fnMatches)], fnRegexp)
	}
	if out == nil {
		return src
	}
	return string(out)
}

// startsOperand reports whether tokens[i] stands where an operand begins:
// at the start, or after an operator or an opening bracket, rather than
// after an operand (where a word like `matches` is a binary operator) or a
// dot (where it is a property).
func startsOperand(tokens []lexer.Token, i int) bool {
	if i == 0 {
		return true
	}
	prev := tokens[i-1]
	switch prev.Kind {
	case lexer.Identifier, lexer.Number, lexer.String, lexer.Bytes:
		return false
	case lexer.Bracket:
		return strings.Contains("([{", prev.Value)
	case lexer.Operator:
		switch prev.Value {
		case ".", "?.", "#", "::":
			return false
		case "not":
			// "x not matches (re)" is the negated operator; "not
			// matches(s, re)" negates a call.
			return startsOperand(tokens, i-1)
		}
		return true
	}
	return false
}

// byteOffset converts expr's rune offset into src to a byte offset.
func byteOffset(src string, runes int) int {
	if runes <= 0 {
		return 0
	}
	n := 0
	for i := range src {
		if n == runes {
			return i
		}
		n++
	}
	return len(src)
}

// compileConjuncts splits src into its top-level && (or `and`) operands,
// through parentheses, and compiles each on its own: (a && b) && c has
// the conjuncts a, b and c. It returns nil for an expression that is not
// a conjunction, and (defensively) when a part does not compile alone.
func compileConjuncts(src string) []compiled {
	rewritten := rewriteMatchesCalls(src)
	tree, err := parser.Parse(rewritten)
	if err != nil {
		return nil
	}
	var parts []ast.Node
	var flatten func(n ast.Node)
	flatten = func(n ast.Node) {
		if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
			flatten(b.Left)
			flatten(b.Right)
			return
		}
		parts = append(parts, n)
	}
	flatten(tree.Node)
	if len(parts) < 2 {
		return nil
	}
	tokens, err := lexer.Lex(file.NewSource(rewritten))
	if err != nil {
		return nil
	}
	conjuncts := make([]compiled, len(parts))
	for i, part := range parts {
		from, to := span(part, tokens)
		text := src[byteOffset(src, from):byteOffset(src, to)]
		cj, err := compileExpr(text)
		if err != nil {
			return nil
		}
		conjuncts[i] = cj
	}
	return conjuncts
}

// span returns the rune offsets [from, to) of the source text of the
// subtree n: from its first token to its last, widened to take in the
// brackets it opens or closes (the nodes of f(x) end at x, those of f()
// at f, and those of (a).b start at a) and the parentheses around it.
func span(n ast.Node, tokens []lexer.Token) (from, to int) {
	from, to = -1, -1
	ast.Walk(&n, visitFunc(func(node *ast.Node) {
		loc := (*node).Location()
		if loc.From == 0 && loc.To == 0 {
			return // a node the parser made up, without a place
		}
		if from < 0 || loc.From < from {
			from = loc.From
		}
		if loc.To > to {
			to = loc.To
		}
	}))
	// first and last are the token indexes of the span, inclusive.
	first, last := -1, -1
	for i, t := range tokens {
		if t.Kind == lexer.EOF {
			break
		}
		if t.From >= from && first < 0 {
			first = i
		}
		if t.To <= to {
			last = i
		}
	}
	if first < 0 || last < first {
		return from, to
	}
	for {
		open, unopened := bracketBalance(tokens[first : last+1])
		switch {
		case unopened > 0 && first > 0:
			first--
		case open > 0 && last+1 < len(tokens) && tokens[last+1].Kind != lexer.EOF,
			tokens[last+1].Is(lexer.Bracket, "(", "["):
			// An opening bracket right after the part is its own (f()
			// has no node after f): between parts there is an && or a
			// closing bracket.
			last++
		case first > 0 && tokens[first-1].Is(lexer.Bracket, "(") && tokens[last+1].Is(lexer.Bracket, ")"):
			// The parentheses around the part, not around a group the
			// part belongs to: those would hold an && too.
			first--
			last++
		default:
			return tokens[first].From, tokens[last].To
		}
	}
}

// bracketBalance counts the brackets tokens leave open and the closing
// brackets they hold without an opening one.
func bracketBalance(tokens []lexer.Token) (open, unopened int) {
	for _, t := range tokens {
		if t.Kind != lexer.Bracket {
			continue
		}
		if strings.Contains("([{", t.Value) {
			open++
		} else if open > 0 {
			open--
		} else {
			unopened++
		}
	}
	return open, unopened
}

type visitFunc func(node *ast.Node)

func (f visitFunc) Visit(node *ast.Node) { f(node) }
