package rules

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// reportYAML is a valid config with a digest and an SLA report that
// leave their defaults out.
const reportYAML = `
people:
  - {id: zhang.qiang, email: zhang.qiang@example.com}
  - {id: ops@example.com, email: oncall@example.com}
notifiers:
  email: {smarthost: "smtp.example.com:587", from: alerts@example.com}
reports:
  - name: daily-digest
    cron: "CRON_TZ=Asia/Shanghai 0 9 * * *"
    to: [zhang.qiang, ops@example.com, team@example.com]
  - name: weekly-sla
    kind: sla
    cron: "CRON_TZ=Asia/Shanghai 0 9 * * mon"
    to: [zhang.qiang]
  - name: notice-only
    cron: "@daily"
    levels: []
    incident_levels: [notice, critical]
    to: [zhang.qiang]
`

// TestReportDefaults: a digest defaults to levels [info] and
// incident_levels [notice]; an SLA report to a week and no levels; an
// explicit empty list stays empty.
func TestReportDefaults(t *testing.T) {
	cfg, err := Parse("r.yml", []byte(reportYAML), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []ReportConfig{
		{Name: "daily-digest", Cron: "CRON_TZ=Asia/Shanghai 0 9 * * *", Kind: ReportDigest, Levels: []string{"info"},
			IncidentLevels: []string{"notice"}, To: []string{"zhang.qiang", "ops@example.com", "team@example.com"}},
		{Name: "weekly-sla", Cron: "CRON_TZ=Asia/Shanghai 0 9 * * mon", Kind: ReportSLA, Period: Duration(7 * 24 * time.Hour),
			To: []string{"zhang.qiang"}},
		{Name: "notice-only", Cron: "@daily", Kind: ReportDigest, Levels: []string{}, IncidentLevels: []string{"notice", "critical"},
			To: []string{"zhang.qiang"}},
	}
	if !reflect.DeepEqual(cfg.Reports, want) {
		t.Errorf("Reports =\n%+v\nwant\n%+v", cfg.Reports, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate after Parse: %v", err)
	}

	t.Run("without level names every default applies", func(t *testing.T) {
		r := ReportConfig{}
		r.SetDefaults(nil)
		if r.Kind != ReportDigest || !reflect.DeepEqual(r.Levels, []string{"info"}) || !reflect.DeepEqual(r.IncidentLevels, []string{"notice"}) || r.Period != 0 {
			t.Errorf("%+v", r)
		}
	})
	t.Run("a default level that does not exist is left out", func(t *testing.T) {
		r := ReportConfig{}
		r.SetDefaults([]string{"p1", "notice"})
		if r.Levels != nil || !reflect.DeepEqual(r.IncidentLevels, []string{"notice"}) {
			t.Errorf("levels %v, incident_levels %v; want nil and [notice]", r.Levels, r.IncidentLevels)
		}
	})
}

// TestReportRecipientResolution: a person id wins over an address of the
// same spelling, so a person whose id looks like an address is mailed at
// their email.
func TestReportRecipientResolution(t *testing.T) {
	people := map[string]*PersonConfig{"ops@example.com": {ID: "ops@example.com", Email: "oncall@example.com"}}
	for _, tc := range []struct {
		to, want, err string
	}{
		{"ops@example.com", "oncall@example.com", ""},        // the person, not the address
		{"team@example.com", "team@example.com", ""},         // an address
		{"team", "", "neither a person"},                     // neither
		{"Team <team@example.com>", "", "not an email addr"}, // a display name is not an address here
	} {
		got, err := reportRecipient(tc.to, people)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("reportRecipient(%q) = %q, %v; want %q, error containing %q", tc.to, got, err, tc.want, tc.err)
		}
	}
}

func TestParseReportCron(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC) // a Monday
	for _, tc := range []struct {
		name, spec string
		next       time.Time // zero: an error containing err
		err        string
	}{
		// CRON_TZ places the hours in the zone: 09:00 in Shanghai is 01:00 UTC.
		{"CRON_TZ zone", "CRON_TZ=Asia/Shanghai 0 9 * * *", time.Date(2026, 3, 9, 9, 0, 0, 0, shanghai), ""},
		// TZ= is the same.
		{"TZ zone", "TZ=Asia/Shanghai 0 9 * * mon", time.Date(2026, 3, 9, 9, 0, 0, 0, shanghai), ""},
		// Without a zone, UTC, never the machine's local time.
		{"UTC without a zone", "0 9 * * *", time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC), ""},
		// A descriptor is a 5-field spec by another name.
		{"descriptor", "@weekly", time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), ""},
		// @every counts from the start of the process.
		{"@every refused", "@every 1h", time.Time{}, "@every counts from whenever remediator started"},
		// @every after a zone too.
		{"@every after a zone refused", "CRON_TZ=UTC @every 1h", time.Time{}, "@every"},
		// Seconds are not a field.
		{"six fields refused", "0 0 9 * * *", time.Time{}, "expected exactly 5 fields"},
		// An unknown zone.
		{"unknown zone", "CRON_TZ=Mars/Olympus 0 9 * * *", time.Time{}, "is not a time zone"},
		// A zone with nothing after it.
		{"zone alone", "CRON_TZ=UTC", time.Time{}, "no schedule"},
		// February 30th never comes.
		{"never fires", "0 9 30 2 *", time.Time{}, "never fires"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseReportCron(tc.spec)
			if tc.next.IsZero() {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseReportCron(%q) error %v, want one containing %q", tc.spec, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(from); !got.Equal(tc.next) {
				t.Errorf("Next(%s) = %s, want %s", from, got, tc.next)
			}
		})
	}
}
