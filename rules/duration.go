package rules

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// promDurationRE is Prometheus' duration syntax: units from years down to
// milliseconds, each at most once, largest first.
var promDurationRE = regexp.MustCompile(
	`^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$`)

// Duration is a time.Duration written in YAML as a Prometheus duration
// (15m, 1h30m, 1d, 1w) or a Go duration (1.5h, 250ms, -5s).
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration parses a Prometheus duration, or failing that a Go duration.
func ParseDuration(s string) (Duration, error) {
	if d, ok := parsePromDuration(s); ok {
		return Duration(d), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	return Duration(d), nil
}

// parsePromDuration parses s the way Prometheus' model.ParseDuration does,
// reporting false on a syntax error or an overflow.
func parsePromDuration(s string) (time.Duration, bool) {
	if s == "0" {
		return 0, true
	}
	m := promDurationRE.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, false
	}
	const day = 24 * time.Hour
	units := [...]time.Duration{365 * day, 7 * day, day, time.Hour, time.Minute, time.Second, time.Millisecond}
	var total time.Duration
	for i, unit := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || n > int64(math.MaxInt64/unit) {
			return 0, false
		}
		part := time.Duration(n) * unit
		if total > math.MaxInt64-part {
			return 0, false
		}
		total += part
	}
	return total, true
}

// UnmarshalYAML parses a scalar with ParseDuration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration, got %s", nodeKind(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes d the way String does, which ParseDuration reads back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String writes whole milliseconds in Prometheus' style (1w2d, 1h30m,
// 250ms) and anything else, including negative durations, in Go's.
func (d Duration) String() string {
	td := time.Duration(d)
	if td == 0 {
		return "0s"
	}
	if td < 0 || td%time.Millisecond != 0 {
		return td.String()
	}
	const day = 24 * time.Hour
	units := []struct {
		suffix string
		size   time.Duration
	}{{"w", 7 * day}, {"d", day}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}}
	var b strings.Builder
	for _, u := range units {
		if td >= u.size {
			fmt.Fprintf(&b, "%d%s", td/u.size, u.suffix)
			td %= u.size
		}
	}
	return b.String()
}
