package rules

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestExpressionErrorPositions: an expression error points at the
// offending character in the file, or, where escapes or folding make that
// uncertain, at the scalar itself — never somewhere else.
func TestExpressionErrorPositions(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // LINE:COL
	}{
		// Plain scalar: the unknown name's column.
		{"plain", "levels:\n  - name: a\n    when: status == lables.y\n", "3:21"},
		// Double quotes shift by one.
		{"double quoted", "levels:\n  - name: a\n    when: \"status == lables.y\"\n", "3:22"},
		// An escape before the error: the scalar's position.
		{"escapes", "levels:\n  - name: a\n    when: \"\\\"q\\\" == lables.y\"\n", "3:11"},
		// Literal block, error on its second line.
		{"literal", "levels:\n  - name: a\n    when: |\n      status == \"a\" &&\n        lables.y == \"b\"\n", "5:9"},
		// Literal block with a blank line inside.
		{"literal blank", "levels:\n  - name: a\n    when: |\n      status == \"a\" &&\n\n      lables.y == \"b\"\n", "6:7"},
		// Folded block: lines joined by spaces.
		{"folded", "levels:\n  - name: a\n    when: >-\n      status == \"a\" &&\n      lables.y == \"b\"\n", "5:7"},
		// Folded with a blank line: a new line of the expression.
		{"folded blank", "levels:\n  - name: a\n    when: >-\n      status == \"a\" &&\n\n      lables.y == \"b\"\n", "6:7"},
		// CRLF line ends.
		{"crlf", "levels:\r\n  - name: a\r\n    when: >-\r\n      status == \"a\" &&\r\n      lables.y == \"b\"\r\n", "5:7"},
		// An alias: the anchored scalar (yaml.v3 places it at its anchor).
		{"alias", "levels:\n  - name: a\n    priority: &e lables.y == \"b\"\n  - name: b\n    when: *e\n", "3:15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := tt.yaml
			_, err := Parse("f.yml", []byte(yaml), envOf(nil))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v", err)
			}
			for _, e := range errs {
				if strings.Contains(e.Msg, "lables") {
					if got := fmt.Sprintf("%d:%d", e.Line, e.Col); got != tt.want {
						t.Fatalf("position %s, want %s (%s)", got, tt.want, e.Msg)
					}
					return
				}
			}
			t.Fatalf("no lables error in %v", errs)
		})
	}
}
