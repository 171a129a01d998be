package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle/bundletest"
	"github.com/remediator/remediator/notifiers/internal/robot/robottest"
	"github.com/remediator/remediator/rules"
)

// Secrets: the URL's path and query token, and the signing key.
const (
	hookPath   = "/hooks/PathSecret123"
	queryToken = "QueryToken456"
	signKey    = "SigningKey789"
)

// deadline bounds every wait; nothing healthy comes near it.
const deadline = 10 * time.Second

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// answer is one response of the receiver.
type answer struct {
	status     int
	body       string
	header     map[string]string
	retryAfter string
}

// received is one request the receiver accepted.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint on 127.0.0.1 that checks requests the
// way a receiver following the package comment would: method, path and
// token, content type, and, when it has a secret, the signature
// (recomputed here) and the timestamp's age against its own clock.
type receiver struct {
	*httptest.Server
	secret    string
	sigHeader string
	clock     func() time.Time
	stall     chan struct{}

	mu      sync.Mutex
	answers []answer
	got     []received
}

func newReceiver(t *testing.T, secret string, answers ...answer) *receiver {
	t.Helper()
	r := &receiver{secret: secret, sigHeader: "X-Remediator-Signature", clock: func() time.Time { return t0 }, answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

// url is the webhook's secret URL.
func (r *receiver) url() rules.Secret {
	return rules.Secret(r.URL + hookPath + "?token=" + queryToken)
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if r.stall != nil {
		select {
		case <-r.stall:
		case <-req.Context().Done():
			return
		}
	}
	fail := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	body, _ := io.ReadAll(req.Body)
	switch {
	case req.Method != http.MethodPost:
		fail(http.StatusMethodNotAllowed, "POST only")
		return
	case req.URL.Path != hookPath || req.URL.Query().Get("token") != queryToken:
		fail(http.StatusNotFound, "no such hook")
		return
	case req.Header.Get("Content-Type") != "application/json":
		fail(http.StatusUnsupportedMediaType, "want application/json")
		return
	case !json.Valid(body):
		fail(http.StatusBadRequest, "invalid JSON")
		return
	}
	if r.secret != "" {
		ts := req.Header.Get("X-Remediator-Timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			fail(http.StatusUnauthorized, "no timestamp")
			return
		}
		if age := r.clock().Sub(time.Unix(sec, 0)); age > 5*time.Minute || age < -5*time.Minute {
			fail(http.StatusUnauthorized, "stale timestamp")
			return
		}
		mac := hmac.New(sha256.New, []byte(r.secret))
		mac.Write([]byte(ts + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(want), []byte(req.Header.Get(r.sigHeader))) {
			fail(http.StatusUnauthorized, "bad signature")
			return
		}
	}
	r.mu.Lock()
	var a answer
	if len(r.answers) > 0 {
		a, r.answers = r.answers[0], r.answers[1:]
	}
	r.got = append(r.got, received{header: req.Header.Clone(), body: body})
	r.mu.Unlock()
	if a.status == 0 {
		a.status = http.StatusNoContent
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func notification() *engine.Notification {
	return &engine.Notification{
		ID: 7, Event: engine.NotifyAcknowledged, Channel: "ops-hook",
		Incident: engine.Incident{
			ID: 12, Title: "DiskFull on db1", Level: "critical", Priority: "P1",
			Status: engine.IncidentAcknowledged, Labels: map[string]string{"alertname": "DiskFull"},
			Alerts: []uint64{3}, Firing: 1, CreatedAt: t0.Add(-time.Hour),
		},
		Alerts: []engine.Alert{{
			ID: 3, Fingerprint: "abc", Status: engine.StatusFiring,
			Labels:      map[string]string{"alertname": "DiskFull", "instance": "db1"},
			Annotations: map[string]string{"summary": "disk / is 97% full"},
			StartsAt:    t0.Add(-time.Hour), Level: "critical", Incident: 12,
		}},
		URL: "https://remediator.example/incidents/12", By: "ann", Detail: "on it",
		Attempt: 1, MessageID: "n7.12@remediator.example",
	}
}

func newNotifier(t *testing.T, cfg *rules.IMConfig, o Options) *Notifier {
	t.Helper()
	if cfg.Type == "" {
		cfg.Type = rules.IMWebhook
	}
	if cfg.Name == "" {
		cfg.Name = "ops-hook"
	}
	if o.Now == nil && o.Clock == nil {
		o.Now = func() time.Time { return t0 }
	}
	n, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(m))
}

func TestWireFormat(t *testing.T) {
	r := newReceiver(t, signKey)
	n := newNotifier(t, &rules.IMConfig{URL: r.url(), Secret: signKey}, Options{})
	nt := notification()
	if retry, err := n.Notify(context.Background(), nt); err != nil || retry {
		t.Fatalf("Notify: retry %v, %v (the receiver verifies the signature)", retry, err)
	}
	got := r.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	h, body := got[0].header, got[0].body
	for k, want := range map[string]string{
		"Content-Type":           "application/json",
		"User-Agent":             "remediator",
		"Idempotency-Key":        "n7.12@remediator.example",
		"X-Remediator-Timestamp": strconv.FormatInt(t0.Unix(), 10),
	} {
		if h.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, h.Get(k), want)
		}
	}
	if sig := h.Get("X-Remediator-Signature"); !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Errorf("signature %q, want sha256= and 64 hex digits", sig)
	}

	if k := keys(t, body); !slices.Equal(k, []string{"alerts", "event", "incident", "notification", "text", "title", "url", "version"}) {
		t.Errorf("top-level keys %v", k)
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(body, &top)
	if k := keys(t, top["notification"]); !slices.Equal(k, []string{"attempt", "by", "channel", "detail", "id", "message_id", "recipient"}) {
		t.Errorf("notification keys %v", k)
	}
	var p struct {
		Version      string
		Event        string
		Notification struct {
			ID        uint64
			Channel   string
			Attempt   int
			MessageID string `json:"message_id"`
			By        string
		}
		Incident struct {
			ID     uint64
			Status string
			Labels map[string]string
		}
		Alerts []struct {
			Fingerprint string
			Labels      map[string]string
		}
		URL, Title, Text string
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != "1" || p.Event != "acknowledged" || p.Notification.ID != 7 || p.Notification.Channel != "ops-hook" ||
		p.Notification.Attempt != 1 || p.Notification.MessageID != nt.MessageID || p.Notification.By != "ann" {
		t.Errorf("payload %+v", p)
	}
	if p.Incident.ID != 12 || p.Incident.Status != "acknowledged" || p.Incident.Labels["alertname"] != "DiskFull" {
		t.Errorf("incident %+v", p.Incident)
	}
	if len(p.Alerts) != 1 || p.Alerts[0].Fingerprint != "abc" || p.Alerts[0].Labels["instance"] != "db1" {
		t.Errorf("alerts %+v", p.Alerts)
	}
	if p.URL != nt.URL || p.Title != "[ACKNOWLEDGED] P1 critical #12 DiskFull on db1" ||
		!strings.HasPrefix(p.Text, "Acknowledged by ann. on it") || !strings.HasSuffix(p.Text, nt.URL) {
		t.Errorf("url %q, title %q, text %q", p.URL, p.Title, p.Text)
	}
}

func TestSigning(t *testing.T) {
	tests := []struct {
		name      string
		cfg       rules.IMConfig
		recvKey   string // the receiver's secret; "" checks nothing
		recvClock time.Time
		header    string // where the receiver reads the signature
		ok        bool
		unsigned  bool
	}{
		// No secret: no signature, no timestamp.
		{name: "unsigned", unsigned: true, ok: true},
		// The header's name is configurable.
		{name: "custom header", cfg: rules.IMConfig{Secret: signKey, SignatureHeader: "x-hub-signature-256"}, recvKey: signKey, header: "X-Hub-Signature-256", ok: true},
		// A receiver with another key refuses: 401 is final.
		{name: "wrong key", cfg: rules.IMConfig{Secret: signKey}, recvKey: "other"},
		// A receiver whose clock is 10 minutes ahead sees a replay.
		{name: "replayed", cfg: rules.IMConfig{Secret: signKey}, recvKey: signKey, recvClock: t0.Add(10 * time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, tc.recvKey)
			if tc.header != "" {
				r.sigHeader = tc.header
			}
			if !tc.recvClock.IsZero() {
				r.clock = func() time.Time { return tc.recvClock }
			}
			tc.cfg.URL = r.url()
			n := newNotifier(t, &tc.cfg, Options{})
			retry, err := n.Notify(context.Background(), notification())
			if tc.ok != (err == nil) || retry {
				t.Fatalf("Notify: retry %v, %v; want ok %v, final", retry, err, tc.ok)
			}
			if !tc.ok && !strings.Contains(err.Error(), "status 401") {
				t.Errorf("error %v, want the receiver's 401", err)
			}
			if tc.unsigned {
				h := r.requests()[0].header
				if h.Get("X-Remediator-Signature") != "" || h.Get("X-Remediator-Timestamp") != "" {
					t.Errorf("unsigned request carries %q, %q", h.Get("X-Remediator-Signature"), h.Get("X-Remediator-Timestamp"))
				}
			}
		})
	}
}

func TestSignMatchesDocumentation(t *testing.T) {
	// The package comment's recipe, written out independently.
	body := []byte(`{"version":"1"}`)
	mac := hmac.New(sha256.New, []byte("k"))
	mac.Write([]byte("1772355600." + string(body)))
	if got, want := Sign([]byte("k"), "1772355600", body), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestRetryKeepsIdempotencyKey(t *testing.T) {
	r := newReceiver(t, signKey, answer{status: 503, body: "busy"})
	now := t0
	n := newNotifier(t, &rules.IMConfig{URL: r.url(), Secret: signKey}, Options{Now: func() time.Time { return now }})
	nt := notification()
	if retry, err := n.Notify(context.Background(), nt); err == nil || !retry {
		t.Fatalf("first attempt against 503: retry %v, %v", retry, err)
	}
	now = now.Add(30 * time.Second) // the engine's backoff
	nt.Attempt = 2
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	got := r.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for i, req := range got {
		if k := req.header.Get("Idempotency-Key"); k != nt.MessageID {
			t.Errorf("attempt %d: Idempotency-Key %q, want %q", i+1, k, nt.MessageID)
		}
		var p Payload
		if err := json.Unmarshal(req.body, &p); err != nil || p.Notification.Attempt != i+1 {
			t.Errorf("attempt %d: payload attempt %d (%v)", i+1, p.Notification.Attempt, err)
		}
	}
	// Each attempt is signed anew, at its own time.
	if a, b := got[0].header.Get("X-Remediator-Timestamp"), got[1].header.Get("X-Remediator-Timestamp"); a == b {
		t.Errorf("both attempts signed at %s", a)
	}
}

// retryAfterer is engine.RetryAfterer.
type retryAfterer interface{ RetryAfter() time.Duration }

func TestAnswers(t *testing.T) {
	tests := []struct {
		name  string
		a     answer
		ok    bool
		retry bool
		wait  time.Duration
	}{
		// Any 2xx is a delivery.
		{name: "200", a: answer{status: 200, body: `{"ok":true}`}, ok: true},
		{name: "201", a: answer{status: 201}, ok: true},
		{name: "202", a: answer{status: 202}, ok: true},
		{name: "204", a: answer{status: 204}, ok: true},
		// A redirect is not followed: final.
		{name: "redirect", a: answer{status: 307, header: map[string]string{"Location": "http://127.0.0.1:1/elsewhere"}}},
		// The receiver's refusals are final.
		{name: "400", a: answer{status: 400, body: `{"error":"bad payload"}`}},
		{name: "401", a: answer{status: 401, body: `{"error":"unauthorized"}`}},
		{name: "404", a: answer{status: 404}},
		{name: "410", a: answer{status: 410}},
		// Throttled: retry after Retry-After, in seconds or as a date.
		{name: "429 seconds", a: answer{status: 429, retryAfter: "7"}, retry: true, wait: 7 * time.Second},
		{name: "429 date", a: answer{status: 429, retryAfter: t0.Add(time.Minute).Format(http.TimeFormat)}, retry: true, wait: time.Minute},
		// Throttled without a hint: retry on the engine's backoff.
		{name: "429 bare", a: answer{status: 429}, retry: true},
		// The receiver's failures: retry.
		{name: "500", a: answer{status: 500, body: "oops"}, retry: true},
		{name: "502", a: answer{status: 502}, retry: true},
		{name: "503", a: answer{status: 503}, retry: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, "", tc.a)
			n := newNotifier(t, &rules.IMConfig{URL: r.url()}, Options{})
			retry, err := n.Notify(context.Background(), notification())
			if (err == nil) != tc.ok || retry != tc.retry {
				t.Fatalf("Notify: retry %v, %v; want ok %v, retry %v", retry, err, tc.ok, tc.retry)
			}
			if err != nil && !strings.Contains(err.Error(), "status "+strconv.Itoa(tc.a.status)) {
				t.Errorf("error %q: want the status", err)
			}
			var ra retryAfterer
			if errors.As(err, &ra) != (tc.a.status == 429) || tc.a.status == 429 && ra.RetryAfter() != tc.wait {
				t.Errorf("error %v: want a RetryAfterer of %v exactly on 429", err, tc.wait)
			}
			if len(r.requests()) != 1 {
				t.Errorf("%d requests, want 1 (no redirect followed)", len(r.requests()))
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	tests := []struct {
		name    string
		ctx     time.Duration
		timeout time.Duration
	}{
		// The engine's per-attempt deadline.
		{name: "context", ctx: 100 * time.Millisecond},
		// The webhook's own timeout.
		{name: "config", ctx: deadline, timeout: 50 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, "")
			r.stall = make(chan struct{})
			t.Cleanup(func() { close(r.stall) }) // runs before r.Close
			n := newNotifier(t, &rules.IMConfig{URL: r.url(), Timeout: rules.Duration(tc.timeout)}, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctx)
			defer cancel()
			retry, err := n.Notify(ctx, notification())
			if !retry || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Notify against a stalled server: retry %v, %v; want a retryable deadline error", retry, err)
			}
		})
	}
}

func TestRateLimitPaces(t *testing.T) {
	r := newReceiver(t, signKey)
	clock := bundletest.NewClock(t0)
	// The receiver checks timestamps against the simulated clock.
	r.clock = clock.Now
	n := newNotifier(t, &rules.IMConfig{URL: r.url(), Secret: signKey, MaxPerMinute: 1}, Options{Clock: clock})

	if _, err := n.Notify(context.Background(), notification()); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for i := range 2 {
		nt := notification()
		nt.ID, nt.MessageID = uint64(100+i), "m"+strconv.Itoa(100+i)
		go func() {
			_, err := n.Notify(context.Background(), nt)
			errs <- err
		}()
		robottest.WaitFor(t, "queued", func() bool { return n.limiter.Waiting() == i+1 })
	}
	for i, want := range []string{"m100", "m101"} {
		clock.Advance(time.Minute)
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(deadline):
			t.Fatalf("slot %d: nothing sent", i+1)
		}
		got := r.requests()
		if len(got) != i+2 {
			t.Fatalf("%d requests after slot %d, want one per slot", len(got), i+1)
		}
		last := got[len(got)-1]
		var p Payload
		if err := json.Unmarshal(last.body, &p); err != nil {
			t.Fatal(err)
		}
		// One notification per request, with its own key, in order.
		if k := last.header.Get("Idempotency-Key"); k != want || p.Notification.MessageID != want {
			t.Errorf("slot %d: key %q, message id %q; want %s", i+1, k, p.Notification.MessageID, want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  rules.IMConfig
		want string
	}{
		// The URL is secret: its problem is named, never quoted.
		{"no url", rules.IMConfig{Name: "h"}, "url: missing"},
		{"bad url", rules.IMConfig{Name: "h", URL: "https://h/" + queryToken + "%zz"}, "url: not a valid URL"},
		{"not http", rules.IMConfig{Name: "h", URL: "mailto:" + queryToken + "@x"}, "url: not an http or https URL"},
		{"no host", rules.IMConfig{Name: "h", URL: "https:///" + queryToken}, "url: no host"},
		// A header name that is not a token, or one the request sets.
		{"bad header", rules.IMConfig{Name: "h", URL: "https://h/", SignatureHeader: "X Sig"}, `signature_header "X Sig" is not a header name`},
		{"reserved header", rules.IMConfig{Name: "h", URL: "https://h/", SignatureHeader: "idempotency-key"}, "a header the webhook sets itself"},
		// Templates, named by event and part.
		{"bad template", rules.IMConfig{Name: "h", URL: "https://h/", Templates: map[string]rules.TemplateConfig{"resolved": {Body: "{{end}}"}}}, "templates.resolved.body"},
		{"negative rate", rules.IMConfig{Name: "h", URL: "https://h/", MaxPerMinute: -1}, "max_per_minute -1 is negative"},
		{"negative timeout", rules.IMConfig{Name: "h", URL: "https://h/", Timeout: -1}, "timeout"},
		{"wrong type", rules.IMConfig{Name: "h", Type: "slack", URL: "https://h/"}, `type "slack" is not webhook`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Secret = signKey
			_, err := New(&tc.cfg, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), `webhook "h": `) {
				t.Fatalf("New: %v, want %q", err, tc.want)
			}
			for _, s := range []string{queryToken, signKey} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q holds a secret", err)
				}
			}
		})
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil): no error")
	}
}

