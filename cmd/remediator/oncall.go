package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/remediator/remediator/app"
	"github.com/remediator/remediator/oncall"
	"github.com/remediator/remediator/rules"
)

// oncallCmd is `remediator oncall`: who is on call on each schedule (or
// the one named) at a time, and from when to when.
func oncallCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("oncall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "config file (required)")
	atFlag := fs.String("at", "", "the time to ask about, RFC 3339 (default: now)")
	name := fs.String("schedule", "", "only this schedule (default: every schedule)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "oncall: unexpected argument %q\n", fs.Arg(0))
		return 1
	}
	if *configFile == "" {
		fmt.Fprintln(stderr, "oncall: --config FILE is required")
		return 1
	}
	at, err := parseAt(*atFlag)
	if err != nil {
		fmt.Fprintf(stderr, "oncall: %v\n", err)
		return 1
	}
	cfg, err := app.LoadConfig(*configFile, "", "", nil)
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	set, err := oncall.FromConfig(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "oncall: %v\n", err)
		return 1
	}
	names := set.Names()
	switch {
	case len(names) == 0:
		fmt.Fprintf(stderr, "oncall: %s defines no schedules\n", *configFile)
		return 1
	case *name != "":
		if _, err := set.Schedule(*name); err != nil {
			fmt.Fprintf(stderr, "oncall: --schedule: %v (the schedules are %s)\n", err, strings.Join(names, ", "))
			return 1
		}
		names = []string{*name}
	}
	for _, n := range names {
		sh, err := set.At(n, at)
		if err != nil {
			fmt.Fprintf(stderr, "oncall: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, describeShift(sh))
	}
	return 0
}

// describeShift writes a shift on one line: who, which layer, from when
// until when in the schedule's local time, then the same interval in
// RFC 3339 (ISO 8601 start/end, ".." for an end beyond the horizon).
func describeShift(sh oncall.Shift) string {
	var b strings.Builder
	b.WriteString(sh.Schedule + ": ")
	switch {
	case len(sh.People) == 0:
		b.WriteString("nobody is on call")
	case sh.Override:
		b.WriteString(strings.Join(sh.People, ", ") + " (override)")
	default:
		b.WriteString(strings.Join(sh.People, ", ") + " (" + sh.Layer + ")")
	}
	from, to := "..", ".."
	if !sh.From.IsZero() {
		fmt.Fprintf(&b, " from %s", oncall.LocalTime(sh.From))
		from = sh.From.Format(time.RFC3339)
	}
	if sh.To.IsZero() {
		b.WriteString(" until further notice")
	} else {
		fmt.Fprintf(&b, " until %s", oncall.LocalTime(sh.To))
		to = sh.To.Format(time.RFC3339)
	}
	fmt.Fprintf(&b, "; %s/%s", from, to)
	return b.String()
}

// configWarnings are what `check` prints as warnings for a valid config:
// the config's own (identical layers) and the gaps in its schedules in
// the year from now.
func configWarnings(cfg *rules.Config, now time.Time) ([]string, error) {
	set, err := oncall.FromConfig(cfg)
	if err != nil {
		return nil, err
	}
	return append(cfg.Warnings(), set.Warnings(now)...), nil
}

// parseAt reads an --at flag: an RFC 3339 time, or now when empty.
func parseAt(s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--at: %q is not an RFC 3339 time (like 2026-11-27T17:00:00+08:00)", s)
	}
	return t, nil
}
