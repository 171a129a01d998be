package report

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
)

// shanghai is where the tests' reports are read.
var shanghai = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// cst is a wall-clock time in Shanghai.
func cst(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, shanghai)
}

// digestData is one day's digest: three info alerts (one with a label
// that is HTML) and two open notice incidents, one overdue.
func digestData() *DigestData {
	return &DigestData{
		Name: "daily-digest", From: cst(2026, 3, 9, 9, 0), To: cst(2026, 3, 10, 9, 0),
		Levels: []engine.Level{"info"}, IncidentLevels: []engine.Level{"notice"},
		Alerts: []engine.Alert{
			{ID: 12, Status: engine.StatusFiring, Level: "info", FirstSeen: cst(2026, 3, 9, 15, 30),
				Labels: map[string]string{"alertname": "CertExpiresSoon", "instance": "<script>alert(1)</script>"}},
			{ID: 10, Status: engine.StatusResolved, Level: "info", FirstSeen: cst(2026, 3, 9, 10, 5),
				Labels: map[string]string{"alertname": "DiskAlmostFull", "mountpoint": "/data", "instance": "db-01"}},
			{ID: 11, Status: engine.StatusFiring, Level: "info", FirstSeen: cst(2026, 3, 9, 12, 0),
				Labels: map[string]string{"alertname": "NTPDrift"}},
		},
		Incidents: []engine.Incident{
			{ID: 40, Title: "备份任务失败 <b>nightly</b>", Level: "notice", Priority: "P3", Status: engine.IncidentOpen,
				CreatedAt: cst(2026, 3, 8, 7, 0), RespondBy: cst(2026, 3, 8, 9, 0), ResolveBy: cst(2026, 3, 9, 7, 0)},
			{ID: 41, Title: "replica lag", Level: "notice", Priority: "P3", Status: engine.IncidentAcknowledged, AcknowledgedBy: "li.na",
				CreatedAt: cst(2026, 3, 10, 6, 30), RespondBy: cst(2026, 3, 10, 8, 30), ResolveBy: cst(2026, 3, 11, 6, 30)},
		},
	}
}

