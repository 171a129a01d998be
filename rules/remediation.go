package rules

import (
	"syscall"
	"time"
)

// RemediationConfig is a remediation rule: when its expression holds for a
// firing alert, its actions run against its target, guarded by its
// safeguards (engine/remediate.go runs them).
type RemediationConfig struct {
	Name string `yaml:"name"`
	// When is an expression (see Env); it sees the alert's level.
	When string `yaml:"when"`
	// Target names what is acted on, e.g. "{{ .labels.instance }}/{{ .labels.service }}":
	// the key of cooldowns and locks.
	Target  string         `yaml:"target"`
	Actions []ActionConfig `yaml:"actions"`

	// Cooldown is the least time between two runs of the rule on one
	// target. Default 10m.
	Cooldown Duration `yaml:"cooldown"`
	// MaxAttempts is how many times the rule may run for one alert
	// episode. Default 1.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxRuns is the circuit breaker: at most Count runs of the rule
	// within Per; past it the rule stops acting. Default 10 per 1h.
	MaxRuns MaxRunsConfig `yaml:"max_runs"`
	// Concurrency is how many runs of any rule may act on one target at
	// once (the per-target lock). Default 1.
	Concurrency int `yaml:"concurrency"`
	// OnBusy is what happens when the target is already being acted on:
	// skip (default; the skip is recorded) or queue (the run waits for the
	// target, until its alert resolves).
	OnBusy string `yaml:"on_busy"`
	// DryRun evaluates and records everything, and runs nothing.
	DryRun *bool `yaml:"dry_run"`
	// Verify checks that a run fixed it: the alert must resolve within
	// ResolvedWithin of the run's end.
	Verify VerifyConfig `yaml:"verify"`
	// Approval makes a run wait for a responder's approval.
	Approval ApprovalConfig `yaml:"approval"`

	cond *Condition // When, compiled at validation
}

// ApprovalConfig is a rule's approval.
type ApprovalConfig struct {
	Required bool `yaml:"required"`
	// TTL is how long a run waits for approval before it expires
	// (rejected). Default 15m.
	TTL Duration `yaml:"ttl"`
}

// VerifyConfig is a rule's verification.
type VerifyConfig struct {
	// ResolvedWithin is how long after a successful run the alert must
	// resolve; 0 verifies nothing.
	ResolvedWithin Duration `yaml:"resolved_within"`
	// OnFailure is escalate (default: the incident records that the
	// remediation did not fix it and becomes more urgent) or retry (the
	// rule may act again, within max_attempts; it escalates as well).
	OnFailure string `yaml:"on_failure"`
}

// MaxRunsConfig bounds how often a rule runs.
type MaxRunsConfig struct {
	Count int      `yaml:"count"`
	Per   Duration `yaml:"per"`
}

// RemediationSettings are the global remediation settings.
type RemediationSettings struct {
	// DryRun makes every rule a dry run.
	DryRun bool `yaml:"dry_run"`
	// MaxConcurrent bounds the actions running at once. Default 4.
	MaxConcurrent int `yaml:"max_concurrent"`
}

// ActionConfig is one action of a rule: exactly one of its kinds.
type ActionConfig struct {
	// DryRun records what the action would run instead of running it.
	DryRun     *bool             `yaml:"dry_run"`
	Exec       *ExecConfig       `yaml:"exec"`
	HTTP       *HTTPActionConfig `yaml:"http"`
	Systemd    *SystemdConfig    `yaml:"systemd"`
	Kubernetes *KubernetesConfig `yaml:"kubernetes"`
}

// ExecConfig runs a program, never through a shell.
type ExecConfig struct {
	// Command is the argv; each element may be a template
	// ({{ .labels.service }}), and each value placed must match its
	// pattern in Validate (or the default safe pattern).
	Command  []string          `yaml:"command"`
	Validate map[string]string `yaml:"validate"`
	// AllowLeadingDash names the parameters whose value may begin with
	// "-". Dangerous: the program may read such a value as an option
	// (ssh -oProxyCommand=…). No other value may.
	AllowLeadingDash []string `yaml:"allow_leading_dash"`
	// Timeout kills the whole process group. Default 30s.
	Timeout Duration `yaml:"timeout"`
	// MaxOutputBytes bounds captured stdout+stderr. Default 65536.
	MaxOutputBytes int `yaml:"max_output_bytes"`
	// Dir is the working directory (default: remediator's).
	Dir  string     `yaml:"dir"`
	Stop StopConfig `yaml:",inline"`
}

// StopConfig is how a running process is stopped at its timeout or when
// its alert resolves: Signal to its whole process group, then SIGKILL
// after Grace.
type StopConfig struct {
	Signal string   `yaml:"stop_signal"` // SIGTERM (default), SIGINT, SIGHUP, SIGQUIT or SIGKILL
	Grace  Duration `yaml:"stop_grace"`  // default 10s
}

