package main

import (
	"runtime"
	"strings"
	"testing"
)

// TestLoadgenMeasuresEveryLayer runs a small load (20 webhooks of 10
// alerts per target) through every target and checks the report.
func TestLoadgenMeasuresEveryLayer(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	var out strings.Builder
	err := run([]string{"-layers", "-rounds", "1", "-requests", "20", "-alerts", "10", "-senders", "2", "-duration", "30s"}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	report := out.String()
	for _, name := range []string{"bare", "engine", "no-fsync", "one-record", "durable"} {
		var row []string
		for _, line := range strings.Split(report, "\n") {
			if f := strings.Fields(line); len(f) == 9 && f[0] == name {
				row = f
			}
		}
		if row == nil {
			t.Errorf("no row for %s in\n%s", name, report)
			continue
		}
		if row[7] != "20" {
			t.Errorf("%s answered %s webhooks, want 20", name, row[7])
		}
		// Only the targets that commit to the remediator's bbolt file
		// count commits, and those commit at least once.
		switch counted := name == "no-fsync" || name == "durable"; {
		case counted && (row[6] == "-" || row[6] == "0.00"):
			t.Errorf("%s: commits/hook %s, want a count above 0", name, row[6])
		case !counted && row[6] != "-":
			t.Errorf("%s: commits/hook %s, want -", name, row[6])
		}
	}
	if !strings.Contains(report, "durable/bare ratio: ") {
		t.Errorf("no ratio in\n%s", report)
	}
}

func TestLoadgenRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-rounds", "0"}, {"-senders", "0"}, {"-rounds", "11"}, {"-requests", "x"}, {"-nope"}} {
		var out strings.Builder
		err := run(args, &out)
		if err == nil {
			t.Errorf("run %v: no error", args)
		}
		if strings.Contains(out.String(), "alerts/s") {
			t.Errorf("run %v measured something:\n%s", args, out.String())
		}
	}
}

// TestLoadgenChurnLevelsOff runs two simulated days of churn: the second
// day's history deletes the first's, and memory holds the same live set.
func TestLoadgenChurnLevelsOff(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"-churn", "-churn-days", "2", "-churn-every", "10m", "-churn-alerts", "5"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	var days [][]string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) == 10 && (f[0] == "1" || f[0] == "2") {
			days = append(days, f)
		}
	}
	if len(days) != 2 {
		t.Fatalf("want a row per day in\n%s", out.String())
	}
	// 144 groups a day: none pruned after day 1, most of day 1's after day 2.
	if days[0][9] != "0" || days[1][9] == "0" || days[0][3] != days[1][3] {
		t.Errorf("pruned %s then %s, alerts in memory %s then %s; want 0 then some, and the same live set\n%s",
			days[0][9], days[1][9], days[0][3], days[1][3], out.String())
	}
}

func TestLoadgenLiveRestarts(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"-live", "1000"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "1000 firing alerts in 10 incidents") || !strings.Contains(out.String(), "(1000 alerts in memory)") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestLoadgenMemoryRunsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-churn", "-churn-days", "0"},
		{"-churn", "-churn-alerts", "5000"},
		{"-churn", "-churn-every", "0s"},
		{"-live", "-5"},
	} {
		var out strings.Builder
		if err := run(args, &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
