package rules

import (
	"os"
	"strings"
	"testing"
)

func TestExpandEnv(t *testing.T) {
	env := envOf(map[string]string{"SET": "v", "EMPTY": "", "NESTED": "${SET}"})
	cases := []struct {
		name, in, want, err string
	}{
		// Text without $ is unchanged.
		{"no variables", "plain text", "plain text", ""},
		// A set variable is replaced.
		{"set", "${SET}", "v", ""},
		// A set variable wins over its default.
		{"set with default", "${SET:-d}", "v", ""},
		// An unset variable takes its default.
		{"unset with default", "${UNSET:-d}", "d", ""},
		// An empty variable takes its default too, as in the shell.
		{"empty with default", "${EMPTY:-d}", "d", ""},
		// An empty variable without default is empty, not an error.
		{"empty", "${EMPTY}", "", ""},
		// The default may be empty.
		{"empty default", "${UNSET:-}", "", ""},
		// The default is literal: $ and :- in it are kept.
		{"literal default", "${UNSET:-a$b:-c}", "a$b:-c", ""},
		// $$ is a literal $.
		{"double dollar", "$$", "$", ""},
		// $$ before ${...} does not start a variable.
		{"escaped variable", "$${SET}", "${SET}", ""},
		// A $ not followed by { or $ is literal, even at the end.
		{"lone dollars", "$HOME costs 5$", "$HOME costs 5$", ""},
		// Several variables in one value.
		{"several", "a${SET}b${UNSET:-x}c", "avbxc", ""},
		// A variable's value is not expanded again.
		{"not recursive", "${NESTED}", "${SET}", ""},
		// An unset variable without default is an error naming it.
		{"unset", "x${UNSET}", "", `environment variable "UNSET" is not set (write ${UNSET:-default} to give a default)`},
		// ${ without } is malformed.
		{"unterminated", "${SET", "", `"${" has no closing "}" (write $$ for a literal "$")`},
		// ${} has no name.
		{"no name", "${}", "", `malformed "${}": write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _`},
		// A name cannot start with a digit.
		{"bad name", "${1X}", "", `malformed "${1X}": write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _`},
		// Only :- is supported, not := or -.
		{"other operator", "${X:=y}", "", `malformed "${X:=y}": write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := expandEnv(tc.in, env)
			switch {
			case tc.err != "" && (err == nil || err.Error() != tc.err):
				t.Errorf("expandEnv(%q) error = %v, want %s", tc.in, err, tc.err)
			case tc.err == "" && err != nil:
				t.Errorf("expandEnv(%q) error = %v", tc.in, err)
			case got != tc.want:
				t.Errorf("expandEnv(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestExpandFile: ${file:PATH} reads a secret from a file (one trailing
// newline dropped); a missing file is an error that names the path only.
func TestExpandFile(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/token"
	if err := os.WriteFile(path, []byte("s3cr3t-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := expandEnv("Bearer ${file:"+path+"}", func(string) (string, bool) { return "", false })
	if err != nil || got != "Bearer s3cr3t-token" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := expandEnv("${file:"+dir+"/missing}", nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := expandEnv("${file:}", nil); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("empty path: %v", err)
	}
}