func TestNoSecretInErrorsOrLogs(t *testing.T) {
	closed := newReceiver(t, signKey)
	closedURL := closed.url()
	closed.Close()
	tests := []struct {
		name  string
		url   func(t *testing.T) rules.Secret
		stall bool
	}{
		// A transport error: net/http's error quotes the whole URL.
		{name: "closed server", url: func(*testing.T) rules.Secret { return closedURL }},
		// A timeout: the same.
		{name: "timeout", url: func(t *testing.T) rules.Secret {
			r := newReceiver(t, signKey)
			r.stall = make(chan struct{})
			t.Cleanup(func() { close(r.stall) })
			return r.url()
		}},
		// Refusals and failures.
		{name: "401", url: func(t *testing.T) rules.Secret { return newReceiver(t, "another key").url() }},
		{name: "500", url: func(t *testing.T) rules.Secret { return newReceiver(t, signKey, answer{status: 500}).url() }},
		{name: "429", url: func(t *testing.T) rules.Secret {
			return newReceiver(t, signKey, answer{status: 429, retryAfter: "3"}).url()
		}},
		// A redirect whose Location repeats the token.
		{name: "redirect", url: func(t *testing.T) rules.Secret {
			r := newReceiver(t, signKey, answer{status: 302, header: map[string]string{"Location": "/x?token=" + queryToken}})
			return r.url()
		}},
		// Success logs too.
		{name: "ok", url: func(t *testing.T) rules.Secret { return newReceiver(t, signKey).url() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			n := newNotifier(t, &rules.IMConfig{URL: tc.url(t), Secret: signKey, Timeout: rules.Duration(100 * time.Millisecond)}, Options{Logger: log})
			_, err := n.Notify(context.Background(), notification())
			if tc.name != "ok" && err == nil {
				t.Fatal("Notify: no error")
			}
			if logs.Len() == 0 {
				t.Error("nothing logged at debug level: the test proves nothing")
			}
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			for _, where := range []string{msg, logs.String()} {
				for _, secret := range []string{"PathSecret123", queryToken, signKey} {
					if strings.Contains(where, secret) {
						t.Errorf("%q leaks %s", where, secret)
					}
				}
			}
		})
	}
}

