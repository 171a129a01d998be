package rules

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/remediator/remediator/template"
)

// validateRemediations checks every rule: a unique name, a when that
// compiles and names only defined levels, a target template, and actions
// that are each exactly one well-formed kind.
func (c *Config) validateRemediations(v *validator) {
	if c.Remediation.MaxConcurrent == 0 {
		c.Remediation.MaxConcurrent = 4
	}
	if c.Remediation.MaxConcurrent < 1 || c.Remediation.MaxConcurrent > 256 {
		v.addf("remediation.max_concurrent", "must be from 1 to 256 (got %d)", c.Remediation.MaxConcurrent)
	}
	levels := map[string]bool{}
	for _, l := range c.Levels {
		levels[l.Name] = true
	}
	names := map[string]string{}
	for i := range c.Remediations {
		r := &c.Remediations[i]
		path := joinIndex("remediations", i)
		switch {
		case r.Name == "":
			v.addf(path, "name is required")
		case names[r.Name] != "":
			v.addf(joinKey(path, "name"), "duplicate remediation %q (also %s)", r.Name, names[r.Name])
		default:
			names[r.Name] = path
		}
		r.cond = nil
		if r.When == "" {
			v.addf(path, "when is required: a remediation without a condition would act on every alert")
		} else if cond, err := CompileCondition(r.When); err != nil {
			v.addExpr(joinKey(path, "when"), err)
		} else {
			r.cond = cond
			for _, name := range levelNames(r.When) {
				if !levels[name] {
					v.addf(joinKey(path, "when"), "level %q is not defined (levels: %s)", name, strings.Join(c.LevelNames(), ", "))
				}
			}
		}
		if r.Target == "" {
			v.addf(path, "target is required: it names what is acted on, the key of cooldowns and locks")
		} else if _, err := template.Parse(r.Target); err != nil {
			v.addf(joinKey(path, "target"), "%v", err)
		}
		if len(r.Actions) == 0 {
			v.addf(path, "at least one action is required")
		}
		r.setDefaults()
		validateDurations(v, path, []namedDuration{{"cooldown", &r.Cooldown}, {"max_runs.per", &r.MaxRuns.Per}})
		if r.MaxAttempts < 1 || r.MaxAttempts > 100 {
			v.addf(joinKey(path, "max_attempts"), "must be from 1 to 100 (got %d)", r.MaxAttempts)
		}
		if r.MaxRuns.Count < 1 {
			v.addf(joinKey(path, "max_runs.count"), "must be at least 1 (got %d)", r.MaxRuns.Count)
		}
		if r.Verify.OnFailure != "escalate" && r.Verify.OnFailure != "retry" {
			v.addf(joinKey(path, "verify.on_failure"), "%q is not escalate or retry", r.Verify.OnFailure)
		}
		validateDurations(v, path, []namedDuration{{"verify.resolved_within", &r.Verify.ResolvedWithin}, {"approval.ttl", &r.Approval.TTL}})
		if r.Concurrency < 1 || r.Concurrency > 64 {
			v.addf(joinKey(path, "concurrency"), "must be from 1 to 64 (got %d)", r.Concurrency)
		}
		if r.OnBusy != "skip" && r.OnBusy != "queue" {
			v.addf(joinKey(path, "on_busy"), "%q is not skip or queue", r.OnBusy)
		}
		for j := range r.Actions {
			r.Actions[j].validate(v, joinIndex(joinKey(path, "actions"), j))
		}
	}
}

// setDefaults fills a rule's unset safeguards.
func (r *RemediationConfig) setDefaults() {
	setDefaultDuration(&r.Cooldown, 10*time.Minute)
	if r.MaxAttempts == 0 {
		r.MaxAttempts = 1
	}
	if r.MaxRuns.Count == 0 {
		r.MaxRuns.Count = 10
	}
	setDefaultDuration(&r.MaxRuns.Per, time.Hour)
	if r.OnBusy == "" {
		r.OnBusy = "skip"
	}
	if r.Concurrency == 0 {
		r.Concurrency = 1
	}
	if r.Verify.OnFailure == "" {
		r.Verify.OnFailure = "escalate"
	}
	setDefaultDuration(&r.Approval.TTL, 15*time.Minute)
}

// levelNames returns the string constants an expression compares the
// level with (level == "x", "x" == level, level != "x", level in [...]).
func levelNames(src string) []string {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	c := &levelCollector{}
	ast.Walk(&tree.Node, c)
	sort.Strings(c.names)
	return c.names
}

type levelCollector struct{ names []string }

func isLevel(n ast.Node) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == "level"
}

func (c *levelCollector) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok {
		return
	}
	var other ast.Node
	switch {
	case isLevel(b.Left):
		other = b.Right
	case isLevel(b.Right) && b.Operator != "in" && b.Operator != "not in":
		other = b.Left
	default:
		return
	}
	switch o := other.(type) {
	case *ast.StringNode:
		if b.Operator == "==" || b.Operator == "!=" {
			c.names = append(c.names, o.Value)
		}
	case *ast.ArrayNode:
		if b.Operator == "in" || b.Operator == "not in" {
			for _, n := range o.Nodes {
				if s, ok := n.(*ast.StringNode); ok {
					c.names = append(c.names, s.Value)
				}
			}
		}
	}
}

