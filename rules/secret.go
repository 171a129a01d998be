package rules

import (
	"fmt"
	"io"
	"log/slog"
)

// secretMask is what a Secret prints as.
const secretMask = "<secret>"

// Secret is a string that never prints: fmt, JSON, YAML, text and slog all
// show "<secret>". Value returns the real string. The one gap is fmt's %p,
// which bypasses every method; go vet reports %p on a non-pointer.
type Secret string

// Value returns the secret itself. Call it only where the secret is used,
// never to build a log line or an error.
func (s Secret) Value() string { return string(s) }

// String returns "<secret>".
func (Secret) String() string { return secretMask }

// GoString returns "<secret>", so %#v hides the value too.
func (Secret) GoString() string { return secretMask }

// Format writes "<secret>" whatever the verb and flags.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, secretMask) }

// MarshalJSON encodes the secret as "<secret>".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + secretMask + `"`), nil }

// MarshalYAML encodes the secret as "<secret>".
func (Secret) MarshalYAML() (any, error) { return secretMask, nil }

// MarshalText encodes the secret as "<secret>".
func (Secret) MarshalText() ([]byte, error) { return []byte(secretMask), nil }

// LogValue makes slog print "<secret>".
func (Secret) LogValue() slog.Value { return slog.StringValue(secretMask) }
