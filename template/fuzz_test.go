package template

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzPlace: over values and patterns, a placed value never begins with
// "-" unless its parameter allows it, always matches its pattern anchored
// as a whole (checked here independently: the leftmost-longest match of
// the unanchored pattern must span the value), and is placed exactly as
// it is, once. With no pattern, it matches the default pattern and holds
// no "..".
func FuzzPlace(f *testing.F) {
	for _, seed := range []struct {
		value, pattern string
		dash, usePat   bool
	}{
		{"-oProxyCommand=/tmp/x", "", false, false},
		{"-oProxyCommand=/tmp/x", ".*", false, true},
		{"-x", ".*", true, true},
		{"game-api", "web|api", false, true},
		{"web; anything", "web|api", false, true},
		{"api", "web|api", false, true},
		{"a\nb", "(?s).*", false, true},
		{"../etc", "", false, false},
		{"{{ .level }}", ".*", false, true},
		{"x", "^x$|y", false, true},
		{"", "a*", false, true},
		{"ab", "a)|(?:b", false, true},
		{"\xff", ".", false, true},
		{"@/etc/shadow", "", false, false},
		{"+8613800000001", "", false, false},
	} {
		f.Add(seed.value, seed.pattern, seed.dash, seed.usePat)
	}
	tpl, err := Parse("<{{ .labels.v }}>")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value, pattern string, dash, usePat bool) {
		pl := Placement{}
		var unanchored *regexp.Regexp
		if usePat {
			p, err := CompilePattern(pattern)
			if err != nil {
				return // not a pattern: the config would not load
			}
			if unanchored, err = regexp.Compile(`(?:` + pattern + `)`); err != nil {
				t.Fatalf("%q compiles anchored but not alone: %v", pattern, err)
			}
			unanchored.Longest()
			pl.Patterns = map[string]*Pattern{"v": p}
		}
		if dash {
			pl.LeadingDash = LeadingDash([]string{"v"})
		}
		got, err := tpl.Render(&Data{Rule: "r", Labels: map[string]string{"v": value}}, pl)
		if err != nil {
			return
		}
		if got != "<"+value+">" {
			t.Fatalf("placed %q as %q", value, got)
		}
		if strings.HasPrefix(value, "-") && !dash {
			t.Fatalf("placed %q, which begins with \"-\"", value)
		}
		if usePat {
			loc := unanchored.FindStringIndex(value)
			if loc == nil || loc[0] != 0 || loc[1] != len(value) {
				t.Fatalf("placed %q, which %q does not match as a whole (match %v)", value, pattern, loc)
			}
		} else if !regexp.MustCompile(`^[A-Za-z0-9._:/@+=,-]{1,253}$`).MatchString(value) || strings.Contains(value, "..") || strings.ContainsAny(value[:1], "@+") {
			t.Fatalf("placed %q, which the default pattern refuses", value)
		}
	})
}
