package message

import (
	"html"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/remediator/remediator/engine"
)

func notification(event string) *engine.Notification {
	t0 := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	return &engine.Notification{
		ID: 7, Event: event, Channel: "email", URL: "http://r/api/v1/incidents/12",
		Recipient: engine.Recipient{Person: "zhangsan", Name: "张三", Address: "z@example.com"},
		Incident: engine.Incident{ID: 12, Title: "GameServerDown", Level: "critical", Priority: "P1", Status: engine.IncidentOpen,
			CreatedAt: t0, RespondBy: t0.Add(15 * time.Minute), ResolveBy: t0.Add(4 * time.Hour)},
		Alerts: []engine.Alert{
			{Status: engine.StatusFiring, Labels: map[string]string{"alertname": "GameServerDown", "job": `<script>alert(1)</script>`, "tmpl": "{{.Incident.ID}}"},
				Annotations: map[string]string{"summary": "游戏服务器宕机", "runbook_url": "https://runbooks/gs"}},
			{Status: engine.StatusResolved, Labels: map[string]string{"alertname": "Other"}},
		},
		By: "lisi",
	}
}

func TestDefaultsRenderEveryEventOfEveryKind(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []Kind{KindSMS, KindVoice, KindEmail, KindMarkdown, KindSlack, KindText} {
		set, err := Compile(k, nil)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for _, ev := range engine.NotifyEvents {
			r, err := set.Render(NewData(notification(ev), "Reply ACK 12", shanghai))
			if err != nil {
				t.Fatalf("%s/%s: %v", k, ev, err)
			}
			if !strings.Contains(r.Title, "#12") || !strings.Contains(r.Title, "GameServerDown") || r.Body == "" {
				t.Errorf("%s/%s: title %q body %q", k, ev, r.Title, r.Body)
			}
			if (k == KindEmail) != (r.HTML != "") {
				t.Errorf("%s/%s: HTML part %q", k, ev, r.HTML)
			}
			// A label value is data: never executed as a template.
			if strings.Contains(r.Body+r.HTML, "{{") && !strings.Contains(r.Body+r.HTML, "{{.Incident.ID}}") {
				t.Errorf("%s/%s: a template in a label was altered", k, ev)
			}
		}
	}
	set, _ := Compile(KindText, nil)
	r, _ := set.Render(NewData(notification(engine.NotifyFiring), "", shanghai))
	for _, want := range []string{"游戏服务器宕机", "Respond by 2026-11-27 10:15 CST", "Runbook: https://runbooks/gs", "1 firing, 1 resolved", "http://r/api/v1/incidents/12"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("text body lacks %q:\n%s", want, r.Body)
		}
	}
	r, _ = set.Render(NewData(notification(engine.NotifyAcknowledged), "", nil))
	if !strings.HasPrefix(r.Body, "Acknowledged by lisi.") {
		t.Errorf("acknowledged body = %q", r.Body)
	}
}

