package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/app"
	"github.com/remediator/remediator/engine"
)

// explainJSON is `explain --json`: the engine's explanation plus the
// actions and the paging plan, empty until remediation and escalation
// exist.
type explainJSON struct {
	At     time.Time          `json:"at"`
	Alerts []explainAlertJSON `json:"alerts"`
	Plan   []any              `json:"plan"`
}

type explainAlertJSON struct {
	engine.AlertExplanation
	RespondBy *time.Time `json:"respond_by"`
	ResolveBy *time.Time `json:"resolve_by"`
	Actions   []any      `json:"actions"`
}

func explain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "config file (default: the embedded default config)")
	alertFile := fs.String("alert", "", "Alertmanager webhook payload (JSON file; - for standard input)")
	atFlag := fs.String("at", "", "explain as of this RFC 3339 time (default: now)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *alertFile == "" {
		fmt.Fprintln(stderr, "explain: --alert FILE is required")
		return 2
	}
	at := time.Now()
	if *atFlag != "" {
		t, err := time.Parse(time.RFC3339, *atFlag)
		if err != nil {
			fmt.Fprintf(stderr, "explain: --at: %q is not an RFC 3339 time (like 2026-11-27T17:00:00+08:00)\n", *atFlag)
			return 2
		}
		at = t
	}
	cfg, err := app.LoadConfig(*configFile, "", "", nil)
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	in := io.Reader(os.Stdin)
	if *alertFile != "-" {
		f, err := os.Open(*alertFile)
		if err != nil {
			fmt.Fprintf(stderr, "explain: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	w, err := api.DecodeWebhook(io.LimitReader(in, 64<<20))
	if err != nil {
		fmt.Fprintf(stderr, "explain: %s: invalid webhook payload: %v\n", *alertFile, err)
		return 1
	}
	x, err := app.Explain(context.Background(), cfg, w, at, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		fmt.Fprintf(stderr, "explain: %v\n", err)
		return 1
	}
	if *asJSON {
		out := explainJSON{At: x.At, Alerts: []explainAlertJSON{}, Plan: []any{}}
		for _, a := range x.Alerts {
			out.Alerts = append(out.Alerts, explainAlertJSON{AlertExplanation: a, RespondBy: optTime(a.RespondBy), ResolveBy: optTime(a.ResolveBy), Actions: []any{}})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return 0
	}
	printExplanation(stdout, x)
	return 0
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func printExplanation(w io.Writer, x engine.Explanation) {
	fmt.Fprintf(w, "as of %s\n", x.At.Format(time.RFC3339))
	for _, a := range x.Alerts {
		fmt.Fprintf(w, "\nalert %s (%s, %s)%s\n", a.Labels["alertname"], a.Fingerprint, a.Status, map[bool]string{true: ", already stored", false: ""}[a.Known])
		fmt.Fprintf(w, "  labels:     %s\n", sortedLabels(a.Labels))
		level := string(a.Level)
		if a.Priority != "" {
			level += " (" + a.Priority + ")"
		}
		fmt.Fprintf(w, "  level:      %s\n", level)
		if !a.RespondBy.IsZero() {
			fmt.Fprintf(w, "  respond by: %s (in %s)\n", a.RespondBy.In(x.At.Location()).Format(time.RFC3339), a.RespondBy.Sub(x.At))
		}
		if !a.ResolveBy.IsZero() {
			fmt.Fprintf(w, "  resolve by: %s (in %s)\n", a.ResolveBy.In(x.At.Location()).Format(time.RFC3339), a.ResolveBy.Sub(x.At))
		}
		fmt.Fprintln(w, "  rules:")
		for _, r := range a.Rules {
			mark := "✗"
			if r.Matched {
				mark = "✓"
			}
			fmt.Fprintf(w, "    %s %-10s %s\n", mark, r.Level, r.Reason)
		}
		fmt.Fprintln(w, "  actions:    none (remediation actions are not implemented yet)")
	}
	fmt.Fprintln(w, "\npaging plan: none (notification and escalation are not implemented yet)")
}

func sortedLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return strings.Join(parts, ", ")
}