func TestRenderDigest(t *testing.T) {
	m, err := RenderDigest(digestData(), RenderOptions{Location: shanghai, ConsoleURL: "https://remediator.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("subject: %s\n%s", m.Subject, m.Text)

	t.Run("subject counts since the period's start in the report's zone", func(t *testing.T) {
		const want = "[remediator] daily-digest: 3 info alerts since 2026-03-09 09:00 CST, 2 open notice incidents"
		if m.Subject != want {
			t.Errorf("Subject %q, want %q", m.Subject, want)
		}
	})

	t.Run("text lists alerts oldest first with labels and first seen", func(t *testing.T) {
		wantInOrder(t, m.Text,
			"Info alerts since 2026-03-09 09:00 CST (3)",
			"- DiskAlmostFull {instance=db-01, mountpoint=/data}\n  first seen 2026-03-09 10:05 CST, resolved",
			"- NTPDrift\n  first seen 2026-03-09 12:00 CST, firing",
			"- CertExpiresSoon {instance=<script>alert(1)</script>}\n  first seen 2026-03-09 15:30 CST, firing",
		)
	})

	t.Run("text lists open incidents with age and deadlines", func(t *testing.T) {
		wantInOrder(t, m.Text,
			"Open notice incidents (2)",
			// Open for two days: both deadlines passed.
			"- #40 备份任务失败 <b>nightly</b> (notice, P3), open, open for 2d 2h\n"+
				"  respond by 2026-03-08 09:00 CST (overdue), resolve by 2026-03-09 07:00 CST (overdue)\n"+
				"  https://remediator.example.com/api/v1/incidents/40",
			// Acknowledged: only the resolve clock runs.
			"- #41 replica lag (notice, P3), acknowledged by li.na, open for 2h 30m\n"+
				"  resolve by 2026-03-11 06:30 CST\n",
		)
	})

	t.Run("html escapes label values and titles", func(t *testing.T) {
		for _, raw := range []string{"<script>", "<b>nightly"} {
			if strings.Contains(m.HTML, raw) {
				t.Errorf("HTML holds raw %q:\n%s", raw, m.HTML)
			}
		}
		wantInOrder(t, m.HTML,
			"<h2>3 info alerts since 2026-03-09 09:00 CST, 2 open notice incidents</h2>",
			"<td>DiskAlmostFull</td><td>instance=db-01, mountpoint=/data</td><td>2026-03-09 10:05 CST</td><td>resolved</td>",
			"<td>CertExpiresSoon</td><td>instance=&lt;script&gt;alert(1)&lt;/script&gt;</td>",
			`<a href="https://remediator.example.com/api/v1/incidents/40">#40</a></td><td>备份任务失败 &lt;b&gt;nightly&lt;/b&gt;</td>`,
			`<td style="color: #b00">respond by 2026-03-08 09:00 CST (overdue), resolve by 2026-03-09 07:00 CST (overdue)</td>`,
			`<td>resolve by 2026-03-11 06:30 CST</td>`,
		)
	})

	t.Run("an empty digest says so", func(t *testing.T) {
		d := digestData()
		d.Alerts, d.Incidents = nil, nil
		m, err := RenderDigest(d, RenderOptions{Location: shanghai})
		if err != nil {
			t.Fatal(err)
		}
		if want := "[remediator] daily-digest: 0 info alerts since 2026-03-09 09:00 CST, 0 open notice incidents"; m.Subject != want {
			t.Errorf("Subject %q, want %q", m.Subject, want)
		}
		wantInOrder(t, m.Text, "Info alerts since 2026-03-09 09:00 CST (0)\nNone.", "Open notice incidents (0)\nNone.")
		wantInOrder(t, m.HTML, "<p>None.</p>", "<p>None.</p>")
	})

	t.Run("a digest without incident levels leaves their section out", func(t *testing.T) {
		d := digestData()
		d.IncidentLevels, d.Incidents = nil, nil
		d.Alerts = d.Alerts[:1]
		m, err := RenderDigest(d, RenderOptions{Location: shanghai})
		if err != nil {
			t.Fatal(err)
		}
		if want := "[remediator] daily-digest: 1 info alert since 2026-03-09 09:00 CST"; m.Subject != want {
			t.Errorf("Subject %q, want %q", m.Subject, want)
		}
		if strings.Contains(m.Text, "incident") || strings.Contains(m.HTML, "incident") {
			t.Errorf("a section on incidents:\n%s\n%s", m.Text, m.HTML)
		}
	})

	t.Run("a flood is cut at MaxListed and counted", func(t *testing.T) {
		d := digestData()
		d.Alerts = nil
		for i := range MaxListed + 5 {
			d.Alerts = append(d.Alerts, engine.Alert{ID: uint64(i), Status: engine.StatusFiring, FirstSeen: d.From.Add(time.Duration(i) * time.Second),
				Labels: map[string]string{"alertname": fmt.Sprintf("A%d", i)}})
		}
		m, err := RenderDigest(d, RenderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(m.Text, "\n- A"); n != MaxListed {
			t.Errorf("%d alerts listed, want %d", n, MaxListed)
		}
		if !strings.Contains(m.Text, "… and 5 more.") || !strings.Contains(m.HTML, "… and 5 more.") {
			t.Error("the rest is not counted")
		}
		if !strings.Contains(m.Subject, "205 info alerts") {
			t.Errorf("Subject %q does not count them all", m.Subject)
		}
	})

	t.Run("a long label summary is cut", func(t *testing.T) {
		s := labelSummary(map[string]string{"alertname": "X", "description": strings.Repeat("長", 200)})
		if len(s) > maxLabelsBytes || !strings.HasSuffix(s, "…") {
			t.Errorf("label summary of %d bytes: %q", len(s), s)
		}
	})
}

func TestRenderSLA(t *testing.T) {
	s := Summarize(slaEntries(), slaFrom, slaTo)
	m, err := RenderSLA("weekly-sla", &s, RenderOptions{Location: shanghai, ConsoleURL: "https://remediator.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("subject: %s\n%s", m.Subject, m.Text)

	if want := "[remediator] weekly-sla: SLA report: 5 incidents, 5 breaches since 2026-03-02 09:00 CST"; m.Subject != want {
		t.Errorf("Subject %q, want %q", m.Subject, want)
	}
	t.Run("text tables per level and per person", func(t *testing.T) {
		wantInOrder(t, m.Text,
			"Report weekly-sla: incidents opened from 2026-03-02 09:00 CST to 2026-03-09 09:00 CST.",
			"By level\nLevel     Priority  Incidents  Acked  Resolved  MTTA     MTTR    Late ack  Late resolve\n",
			"critical  P1        2          2      2         15m      3h      1         1\n",
			"warning   P2        2          0      1         -        45m     2         1\n",
			"info      -         1          1      0         1m       -       0         0\n",
			"total     -         5          3      3         10m 20s  2h 15m  3         2\n",
			"By person (first acknowledgement)\nPerson          Incidents  Acked  Resolved  MTTA  MTTR  Late ack  Late resolve\n",
			"li.na           2          2      1         3m    1h    0         0\n",
			"zhang.qiang     1          1      1         25m   5h    1         1\n",
			"unacknowledged  2          0      1         -     45m   2         1\n",
		)
	})
	t.Run("text lists each breach as a line", func(t *testing.T) {
		wantInOrder(t, m.Text,
			"Breaches (5)\n",
			"- #2 api 5xx (critical, P1): respond 10m late (due 2026-03-03 09:15 CST, stopped 2026-03-03 09:25 CST)\n"+
				"  https://remediator.example.com/api/v1/incidents/2\n",
			"- #2 api 5xx (critical, P1): resolve 1h late (due 2026-03-03 13:00 CST, stopped 2026-03-03 14:00 CST)\n",
			"- #3 queue slow (warning, P2): respond 15m late (due 2026-03-04 09:30 CST, stopped 2026-03-04 09:45 CST)\n",
			"- #4 disk <b>full</b> (warning, P2): respond 23h 30m late and still unacknowledged (due 2026-03-08 09:30 CST)\n",
			"- #4 disk <b>full</b> (warning, P2): resolve 16h late and still open (due 2026-03-08 17:00 CST)\n",
		)
	})
	t.Run("html has the tables and escapes titles", func(t *testing.T) {
		if strings.Contains(m.HTML, "<b>full") {
			t.Errorf("HTML holds a raw title:\n%s", m.HTML)
		}
		wantInOrder(t, m.HTML,
			`<tr><td>critical (P1)</td><td align="right">2</td><td align="right">2</td><td align="right">2</td><td align="right">15m</td><td align="right">3h</td><td align="right">1</td><td align="right">1</td></tr>`,
			`<tr><td>info</td><td align="right">1</td>`,
			`<tr style="font-weight: bold"><td>total</td><td align="right">5</td>`,
			`<tr><td>unacknowledged</td><td align="right">2</td>`,
			`<h3>Breaches (5)</h3>`,
			`<li>#4 disk &lt;b&gt;full&lt;/b&gt; (warning, P2): respond 23h 30m late and still unacknowledged (due 2026-03-08 09:30 CST) <a href="https://remediator.example.com/api/v1/incidents/4">open</a></li>`,
		)
	})
	t.Run("a week without incidents", func(t *testing.T) {
		empty := Summarize(nil, slaFrom, slaTo)
		m, err := RenderSLA("weekly-sla", &empty, RenderOptions{Location: shanghai})
		if err != nil {
			t.Fatal(err)
		}
		if want := "[remediator] weekly-sla: SLA report: 0 incidents, 0 breaches since 2026-03-02 09:00 CST"; m.Subject != want {
			t.Errorf("Subject %q, want %q", m.Subject, want)
		}
		wantInOrder(t, m.Text, "total  -         0", "By person (first acknowledgement)\nNone.", "Breaches (0)\nNone.")
	})
}

// wantInOrder fails unless s holds each part, in order.
func wantInOrder(t *testing.T, s string, parts ...string) {
	t.Helper()
	rest := s
	for _, p := range parts {
		i := strings.Index(rest, p)
		if i < 0 {
			if strings.Contains(s, p) {
				t.Errorf("%q is out of order in\n%s", p, s)
			} else {
				t.Errorf("%q is missing from\n%s", p, s)
			}
			return
		}
		rest = rest[i+len(p):]
	}
}
