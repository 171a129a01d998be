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

// explainJSON is `explain --json`: the engine's explanation, the actions
// that would run, and the paging plan (empty until escalation exists).
type explainJSON struct {
	At     time.Time          `json:"at"`
	Alerts []explainAlertJSON `json:"alerts"`
	// Paging is whom the incident would page when (null: nobody).
	Paging *engine.PagingPlan `json:"paging"`
}

type explainAlertJSON struct {
	engine.AlertExplanation
	RespondBy *time.Time   `json:"respond_by"`
	ResolveBy *time.Time   `json:"resolve_by"`
	Actions   []actionJSON `json:"actions"`
}

// actionJSON is one action a matched remediation rule would run (Run) or
// would refuse (Refused).
type actionJSON struct {
	Rule    string `json:"rule"`
	Target  string `json:"target"`
	Run     string `json:"run,omitempty"`
	Refused string `json:"refused,omitempty"`
}

func actionsOf(a engine.AlertExplanation) []actionJSON {
	out := []actionJSON{}
	for _, r := range a.Remediations {
		for _, act := range r.Actions {
			out = append(out, actionJSON{Rule: r.Rule, Target: r.Target, Run: act.Describe, Refused: act.Refused})
		}
	}
	return out
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
	at, err := parseAt(*atFlag)
	if err != nil {
		fmt.Fprintf(stderr, "explain: %v\n", err)
		return 2
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
		out := explainJSON{At: x.At, Alerts: []explainAlertJSON{}, Paging: x.Paging}
		for _, a := range x.Alerts {
			out.Alerts = append(out.Alerts, explainAlertJSON{AlertExplanation: a, RespondBy: optTime(a.RespondBy), ResolveBy: optTime(a.ResolveBy), Actions: actionsOf(a)})
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
		if sup := a.Suppressed; sup != nil {
			fmt.Fprintf(w, "  muted:      by %s until %s: stored and shown, not remediated, pages nobody\n", sup.By, sup.Until.In(x.At.Location()).Format(time.RFC3339))
		}
		fmt.Fprintln(w, "  rules:")
		for _, r := range a.Rules {
			mark := "✗"
			if r.Matched {
				mark = "✓"
			}
			fmt.Fprintf(w, "    %s %-10s %s\n", mark, r.Level, r.Reason)
		}
		fmt.Fprintln(w, "  remediations:")
		if len(a.Remediations) == 0 {
			fmt.Fprintln(w, "    none configured")
		}
		for _, r := range a.Remediations {
			mark := "✗"
			if r.Matched {
				mark = "✓"
			}
			fmt.Fprintf(w, "    %s %s: %s\n", mark, r.Rule, r.Reason)
			if r.Matched {
				fmt.Fprintf(w, "        target %s\n", r.Target)
			}
			for _, act := range r.Actions {
				if act.Refused != "" {
					fmt.Fprintf(w, "        would NOT run: %s\n", act.Refused)
				} else {
					fmt.Fprintf(w, "        would run:     %s\n", act.Describe)
				}
			}
		}
		fmt.Fprintln(w, "  (explain runs nothing)")
	}
	printPaging(w, x)
}

// printPaging prints whom the incident would page when, if nobody
// acknowledged, in the time zone of --at.
func printPaging(w io.Writer, x engine.Explanation) {
	p := x.Paging
	if p == nil {
		fmt.Fprintln(w, "\npaging plan: nobody is paged (no firing alert that is not muted, or its level pages nobody)")
		return
	}
	loc := x.At.Location()
	local := func(t time.Time) string { return t.In(loc).Format("Mon 2006-01-02 15:04 MST") }
	fmt.Fprintf(w, "\npaging plan (level %s, if nobody acknowledges):\n", p.Level)
	if len(p.People) > 0 || len(p.Rooms) > 0 {
		var to []string
		for _, id := range p.People {
			to = append(to, id+" by "+strings.Join(p.Via, ", "))
		}
		to = append(to, p.Rooms...)
		fmt.Fprintf(w, "  %s  notify: %s\n", local(p.At), strings.Join(to, "; "))
	}
	for _, st := range p.Steps {
		round := ""
		if st.Round > 0 {
			round = fmt.Sprintf(" (repeat %d)", st.Round)
		}
		if len(st.People) == 0 {
			fmt.Fprintf(w, "  %s  %s step %d%s: nobody (%s), so the next step at once\n", local(st.At), st.Chain, st.Step, round, st.Nobody)
			continue
		}
		fmt.Fprintf(w, "  %s  %s step %d%s: %s by %s\n", local(st.At), st.Chain, st.Step, round, strings.Join(st.People, ", "), strings.Join(st.Via, ", "))
	}
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
