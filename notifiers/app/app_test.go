package inapp

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
)

// notification is a firing notification of incident 12 to ann.
func notification(level engine.Level) *engine.Notification {
	return &engine.Notification{
		ID: 7, Event: engine.NotifyFiring, Channel: engine.ChannelApp,
		Recipient: engine.Recipient{Person: "ann", Name: "Ann"},
		Incident: engine.Incident{
			ID: 12, Title: "DiskFull on db1", Level: level, Priority: "P1",
			Status: engine.IncidentOpen, Labels: map[string]string{"alertname": "DiskFull"},
		},
		Alerts: []engine.Alert{{
			ID: 3, Status: engine.StatusFiring,
			Labels:      map[string]string{"alertname": "DiskFull", "instance": "db1"},
			Annotations: map[string]string{"summary": "disk / is 97% full"},
		}},
		URL: "https://remediator.example/incidents/12", Attempt: 1, MessageID: "n7@remediator",
	}
}

func TestNotifierPublishes(t *testing.T) {
	tests := []struct {
		name       string
		level      engine.Level
		isCritical func(engine.Level) bool
		critical   bool
	}{
		// By default the level named critical is the most urgent.
		{name: "default critical", level: "critical", critical: true},
		{name: "default not critical", level: "warning", critical: false},
		// The wiring knows the configured order of levels.
		{name: "configured", level: "p0", isCritical: func(l engine.Level) bool { return l == "p0" }, critical: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, srv := newHub(t, HubOptions{})
			c := connect(t, srv.URL+"?kinds="+KindNotification, nil)
			waitFor(t, "subscribed", func() bool { return h.Subscribers() == 1 })
			a, err := NewNotifier(h, &rules.AppConfig{}, Options{IsCritical: tc.isCritical})
			if err != nil {
				t.Fatal(err)
			}
			n := notification(tc.level)
			if retry, err := a.Notify(context.Background(), n); err != nil || retry {
				t.Fatalf("Notify: retry %v, %v", retry, err)
			}
			f := c.event(t)
			if f.Event != KindNotification || f.ID != n.ProviderID {
				t.Errorf("frame %q: want a notification event with the id Notify set as ProviderID (%q)", f.Lines, n.ProviderID)
			}
			var got NotificationEvent
			if err := json.Unmarshal([]byte(f.Data), &got); err != nil {
				t.Fatal(err)
			}
			want := NotificationEvent{
				ID: 7, Event: engine.NotifyFiring, Incident: 12, Level: tc.level, Priority: "P1",
				Title: "[FIRING] P1 " + string(tc.level) + " #12 DiskFull on db1", URL: n.URL,
				Recipient: n.Recipient, Critical: tc.critical,
			}
			text := got.Text
			got.Text = ""
			if got != want {
				t.Errorf("event\n%+v, want\n%+v", got, want)
			}
			if !strings.Contains(text, "disk / is 97% full") || !strings.HasSuffix(text, n.URL) {
				t.Errorf("text %q: want the summary and the incident's URL", text)
			}
		})
	}
}

func TestNotifierTemplates(t *testing.T) {
	h, _ := newHub(t, HubOptions{})
	t.Run("override", func(t *testing.T) {
		a, err := NewNotifier(h, &rules.AppConfig{Templates: map[string]rules.TemplateConfig{
			engine.NotifyFiring: {Title: "{{.Incident.Title}} needs you"},
		}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		n := notification("critical")
		if _, err := a.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		ev := h.ring[len(h.ring)-1]
		var got NotificationEvent
		if err := json.Unmarshal(ev.Data, &got); err != nil {
			t.Fatal(err)
		}
		if got.Title != "DiskFull on db1 needs you" {
			t.Errorf("title %q, want the override's", got.Title)
		}
	})
	t.Run("bad template", func(t *testing.T) {
		_, err := NewNotifier(h, &rules.AppConfig{Templates: map[string]rules.TemplateConfig{
			engine.NotifyFiring: {Body: "{{.Nope"},
		}}, Options{})
		if err == nil || !strings.Contains(err.Error(), "templates.firing.body") {
			t.Errorf("error %v, want one naming templates.firing.body", err)
		}
	})
	t.Run("no hub", func(t *testing.T) {
		if _, err := NewNotifier(nil, nil, Options{}); err == nil {
			t.Error("no error without a hub")
		}
	})
}

func TestNotifierClosedHub(t *testing.T) {
	h, _ := newHub(t, HubOptions{})
	a, err := NewNotifier(h, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	// Shutting down: worth a retry by the next run.
	if retry, err := a.Notify(context.Background(), notification("critical")); err == nil || !retry {
		t.Errorf("Notify on a closed hub: retry %v, %v; want a retryable error", retry, err)
	}
}

func TestLabelValuesKeepFraming(t *testing.T) {
	h, srv := newHub(t, HubOptions{})
	c := connect(t, srv.URL, nil)
	waitFor(t, "subscribed", func() bool { return h.Subscribers() == 1 })
	var logs bytes.Buffer
	a, err := NewNotifier(h, nil, Options{
		Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Location: time.UTC,
	})
	if err != nil {
		t.Fatal(err)
	}
	evil := "line1\nid: 999\r\nevent: admin\n\ndata: x</script><script>alert(1)</script>\u2028"
	n := notification("critical")
	n.Incident.Title = evil
	n.Alerts[0].Annotations["summary"] = evil
	if _, err := a.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	f := c.event(t)
	if len(f.Lines) != 3 || f.Event != KindNotification || f.ID != n.ProviderID {
		t.Fatalf("frame %q: want exactly id, event and one data line", f.Lines)
	}
	for _, bad := range []string{"</script>", "\u2028", "\r"} {
		if strings.Contains(f.Data, bad) {
			t.Errorf("data line holds %q: %s", bad, f.Data)
		}
	}
	var got NotificationEvent
	if err := json.Unmarshal([]byte(f.Data), &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got.Title, strings.TrimSpace(evil)) || !strings.Contains(got.Text, evil) { // Render trims the title
		t.Errorf("title %q, text %q: want the value intact after decoding", got.Title, got.Text)
	}
	if !strings.Contains(logs.String(), "event_id="+strconv.FormatUint(1, 10)) {
		t.Errorf("log %q: want the published event's id", logs.String())
	}
}
