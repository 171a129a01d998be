package engine

import (
	"context"
	"time"
)

// ActionRequest is what a remediation action acts on: one alert episode
// that a rule matched, and the rule's rendered target.
type ActionRequest struct {
	Rule     string
	Target   string
	Incident uint64
	Level    Level
	Alert    Alert
}

// Action is one configured remediation action. Render builds what would
// run for a request without running it; an error means the action is
// refused for that request (a templated value failed its pattern, a
// bound would be exceeded) and the reason is recorded.
type Action interface {
	Render(req *ActionRequest) (Invocation, error)
}

// Invocation is an action rendered for one request.
type Invocation interface {
	// Describe is what would run, in one line: an argv, "POST URL", a
	// Kubernetes operation. It carries no secret.
	Describe() string
	// Run performs it. ctx carries the action's timeout and the
	// cancellation a resolve brings. Run never panics; every failure is
	// in the Result.
	Run(ctx context.Context) Result
}

// Result is how an invocation ended.
type Result struct {
	OK        bool
	ExitCode  int    // processes: the exit code, -1 when killed or not started
	Status    int    // HTTP and Kubernetes: the response status
	Output    string // captured output or response body, truncated
	Err       string // why it failed ("" when OK)
	Cancelled bool   // ended by ctx (timeout or resolve)
	// NotStarted: it could not start (the program, the unit or the
	// object acted on does not exist): a configuration fault, recorded
	// as not_started, that neither fails a verification nor escalates.
	NotStarted bool
	Duration   time.Duration // wall time of Run
}

// PlannedAction is one action of a matched remediation rule, rendered for
// an alert: what would run, or why it would not.
type PlannedAction struct {
	Describe string `json:"describe,omitempty"`
	Refused  string `json:"refused,omitempty"`
}

// PlannedRemediation is one remediation rule's verdict on an alert.
type PlannedRemediation struct {
	Rule    string          `json:"rule"`
	Matched bool            `json:"matched"`
	Reason  string          `json:"reason"`
	Target  string          `json:"target,omitempty"`
	Actions []PlannedAction `json:"actions,omitempty"`
}

// Planner says which remediation rules match a classified alert and what
// their actions would run.
type Planner interface {
	Plan(in *ClassifyInput, level Level, incident uint64) []PlannedRemediation
	// Remedies returns the matched rules, ready to act, for one firing
	// alert.
	Remedies(in *ClassifyInput, level Level, incident uint64) []Remedy
	// HasRules reports whether there is any rule at all; without one the
	// ingest path decides nothing.
	HasRules() bool
}

// SetPlanner swaps the remediation rules (on reload).
func (e *Engine) SetPlanner(p Planner) {
	e.mu.Lock()
	e.planner = p
	e.mu.Unlock()
}
