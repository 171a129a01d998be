package rules

import (
	"bytes"
	_ "embed" // for DefaultYAML
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultYAML is the built-in configuration, with comments: remediator runs
// with it when no file is given, and it is a starting point for one.
//
//go:embed default.yml
var DefaultYAML []byte

// yamlLineRE splits yaml.v3's "yaml: line N: message" syntax errors.
var yamlLineRE = regexp.MustCompile(`(?s)^(?:yaml: )?line ([0-9]+): (.*)$`)

// Default parses DefaultYAML with the same Parse as any file. The
// environment is not consulted.
func Default() (*Config, error) {
	noEnv := func(string) (string, bool) { return "", false }
	return Parse("default.yml", DefaultYAML, noEnv)
}

// Load reads the file at path and parses it with Parse. A nil lookupEnv
// means os.LookupEnv.
func Load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(path, data, lookupEnv)
}

// Parse reads a configuration: it parses the YAML, expands ${VAR},
// ${VAR:-default} and $$ in values (never in keys), rejects unknown keys
// and ill-typed values, applies defaults and validates. filename only
// labels the errors; a nil lookupEnv means os.LookupEnv.
//
// Every problem found is reported at once, as Errors.
func Parse(filename string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	l := &loader{
		file:   filename,
		lookup: lookupEnv,
		pos:    make(map[string]position),
		nodes:  make(map[string]*yaml.Node),
		failed: make(map[*yaml.Node]bool),
		active: make(map[*yaml.Node]bool),
	}
	cfg := l.load(data)
	if len(l.errs) > 0 {
		l.errs.sort()
		return nil, l.errs
	}
	return cfg, nil
}

// position is a 1-based line and column in the file.
type position struct{ line, col int }

// loader holds the state of one Parse.
type loader struct {
	file   string
	lookup func(string) (string, bool)
	errs   Errors
	// pos maps config paths (auth.tokens[1].role) to where they are written.
	pos map[string]position
	// nodes maps the same paths to their nodes, to place positions within
	// an expression.
	nodes map[string]*yaml.Node
	// lines are the file's lines, for block scalars.
	lines []string
	// failed holds scalars whose expansion failed; they are not type-checked.
	failed map[*yaml.Node]bool
	// active holds the nodes being walked, to stop at recursive aliases.
	active map[*yaml.Node]bool
}

// load runs the steps of Parse, stopping after the first step that found
// problems.
func (l *loader) load(data []byte) *Config {
	root := l.parseYAML(data)
	if root == nil {
		return nil
	}
	l.expandTree(root, "")
	l.walk(root, reflect.TypeFor[Config](), "")
	if len(l.errs) > 0 {
		return nil
	}
	cfg := new(Config)
	if err := root.Decode(cfg); err != nil {
		l.decodeFailed(err)
		return nil
	}
	cfg.setDefaults()
	var v validator
	cfg.validate(&v)
	// A webhook token written but empty (webhook_token: ${WT} with WT set
	// to nothing) would leave the webhook open: say so rather than run
	// without one.
	if _, written := l.nodes["server.webhook_token"]; written && cfg.Server.WebhookToken == "" {
		v.addf("server.webhook_token", "is empty: remove the key to run without a webhook token (loopback only)")
	}
	l.lines = strings.Split(string(data), "\n")
	for _, p := range v.problems {
		if p.expr != nil {
			msg := withPath(p.path, p.msg)
			if p.expr.Snippet != "" {
				msg += "\n" + p.expr.Snippet
			}
			l.errorAt(l.exprPosition(p.path, p.expr), "%s", msg)
			continue
		}
		l.errorAt(l.position(p.path), "%s", withPath(p.path, p.msg))
	}
	return cfg
}

// parseYAML returns the top-level node of the only document in data, or nil
// after recording why there is none.
func (l *loader) parseYAML(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.errorAt(position{1, 1}, "the file is empty")
		} else {
			l.syntaxError(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		l.syntaxError(err)
		return nil
	default:
		l.errorAt(nodePos(&next), "only one YAML document is allowed")
		return nil
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		l.errorAt(position{1, 1}, "the file is empty")
		return nil
	}
	return doc.Content[0]
}

