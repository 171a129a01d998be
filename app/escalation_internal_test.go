package app

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/store/memory"
)

// simClock is simulated time.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *simClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// recorder stands in for every channel (Twilio, SMTP and DingTalk are
// outside this test), keeping "channel:person" per page.
type recorder struct {
	mu    sync.Mutex
	pages []string
}

func (r *recorder) channel(name string) engine.Notifier {
	return notifierFunc(func(_ context.Context, n *engine.Notification) (bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if n.Recipient.Person != "" && (n.Event == engine.NotifyFiring || n.Event == engine.NotifyEscalated) {
			r.pages = append(r.pages, name+":"+n.Recipient.Person)
		}
		return false, nil
	})
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.pages
	r.pages = nil
	slices.Sort(out)
	return out
}

type notifierFunc func(context.Context, *engine.Notification) (bool, error)

func (f notifierFunc) Notify(ctx context.Context, n *engine.Notification) (bool, error) {
	return f(ctx, n)
}

// seedEngine runs the seed policy's levels, schedules and chains on an
// in-memory store in simulated time: the same wiring as New, with every
// notifier replaced by a recorder.
func seedEngine(t *testing.T, clock *simClock) (*engine.Engine, *recorder) {
	t.Helper()
	cfg, err := LoadConfig("../testdata/seed-policy.yml", "", "", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	b, err := build(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(context.Background(), engine.Options{Store: memory.New(), Clock: clock, Classifier: b.policy})
	if err != nil {
		t.Fatal(err)
	}
	b.install(eng)
	set, err := buildSchedules(cfg, eng, clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := buildNotify(cfg, nil, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	n.cfg.Notifiers[engine.ChannelApp] = nil // the hub's, which this test has not built
	for name := range n.cfg.Notifiers {
		n.cfg.Notifiers[name] = rec.channel(name)
	}
	n.cfg.CallStatusWait = 24 * time.Hour // no Twilio status callbacks in this test
	eng.SetNotify(n.cfg)
	return eng, rec
}

func shanghai(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func criticalWebhook(name string, at time.Time) *engine.Webhook {
	return &engine.Webhook{Receiver: "r", GroupKey: "{}:" + name, Status: engine.StatusFiring,
		CommonLabels: map[string]string{"alertname": name},
		Alerts: []engine.WebhookAlert{{Fingerprint: "fp-" + name, Status: engine.StatusFiring, StartsAt: at,
			Labels: map[string]string{"alertname": name, "severity": "critical", "service": "game-api"}, Annotations: map[string]string{}}}}
}

// step advances simulated time by d, a second at a time as App.Run does,
// and waits for the deliveries.
func step(eng *engine.Engine, clock *simClock, d time.Duration) {
	end := clock.Now().Add(d)
	for clock.Now().Before(end) {
		clock.set(clock.Now().Add(min(time.Minute, end.Sub(clock.Now()))))
		eng.Tick(clock.Now())
		eng.WaitActions()
	}
}

// The Saturday: a P1 at 03:00 pages the weekend phone rotation by
// phone and SMS, climbs to the second line after 15 minutes without an
// acknowledgement, and stops at the acknowledgement.
func TestSeedPolicyP1OnSaturdayNight(t *testing.T) {
	start := shanghai(t, "2026-11-28 03:00") // a Saturday
	clock := &simClock{now: start}
	eng, rec := seedEngine(t, clock)
	res, err := eng.Ingest(context.Background(), criticalWebhook("GameServerDown", start))
	if err != nil {
		t.Fatal(err)
	}
	eng.WaitActions()
	// Week of 2026-11-23 (Monday): rotation index 46 from 2026-01-05, so
	// wang.wei (46 mod 2 = 0) has the phone.
	if got := rec.take(); !slices.Equal(got, []string{"app:wang.wei", "phone:wang.wei", "sms:wang.wei"}) {
		t.Fatalf("at 03:00: %v", got)
	}
	step(eng, clock, 14*time.Minute)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("before 03:15: %v", got)
	}
	step(eng, clock, time.Minute)
	if got := rec.take(); !slices.Equal(got, []string{"phone:zhang.qiang", "sms:zhang.qiang"}) {
		t.Fatalf("at 03:15: %v", got)
	}
	if _, err := eng.Acknowledge(context.Background(), res.Incident, engine.Transition{By: "zhang.qiang"}); err != nil {
		t.Fatal(err)
	}
	eng.WaitActions()
	step(eng, clock, 59*time.Minute) // the acknowledgement holds for an hour
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("paged after the acknowledgement: %v", got)
	}
}

// A P1 on a Wednesday at 10:00 pages both first-line engineers; on a
// listed holiday (National Day, a Thursday) the phone rotation instead.
func TestSeedPolicyP1OnWeekdayAndHoliday(t *testing.T) {
	for _, tc := range []struct {
		at   string
		want []string
	}{
		{"2026-11-25 10:00", []string{"app:li.na", "app:wang.wei", "phone:li.na", "phone:wang.wei", "sms:li.na", "sms:wang.wei"}},
		// 2026-10-01: week from 2026-09-28, index 38 → 38 mod 2 = 0: wang.wei.
		{"2026-10-01 10:00", []string{"app:wang.wei", "phone:wang.wei", "sms:wang.wei"}},
		// 2026-10-08, the first working day after the holidays, 20:00: a
		// weekday night; week index 39 → li.na.
		{"2026-10-08 20:00", []string{"app:li.na", "phone:li.na", "sms:li.na"}},
		// Weekday night: the rotation (week of 2026-11-23: wang.wei).
		{"2026-11-25 20:00", []string{"app:wang.wei", "phone:wang.wei", "sms:wang.wei"}},
	} {
		t.Run(tc.at, func(t *testing.T) {
			start := shanghai(t, tc.at)
			clock := &simClock{now: start}
			eng, rec := seedEngine(t, clock)
			if _, err := eng.Ingest(context.Background(), criticalWebhook("GameServerDown", start)); err != nil {
				t.Fatal(err)
			}
			eng.WaitActions()
			if got := rec.take(); !slices.Equal(got, tc.want) {
				t.Fatalf("pages = %v, want %v", got, tc.want)
			}
		})
	}
}

// The seed policy reaches a person by phone at every hour of the year: at
// each hour of 2026, the first step of the P1 chain names someone with a
// phone number.
func TestSeedPolicyPhoneCoverageAllYear(t *testing.T) {
	clock := &simClock{now: shanghai(t, "2026-01-01 00:00")}
	eng, _ := seedEngine(t, clock)
	for at := clock.Now(); at.Year() == 2026; at = at.Add(time.Hour) {
		plan := eng.PlanEscalation("critical", at)
		if len(plan) == 0 || len(plan[0].People) == 0 || !slices.Contains(plan[0].Via, "phone") {
			t.Fatalf("%s: first step %+v", at, plan)
		}
	}
}
