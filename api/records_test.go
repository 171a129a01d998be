package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/engine"
)

// approvalPlanner restarts the alert's service after a responder
// approves.
type approvalPlanner struct{}

func (approvalPlanner) HasRules() bool { return true }
func (approvalPlanner) Plan(*engine.ClassifyInput, engine.Level, uint64) []engine.PlannedRemediation {
	return nil
}
func (approvalPlanner) Remedies(in *engine.ClassifyInput, _ engine.Level, _ uint64) []engine.Remedy {
	return []engine.Remedy{{Rule: "restart", Target: in.Alert.Labels["service"], MaxAttempts: 1, MaxRuns: 10, MaxRunsPer: time.Hour,
		Approval: true, ApprovalTTL: time.Hour, Actions: []engine.RemedyAction{{Invocation: noop{}}}}}
}

type noop struct{}

func (noop) Describe() string                  { return "systemctl restart game-api" }
func (noop) Run(context.Context) engine.Result { return engine.Result{OK: true} }

type notifierFunc func(context.Context, *engine.Notification) (bool, error)

func (f notifierFunc) Notify(ctx context.Context, n *engine.Notification) (bool, error) {
	return f(ctx, n)
}

// TestRecordsHaveNoYearOne: the actions and notifications lists write a
// time that has not happened as null (or leave it out), as incidents do,
// never as 0001-01-01T00:00:00Z.
func TestRecordsHaveNoYearOne(t *testing.T) {
	e := newEnvWith(t, true, func(o *api.Options) {
		eng := o.Engine.(*engine.Engine)
		eng.SetPlanner(approvalPlanner{})
		eng.SetNotify(&engine.NotifyConfig{
			Notifiers: map[string]engine.Notifier{"email": notifierFunc(func(context.Context, *engine.Notification) (bool, error) { return false, nil })},
			People:    map[string]engine.Person{"alice": {ID: "alice", Name: "Alice", Addresses: map[string]string{"email": "alice@example.com"}}},
			Routes:    map[engine.Level]engine.Route{"critical": {People: []string{"alice"}, Via: []string{"email"}}},
			Jitter:    func() float64 { return 1 },
		})
	})
	if status, body, _ := e.do("POST", "/api/v1/webhook", webhookToken, webhookFile(t, "firing.json")); status != 200 {
		t.Fatalf("webhook: %d %s", status, body)
	}
	list := func(path, key string, done func(map[string]any) bool) (map[string]any, string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			status, body, _ := e.do("GET", path, viewerToken, nil)
			var out map[string][]map[string]any
			if status != 200 || json.Unmarshal(body, &out) != nil {
				t.Fatalf("GET %s: %d %s", path, status, body)
			}
			if len(out[key]) == 1 && done(out[key][0]) {
				return out[key][0], string(body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %s", path, body)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	act, body := list("/api/v1/actions", "actions", func(a map[string]any) bool { return a["status"] == engine.ActionAwaiting })
	if strings.Contains(body, "0001-01-01") || act["started_at"] != nil || act["finished_at"] != nil || act["approve_by"] == nil {
		t.Fatalf("awaiting action: %s", body)
	}
	for _, k := range []string{"verify_by", "hold_until"} {
		if _, ok := act[k]; ok {
			t.Errorf("awaiting action has %s: %s", k, body)
		}
	}
	// The approval's answer is the same shape.
	status, answer, _ := e.do("POST", "/api/v1/actions/1/reject", responderToken, nil)
	if status != 200 || strings.Contains(string(answer), "0001-01-01") || !strings.Contains(string(answer), `"started_at":null`) {
		t.Fatalf("reject: %d %s", status, answer)
	}
	note, body := list("/api/v1/notifications", "notifications", func(n map[string]any) bool { return n["status"] == engine.NoteSent })
	if strings.Contains(body, "0001-01-01") || note["sent_at"] == nil || note["finished_at"] != nil {
		t.Fatalf("sent notification: %s", body)
	}
}
