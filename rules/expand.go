package rules

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// envNameRE is what may stand between ${ and } (or :-).
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandTree expands environment variables in every scalar value under n.
// Keys are never expanded, and aliases are not followed: the anchored
// value is expanded once, where it is written.
func (l *loader) expandTree(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			l.expandTree(n.Content[i+1], joinKey(path, n.Content[i].Value))
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			l.expandTree(item, joinIndex(path, i))
		}
	case yaml.ScalarNode:
		l.expandScalar(n, path)
	}
}

// expandScalar expands one scalar in place. A plain scalar loses its tag so
// that yaml resolves the expanded text's type (${LIMIT:-1024} is an int),
// except that it is never null: an expanded "~" or "null" is that text (a
// token ${WT} with WT=~ must not turn into "no token"). A quoted, block or
// explicitly tagged scalar keeps its tag. The expanded text is only ever a
// scalar's value: it is not parsed as YAML.
func (l *loader) expandScalar(n *yaml.Node, path string) {
	if !strings.Contains(n.Value, "$") {
		return
	}
	v, err := expandEnv(n.Value, l.lookup)
	if err != nil {
		l.failed[n] = true
		l.errorAt(nodePos(n), "%s", withPath(path, err.Error()))
		return
	}
	n.Value = v
	if isPlain(n) {
		n.Tag = ""
		if nullWords[v] {
			n.Tag = "!!str"
		}
	}
}

// nullWords are the texts YAML resolves as null, but for the empty one
// (which is the zero value of every field alike).
var nullWords = map[string]bool{"~": true, "null": true, "Null": true, "NULL": true}

// isPlain reports whether n is written without quotes, block indicator or
// explicit tag.
func isPlain(n *yaml.Node) bool {
	const notPlain = yaml.TaggedStyle | yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle |
		yaml.LiteralStyle | yaml.FoldedStyle
	return n.Style&notPlain == 0
}

// expandEnv replaces ${NAME} and ${NAME:-default} in s with the variable's
// value and $$ with $. Any other $ is literal. The default applies when
// NAME is unset or empty, and is itself taken literally.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$$"):
			b.WriteByte('$')
			s = s[2:]
		case strings.HasPrefix(s, "${"):
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return "", errors.New(`"${" has no closing "}" (write $$ for a literal "$")`)
			}
			v, err := expandVar(s[2:end], lookup)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			s = s[end+1:]
		default:
			b.WriteByte('$')
			s = s[1:]
		}
	}
}

// expandVar returns the value of expr, the text between ${ and }.
func expandVar(expr string, lookup func(string) (string, bool)) (string, error) {
	if path, ok := strings.CutPrefix(expr, "file:"); ok {
		// ${file:/run/secrets/token}: a secret mounted as a file; one
		// trailing newline is dropped. The error never shows the content.
		if path == "" {
			return "", fmt.Errorf("malformed %q: write ${file:/path/to/file}", "${"+expr+"}")
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	}
	name, def, hasDef := strings.Cut(expr, ":-")
	if !envNameRE.MatchString(name) {
		return "", fmt.Errorf("malformed %q: write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _", "${"+expr+"}")
	}
	v, ok := lookup(name)
	switch {
	case ok && (v != "" || !hasDef):
		return v, nil
	case hasDef:
		return def, nil
	}
	return "", fmt.Errorf("environment variable %q is not set (write ${%s:-default} to give a default)", name, name)
}
