package rules

// ReportConfig is a periodic report mailed on a cron schedule: a digest
// of alerts and open incidents of some levels, or the SLA report (see
// report_validate.go for defaults and checks).
type ReportConfig struct {
	Name string `yaml:"name"`
	// Cron is a 5-field spec, optionally after CRON_TZ=Area/City.
	Cron string `yaml:"cron"`
	// Kind is digest (default) or sla.
	Kind string `yaml:"kind"`
	// Levels (digest) are the levels whose new alerts the digest lists
	// (default: info); IncidentLevels those whose open incidents it lists
	// (default: notice).
	Levels         []string `yaml:"levels"`
	IncidentLevels []string `yaml:"incident_levels"`
	// Period (sla) is how far back the report looks. Default 1w.
	Period Duration `yaml:"period"`
	// To lists recipients: person ids (their email) or email addresses.
	To []string `yaml:"to"`
}