func TestEmailHTMLEscapesLabels(t *testing.T) {
	set, err := Compile(KindEmail, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := set.Render(NewData(notification(engine.NotifyFiring), "", nil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<script>") || !strings.Contains(r.HTML, "&lt;script&gt;") {
		t.Fatalf("label not escaped in HTML:\n%s", r.HTML)
	}
}

func TestOverrides(t *testing.T) {
	set, err := Compile(KindSMS, map[string]Template{engine.NotifyFiring: {Body: "P={{.Priority}} {{.Recipient.Name}}"}})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := set.Render(NewData(notification(engine.NotifyFiring), "", nil))
	if r.Body != "P=P1 张三" || !strings.Contains(r.Title, "#12") {
		t.Fatalf("override: %+v", r)
	}
	r, _ = set.Render(NewData(notification(engine.NotifyResolved), "", nil))
	if !strings.HasPrefix(r.Body, "RESOLVED P1 #12") {
		t.Fatalf("other events keep the default: %q", r.Body)
	}
	for _, tc := range []struct {
		name string
		kind Kind
		o    map[string]Template
		want string
	}{
		// An event that does not exist.
		{"unknown event", KindSMS, map[string]Template{"paged": {Body: "x"}}, `templates: unknown event "paged"`},
		// A template that does not parse names its event and part.
		{"syntax", KindSMS, map[string]Template{"resolved": {Body: "{{.Incident"}}, "templates.resolved.body:"},
		// HTML only exists for email.
		{"html outside email", KindMarkdown, map[string]Template{"firing": {HTML: "<b>"}}, "only email has an HTML part"},
		// An unknown function.
		{"unknown func", KindEmail, map[string]Template{"firing": {HTML: "{{ nope }}"}}, "templates.firing.html:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Compile(tc.kind, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// A template that fails at run time is an error, not a panic.
	set, err = Compile(KindText, map[string]Template{"firing": {Body: "{{index .Alerts 5}}"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Render(NewData(notification(engine.NotifyFiring), "", nil)); err == nil {
		t.Fatal("an out-of-range index rendered")
	}
}

func TestTruncate(t *testing.T) {
	suffix := "…\n[Full incident](http://x)"
	for _, tc := range []struct {
		name string
		in   string
		max  int
	}{
		{"fits", "short", 100},                                                // returned as is
		{"ascii", strings.Repeat("a", 500), 100},                              // cut and suffixed
		{"chinese", strings.Repeat("告警", 200), 101},                           // never inside a 3-byte character
		{"lines", strings.Repeat("line of text\n", 50), 200},                  // at a line break
		{"emoji", strings.Repeat("🔥", 100), 63},                               // 4-byte characters
		{"suffix longer than max", strings.Repeat("x", 100), len(suffix) - 3}, // the suffix itself is cut safely
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Truncate(tc.in, tc.max, suffix)
			if len(got) > tc.max {
				t.Fatalf("len %d > max %d", len(got), tc.max)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("invalid UTF-8: %q", got)
			}
			if len(tc.in) <= tc.max {
				if got != tc.in {
					t.Fatalf("changed a string that fits: %q", got)
				}
				return
			}
			if tc.max >= len(suffix) && !strings.HasSuffix(got, suffix) {
				t.Fatalf("no suffix: %q", got)
			}
			if tc.name == "lines" && !strings.HasSuffix(strings.TrimSuffix(got, suffix), "line of text") {
				t.Fatalf("not cut at a line break: %q", got)
			}
		})
	}
}

func TestDigestRendersEveryPage(t *testing.T) {
	n := notification(engine.NotifyFiring)
	other := notification(engine.NotifyFiring)
	other.Incident.ID, other.Incident.Title, other.URL = 13, "HighLoad", "http://r/api/v1/incidents/13"
	other.Alerts[0].Labels = map[string]string{"alertname": "HighLoad", "x": `<b>{{.Incident.ID}}</b>`}
	n.Digest = []engine.Notification{*other}
	for _, k := range []Kind{KindSMS, KindVoice, KindEmail, KindMarkdown, KindSlack, KindText} {
		set, err := Compile(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := set.Render(NewData(n, "", nil))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if !strings.Contains(r.Title, "[DIGEST] 2 incidents") || !strings.Contains(r.Body, "12") || !strings.Contains(r.Body, "13") {
			t.Errorf("%s: title %q body %q", k, r.Title, r.Body)
		}
		if k == KindEmail && (!strings.Contains(r.HTML, "#13 HighLoad") || !strings.Contains(r.HTML, "http://r/api/v1/incidents/13")) {
			t.Errorf("email HTML lacks the second incident:\n%s", r.HTML)
		}
	}
	// A digest template can be overridden like an event's.
	set, err := Compile(KindText, map[string]Template{EventDigest: {Body: "{{range .All}}#{{.Incident.ID}} {{end}}"}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := set.Render(NewData(n, "", nil)); r.Body != "#12 #13" {
		t.Fatalf("override: %q", r.Body)
	}
}

// TestByLineSaysByOnce: the line that says who acted reads as a sentence
// for every event, never "By by remediator." (a remediation that failed
// is reported by remediator).
func TestByLineSaysByOnce(t *testing.T) {
	for _, k := range []Kind{KindSMS, KindVoice, KindEmail, KindMarkdown, KindSlack, KindText} {
		set, err := Compile(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range engine.NotifyEvents {
			n := notification(ev)
			n.By, n.Detail = "remediator", "restart-game failed: exit status 1"
			r, err := set.Render(NewData(n, "", nil))
			if err != nil {
				t.Fatal(err)
			}
			if all := strings.ToLower(r.Title + "\n" + r.Body + "\n" + r.HTML); strings.Contains(all, "by by") {
				t.Errorf("%s/%s says \"by by\":\n%s", k, ev, r.Body)
			}
		}
	}
	set, _ := Compile(KindText, nil)
	n := notification(engine.NotifyRemediationFailed)
	n.By, n.Detail = "remediator", "restart-game failed: exit status 1"
	r, _ := set.Render(NewData(n, "", nil))
	if want := "Reported by remediator. restart-game failed: exit status 1"; !strings.HasPrefix(r.Body, want) {
		t.Errorf("remediation_failed body = %q, want it to start %q", r.Body, want)
	}
}

// TestValuesAreNeverTemplates: a label, annotation, title, by or detail
// that is template text ({{ .Recipient }}, {{template "x"}}, a define) is
// printed as written by every kind's defaults and by an override, in
// every event and in a digest; nothing in it runs.
func TestValuesAreNeverTemplates(t *testing.T) {
	const (
		recipient = `{{ .Recipient }}`
		call      = `{{template "digest.body" .}}`
		define    = `{{define "x"}}pwned{{end}}{{template "x"}}`
	)
	hostile := func(ev string) *engine.Notification {
		n := notification(ev)
		n.Incident.Title = "T " + recipient + " " + call
		n.Alerts[0].Labels["alertname"] = define
		n.Alerts[0].Annotations["summary"] = recipient + " " + define
		n.By, n.Detail = recipient, call
		return n
	}
	override := map[string]Template{engine.NotifyFiring: {Title: "{{.Incident.Title}}", Body: "{{.Summary}} {{range .Alerts}}{{.Labels.alertname}}{{end}}"}}
	for _, k := range []Kind{KindSMS, KindVoice, KindEmail, KindMarkdown, KindSlack, KindText} {
		for _, o := range []map[string]Template{nil, override} {
			set, err := Compile(k, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range append(slices.Clone(engine.NotifyEvents), EventDigest) {
				n := hostile(ev)
				if ev == EventDigest {
					n = hostile(engine.NotifyFiring)
					n.Digest = []engine.Notification{*hostile(engine.NotifyFiring)}
				}
				r, err := set.Render(NewData(n, "", nil))
				if err != nil {
					t.Fatalf("%s/%s: %v", k, ev, err)
				}
				all := r.Title + "\n" + r.Body + "\n" + html.UnescapeString(r.HTML)
				// What is left once the values as written are taken out
				// shows what a value would have run.
				left := strings.NewReplacer(define, "", recipient, "", call, "", "{{.Incident.ID}}", "").Replace(all)
				if strings.Contains(left, "pwned") || strings.Contains(left, "{{") || strings.Contains(all, "zhangsan") || strings.Contains(all, "zhangsan") || strings.Contains(all, "z@example.com") {
					t.Errorf("%s/%s: a value ran as a template:\n%s", k, ev, all)
				}
				if !strings.Contains(r.Title, recipient) || !strings.Contains(r.Title, call) {
					t.Errorf("%s/%s: title %q, want the values as written", k, ev, r.Title)
				}
			}
		}
	}
}
