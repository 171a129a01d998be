package app

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/remediator/remediator/actions/exec"
	httpaction "github.com/remediator/remediator/actions/http"
	"github.com/remediator/remediator/actions/kubernetes"
	"github.com/remediator/remediator/actions/systemd"
	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
)

// built is what a validated config turns into for the engine.
type built struct {
	policy  *rules.Policy
	windows *rules.Maintenance
	planner *planner
}

// build turns a validated config into the engine's classifier,
// maintenance windows and remediation planner, joining every construction
// error. An expression that fails on one alert is logged, counted, and
// counts as no match.
func build(cfg *rules.Config, log *slog.Logger, ruleErrors *prometheus.CounterVec) (*built, error) {
	onError := func(kind string) func(string, error) {
		return func(name string, err error) {
			log.Warn("rule expression failed on an alert; counted as no match", "rule", kind+" "+name, "err", err)
			if ruleErrors != nil {
				ruleErrors.WithLabelValues(kind + "/" + name).Inc()
			}
		}
	}
	actions, err := buildActions(cfg)
	if err != nil {
		return nil, err
	}
	return &built{
		policy:  rules.NewPolicy(cfg, onError("level")),
		windows: rules.NewMaintenance(cfg, onError("maintenance")),
		planner: &planner{rules: rules.NewRemediations(cfg, onError("remediation")), actions: actions,
			config: cfg.Remediations, dryRun: cfg.Remediation.DryRun},
	}, nil
}

// install puts b into the engine.
func (b *built) install(e *engine.Engine) {
	e.SetClassifier(b.policy)
	e.SetSuppressor(b.windows)
	e.SetPlanner(b.planner)
}

// buildActions constructs every action of every remediation rule.
func buildActions(cfg *rules.Config) ([][]engine.Action, error) {
	out := make([][]engine.Action, len(cfg.Remediations))
	var errs []error
	for i, r := range cfg.Remediations {
		for j, ac := range r.Actions {
			a, err := buildAction(&ac)
			if err != nil {
				errs = append(errs, fmt.Errorf("remediations[%d].actions[%d] (%s): %w", i, j, r.Name, err))
				continue
			}
			out[i] = append(out[i], a)
		}
	}
	return out, errors.Join(errs...)
}

func buildAction(ac *rules.ActionConfig) (engine.Action, error) {
	switch {
	case ac.Exec != nil:
		return exec.New(ac.Exec)
	case ac.HTTP != nil:
		return httpaction.New(ac.HTTP)
	case ac.Systemd != nil:
		return systemd.New(ac.Systemd)
	case ac.Kubernetes != nil:
		return kubernetes.New(ac.Kubernetes)
	}
	return nil, errors.New("no action kind") // validation prevents it
}

// planner says which remediation rules match an alert and renders their
// actions, for explain (and, with the remediation engine, for running).
type planner struct {
	rules   *rules.Remediations
	actions [][]engine.Action
	config  []rules.RemediationConfig
	dryRun  bool // remediation.dry_run: every rule is a dry run
}

// HasRules reports whether any remediation rule is configured.
func (p *planner) HasRules() bool { return len(p.config) > 0 }

// Remedies returns the matched rules of a firing alert with their
// safeguards and rendered actions, for the engine to run.
func (p *planner) Remedies(in *engine.ClassifyInput, level engine.Level, incident uint64) []engine.Remedy {
	var out []engine.Remedy
	for _, m := range p.rules.Match(in, level, incident) {
		if m.Refused {
			out = append(out, engine.Remedy{Rule: m.Name, Actions: []engine.RemedyAction{{Refused: m.Reason}}})
			continue
		}
		if !m.Matched {
			continue
		}
		rc := &p.config[m.Index]
		rm := engine.Remedy{
			Rule: m.Name, Target: m.Target, Cooldown: rc.Cooldown.D(), MaxAttempts: rc.MaxAttempts,
			MaxRuns: rc.MaxRuns.Count, MaxRunsPer: rc.MaxRuns.Per.D(),
			DryRun:       p.dryRun || (rc.DryRun != nil && *rc.DryRun),
			VerifyWithin: rc.Verify.ResolvedWithin.D(), VerifyRetry: rc.Verify.OnFailure == "retry",
			Approval: rc.Approval.Required, ApprovalTTL: rc.Approval.TTL.D(), Queue: rc.OnBusy == "queue", Concurrency: rc.Concurrency,
		}
		req := request(in, level, incident, m)
		for i, act := range p.actions[m.Index] {
			ra := engine.RemedyAction{DryRun: rc.Actions[i].DryRun != nil && *rc.Actions[i].DryRun}
			if b, ok := act.(interface{ Timeout() time.Duration }); ok {
				ra.Timeout = b.Timeout()
			}
			inv, err := act.Render(req)
			if err != nil {
				ra.Refused = err.Error()
			} else {
				ra.Invocation = inv
			}
			rm.Actions = append(rm.Actions, ra)
		}
		out = append(out, rm)
	}
	return out
}

// request is the action request of a matched rule.
func request(in *engine.ClassifyInput, level engine.Level, incident uint64, m rules.RuleMatch) *engine.ActionRequest {
	a := in.Alert
	return &engine.ActionRequest{Rule: m.Name, Target: m.Target, Incident: incident, Level: level, Alert: engine.Alert{
		Fingerprint: a.Fingerprint, Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
		StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL, Level: level, Incident: incident,
	}}
}

func (p *planner) Plan(in *engine.ClassifyInput, level engine.Level, incident uint64) []engine.PlannedRemediation {
	var out []engine.PlannedRemediation
	for _, m := range p.rules.Match(in, level, incident) {
		pr := engine.PlannedRemediation{Rule: m.Name, Matched: m.Matched, Reason: m.Reason, Target: m.Target}
		if m.Matched {
			req := request(in, level, incident, m)
			for _, act := range p.actions[m.Index] {
				inv, err := act.Render(req)
				if err != nil {
					pr.Actions = append(pr.Actions, engine.PlannedAction{Refused: err.Error()})
					continue
				}
				pr.Actions = append(pr.Actions, engine.PlannedAction{Describe: inv.Describe()})
			}
		}
		out = append(out, pr)
	}
	return out
}