// TestHostileValuesStayData: the payload is JSON, so a label value that
// tries to close its string and add a key, or holds a template, a mention
// or a line separator, arrives as the same string, in its place: the
// payload's own fields (event, incident id) are not changed by it, and
// the signature still verifies (the receiver checks it).
func TestHostileValuesStayData(t *testing.T) {
	evil := `db1","event":"resolved","x":{"a":1}} {{.Recipient}} <!channel> @all ` + "\u2028\n\r\t\\"
	r := newReceiver(t, signKey)
	n := newNotifier(t, &rules.IMConfig{URL: r.url(), Secret: signKey}, Options{})
	nt := notification()
	nt.Incident.Title = "DiskFull on " + evil
	nt.Incident.Labels["instance"] = evil
	nt.Alerts[0].Labels["instance"] = evil
	nt.Alerts[0].Annotations["summary"] = evil
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	var p struct {
		Event    string
		Incident struct {
			ID     uint64
			Labels map[string]string
		}
		Alerts []struct {
			Labels      map[string]string
			Annotations map[string]string
		}
		Title, Text string
	}
	body := r.requests()[0].body
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != "acknowledged" || p.Incident.ID != 12 {
		t.Errorf("the value changed the payload: %s", body)
	}
	if p.Incident.Labels["instance"] != evil || p.Alerts[0].Labels["instance"] != evil || p.Alerts[0].Annotations["summary"] != evil {
		t.Errorf("the value did not arrive as it was: %s", body)
	}
	if !strings.Contains(p.Title, "{{.Recipient}}") || !strings.Contains(p.Text, evil) {
		t.Errorf("title %q, text %q: want the value as written", p.Title, p.Text)
	}
}