// syntaxError records a yaml.v3 parse error at its line.
func (l *loader) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	l.errorAt(position{line: line}, "invalid YAML: %s", msg)
}

// decodeFailed records an error from the final Decode, which the walker
// should have prevented.
func (l *loader) decodeFailed(err error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		l.errorAt(position{}, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	for _, msg := range te.Errors {
		var line int
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		l.errorAt(position{line: line}, "%s", msg)
	}
}

// errorAt records a problem at p.
func (l *loader) errorAt(p position, format string, args ...any) {
	l.errs = append(l.errs, Error{File: l.file, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)})
}

// position returns where path is written, or else where its nearest
// written ancestor is, or else 1:1.
func (l *loader) position(path string) position {
	for {
		if p, ok := l.pos[path]; ok {
			return p
		}
		if path == "" {
			return position{1, 1}
		}
		path = parentPath(path)
	}
}

// exprPosition maps a position within the expression written at path to
// the file. It computes a candidate for plain, quoted and block (| and >)
// scalars and keeps it only if the file has the expression's character
// there; otherwise (escapes, multi-line plain scalars, values from ${VAR},
// unusual indentation) it falls back to the scalar's own position, which
// is never wrong.
func (l *loader) exprPosition(path string, e *ExprError) position {
	n := l.nodes[path]
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n == nil || e.Line == 0 {
		return l.position(path)
	}
	var p position
	switch n.Style {
	case 0: // plain
		p = position{n.Line, n.Column + e.Column - 1}
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		p = position{n.Line, n.Column + e.Column}
	case yaml.LiteralStyle, yaml.FoldedStyle:
		p = l.blockPosition(n, e)
	}
	if e.Line != 1 && n.Style != yaml.LiteralStyle && n.Style != yaml.FoldedStyle {
		return nodePos(n)
	}
	if want, ok := runeAt(strings.Split(n.Value, "\n"), e.Line, e.Column); ok {
		if got, ok := runeAt(l.lines, p.line, p.col); ok && got == want {
			return p
		}
	}
	return nodePos(n)
}

// runeAt returns the rune at 1-based line and column (in runes) of lines.
func runeAt(lines []string, line, col int) (rune, bool) {
	if line < 1 || line > len(lines) || col < 1 {
		return 0, false
	}
	rs := []rune(strings.TrimRight(lines[line-1], "\r"))
	if col > len(rs) {
		return 0, false
	}
	return rs[col-1], true
}

// blockPosition finds an expression position in a block scalar's content
// lines: a literal block keeps its lines; a folded one joins the lines of
// a paragraph with single spaces, and a blank line starts a new line.
func (l *loader) blockPosition(n *yaml.Node, e *ExprError) position {
	indent := -1
	type line struct {
		no    int // 1-based file line
		width int // runes after the indentation; -1 for a blank line
	}
	var content []line
	for i := n.Line; i < len(l.lines); i++ { // content starts after the header line
		text := strings.TrimRight(l.lines[i], "\r")
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" {
			content = append(content, line{i + 1, -1})
			continue
		}
		ind := len(text) - len(trimmed)
		if indent < 0 {
			indent = ind
		} else if ind < indent {
			break
		}
		content = append(content, line{i + 1, len([]rune(text)) - indent})
	}
	if indent < 0 {
		return nodePos(n)
	}
	exprLine, startCol := 1, 1
	for _, c := range content {
		if n.Style == yaml.LiteralStyle {
			if exprLine == e.Line {
				return position{c.no, indent + e.Column}
			}
			exprLine++
			continue
		}
		if c.width < 0 { // folded: a blank line is a line break
			exprLine, startCol = exprLine+1, 1
			continue
		}
		if exprLine == e.Line && e.Column < startCol+c.width {
			return position{c.no, indent + 1 + e.Column - startCol}
		}
		startCol += c.width + 1 // the space folding put between lines
	}
	return nodePos(n)
}

// nodePos returns where n is written.
func nodePos(n *yaml.Node) position { return position{n.Line, n.Column} }

// joinKey returns the path of key under path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// joinIndex returns the path of item i of the list at path.
func joinIndex(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// parentPath strips the last key or index from path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// withPath prefixes msg with path, unless path is the top level.
func withPath(path, msg string) string {
	if path == "" {
		return msg
	}
	return path + ": " + msg
}