var (
	systemdActions = map[string]bool{"restart": true, "start": true, "stop": true, "reload": true}
	k8sKinds       = map[string]bool{"Deployment": true, "StatefulSet": true}
	k8sOperations  = map[string]bool{"scale": true, "rollout_restart": true}
	httpMethodRE   = regexp.MustCompile(`^[A-Z]+$`)
)

// validate checks one action: exactly one kind, and that kind's fields.
func (a *ActionConfig) validate(v *validator, path string) {
	var kinds []string
	if a.Exec != nil {
		kinds = append(kinds, "exec")
		a.Exec.validate(v, joinKey(path, "exec"))
	}
	if a.HTTP != nil {
		kinds = append(kinds, "http")
		a.HTTP.validate(v, joinKey(path, "http"))
	}
	if a.Systemd != nil {
		kinds = append(kinds, "systemd")
		a.Systemd.validate(v, joinKey(path, "systemd"))
	}
	if a.Kubernetes != nil {
		kinds = append(kinds, "kubernetes")
		a.Kubernetes.validate(v, joinKey(path, "kubernetes"))
	}
	if len(kinds) != 1 {
		v.addf(path, "an action is exactly one of exec, http, systemd or kubernetes (got %d: %s)", len(kinds), strings.Join(kinds, ", "))
	}
}

// templates checks that each template parses and that every validate
// pattern compiles and is used by one of them.
func templates(v *validator, path string, patterns map[string]string, leadingDash []string, srcs map[string]string) {
	used := map[string]bool{}
	keys := make([]string, 0, len(srcs))
	for k := range srcs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		t, err := template.Parse(srcs[key])
		if err != nil {
			v.addf(joinKey(path, key), "%v", err)
			continue
		}
		for _, r := range t.Refs() {
			used[r] = true
		}
	}
	for name, src := range patterns {
		if _, err := template.CompilePattern(src); err != nil {
			v.addf(joinKey(joinKey(path, "validate"), name), "%v", err)
		}
		if !used[name] {
			v.addf(joinKey(joinKey(path, "validate"), name), "no template of this action uses %q", name)
		}
	}
	seen := map[string]bool{}
	for i, name := range leadingDash {
		switch {
		case seen[name]:
			v.addf(joinIndex(joinKey(path, "allow_leading_dash"), i), "%q is listed twice", name)
		case !used[name]:
			v.addf(joinIndex(joinKey(path, "allow_leading_dash"), i), "no template of this action uses %q", name)
		}
		seen[name] = true
	}
}

func (e *ExecConfig) validate(v *validator, path string) {
	if len(e.Command) == 0 || e.Command[0] == "" {
		v.addf(path, "command is required: the program and its arguments, run without a shell")
	} else if strings.Contains(e.Command[0], "{{") {
		v.addf(joinKey(path, "command[0]"), "the program must be literal, not a template: a label may never choose what runs")
	}
	srcs := map[string]string{}
	for i, arg := range e.Command {
		srcs[fmt.Sprintf("command[%d]", i)] = arg
	}
	templates(v, path, e.Validate, e.AllowLeadingDash, srcs)
	validateDurations(v, path, []namedDuration{{"timeout", &e.Timeout}})
	e.Stop.validate(v, path)
	if e.MaxOutputBytes < 0 {
		v.addf(joinKey(path, "max_output_bytes"), "must not be negative")
	}
}

func (h *HTTPActionConfig) validate(v *validator, path string) {
	if h.URL == "" {
		v.addf(path, "url is required")
	} else if u, err := url.Parse(strings.NewReplacer("{{", "", "}}", "").Replace(h.URL)); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		v.addf(joinKey(path, "url"), "%q is not an absolute http or https URL", h.URL)
	}
	if h.Method != "" && !httpMethodRE.MatchString(h.Method) {
		v.addf(joinKey(path, "method"), "%q is not an HTTP method", h.Method)
	}
	for _, s := range h.ExpectStatus {
		if s < 100 || s > 599 {
			v.addf(joinKey(path, "expect_status"), "%d is not an HTTP status", s)
		}
	}
	templates(v, path, h.Validate, h.AllowLeadingDash, map[string]string{"url": h.URL, "body": h.Body})
	validateDurations(v, path, []namedDuration{{"timeout", &h.Timeout}})
}

