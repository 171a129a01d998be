package rules

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlField is one key a struct accepts.
type yamlField struct {
	name string
	typ  reflect.Type
}

// walk checks n against t: every key must be a field and every scalar must
// decode into its field's type. It records where each path is written and
// reports every problem, not just the first. yaml.v3's Node.Decode has no
// KnownFields, which is why this walker exists.
func (l *loader) walk(n *yaml.Node, t reflect.Type, path string) {
	if _, seen := l.pos[path]; !seen {
		l.pos[path] = nodePos(n)
		l.nodes[path] = n
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || isNull(n) || l.failed[n] {
		return
	}
	if l.active[n] {
		l.errorAt(l.pos[path], "%s", withPath(path, "an alias refers to a value that contains it"))
		return
	}
	l.active[n] = true
	defer delete(l.active, n)
	l.walkType(n, t, path)
}

// walkType dispatches on the kind of t.
func (l *loader) walkType(n *yaml.Node, t reflect.Type, path string) {
	if isUnmarshaler(t) {
		l.walkLeaf(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		l.walkType(n, t.Elem(), path)
	case reflect.Struct:
		l.walkStruct(n, t, path)
	case reflect.Slice, reflect.Array:
		l.walkList(n, t, path)
	case reflect.Map:
		l.walkMap(n, t, path)
	default:
		l.walkLeaf(n, t, path)
	}
}

// walkStruct checks a mapping's keys against t's fields. Explicit keys win
// over merged (<<) ones, as in yaml.v3.
func (l *loader) walkStruct(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		l.wrongKind(n, t, path)
		return
	}
	fields := fieldsOf(t)
	seen := make(map[string]*yaml.Node)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			merges = append(merges, v)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.errorAt(nodePos(k), "duplicate key %q %s (first on line %d)", k.Value, where(path), first.Line)
			continue
		}
		seen[k.Value] = k
		l.walkField(k, v, fields, path)
	}
	for _, m := range merges {
		l.walkMerge(m, fields, seen, path)
	}
}

// walkMerge checks the mappings merged by a << key; keys already seen are
// overridden and skipped.
func (l *loader) walkMerge(m *yaml.Node, fields []yamlField, seen map[string]*yaml.Node, path string) {
	if m.Kind == yaml.AliasNode {
		m = m.Alias
	}
	if l.active[m] {
		l.errorAt(nodePos(m), "%s", withPath(path, "a merge (<<) refers to a mapping that contains it"))
		return
	}
	l.active[m] = true
	defer delete(l.active, m)
	switch m.Kind {
	case yaml.SequenceNode:
		for _, item := range m.Content {
			l.walkMerge(item, fields, seen, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if isMergeKey(k) {
				l.walkMerge(v, fields, seen, path)
				continue
			}
			if _, done := seen[k.Value]; !done {
				seen[k.Value] = k
				l.walkField(k, v, fields, path)
			}
		}
	default:
		l.errorAt(nodePos(m), "%s", withPath(path, "a merge (<<) needs a mapping or a list of mappings"))
	}
}

// walkField checks the value of one key of a struct.
func (l *loader) walkField(k, v *yaml.Node, fields []yamlField, path string) {
	if k.Kind != yaml.ScalarNode {
		l.errorAt(nodePos(k), "%s", withPath(path, "a key must be a string, not "+nodeKind(k)))
		return
	}
	for _, f := range fields {
		if f.name == k.Value {
			l.walk(v, f.typ, joinKey(path, f.name))
			return
		}
	}
	msg := fmt.Sprintf("unknown key %q %s", k.Value, where(path))
	if s := suggest(k.Value, fields); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	l.errorAt(nodePos(k), "%s", msg)
}

// walkList checks each item of a sequence.
func (l *loader) walkList(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.SequenceNode {
		l.wrongKind(n, t, path)
		return
	}
	for i, item := range n.Content {
		l.walk(item, t.Elem(), joinIndex(path, i))
	}
}

// walkMap checks each key and value of a mapping decoded into a map.
func (l *loader) walkMap(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		l.wrongKind(n, t, path)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := joinKey(path, k.Value)
		l.walkLeaf(k, t.Key(), kp)
		l.walk(v, t.Elem(), kp)
	}
}

