package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/store/memory"
)

// Explain says what remediator would do with webhook w at time at under
// cfg, through the engine's own classification path, on an empty
// in-memory store: nothing is stored, sent or run, and the real store is
// not opened. Rules that look at an alert's history (firedWithin) see only
// the alerts of this payload.
func Explain(ctx context.Context, cfg *rules.Config, w *engine.Webhook, at time.Time, log *slog.Logger) (engine.Explanation, error) {
	b, err := build(cfg, log, nil)
	if err != nil {
		return engine.Explanation{}, fmt.Errorf("explain: %w", err)
	}
	eng, err := engine.New(ctx, engine.Options{Store: memory.New(), Clock: fixedClock(at), Classifier: b.policy, Logger: log})
	if err != nil {
		return engine.Explanation{}, fmt.Errorf("explain: %w", err)
	}
	b.install(eng)
	set, err := buildSchedules(cfg, nil, at, log)
	if err != nil {
		return engine.Explanation{}, fmt.Errorf("explain: %w", err)
	}
	n, err := buildNotify(cfg, nil, set, log)
	if err != nil {
		return engine.Explanation{}, fmt.Errorf("explain: %w", err)
	}
	eng.SetNotify(n.cfg)
	return eng.Explain(w, at), nil
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }
