package api

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/remediator/remediator/engine"
)

func readWebhook(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeWebhookExamples(t *testing.T) {
	w, err := DecodeWebhook(strings.NewReader(string(readWebhook(t, "firing.json"))))
	if err != nil {
		t.Fatal(err)
	}
	a := w.Alerts[0]
	if w.Receiver != "remediator" || w.GroupKey != `{}:{alertname="GameServerDown"}` || a.Fingerprint != "c0ffee0123456789" ||
		a.Status != engine.StatusFiring || a.Labels["service"] != "game-api" || a.StartsAt.Nanosecond() != 123000000 {
		t.Fatalf("decoded %+v", w)
	}

	// Newer fields are tolerated; a missing fingerprint is computed the way
	// Alertmanager computes it.
	w, err = DecodeWebhook(strings.NewReader(string(readWebhook(t, "newer-fields-no-fingerprint.json"))))
	if err != nil {
		t.Fatal(err)
	}
	want := model.LabelSet{"alertname": "HighLoad", "severity": "warning", "instance": "gs-02:9100"}.Fingerprint().String()
	if w.Alerts[0].Fingerprint != want || w.Alerts[0].Fingerprint == w.Alerts[1].Fingerprint || w.TruncatedAlerts != 2 {
		t.Fatalf("fingerprints %q %q, want %q first", w.Alerts[0].Fingerprint, w.Alerts[1].Fingerprint, want)
	}
}

func TestDecodeWebhookErrors(t *testing.T) {
	const alert = `{"status":"firing","labels":{"a":"b"},"startsAt":"2026-11-25T10:00:00Z"}`
	tests := []struct {
		name, body, want string
	}{
		// Nothing at all.
		{"empty", ``, "empty body: expected an Alertmanager webhook JSON object"},
		// Truncated JSON.
		{"truncated", `{"receiver":"r","alerts":[`, "malformed JSON: unexpected end of input"},
		// Not JSON.
		{"syntax", `{"receiver": nope}`, "malformed JSON at byte 15: invalid character 'o' in literal null (expecting 'u')"},
		// Two objects.
		{"trailing", `{"receiver":"r","alerts":[` + alert + `]} {}`, "unexpected data after the JSON object"},
		// A top-level array.
		{"array", `[]`, "(top level): expected an object, got array"},
		// Wrong type for a field, named.
		{"receiver type", `{"receiver":5,"alerts":[` + alert + `]}`, "receiver: expected a string, got number"},
		// Wrong type deep inside, named with its path.
		{"label type", `{"receiver":"r","alerts":[{"status":"firing","labels":{"a":1}}]}`, "alerts.labels: expected a string, got number"},
		// alerts not an array.
		{"alerts type", `{"receiver":"r","alerts":{}}`, "alerts: expected an array, got object"},
		// Missing alerts.
		{"no alerts", `{"receiver":"r"}`, "alerts: at least one alert is required"},
		// Empty alerts.
		{"empty alerts", `{"receiver":"r","alerts":[]}`, "alerts: at least one alert is required"},
		// Missing receiver.
		{"no receiver", `{"alerts":[` + alert + `]}`, "receiver: required"},
		// Unsupported version.
		{"version", `{"version":"5","receiver":"r","alerts":[` + alert + `]}`, `version: unsupported webhook version "5" (remediator reads version 4)`},
		// Bad alert status.
		{"status", `{"receiver":"r","alerts":[` + alert + `,{"status":"burning","labels":{"a":"b"}}]}`, `alerts[1].status: must be "firing" or "resolved", got "burning"`},
		// No labels.
		{"labels", `{"receiver":"r","alerts":[{"status":"firing"}]}`, "alerts[0].labels: an alert needs at least one label"},
		// Bad time.
		{"time", `{"receiver":"r","alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"yesterday"}]}`, `alerts[].startsAt: "yesterday" is not an RFC 3339 time`},
		// Time of the wrong type.
		{"time type", `{"receiver":"r","alerts":[{"status":"firing","labels":{"a":"b"},"endsAt":12}]}`, `alerts[].endsAt: expected an RFC 3339 time string, got 12`},
		// A time JSON cannot write back once in UTC (10000-01-01T23:58:59Z),
		// and one before 1970.
		{"late time", `{"receiver":"r","alerts":[` + alert + `,{"status":"firing","labels":{"a":"b"},"startsAt":"9999-12-31T23:59:59-23:59"}]}`,
			"alerts[1].startsAt: 9999-12-31T23:59:59-23:59 is out of range (years 1970 to 9999 in UTC)"},
		{"early time", `{"receiver":"r","alerts":[{"status":"resolved","labels":{"a":"b"},"endsAt":"1969-07-20T20:17:40Z"}]}`,
			"alerts[0].endsAt: 1969-07-20T20:17:40Z is out of range (years 1970 to 9999 in UTC)"},
		// Negative truncatedAlerts.
		{"truncated type", `{"receiver":"r","truncatedAlerts":-1,"alerts":[` + alert + `]}`, "truncatedAlerts: expected a non-negative integer, got number -1"},
		// Over-long fingerprint.
		{"fingerprint", `{"receiver":"r","alerts":[{"status":"firing","labels":{"a":"b"},"fingerprint":"` + strings.Repeat("f", 129) + `"}]}`, "alerts[0].fingerprint: longer than 128 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeWebhook(strings.NewReader(tt.body))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want a *DecodeError", err, err)
			}
			if err.Error() != tt.want {
				t.Fatalf("err = %q\nwant  %q", err.Error(), tt.want)
			}
		})
	}
}

