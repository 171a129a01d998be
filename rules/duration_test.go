package rules

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"15m", 15 * time.Minute, true},         // Prometheus and Go agree
		{"1h30m", 90 * time.Minute, true},       // combined units
		{"1d", 24 * time.Hour, true},            // Prometheus days
		{"1w", 7 * 24 * time.Hour, true},        // Prometheus weeks
		{"1y", 365 * 24 * time.Hour, true},      // Prometheus years
		{"2d12h", 60 * time.Hour, true},         // days with hours
		{"250ms", 250 * time.Millisecond, true}, // milliseconds
		{"0", 0, true},                          // a bare zero
		{"1.5h", 90 * time.Minute, true},        // Go fractions
		{"100us", 100 * time.Microsecond, true}, // Go sub-millisecond units
		{"-5s", -5 * time.Second, true},         // negative parses; validation rejects it
		{"", 0, false},                          // empty
		{"5", 0, false},                         // a number without unit
		{"5 parsecs", 0, false},                 // not a unit
		{"1m1h", time.Hour + time.Minute, true}, // out of Prometheus order, but Go accepts it
		{"999999999999y", 0, false},             // overflow
		{"1d1d", 0, false},                      // a unit twice
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if (err == nil) != tc.ok || got.D() != tc.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tc.in, got.D(), err, tc.want, tc.ok)
			}
		})
	}
}

func TestDurationRoundTrip(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},                            // zero
		{90 * time.Minute, "1h30m"},          // Prometheus style
		{8 * 24 * time.Hour, "1w1d"},         // weeks and days
		{1500 * time.Millisecond, "1s500ms"}, // milliseconds
		{1500 * time.Microsecond, "1.5ms"},   // below a millisecond: Go style
		{-5 * time.Second, "-5s"},            // negative: Go style
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			out, err := yaml.Marshal(Duration(tc.d))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out); got != tc.want+"\n" {
				t.Errorf("Marshal(%v) = %q, want %q", tc.d, got, tc.want)
			}
			var back Duration
			if err := yaml.Unmarshal(out, &back); err != nil || back.D() != tc.d {
				t.Errorf("Unmarshal(%q) = %v, %v; want %v", out, back.D(), err, tc.d)
			}
		})
	}
}