// Signals a process may be stopped with.
var stopSignals = map[string]syscall.Signal{
	"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT, "SIGHUP": syscall.SIGHUP,
	"SIGQUIT": syscall.SIGQUIT, "SIGKILL": syscall.SIGKILL,
}

// SignalValue is the configured signal (SIGTERM when unset).
func (s StopConfig) SignalValue() syscall.Signal {
	if sig, ok := stopSignals[s.Signal]; ok {
		return sig
	}
	return syscall.SIGTERM
}

// GraceValue is the configured grace (10s when unset).
func (s StopConfig) GraceValue() time.Duration {
	if s.Grace == 0 {
		return 10 * time.Second
	}
	return s.Grace.D()
}

func (s *StopConfig) validate(v *validator, path string) {
	if _, ok := stopSignals[s.Signal]; s.Signal != "" && !ok {
		v.addf(joinKey(path, "stop_signal"), "%q is not one of SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGKILL", s.Signal)
	}
	validateDurations(v, path, []namedDuration{{"stop_grace", &s.Grace}})
}

// HTTPActionConfig calls an endpoint.
type HTTPActionConfig struct {
	Method string `yaml:"method"` // default POST
	// URL is a template; placed values are path-escaped.
	URL string `yaml:"url"`
	// Headers' values are secrets (an Authorization header, say).
	Headers map[string]Secret `yaml:"headers"`
	// Body is a JSON template; placed values are JSON-string escaped, so
	// write them inside quotes: {"service": "{{ .labels.service }}"}.
	Body     string            `yaml:"body"`
	Validate map[string]string `yaml:"validate"`
	// AllowLeadingDash names the parameters whose value may begin with
	// "-" (see ExecConfig).
	AllowLeadingDash []string `yaml:"allow_leading_dash"`
	// ExpectStatus lists the statuses that mean success. Default: any 2xx.
	ExpectStatus       []int    `yaml:"expect_status"`
	Timeout            Duration `yaml:"timeout"` // default 10s
	InsecureSkipVerify bool     `yaml:"insecure_skip_verify"`
	CAFile             string   `yaml:"ca_file"`
	MaxOutputBytes     int      `yaml:"max_output_bytes"` // default 65536
}

// SystemdConfig restarts, starts, stops or reloads a unit with systemctl.
type SystemdConfig struct {
	Action string `yaml:"action"` // restart|start|stop|reload
	// Unit is a template; the rendered name must be a valid unit name.
	Unit     string            `yaml:"unit"`
	Validate map[string]string `yaml:"validate"`
	// UnitSuffixes are the unit types a templated unit may have besides
	// .service (.socket, .timer, .target, …); a unit written out in
	// full may be of any type.
	UnitSuffixes []string `yaml:"unit_suffixes"`
	// AllowLeadingDash names the parameters whose value may begin with
	// "-" (see ExecConfig); the unit itself never may, when templated.
	AllowLeadingDash []string   `yaml:"allow_leading_dash"`
	Systemctl        string     `yaml:"systemctl"` // default "systemctl" (on PATH)
	Timeout          Duration   `yaml:"timeout"`   // default 60s
	Stop             StopConfig `yaml:",inline"`
}

// UnitTypes are systemd's unit types (systemd.unit(5)): the suffixes a
// unit written out in a systemd action may have, and that unit_suffixes
// may name for a templated one.
var UnitTypes = []string{".service", ".socket", ".target", ".timer", ".mount", ".automount", ".swap", ".path", ".slice", ".scope", ".device"}

// KubernetesConfig scales or restarts a Deployment or StatefulSet through
// the Kubernetes API.
type KubernetesConfig struct {
	// Kubeconfig, instead of api_server/token/ca_file, takes the server,
	// CA and bearer token of Context (default: its current context) from
	// a kubeconfig file. Only token authentication is supported.
	Kubeconfig string `yaml:"kubeconfig"`
	Context    string `yaml:"context"`
	// APIServer defaults to the in-cluster https://kubernetes.default.svc.
	APIServer string `yaml:"api_server"`
	// Token, or TokenFile (default: the in-cluster service-account token).
	Token              Secret `yaml:"token"`
	TokenFile          string `yaml:"token_file"`
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	// Namespace and Name are templates.
	Namespace string `yaml:"namespace"`
	Kind      string `yaml:"kind"` // Deployment|StatefulSet
	Name      string `yaml:"name"`
	// Operation is scale or rollout_restart. scale takes Replicas (to N)
	// or ScaleBy (+N), bounded by MaxReplicas.
	Operation   string            `yaml:"operation"`
	Replicas    *int              `yaml:"replicas"`
	ScaleBy     int               `yaml:"scale_by"`
	MaxReplicas int               `yaml:"max_replicas"`
	Validate    map[string]string `yaml:"validate"`
	Timeout     Duration          `yaml:"timeout"` // default 10s
}
