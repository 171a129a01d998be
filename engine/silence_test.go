package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
)

func TestSilenceValidation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	end := t0.Add(time.Hour)
	tests := []struct {
		name string
		n    engine.NewSilence
		want string
	}{
		// No matchers would silence everything.
		{"no matchers", engine.NewSilence{EndsAt: end, CreatedBy: "a"}, "matchers: at least one is required"},
		// Only matchers that match "" would too.
		{"all empty", engine.NewSilence{Matchers: []engine.Matcher{{Name: "x", Value: ".*", IsRegex: true}}, EndsAt: end, CreatedBy: "a"}, "must not match the empty string"},
		// A regex that does not compile.
		{"bad regex", engine.NewSilence{Matchers: []engine.Matcher{{Name: "x", Value: "((", IsRegex: true}}, EndsAt: end, CreatedBy: "a"}, "matchers[0]:"},
		// A matcher without a label name.
		{"no name", engine.NewSilence{Matchers: []engine.Matcher{{Value: "y"}}, EndsAt: end, CreatedBy: "a"}, "matchers[0].name: required"},
		// Ending before it starts (or in the past).
		{"ends in the past", engine.NewSilence{Matchers: []engine.Matcher{{Name: "x", Value: "y"}}, EndsAt: t0.Add(-time.Minute), CreatedBy: "a"}, "ends_at: must be after starts_at"},
		// Nobody.
		{"no creator", engine.NewSilence{Matchers: []engine.Matcher{{Name: "x", Value: "y"}}, EndsAt: end}, "created_by: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.e.CreateSilence(ctx, tt.n)
			if !errors.Is(err, engine.ErrInvalid) || !contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
	if list, _ := h.e.Silences(engine.SilenceFilter{}, engine.Page{}); len(list) != 0 {
		t.Fatalf("invalid silences were stored: %+v", list)
	}
}

// TestSilenceLifecycle in simulated time: pending → active → expired, it
// mutes matching alerts only while active, survives a restart, and can be
// expired early once.
func TestSilenceLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s, err := h.e.CreateSilence(ctx, engine.NewSilence{
		Matchers: []engine.Matcher{{Name: "service", Value: "db"}, {Name: "env", Value: "prod.*", IsRegex: true}},
		StartsAt: t0.Add(10 * time.Minute), EndsAt: t0.Add(time.Hour), CreatedBy: "alice", Comment: "migration",
	})
	if err != nil {
		t.Fatal(err)
	}
	db := map[string]string{"service": "db", "env": "prod-eu"}
	other := map[string]string{"service": "web", "env": "prod-eu"}
	check := func(when string, ls map[string]string, want bool) {
		t.Helper()
		sup, got := h.e.Suppression(ls)
		if got != want || (got && (sup.By != "silence 1" || !sup.Until.Equal(t0.Add(time.Hour)))) {
			t.Fatalf("%s: suppression %+v %v, want %v", when, sup, got, want)
		}
	}
	if s.CurrentState != engine.SilencePending {
		t.Fatalf("state %s, want pending", s.CurrentState)
	}
	check("before the start", db, false)
	h.clock.Advance(15 * time.Minute)
	check("while active", db, true)
	check("another service", other, false)
	h.restart()
	check("after a restart", db, true)
	got, err := h.e.ExpireSilence(ctx, s.ID, "bob")
	if err != nil || got.ExpiredBy != "bob" || got.CurrentState != engine.SilenceExpired {
		t.Fatalf("expire: %+v %v", got, err)
	}
	check("after expiry", db, false)
	if _, err := h.e.ExpireSilence(ctx, s.ID, "bob"); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("expire twice: %v", err)
	}
	if _, err := h.e.ExpireSilence(ctx, 99, "bob"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("expire unknown: %v", err)
	}
	h.restart()
	list, _ := h.e.Silences(engine.SilenceFilter{State: engine.SilenceExpired}, engine.Page{})
	if len(list) != 1 || list[0].Comment != "migration" || list[0].ExpiredBy != "bob" {
		t.Fatalf("expired silences after restart: %+v", list)
	}
}

// fakeWindows mutes alerts of service=batch.
type fakeWindows struct{}

func (fakeWindows) Suppressed(ls map[string]string, t time.Time) (engine.Suppression, bool) {
	if ls["service"] == "batch" {
		return engine.Suppression{By: "maintenance window nightly", Until: t.Add(time.Hour)}, true
	}
	return engine.Suppression{}, false
}

// TestMaintenanceSuppressesAndExplainSaysSo: a suppressed alert is still
// stored and shown; Explain names what mutes it.
func TestMaintenanceSuppressesAndExplainSaysSo(t *testing.T) {
	h := newHarness(t)
	h.e.SetSuppressor(fakeWindows{})
	w := group("g", alert("Batch", engine.StatusFiring, t0, "service", "batch"))
	x := h.e.Explain(w, t0)
	if x.Alerts[0].Suppressed == nil || x.Alerts[0].Suppressed.By != "maintenance window nightly" {
		t.Fatalf("explain: %+v", x.Alerts[0])
	}
	if res := h.ingest(w); res.Incident == 0 || res.NewAlerts != 1 {
		t.Fatalf("a suppressed alert must still be stored: %+v", res)
	}
	if _, ok := h.e.Suppression(map[string]string{"service": "web"}); ok {
		t.Fatal("web is not in the window")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestMatcherDefaults: a matcher without is_equal is =, as in
// Alertmanager; is_equal false is !=; a bad label name is refused.
func TestMatcherDefaults(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	no := false
	if _, err := h.e.CreateSilence(ctx, engine.NewSilence{
		Matchers: []engine.Matcher{{Name: "alertname", Value: "A"}, {Name: "service", Value: "web", IsEqual: &no}},
		EndsAt:   t0.Add(time.Hour), CreatedBy: "a",
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.e.Suppression(map[string]string{"alertname": "A", "service": "db"}); !ok {
		t.Fatal("alertname=A, service!=web must mute service=db")
	}
	if _, ok := h.e.Suppression(map[string]string{"alertname": "A", "service": "web"}); ok {
		t.Fatal("service!=web must not mute service=web")
	}
	if _, err := h.e.CreateSilence(ctx, engine.NewSilence{Matchers: []engine.Matcher{{Name: "bad-name", Value: "x"}}, EndsAt: t0.Add(time.Hour), CreatedBy: "a"}); !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), `"bad-name" is not a valid label name`) {
		t.Fatalf("bad label name: %v", err)
	}
}

// TestSuppressionTakesTheLaterEnd: a silence and a window both mute an
// alert; the suppression lasts until the later of the two.
func TestSuppressionTakesTheLaterEnd(t *testing.T) {
	h := newHarness(t)
	h.e.SetSuppressor(fakeWindows{}) // service=batch until now+1h
	if _, err := h.e.CreateSilence(context.Background(), engine.NewSilence{Matchers: []engine.Matcher{{Name: "service", Value: "batch"}}, EndsAt: t0.Add(10 * time.Minute), CreatedBy: "a"}); err != nil {
		t.Fatal(err)
	}
	sup, ok := h.e.Suppression(map[string]string{"service": "batch"})
	if !ok || !sup.Until.Equal(t0.Add(time.Hour)) {
		t.Fatalf("suppression = %+v", sup)
	}
}