func (s *SystemdConfig) validate(v *validator, path string) {
	if !systemdActions[s.Action] {
		v.addf(joinKey(path, "action"), "%q is not one of restart, start, stop, reload", s.Action)
	}
	if s.Unit == "" {
		v.addf(path, "unit is required")
	}
	templates(v, path, s.Validate, s.AllowLeadingDash, map[string]string{"unit": s.Unit})
	for i, suf := range s.UnitSuffixes {
		if !slices.Contains(UnitTypes, suf) {
			v.addf(joinIndex(joinKey(path, "unit_suffixes"), i), "%q is not a unit type (%s)", suf, strings.Join(UnitTypes, ", "))
		}
	}
	validateDurations(v, path, []namedDuration{{"timeout", &s.Timeout}})
	s.Stop.validate(v, path)
}

func (k *KubernetesConfig) validate(v *validator, path string) {
	if !k8sKinds[k.Kind] {
		v.addf(joinKey(path, "kind"), "%q is not Deployment or StatefulSet", k.Kind)
	}
	if !k8sOperations[k.Operation] {
		v.addf(joinKey(path, "operation"), "%q is not scale or rollout_restart", k.Operation)
	}
	if k.Namespace == "" || k.Name == "" {
		v.addf(path, "namespace and name are required")
	}
	if k.Operation == "scale" {
		switch {
		case (k.Replicas == nil) == (k.ScaleBy == 0):
			v.addf(path, "scale needs exactly one of replicas (to N) and scale_by (+N)")
		case k.Replicas != nil && *k.Replicas < 0:
			v.addf(joinKey(path, "replicas"), "must not be negative")
		case k.ScaleBy < 0:
			v.addf(joinKey(path, "scale_by"), "must be positive")
		case k.ScaleBy > 0 && k.MaxReplicas <= 0:
			v.addf(joinKey(path, "max_replicas"), "is required with scale_by, to bound it")
		case k.Replicas != nil && k.MaxReplicas > 0 && *k.Replicas > k.MaxReplicas:
			v.addf(joinKey(path, "replicas"), "%d is above max_replicas %d", *k.Replicas, k.MaxReplicas)
		}
	}
	if k.APIServer != "" {
		if u, err := url.Parse(k.APIServer); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
			v.addf(joinKey(path, "api_server"), "%q is not an absolute http or https URL", k.APIServer)
		}
	}
	templates(v, path, k.Validate, nil, map[string]string{"namespace": k.Namespace, "name": k.Name})
	validateDurations(v, path, []namedDuration{{"timeout", &k.Timeout}})
}

// wrappers are programs that run their arguments as a command (or, for
// ssh, hand them to a shell on another host): a value placed in their
// arguments may become a command or shell words.
var wrappers = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "busybox": true, "env": true,
	"sudo": true, "doas": true, "su": true, "runuser": true, "setsid": true, "nohup": true, "nice": true, "ionice": true,
	"timeout": true, "stdbuf": true, "chroot": true, "xargs": true, "flock": true, "systemd-run": true, "ssh": true,
	"python": true, "python3": true, "perl": true, "ruby": true, "node": true, "php": true}

// wrapperWarning warns of an exec action whose program is a wrapper and
// whose arguments place a value.
func wrapperWarning(path string, e *ExecConfig) string {
	if len(e.Command) == 0 || !wrappers[filepath.Base(e.Command[0])] {
		return ""
	}
	for _, arg := range e.Command[1:] {
		if t, err := template.Parse(arg); err == nil && len(t.Refs()) > 0 {
			return fmt.Sprintf("%s.command: %s runs its arguments as a command (ssh hands them to a shell on the other host), so a placed value may become one: run a program of your own that takes the value as one argument",
				path, filepath.Base(e.Command[0]))
		}
	}
	return ""
}

// remediationWarnings: each allow_leading_dash (a label value may then be
// read as an option), and each templated systemd unit with no validate
// pattern of its own (a label may then name any service on the host).
func (c *Config) remediationWarnings() []string {
	var out []string
	for i := range c.Remediations {
		for j, a := range c.Remediations[i].Actions {
			path := joinIndex(joinKey(joinIndex("remediations", i), "actions"), j)
			var dash []string
			switch {
			case a.Exec != nil:
				path, dash = joinKey(path, "exec"), a.Exec.AllowLeadingDash
				if w := wrapperWarning(path, a.Exec); w != "" {
					out = append(out, w)
				}
			case a.HTTP != nil:
				path, dash = joinKey(path, "http"), a.HTTP.AllowLeadingDash
			case a.Systemd != nil:
				path, dash = joinKey(path, "systemd"), a.Systemd.AllowLeadingDash
				if t, err := template.Parse(a.Systemd.Unit); err == nil {
					for _, ref := range t.Refs() {
						if _, ok := a.Systemd.Validate[ref]; !ok {
							out = append(out, fmt.Sprintf("%s.unit: %q places %s with only the default pattern, so an alert can name any service of the host: list the allowed ones in validate.%s",
								path, a.Systemd.Unit, ref, ref))
						}
					}
				}
			}
			for _, name := range dash {
				out = append(out, fmt.Sprintf("%s.allow_leading_dash: a value of %s may begin with \"-\", and the program may read it as an option: anyone who can set that label chooses the option", path, name))
			}
		}
	}
	return out
}
