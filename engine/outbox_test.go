package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/store/memory"
)

// fakeNotifier records what it is asked to send and answers with result.
type fakeNotifier struct {
	mu     sync.Mutex
	sent   []engine.Notification
	result func(n *engine.Notification) (bool, error) // nil: success
}

var _ engine.Notifier = (*fakeNotifier)(nil)

func (f *fakeNotifier) Notify(_ context.Context, n *engine.Notification) (bool, error) {
	f.mu.Lock()
	f.sent = append(f.sent, *n)
	res := f.result
	f.mu.Unlock()
	if res == nil {
		n.ProviderID = fmt.Sprintf("P%d-%d", n.ID, n.Attempt)
		return false, nil
	}
	return res(n)
}

func (f *fakeNotifier) got() []engine.Notification {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// summary lists what was sent as "event:person" (or "event:room").
func (f *fakeNotifier) summary() []string {
	var out []string
	for _, n := range f.got() {
		who := n.Recipient.Person
		if who == "" {
			who = "room"
		}
		out = append(out, n.Event+":"+who)
	}
	return out
}

type retryAfterErr struct{ d time.Duration }

func (e retryAfterErr) Error() string             { return "throttled" }
func (e retryAfterErr) RetryAfter() time.Duration { return e.d }

// notifyHarness is a harness with notifications on: alice and bob are
// paged for critical by phone and email, and the ops room hears too;
// warnings page alice by email after an hour.
type notifyHarness struct {
	*harness
	n   map[string]*fakeNotifier
	cfg engine.NotifyConfig
}

func newNotifyHarness(t *testing.T) *notifyHarness {
	t.Helper()
	h := &notifyHarness{harness: newHarness(t), n: map[string]*fakeNotifier{}}
	for _, name := range []string{"phone", "sms", "email", "im-ops", "app"} {
		h.n[name] = &fakeNotifier{}
	}
	notifiers := map[string]engine.Notifier{}
	for k, v := range h.n {
		notifiers[k] = v
	}
	h.cfg = engine.NotifyConfig{
		Notifiers: notifiers,
		People: map[string]engine.Person{
			"alice": {ID: "alice", Name: "Alice", Addresses: map[string]string{"phone": "+15550001", "sms": "+15550001", "email": "alice@example.com", "app": "-"}},
			"bob":   {ID: "bob", Name: "Bob", Addresses: map[string]string{"phone": "+15550002", "sms": "+15550002", "email": "bob@example.com"}},
		},
		Routes: map[engine.Level]engine.Route{
			"critical": {People: []string{"alice", "bob"}, Via: []string{"phone", "email"}, Rooms: []string{"im-ops"}},
			"warning":  {People: []string{"alice"}, Via: []string{"email"}, Delay: time.Hour},
		},
		Initial: 10 * time.Second, Max: time.Minute, MaxAttempts: 3,
		CallAttempts: 2, CallRetryAfter: time.Minute,
		// No Twilio status callbacks here unless a test sends them: a call
		// stays "sent" (the watchdog has its own test).
		CallStatusWait: 24 * time.Hour,
		ConsoleURL:     "http://console", ExternalURL: "http://remediator",
		Jitter: func() float64 { return 1 },
	}
	h.install()
	return h
}

func (h *notifyHarness) install() { h.e.SetNotify(&h.cfg) }

func (h *notifyHarness) restart() {
	h.harness.restart()
	h.install()
}

// tick runs the engine's clock to now+d and waits for deliveries.
func (h *notifyHarness) tick(d time.Duration) {
	h.clock.Advance(d)
	h.e.Tick(h.clock.Now())
	h.e.WaitActions()
}

func (h *notifyHarness) notes(incident uint64) []engine.NotificationRecord {
	list, _ := h.e.Notifications(engine.NotificationFilter{Incident: incident}, engine.Page{Limit: 1000})
	slices.Reverse(list)
	return list
}

func (h *notifyHarness) statuses(incident uint64) []string {
	var out []string
	for _, r := range h.notes(incident) {
		out = append(out, fmt.Sprintf("%s/%s/%s:%s", r.Event, r.Channel, orRoom(r.Recipient.Person), r.Status))
	}
	return out
}

func orRoom(p string) string {
	if p == "" {
		return "room"
	}
	return p
}

func critical(name string) engine.WebhookAlert {
	return alert(name, engine.StatusFiring, t0, "severity", "critical")
}

func TestCriticalPagesEveryoneOnceAndRedeliveryDoesNotPageAgain(t *testing.T) {
	h := newNotifyHarness(t)
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	for i := 0; i < 3; i++ { // Alertmanager's group_interval resends and an HA peer
		h.ingest(group("g", critical("Down")))
	}
	h.e.WaitActions()
	want := []string{
		"firing/phone/alice:sent", "firing/email/alice:sent", "firing/phone/bob:sent",
		"firing/email/bob:sent", "firing/im-ops/room:sent",
	}
	if got := h.statuses(id); !slices.Equal(got, want) {
		t.Fatalf("outbox = %v\nwant %v", got, want)
	}
	phone := h.n["phone"].summary()
	slices.Sort(phone) // deliveries run concurrently
	if !slices.Equal(phone, []string{"firing:alice", "firing:bob"}) {
		t.Fatalf("phone sent %v", phone)
	}
	emails := h.n["email"].got()
	i := slices.IndexFunc(emails, func(n engine.Notification) bool { return n.Recipient.Person == "alice" })
	if i < 0 {
		t.Fatalf("no email to alice: %+v", emails)
	}
	n := emails[i]
	if n.Recipient.Address != "alice@example.com" || n.URL != "http://console/incidents/1" || n.ExternalURL != "http://remediator" ||
		len(n.Alerts) != 1 || n.Alerts[0].Labels["alertname"] != "Down" || n.Incident.Level != "critical" || n.Thread == "" || n.MessageID == "" {
		t.Fatalf("email notification = %+v", n)
	}
	if r := h.notes(id)[0]; r.ProviderID == "" || r.Attempts != 1 || len(r.History) != 1 || r.History[0].Result != "sent" {
		t.Fatalf("record = %+v", r)
	}
	if got := strings.Count(strings.Join(timelineTypes(h.incident(id)), " "), engine.EventNotificationSent); got != 5 {
		t.Fatalf("timeline has %d notification_sent events, want 5: %v", got, timelineTypes(h.incident(id)))
	}
	// The outbox survives a restart: nothing is sent again.
	h.restart()
	h.e.ResumeNotifications()
	h.tick(time.Minute)
	if got := len(h.n["phone"].got()); got != 2 {
		t.Fatalf("after restart the phone notifier was called %d times, want 2", got)
	}
}

func TestRetryBacksOffAndHonoursRetryAfter(t *testing.T) {
	h := newNotifyHarness(t)
	calls := 0
	h.n["email"].result = func(n *engine.Notification) (bool, error) {
		if n.Recipient.Person != "alice" {
			return false, nil
		}
		calls++
		switch calls {
		case 1:
			return true, errors.New("status 503: busy")
		case 2:
			return true, retryAfterErr{45 * time.Second}
		}
		return false, nil
	}
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	rec := func() engine.NotificationRecord {
		for _, r := range h.notes(id) {
			if r.Channel == "email" && r.Recipient.Person == "alice" {
				return r
			}
		}
		t.Fatal("no email record for alice")
		return engine.NotificationRecord{}
	}
	if r := rec(); r.Status != engine.NotePending || !r.DueAt.Equal(t0.Add(10*time.Second)) || r.Error != "status 503: busy" {
		t.Fatalf("after a 503: %+v", r)
	}
	h.tick(9 * time.Second) // not due yet
	if calls != 1 {
		t.Fatalf("retried before the backoff: %d calls", calls)
	}
	h.tick(time.Second)
	// The second backoff would be 20s; the peer asked for 45s.
	if r := rec(); calls != 2 || r.Status != engine.NotePending || !r.DueAt.Equal(t0.Add(55*time.Second)) {
		t.Fatalf("after a 429: calls %d, %+v", calls, r)
	}
	h.tick(44 * time.Second)
	if calls != 2 {
		t.Fatalf("retried before Retry-After: %d calls", calls)
	}
	h.tick(time.Second)
	if r := rec(); calls != 3 || r.Status != engine.NoteSent || r.Attempts != 3 {
		t.Fatalf("third attempt: calls %d, %+v", calls, r)
	}
}

func TestFinalFailureFailsOverToTheNextChannel(t *testing.T) {
	h := newNotifyHarness(t)
	// Twilio is down for good: every call and SMS fails.
	h.n["phone"].result = func(*engine.Notification) (bool, error) { return false, errors.New("twilio: 20003 authenticate") }
	h.n["sms"].result = func(*engine.Notification) (bool, error) { return true, errors.New("dial tcp: connection refused") }
	h.cfg.Routes["critical"] = engine.Route{People: []string{"bob"}, Via: []string{"phone"}}
	h.install()
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	for i := 0; i < 5; i++ {
		h.tick(time.Minute)
	}
	want := []string{"firing/phone/bob:failed", "firing/sms/bob:failed", "firing/email/bob:sent"}
	if got := h.statuses(id); !slices.Equal(got, want) {
		t.Fatalf("outbox = %v\nwant %v", got, want)
	}
	notes := h.notes(id)
	if notes[1].FailoverOf != notes[0].ID || notes[2].FailoverOf != notes[1].ID || notes[1].Attempts != 3 {
		t.Fatalf("failover chain: %+v", notes)
	}
	if !strings.Contains(notes[1].Error, "gave up after 3 attempts") {
		t.Fatalf("sms error = %q", notes[1].Error)
	}
	var failed []string
	for _, ev := range h.incident(id).Timeline {
		if ev.Type == engine.EventNotificationFailed {
			failed = append(failed, ev.Detail)
		}
	}
	if len(failed) != 2 || !strings.Contains(failed[0], "failing over to sms") || !strings.Contains(failed[1], "failing over to email") {
		t.Fatalf("timeline failures = %q", failed)
	}
}

func TestAcknowledgeStopsPagingAndTellsThosePaged(t *testing.T) {
	h := newNotifyHarness(t)
	h.n["email"].result = func(n *engine.Notification) (bool, error) {
		if n.Recipient.Person == "bob" && n.Event == engine.NotifyFiring {
			return true, errors.New("451 try later") // bob's email waits for a retry
		}
		return false, nil
	}
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	if _, err := h.e.Acknowledge(context.Background(), id, engine.Transition{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	h.e.WaitActions()
	h.tick(time.Hour)
	want := []string{
		"firing/phone/alice:sent", "firing/email/alice:sent", "firing/phone/bob:sent",
		"firing/email/bob:cancelled", "firing/im-ops/room:sent",
		// alice acknowledged: she is not told; bob's call becomes an SMS.
		"acknowledged/sms/bob:sent", "acknowledged/im-ops/room:sent",
	}
	if got := h.statuses(id); !slices.Equal(got, want) {
		t.Fatalf("outbox = %v\nwant %v", got, want)
	}
	if sms := h.n["sms"].got(); len(sms) != 1 || sms[0].By != "alice" {
		t.Fatalf("sms = %+v", sms)
	}
	// Resolution tells everyone paged, alice too, once, however often
	// Alertmanager repeats it.
	for i := 0; i < 2; i++ {
		h.ingest(group("g", alert("Down", engine.StatusResolved, t0, "severity", "critical")))
	}
	h.e.WaitActions()
	var resolved []string
	for _, s := range h.statuses(id) {
		if strings.HasPrefix(s, "resolved/") {
			resolved = append(resolved, s)
		}
	}
	want = []string{"resolved/sms/alice:sent", "resolved/email/alice:sent", "resolved/sms/bob:sent", "resolved/im-ops/room:sent"}
	if !slices.Equal(resolved, want) {
		t.Fatalf("resolved = %v\nwant %v", resolved, want)
	}
}

func TestDelayedPageIsCancelledWhenTheIncidentResolvesFirst(t *testing.T) {
	h := newNotifyHarness(t)
	w := alert("Load", engine.StatusFiring, t0, "severity", "warning")
	id := h.ingest(group("w", w)).Incident
	h.tick(59 * time.Minute)
	if got := h.n["email"].got(); len(got) != 0 {
		t.Fatalf("a warning paged before its hour: %v", got)
	}
	h.tick(time.Minute)
	if got := h.n["email"].summary(); !slices.Equal(got, []string{"firing:alice"}) {
		t.Fatalf("after an hour: %v", got)
	}
	// A second warning resolves within its hour: nobody hears of it.
	w2 := alert("Load2", engine.StatusFiring, h.clock.Now(), "severity", "warning")
	id2 := h.ingest(group("w2", w2)).Incident
	h.tick(10 * time.Minute)
	w2.Status = engine.StatusResolved
	h.ingest(group("w2", w2))
	h.tick(time.Hour)
	if got := h.statuses(id2); !slices.Equal(got, []string{"firing/email/alice:cancelled"}) {
		t.Fatalf("outbox = %v", got)
	}
	if got := len(h.n["email"].got()); got != 1 {
		t.Fatalf("email sent %d times, want 1", got)
	}
	_ = id
}

func TestSilencedAlertPagesNobody(t *testing.T) {
	h := newNotifyHarness(t)
	if _, err := h.e.CreateSilence(context.Background(), engine.NewSilence{
		Matchers: []engine.Matcher{{Name: "alertname", Value: "Down"}}, EndsAt: t0.Add(time.Hour), CreatedBy: "ops", Comment: "planned",
	}); err != nil {
		t.Fatal(err)
	}
	id := h.ingest(group("g", critical("Down"))).Incident
	h.tick(time.Minute)
	if got := h.statuses(id); len(got) != 0 {
		t.Fatalf("a silenced alert paged: %v", got)
	}
	// An unsilenced alert joining the incident pages.
	h.ingest(group("g", critical("Down"), critical("Other")))
	h.e.WaitActions()
	if got := len(h.statuses(id)); got != 5 {
		t.Fatalf("after an unsilenced alert joined: %v", h.statuses(id))
	}
}

func TestUnansweredCallIsRetriedThenFailsOver(t *testing.T) {
	h := newNotifyHarness(t)
	h.cfg.Routes["critical"] = engine.Route{People: []string{"bob"}, Via: []string{"phone"}}
	h.install()
	ctx := context.Background()
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	first := h.notes(id)[0]
	if first.Status != engine.NoteSent || first.Calls != 1 {
		t.Fatalf("first call: %+v", first)
	}
	for _, st := range []string{"initiated", "ringing"} {
		if err := h.e.DeliveryStatus(ctx, first.ID, first.ProviderID, st, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.e.DeliveryStatus(ctx, first.ID, first.ProviderID, "no-answer", ""); err != nil {
		t.Fatal(err)
	}
	if r := h.notes(id)[0]; r.Status != engine.NotePending || !r.DueAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after no-answer: %+v", r)
	}
	// A late callback about the old call is refused.
	h.tick(time.Minute)
	if err := h.e.DeliveryStatus(ctx, first.ID, first.ProviderID, "completed", ""); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("stale callback: %v", err)
	}
	second := h.notes(id)[0]
	if second.Calls != 2 || len(h.n["phone"].got()) != 2 {
		t.Fatalf("second call: %+v", second)
	}
	if err := h.e.DeliveryStatus(ctx, second.ID, second.ProviderID, "busy", ""); err != nil {
		t.Fatal(err)
	}
	h.e.WaitActions()
	want := []string{"firing/phone/bob:failed", "firing/sms/bob:sent"}
	if got := h.statuses(id); !slices.Equal(got, want) {
		t.Fatalf("outbox = %v\nwant %v", got, want)
	}
	if r := h.notes(id)[0]; !strings.Contains(r.Error, "not answered after 2 calls") {
		t.Fatalf("error = %q", r.Error)
	}
}

func TestAnsweredCallIsDeliveredAndAckStopsRecalls(t *testing.T) {
	h := newNotifyHarness(t)
	h.cfg.Routes["critical"] = engine.Route{People: []string{"alice", "bob"}, Via: []string{"phone"}}
	h.install()
	ctx := context.Background()
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	notes := h.notes(id)
	if err := h.e.DeliveryStatus(ctx, notes[0].ID, notes[0].ProviderID, "in-progress", ""); err != nil {
		t.Fatal(err)
	}
	if err := h.e.DeliveryStatus(ctx, notes[1].ID, notes[1].ProviderID, "no-answer", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Acknowledge(ctx, id, engine.Transition{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	h.tick(5 * time.Minute)
	want := []string{"firing/phone/alice:delivered", "firing/phone/bob:cancelled"}
	if got := h.statuses(id); !slices.Equal(got[:2], want) {
		t.Fatalf("outbox = %v\nwant prefix %v", got, want)
	}
	if got := len(h.n["phone"].got()); got != 2 {
		t.Fatalf("%d calls after the ack, want the 2 first ones", got)
	}
	if !slices.Contains(timelineTypes(h.incident(id)), engine.EventNotificationDelivered) {
		t.Fatal("the answered call is not on the timeline")
	}
}

func TestPanickingNotifierFailsTheNotificationNotTheEngine(t *testing.T) {
	h := newNotifyHarness(t)
	h.n["im-ops"].result = func(*engine.Notification) (bool, error) { panic("boom") }
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	for _, r := range h.notes(id) {
		if r.Channel == "im-ops" && (r.Status != engine.NoteFailed || !strings.Contains(r.Error, "panicked: boom")) {
			t.Fatalf("room record = %+v", r)
		}
	}
}

// A crash between "recorded as sending" and "sent": the next start sends
// the notification once more, and only that one.
func TestCrashWhileSendingSendsOnceAfterRestart(t *testing.T) {
	h := newNotifyHarness(t)
	h.cfg.Routes["critical"] = engine.Route{Rooms: []string{"im-ops"}}
	h.install()
	entered, release := make(chan struct{}), make(chan struct{})
	h.n["im-ops"].result = func(*engine.Notification) (bool, error) {
		close(entered)
		<-release // the process dies here
		return false, nil
	}
	t.Cleanup(func() { close(release) })
	id := h.ingest(group("g", critical("Down"))).Incident
	<-entered
	// The disk as the crash leaves it: a copy of the store, while the
	// first engine is stuck mid-send.
	snap, err := h.store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Notifications) != 1 || snap.Notifications[0].Status != engine.NoteSending || snap.Notifications[0].Attempts != 1 {
		t.Fatalf("stored before the send: %+v", snap.Notifications)
	}
	disk := memory.New()
	if err := disk.Apply(context.Background(), &engine.Changes{Alerts: snap.Alerts, Incidents: snap.Incidents,
		Events: snap.Events, Notifications: snap.Notifications}); err != nil {
		t.Fatal(err)
	}
	after := &fakeNotifier{}
	e2, err := engine.New(context.Background(), engine.Options{Store: disk, Clock: h.clock, Classifier: severityClassifier{}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.cfg
	cfg.Notifiers = map[string]engine.Notifier{"im-ops": after}
	e2.SetNotify(&cfg)
	e2.ResumeNotifications()
	e2.WaitActions()
	for i := 0; i < 3; i++ {
		h.clock.Advance(time.Minute)
		e2.Tick(h.clock.Now())
		e2.WaitActions()
	}
	if got := after.got(); len(got) != 1 || got[0].Attempt != 2 || got[0].MessageID == "" {
		t.Fatalf("after the restart the room got %d notifications: %+v", len(got), got)
	}
	list, _ := e2.Notifications(engine.NotificationFilter{Incident: id}, engine.Page{})
	if len(list) != 1 || list[0].Status != engine.NoteSent || len(list[0].History) != 2 || list[0].History[0].Result != "interrupted" {
		t.Fatalf("record after restart = %+v", list)
	}
}

func TestLevelRaisedEscalatesToTheNewLevelsRoute(t *testing.T) {
	h := newNotifyHarness(t)
	h.cfg.Routes["warning"] = engine.Route{People: []string{"alice"}, Via: []string{"email"}}
	h.install()
	id := h.ingest(group("g", alert("Load", engine.StatusFiring, t0, "severity", "warning"))).Incident
	h.e.WaitActions()
	// A critical alert joins the group: the critical route hears, as an
	// escalation; alice's email is not sent twice for the same level.
	h.ingest(group("g", alert("Load", engine.StatusFiring, t0, "severity", "warning"), critical("Down")))
	h.ingest(group("g", alert("Load", engine.StatusFiring, t0, "severity", "warning"), critical("Down"), critical("Down2")))
	h.e.WaitActions()
	want := []string{
		"firing/email/alice:sent",
		"escalated/phone/alice:sent", "escalated/email/alice:sent", "escalated/phone/bob:sent",
		"escalated/email/bob:sent", "escalated/im-ops/room:sent",
	}
	if got := h.statuses(id); !slices.Equal(got, want) {
		t.Fatalf("outbox = %v\nwant %v", got, want)
	}
}

// phoneNote is incident's phone notification to person.
func (h *notifyHarness) phoneNote(incident uint64, person string) engine.NotificationRecord {
	h.t.Helper()
	for _, r := range h.notes(incident) {
		if r.Channel == engine.ChannelPhone && r.Recipient.Person == person {
			return r
		}
	}
	h.t.Fatalf("no call to %s for incident %d: %v", person, incident, h.statuses(incident))
	return engine.NotificationRecord{}
}

func (h *notifyHarness) press(r engine.NotificationRecord, call string, key engine.CallKey) (string, error) {
	return h.e.RespondToCall(context.Background(), engine.CallResponse{Notification: r.ID, Incident: r.Incident,
		Call: call, Key: key, SilenceFor: time.Hour, Addr: "192.0.2.7"})
}

// auditOf lists the audit log as "action outcome actor", oldest first.
func (h *notifyHarness) auditOf() []string {
	list, _ := h.e.AuditLog(engine.AuditFilter{}, engine.Page{Limit: 1000})
	var out []string
	for i := len(list) - 1; i >= 0; i-- {
		out = append(out, fmt.Sprintf("%s %s %s", list[i].Action, list[i].Outcome, list[i].Actor))
	}
	return out
}

func TestCallKeySilencesTheGroupAndAcknowledges(t *testing.T) {
	h := newNotifyHarness(t)
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	r := h.phoneNote(id, "bob")
	by, err := h.press(r, r.ProviderID, engine.CallSilence)
	if err != nil || by != "bob" {
		t.Fatalf("press 3: %q, %v", by, err)
	}
	d := h.incident(id)
	if d.Incident.Status != engine.IncidentAcknowledged || d.Incident.AcknowledgedBy != "bob" {
		t.Fatalf("incident = %+v", d.Incident)
	}
	sup, ok := h.e.Suppression(map[string]string{"alertname": "Down", "severity": "critical"})
	if !ok || !sup.Until.Equal(t0.Add(time.Hour)) {
		t.Fatalf("suppression = %+v, %v", sup, ok)
	}
	if _, ok := h.e.Suppression(map[string]string{"alertname": "Other"}); ok {
		t.Fatal("the silence matches another group")
	}
	if got, want := h.auditOf(), []string{"silence.create ok bob", "incident.ack ok bob"}; !slices.Equal(got, want) {
		t.Fatalf("audit = %q, want %q", got, want)
	}
	// An unknown notification; an incident without common labels cannot
	// be silenced (a silence matching everything is refused).
	if _, err := h.e.RespondToCall(context.Background(), engine.CallResponse{Notification: 99, Incident: id, Call: "x", Key: engine.CallSilence}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	w := group("h", critical("X"))
	w.CommonLabels = nil
	id2 := h.ingest(w).Incident
	h.e.WaitActions()
	r2 := h.phoneNote(id2, "bob")
	if _, err := h.press(r2, r2.ProviderID, engine.CallSilence); !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("no labels: %v", err)
	}
	if got := h.incident(id2).Incident.Status; got != engine.IncidentOpen {
		t.Fatalf("a refused silence left the incident %s", got)
	}
}

// A call's menu takes one key, from the notification's live call: a
// replay (also after a restart, and after the incident resolved), a key
// of a call a re-call replaced, of a call that ended, or of a call whose
// id is not recorded yet changes nothing and is audited as denied.
func TestCallKeyIsTakenOnceFromTheLiveCall(t *testing.T) {
	h := newNotifyHarness(t)
	h.cfg.Routes["critical"] = engine.Route{People: []string{"bob"}, Via: []string{"phone"}}
	h.install()
	ctx := context.Background()
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	r := h.phoneNote(id, "bob")
	if _, err := h.press(r, r.ProviderID, engine.CallSilence); err != nil {
		t.Fatal(err)
	}
	silences := func() int {
		list, _ := h.e.Silences(engine.SilenceFilter{}, engine.Page{Limit: 100})
		return len(list)
	}
	replay := func(when string) {
		t.Helper()
		if _, err := h.press(r, r.ProviderID, engine.CallSilence); !errors.Is(err, engine.ErrDenied) || !strings.Contains(err.Error(), "already taken") {
			t.Fatalf("replay %s: %v", when, err)
		}
	}
	replay("at once")
	h.restart()
	replay("after a restart")
	if _, err := h.e.Resolve(ctx, id, engine.Transition{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	replay("after the incident resolved")
	if n := silences(); n != 1 {
		t.Fatalf("%d silences, want 1", n)
	}
	want := []string{"silence.create ok bob", "incident.ack ok bob", "silence.create denied ", "silence.create denied ", "silence.create denied "}
	if got := h.auditOf(); !slices.Equal(got, want) {
		t.Fatalf("audit = %q\nwant %q", got, want)
	}
	if got := h.phoneNote(id, "bob"); got.KeyCall != r.ProviderID || got.History[len(got.History)-1].Result != "key:silence" {
		t.Fatalf("the taken key is not on the notification: %+v", got)
	}

	// A re-call replaces the call.
	id = h.ingest(group("g2", critical("DB"))).Incident
	h.e.WaitActions()
	first := h.phoneNote(id, "bob")
	if err := h.e.DeliveryStatus(ctx, first.ID, first.ProviderID, "no-answer", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.press(first, first.ProviderID, engine.CallAcknowledge); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("a key of the replaced call before the re-call: %v", err)
	}
	h.tick(time.Minute)
	second := h.phoneNote(id, "bob")
	if second.ProviderID == first.ProviderID || second.Calls != 2 {
		t.Fatalf("no second call: %+v", second)
	}
	if _, err := h.press(second, first.ProviderID, engine.CallAcknowledge); !errors.Is(err, engine.ErrDenied) || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("a key of the replaced call: %v", err)
	}
	// The second call rings: its key counts though the first one ended.
	if _, err := h.press(second, second.ProviderID, engine.CallAcknowledge); err != nil {
		t.Fatalf("a key of the live call: %v", err)
	}
	if got := h.incident(id).Incident.Status; got != engine.IncidentAcknowledged {
		t.Fatalf("incident %d is %s", id, got)
	}

	// A call that ended; a call id that is not the notification's; an
	// incident that is not the notification's.
	id = h.ingest(group("g3", critical("Cache"))).Incident
	h.e.WaitActions()
	r = h.phoneNote(id, "bob")
	if _, err := h.press(r, "CA-other", engine.CallResolve); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("another call id: %v", err)
	}
	if _, err := h.e.RespondToCall(ctx, engine.CallResponse{Notification: r.ID, Incident: id + 1, Call: r.ProviderID, Key: engine.CallResolve}); !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("another incident: %v", err)
	}
	if err := h.e.DeliveryStatus(ctx, r.ID, r.ProviderID, "completed", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.press(r, r.ProviderID, engine.CallResolve); !errors.Is(err, engine.ErrDenied) || !strings.Contains(err.Error(), "ended") {
		t.Fatalf("a key after the call ended: %v", err)
	}
	// A replayed "in-progress" after the end does not bring the call back.
	if err := h.e.DeliveryStatus(ctx, r.ID, r.ProviderID, "in-progress", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.press(r, r.ProviderID, engine.CallResolve); !errors.Is(err, engine.ErrDenied) || !strings.Contains(err.Error(), "ended") {
		t.Fatalf("a key after a replayed in-progress: %v", err)
	}
	if got := h.incident(id).Incident.Status; got != engine.IncidentOpen {
		t.Fatalf("incident %d is %s", id, got)
	}

	// A key before the call's id is recorded (it cannot come from the
	// call, which rings only once the provider accepted it).
	h.n["phone"].result = func(n *engine.Notification) (bool, error) {
		_, err := h.e.RespondToCall(ctx, engine.CallResponse{Notification: n.ID, Incident: n.Incident.ID, Call: "CA-early", Key: engine.CallResolve})
		if !errors.Is(err, engine.ErrDenied) {
			t.Errorf("a key before the call id is recorded: %v", err)
		}
		n.ProviderID = "CA-early"
		return false, nil
	}
	id = h.ingest(group("g4", critical("Queue"))).Incident
	h.e.WaitActions()
	if got := h.incident(id).Incident.Status; got != engine.IncidentOpen {
		t.Fatalf("incident %d is %s", id, got)
	}
}

// Twilio may report a call busy before CreateCall has returned: the call
// still counts, so "call until answered" ends.
func TestCallbackBeforeTheCallReturnsStillCountsTheCall(t *testing.T) {
	h := newNotifyHarness(t)
	h.cfg.Routes["critical"] = engine.Route{People: []string{"bob"}, Via: []string{"phone"}}
	h.install()
	h.n["phone"].result = func(n *engine.Notification) (bool, error) {
		sid := fmt.Sprintf("CA%d", n.Attempt)
		if err := h.e.DeliveryStatus(context.Background(), n.ID, sid, "busy", ""); err != nil {
			t.Errorf("callback: %v", err)
		}
		n.ProviderID = sid
		return false, nil
	}
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	for i := 0; i < 5; i++ {
		h.tick(time.Minute)
	}
	want := []string{"firing/phone/bob:failed", "firing/sms/bob:sent"}
	if got := h.statuses(id); !slices.Equal(got, want) {
		t.Fatalf("outbox = %v\nwant %v", got, want)
	}
	if got := len(h.n["phone"].got()); got != 2 {
		t.Fatalf("%d calls, want 2 (voice attempts)", got)
	}
}

// An incident whose alerts were all silenced when they came pages once
// the silence ends and they still fire; a silence made while a delayed
// page waits postpones it.
func TestMutedIncidentPagesWhenTheSilenceEnds(t *testing.T) {
	h := newNotifyHarness(t)
	ctx := context.Background()
	if _, err := h.e.CreateSilence(ctx, engine.NewSilence{
		Matchers: []engine.Matcher{{Name: "alertname", Value: "Down"}}, EndsAt: t0.Add(10 * time.Minute), CreatedBy: "ops",
	}); err != nil {
		t.Fatal(err)
	}
	id := h.ingest(group("g", critical("Down"))).Incident
	h.tick(9 * time.Minute)
	if got := h.statuses(id); len(got) != 0 {
		t.Fatalf("paged while silenced: %v", got)
	}
	h.tick(time.Minute) // the silence ends; nothing was redelivered
	if got := len(h.statuses(id)); got != 5 {
		t.Fatalf("after the silence: %v", h.statuses(id))
	}

	// A warning waits an hour; a silence made meanwhile, ending at +2h,
	// postpones its page to then.
	w := alert("Load", engine.StatusFiring, h.clock.Now(), "severity", "warning")
	id2 := h.ingest(group("w", w)).Incident
	if _, err := h.e.CreateSilence(ctx, engine.NewSilence{
		Matchers: []engine.Matcher{{Name: "alertname", Value: "Load"}}, EndsAt: h.clock.Now().Add(2 * time.Hour), CreatedBy: "ops",
	}); err != nil {
		t.Fatal(err)
	}
	h.tick(time.Hour)
	if got := h.statuses(id2); !slices.Equal(got, []string{"firing/email/alice:pending"}) {
		t.Fatalf("during the silence: %v", got)
	}
	h.tick(time.Hour)
	if got := h.statuses(id2); !slices.Equal(got, []string{"firing/email/alice:sent"}) {
		t.Fatalf("after the silence: %v", got)
	}
}

// A warning's delayed page is replaced, not sent later, when the incident
// becomes critical before it went out.
func TestEscalationReplacesAPageNotYetSent(t *testing.T) {
	h := newNotifyHarness(t)
	id := h.ingest(group("g", alert("Load", engine.StatusFiring, t0, "severity", "warning"))).Incident
	h.tick(time.Minute)
	h.ingest(group("g", alert("Load", engine.StatusFiring, t0, "severity", "warning"), critical("Down")))
	h.tick(2 * time.Hour)
	want := []string{
		"firing/email/alice:cancelled",
		// Nobody was paged yet: the critical pages are the first ones.
		"firing/phone/alice:sent", "firing/email/alice:sent", "firing/phone/bob:sent",
		"firing/email/bob:sent", "firing/im-ops/room:sent",
	}
	if got := h.statuses(id); !slices.Equal(got, want) {
		t.Fatalf("outbox = %v\nwant %v", got, want)
	}
}

// A call whose status callback never comes (a restart, a wrong external
// URL) counts as unanswered after CallStatusWait; a late callback of an
// earlier call counts no more.
func TestCallWithoutCallbackIsCalledAgain(t *testing.T) {
	h := newNotifyHarness(t)
	h.cfg.Routes["critical"] = engine.Route{People: []string{"bob"}, Via: []string{"phone"}}
	h.cfg.CallStatusWait = 5 * time.Minute
	h.install()
	ctx := context.Background()
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	first := h.notes(id)[0]
	h.tick(5 * time.Minute) // no callback: unanswered, called again a minute later
	if r := h.notes(id)[0]; r.Status != engine.NotePending || r.Error != "phone no status callback" {
		t.Fatalf("after the wait: %+v", r)
	}
	h.tick(time.Minute)
	if got := len(h.n["phone"].got()); got != 2 {
		t.Fatalf("%d calls, want 2", got)
	}
	// The first call's "completed" arrives late: refused, the second
	// call's notification stays as it is.
	if err := h.e.DeliveryStatus(ctx, first.ID, first.ProviderID, "completed", ""); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("late callback of the first call: %v", err)
	}
	if r := h.notes(id)[0]; r.Status != engine.NoteSent || r.Calls != 2 {
		t.Fatalf("second call: %+v", r)
	}
}

func TestRetryAfterIsCappedAtRetryMax(t *testing.T) {
	h := newNotifyHarness(t)
	h.cfg.Routes["critical"] = engine.Route{Rooms: []string{"im-ops"}}
	h.install()
	calls := 0
	h.n["im-ops"].result = func(*engine.Notification) (bool, error) {
		calls++
		if calls == 1 {
			return true, retryAfterErr{24 * time.Hour}
		}
		return false, nil
	}
	id := h.ingest(group("g", critical("Down"))).Incident
	h.e.WaitActions()
	if r := h.notes(id)[0]; !r.DueAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("due %v, want retry.max (1m) after the 429", r.DueAt)
	}
	h.tick(time.Minute)
	if r := h.notes(id)[0]; r.Status != engine.NoteSent {
		t.Fatalf("after a minute: %+v", r)
	}
}

// TestSMSReplyActsOnceForWhoWasTexted: an SMS reply acts only for a
// person who was sent an SMS about the incident, once per message id: a
// replay, a reply about another incident, and a reply without an id
// change nothing and are audited as denied without an actor.
func TestSMSReplyActsOnceForWhoWasTexted(t *testing.T) {
	h := newNotifyHarness(t)
	h.cfg.Routes["critical"] = engine.Route{People: []string{"bob"}, Via: []string{"sms"}}
	h.install()
	ctx := context.Background()
	id := h.ingest(group("g", critical("Down"))).Incident
	other := h.ingest(group("g2", alert("Other", engine.StatusFiring, t0, "severity", "warning"))).Incident
	h.e.WaitActions()
	reply := func(person string, incident uint64, msg string) error {
		return h.e.RespondToSMS(ctx, engine.SMSReply{Person: person, Incident: incident, Message: msg, Addr: "192.0.2.9"})
	}
	// alice was not texted about it; bob was not texted about the other.
	if err := reply("alice", id, "SM1"); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("a person not texted: %v", err)
	}
	if err := reply("bob", other, "SM2"); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("another incident: %v", err)
	}
	if err := reply("bob", id, ""); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("no message id: %v", err)
	}
	if got := h.incident(id).Incident.Status; got != engine.IncidentOpen {
		t.Fatalf("incident is %s", got)
	}
	if err := reply("bob", id, "SM3"); err != nil {
		t.Fatal(err)
	}
	if got := h.incident(id).Incident; got.Status != engine.IncidentAcknowledged || got.AcknowledgedBy != "bob" {
		t.Fatalf("incident %+v", got)
	}
	// The same message again, after a restart too: denied.
	h.restart()
	if err := h.e.RespondToSMS(ctx, engine.SMSReply{Person: "bob", Incident: id, Resolve: true, Message: "SM3", Addr: "192.0.2.9"}); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("a replay: %v", err)
	}
	if got := h.incident(id).Incident.Status; got != engine.IncidentAcknowledged {
		t.Fatalf("the replay resolved it: %s", got)
	}
	want := []string{"incident.ack denied ", "incident.ack denied ", "incident.ack denied ", "incident.ack ok bob", "incident.resolve denied "}
	if got := h.auditOf(); !slices.Equal(got, want) {
		t.Fatalf("audit %q, want %q", got, want)
	}
}
