package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Report kinds.
const (
	// ReportDigest lists the alerts of some levels that started since the
	// report's previous scheduled time, and the incidents of some levels
	// still open.
	ReportDigest = "digest"
	// ReportSLA summarises time to acknowledge and to resolve, and the
	// breaches, of the incidents opened in the period before it is sent.
	ReportSLA = "sla"
)

// DefaultReportPeriod is how far back an SLA report looks by default.
const DefaultReportPeriod = Duration(7 * 24 * time.Hour)

// DefaultReportLevels are a digest's default levels: those whose alerts
// it lists.
func DefaultReportLevels() []string { return []string{"info"} }

// DefaultReportIncidentLevels are a digest's default incident_levels:
// those whose open incidents it lists.
func DefaultReportIncidentLevels() []string { return []string{"notice"} }

// SetDefaults fills a report's unset fields: kind digest; a digest's
// levels [info] and incident_levels [notice], each only when levels (the
// configured level names, nil: do not check) has that level; an SLA
// report's period 1w. An explicit empty list stays empty.
func (r *ReportConfig) SetDefaults(levels []string) {
	if r.Kind == "" {
		r.Kind = ReportDigest
	}
	has := func(names []string) bool {
		if levels == nil {
			return true
		}
		for _, n := range names {
			if !slices.Contains(levels, n) {
				return false
			}
		}
		return true
	}
	switch r.Kind {
	case ReportDigest:
		if r.Levels == nil && has(DefaultReportLevels()) {
			r.Levels = DefaultReportLevels()
		}
		if r.IncidentLevels == nil && has(DefaultReportIncidentLevels()) {
			r.IncidentLevels = DefaultReportIncidentLevels()
		}
	case ReportSLA:
		if r.Period == 0 {
			r.Period = DefaultReportPeriod
		}
	}
}

// setReportDefaults fills every report's unset fields. Run after the
// levels' defaults.
func (c *Config) setReportDefaults() {
	names := c.LevelNames()
	for i := range c.Reports {
		c.Reports[i].SetDefaults(names)
	}
}

// validateReports checks every report, that names are unique, and that
// there is an email notifier to send them with.
func (c *Config) validateReports(v *validator) {
	if len(c.Reports) == 0 {
		return
	}
	if c.Notifiers.Email == nil {
		v.addf("reports", "reports are sent by email, so notifiers.email is required")
	}
	levels := c.LevelNames()
	people := make(map[string]*PersonConfig, len(c.People))
	for i := range c.People {
		if id := c.People[i].ID; id != "" && people[id] == nil {
			people[id] = &c.People[i]
		}
	}
	names := make(map[string]string)
	for i := range c.Reports {
		rp := joinIndex("reports", i)
		r := &c.Reports[i]
		switch {
		case strings.TrimSpace(r.Name) == "":
			v.addf(rp, "name is required: logs and the report's subject name it")
		case names[r.Name] != "":
			v.addf(joinKey(rp, "name"), "duplicate report name %q (also %s)", r.Name, names[r.Name])
		default:
			names[r.Name] = rp
		}
		r.validate(v, rp, levels, people)
	}
}

// validate checks one report against the levels and people that exist.
func (r *ReportConfig) validate(v *validator, path string, levels []string, people map[string]*PersonConfig) {
	if r.Cron == "" {
		v.addf(path, "cron is required (like \"CRON_TZ=Asia/Shanghai 0 9 * * *\")")
	} else if _, err := ParseReportCron(r.Cron); err != nil {
		v.addf(joinKey(path, "cron"), "%q is not a usable cron schedule: %v", r.Cron, err)
	}

	switch r.Kind {
	case ReportDigest:
		checkReportLevels(v, path, "levels", r.Levels, DefaultReportLevels(), levels)
		checkReportLevels(v, path, "incident_levels", r.IncidentLevels, DefaultReportIncidentLevels(), levels)
		if r.Levels != nil && r.IncidentLevels != nil && len(r.Levels) == 0 && len(r.IncidentLevels) == 0 {
			v.addf(path, "levels and incident_levels are both empty: the digest would list nothing")
		}
		if r.Period != 0 {
			v.addf(joinKey(path, "period"), "is only used by kind sla; a digest covers the time since its previous scheduled run")
		}
	case ReportSLA:
		if r.Levels != nil {
			v.addf(joinKey(path, "levels"), "is only used by kind digest; an SLA report covers every level")
		}
		if r.IncidentLevels != nil {
			v.addf(joinKey(path, "incident_levels"), "is only used by kind digest; an SLA report covers every level")
		}
		if r.Period <= 0 {
			v.addf(joinKey(path, "period"), "must be positive (got %s)", r.Period)
		}
	default:
		v.addf(joinKey(path, "kind"), "%q is not a report kind (use %s or %s)", r.Kind, ReportDigest, ReportSLA)
	}

	tp := joinKey(path, "to")
	if len(r.To) == 0 {
		v.addf(path, "to is required: person ids (mailed at their email) or email addresses")
	}
	seen := make(map[string]string)
	for i, to := range r.To {
		ip := joinIndex(tp, i)
		addr, err := reportRecipient(to, people)
		if err != nil {
			v.addf(ip, "%v", err)
			continue
		}
		if first := seen[addr]; first != "" {
			v.addf(ip, "duplicate recipient %s (also %s)", addr, first)
			continue
		}
		seen[addr] = ip
	}
}

// checkReportLevels checks that a digest's levels (or incident_levels)
// name defined levels, each once. nil means the key was left out and its
// default level does not exist.
func checkReportLevels(v *validator, path, key string, names, def, levels []string) {
	kp := joinKey(path, key)
	if names == nil {
		v.addf(path, "%s is required: there is no level %s to default to", key, strings.Join(def, ", "))
		return
	}
	seen := make(map[string]string)
	for i, n := range names {
		ip := joinIndex(kp, i)
		switch {
		case !slices.Contains(levels, n):
			v.addf(ip, "level %q is not defined", n)
		case seen[n] != "":
			v.addf(ip, "duplicate level %q (also %s)", n, seen[n])
		default:
			seen[n] = ip
		}
	}
}

// reportRecipient resolves one entry of a report's to: a person id (the
// person's email), else an email address. Person ids may hold '@', so an
// id that is defined wins.
func reportRecipient(to string, people map[string]*PersonConfig) (string, error) {
	if p := people[to]; p != nil {
		if p.Email == "" {
			return "", fmt.Errorf("person %q has no email", to)
		}
		return p.Email, nil
	}
	if !strings.Contains(to, "@") {
		return "", fmt.Errorf("%q is neither a person defined in people nor an email address", to)
	}
	if err := checkAddress(to); err != nil {
		return "", err
	}
	return to, nil
}

// ParseReportCron parses a report's cron spec: 5 fields or a descriptor
// (@daily, @weekly…), optionally after "CRON_TZ=Area/City " (or "TZ=").
// As for maintenance windows, a spec without a time zone is in UTC, never
// the machine's local time. It refuses @every, which counts from
// whenever remediator started, and a schedule that never fires.
func ParseReportCron(spec string) (*cron.SpecSchedule, error) {
	fields := strings.Fields(spec)
	if len(fields) > 0 && (strings.HasPrefix(fields[0], "CRON_TZ=") || strings.HasPrefix(fields[0], "TZ=")) {
		fields = fields[1:]
	}
	if len(fields) > 0 && strings.HasPrefix(fields[0], "@every") {
		return nil, errors.New("@every counts from whenever remediator started, so it cannot say when a report is due; use a cron expression")
	}
	return parseWindowCron(spec)
}