// walkLeaf decodes one scalar into a fresh t to find the exact error.
func (l *loader) walkLeaf(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode && !isUnmarshaler(t) {
		l.wrongKind(n, t, path)
		return
	}
	err := n.Decode(reflect.New(t).Interface())
	if err == nil && isInteger(t) && !isUnmarshaler(t) && n.ShortTag() != "!!int" {
		err = errors.New("yaml.v3 truncates a number into an integer")
	}
	if err != nil {
		l.errorAt(nodePos(n), "%s", withPath(path, leafError(n, t, err)))
	}
}

// wrongKind reports a mapping, list or scalar where t needs another.
func (l *loader) wrongKind(n *yaml.Node, t reflect.Type, path string) {
	l.errorAt(nodePos(n), "%s", withPath(path, fmt.Sprintf("expected %s, got %s", typeName(t), nodeKind(n))))
}

// leafError turns yaml's "cannot unmarshal !!str `abc` into int64" into
// `"abc" is not an integer`. A Secret's value is never shown.
func leafError(n *yaml.Node, t reflect.Type, err error) string {
	if isUnmarshaler(t) {
		return err.Error()
	}
	val := strconv.Quote(n.Value)
	if t == reflect.TypeFor[Secret]() {
		val = secretMask
	}
	if isInteger(t) {
		_, err := strconv.ParseInt(strings.TrimPrefix(n.Value, "+"), 0, 64)
		if n.ShortTag() == "!!int" || errors.Is(err, strconv.ErrRange) {
			return val + " is out of range"
		}
		return val + " is not an integer"
	}
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		return val + " is not a number"
	case reflect.Bool:
		return val + " is not a boolean (write true or false)"
	}
	return fmt.Sprintf("%s is not %s", val, typeName(t))
}

// fieldsOf lists the keys struct t accepts, as yaml.v3 names them.
func fieldsOf(t reflect.Type) []yamlField {
	var fields []yamlField
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case name == "-":
			continue
		case strings.Contains(opts, "inline"):
			fields = append(fields, fieldsOf(f.Type)...)
			continue
		case name == "":
			name = strings.ToLower(f.Name)
		}
		fields = append(fields, yamlField{name: name, typ: f.Type})
	}
	return fields
}

// suggest returns the field name closest to key, if it is within two edits.
func suggest(key string, fields []yamlField) string {
	best, bestDist := "", 3
	for _, f := range fields {
		if d := editDistance(strings.ToLower(key), f.name); d < bestDist {
			best, bestDist = f.name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := range ra {
		cur[0] = i + 1
		for j := range rb {
			cost := 1
			if ra[i] == rb[j] {
				cost = 0
			}
			cur[j+1] = min(prev[j+1]+1, cur[j]+1, prev[j]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// where names the mapping at path for an unknown-key message.
func where(path string) string {
	if path == "" {
		return "at the top level"
	}
	return "in " + path
}

// isUnmarshaler reports whether *t decodes itself from YAML.
func isUnmarshaler(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]())
}

// isInteger reports whether t is a signed or unsigned integer type.
func isInteger(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// isNull reports whether n is an explicit or empty null.
func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// isMergeKey reports whether k is YAML's merge key <<, as yaml.v3 decides.
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" &&
		(k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

// typeName describes what a value of type t is written as.
func typeName(t reflect.Type) string {
	if t == reflect.TypeFor[Duration]() {
		return "a duration"
	}
	if isInteger(t) {
		return "an integer"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "a " + t.String()
}

// nodeKind describes what n is written as.
func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	case "!!timestamp":
		return "a timestamp"
	}
	return "a string"
}