// FuzzDecodeWebhook: the decoder never panics, and whatever it accepts is
// something the engine can take.
func FuzzDecodeWebhook(f *testing.F) {
	for _, name := range []string{"firing.json", "resolved.json", "newer-fields-no-fingerprint.json"} {
		f.Add(readWebhook(f, name))
	}
	f.Add([]byte(`{"receiver":"r","alerts":[{"status":"resolved","labels":{"":""}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := DecodeWebhook(strings.NewReader(string(body)))
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if !utf8.ValidString(err.Error()) && utf8.Valid(body) {
				t.Fatalf("error message is not UTF-8: %q", err.Error())
			}
			return
		}
		if w.Receiver == "" || len(w.Alerts) == 0 {
			t.Fatalf("accepted a webhook without receiver or alerts: %+v", w)
		}
		// commonLabels are every alert's.
		for k, v := range w.CommonLabels {
			for _, a := range w.Alerts {
				if a.Labels[k] != v {
					t.Fatalf("commonLabels %s=%q is not alert %v's", k, v, a.Labels)
				}
			}
		}
		for _, a := range w.Alerts {
			if a.Fingerprint == "" || (a.Status != engine.StatusFiring && a.Status != engine.StatusResolved) || len(a.Labels) == 0 {
				t.Fatalf("accepted alert %+v", a)
			}
			// Every accepted time is unset or in 1970–9999 UTC, and can be
			// written back as JSON in UTC.
			for _, at := range []time.Time{a.StartsAt, a.EndsAt} {
				if at.IsZero() {
					continue
				}
				if _, err := json.Marshal(at.UTC()); err != nil || at.Before(minTime) || at.After(maxTime) {
					t.Fatalf("accepted time %v (%v)", at, err)
				}
			}
		}
	})
}

// TestCommonLabelsAreShared: commonLabels and groupLabels keep only what
// every alert of the payload has, with the same value, so a sender cannot
// widen an incident's labels (and a phone silence built from them): one
// alert with commonLabels {severity: critical} does not make an incident
// whose silence mutes every critical alert.
func TestCommonLabelsAreShared(t *testing.T) {
	body := `{"receiver":"r","groupKey":"g","groupLabels":{"alertname":"Down","team":"x"},` +
		`"commonLabels":{"alertname":"Down","severity":"critical","service":"api"},"alerts":[` +
		`{"status":"firing","labels":{"alertname":"Down","service":"api","severity":"warning"}},` +
		`{"status":"firing","labels":{"alertname":"Down","service":"api"}}]}`
	w, err := DecodeWebhook(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"alertname": "Down", "service": "api"}; !maps.Equal(w.CommonLabels, want) {
		t.Fatalf("commonLabels = %v, want %v", w.CommonLabels, want)
	}
	if want := map[string]string{"alertname": "Down"}; !maps.Equal(w.GroupLabels, want) {
		t.Fatalf("groupLabels = %v, want %v", w.GroupLabels, want)
	}
	// Alertmanager's own payloads keep theirs whole.
	for _, name := range []string{"firing.json", "resolved.json"} {
		w, err := DecodeWebhook(strings.NewReader(string(readWebhook(t, name))))
		if err != nil {
			t.Fatal(err)
		}
		var raw struct{ CommonLabels map[string]string }
		_ = json.Unmarshal(readWebhook(t, name), &raw)
		if !maps.Equal(w.CommonLabels, raw.CommonLabels) {
			t.Fatalf("%s: commonLabels %v, sent %v", name, w.CommonLabels, raw.CommonLabels)
		}
	}
}
