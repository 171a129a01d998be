// Package rules loads, expands and validates remediator's YAML
// configuration. The same Load serves `serve`, reload and `check`.
package rules

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Config is the whole configuration file.
type Config struct {
	Server  ServerConfig  `yaml:"server"`
	Storage StorageConfig `yaml:"storage"`
	// Retention says how long what has ended stays in memory and on disk.
	Retention RetentionConfig `yaml:"retention"`
	Auth      AuthConfig      `yaml:"auth"`
	Classify  ClassifyConfig  `yaml:"classify"`
	Levels    []LevelConfig   `yaml:"levels"`
	// Calendar is the business calendar of working-day SLA clocks and
	// inBusinessHours().
	Calendar CalendarConfig `yaml:"calendar"`
	// Maintenance windows: matching alerts are stored and shown, but not
	// remediated and not paged.
	Maintenance []WindowConfig `yaml:"maintenance"`
	// Remediations are the automatic actions (see RemediationConfig).
	Remediations []RemediationConfig `yaml:"remediations"`
	// Remediation holds the global remediation settings.
	Remediation RemediationSettings `yaml:"remediation"`
	// People are who remediator pages; Notifiers the channels it pages
	// them on (see notify.go).
	People    []PersonConfig  `yaml:"people"`
	Notifiers NotifiersConfig `yaml:"notifiers"`
	// Schedules say who is on call when (see schedule.go).
	Schedules []ScheduleConfig `yaml:"schedules"`
	// Teams name groups of people; Escalations are the chains a level's
	// incidents climb (see escalation.go).
	Teams       []TeamConfig                `yaml:"teams"`
	Escalations map[string]EscalationConfig `yaml:"escalations"`
	// Reports are mailed on cron schedules (see report.go).
	Reports []ReportConfig `yaml:"reports"`

	// Compiled at validation, so that a config that loads is ready to use.
	calendar *Calendar
	windows  []*Window
	// windowConds[i] is Maintenance[i].When compiled (nil without one).
	windowConds []*Condition
}

// ServerConfig is the HTTP server.
type ServerConfig struct {
	// Listen is HOST:PORT. Default 127.0.0.1:9095.
	Listen string `yaml:"listen"`
	// ExternalURL is how people and callbacks reach remediator.
	ExternalURL string `yaml:"external_url"`
	// WebhookToken, when set, is the bearer token Alertmanager must send.
	WebhookToken Secret `yaml:"webhook_token"`
	// MaxBodyBytes limits a webhook body. Default 8 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout and
	// ShutdownTimeout bound slow clients and the graceful drain.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"` // default 10s
	ReadTimeout       Duration `yaml:"read_timeout"`        // default 60s
	WriteTimeout      Duration `yaml:"write_timeout"`       // default 60s
	IdleTimeout       Duration `yaml:"idle_timeout"`        // default 120s
	ShutdownTimeout   Duration `yaml:"shutdown_timeout"`    // default 30s
}

// StorageConfig is the bbolt file and its group commit.
type StorageConfig struct {
	// Path of the bbolt file. Default ./data/remediator.db.
	Path string `yaml:"path"`
	// MaxBatchSize is the most changes (webhooks, acknowledgements…) that
	// group commit writes in one transaction. There is no delay setting:
	// a write starts as soon as the previous one ends, with whatever has
	// queued meanwhile.
	MaxBatchSize int `yaml:"max_batch_size"` // default 64
	// LockTimeout is how long to wait for the file lock held by another
	// process before failing. Default 2s.
	LockTimeout Duration `yaml:"lock_timeout"`
}

// RetentionConfig bounds what remediator keeps. Memory holds what is
// live (unresolved incidents, pending pages, running actions…); a resolved
// incident and everything that belongs to it leaves memory
// ResolvedInMemory after it resolved and is read from the file from then
// on. The file keeps it for Keep after it resolved, the audit log for
// Audit; then it is deleted.
type RetentionConfig struct {
	ResolvedInMemory Duration `yaml:"resolved_in_memory"` // default 1h
	Keep             Duration `yaml:"keep"`               // default 90d
	Audit            Duration `yaml:"audit"`              // default 1y
}

// AuthConfig holds API tokens.
type AuthConfig struct {
	Tokens []TokenConfig `yaml:"tokens"`
}

// Roles, from least to most privileged.
const (
	RoleViewer    = "viewer"
	RoleResponder = "responder"
	RoleAdmin     = "admin"
)

// TokenConfig is one API token.
type TokenConfig struct {
	Name  string `yaml:"name"`
	Role  string `yaml:"role"`
	Token Secret `yaml:"token"`
}

// ClassifyConfig says how an alert gets its level when no level's rule
// decides: the value of Label names the level; otherwise Default.
type ClassifyConfig struct {
	Label   string `yaml:"label"`   // default "severity"
	Default string `yaml:"default"` // default: the last level
}

// LevelConfig is one alert level. Order matters: the first is the most
// urgent, and the first whose When holds classifies an alert.
type LevelConfig struct {
	Name     string `yaml:"name"`
	Priority string `yaml:"priority"`
	// When is an expression over the alert (see Env); empty: the level is
	// given only through the classify label.
	When string `yaml:"when"`
	// RespondWithin and ResolveWithin are the SLA clocks of an incident of
	// this level, from its creation: wall-clock (15m, 4h) or on the
	// business calendar (1 working day, 8 working hours).
	RespondWithin SLADuration `yaml:"respond_within"`
	ResolveWithin SLADuration `yaml:"resolve_within"`
	// NotifyWithin is how soon people hear of it: 0s (at once), a delay
	// to batch within (1h, 24h), or "report" (only in periodic reports).
	NotifyWithin NotifyWithin `yaml:"notify_within"`
	// Notify is who hears of an incident of this level and how, when it
	// opens (rooms, mostly); Escalation names the chain its incidents
	// climb until someone acknowledges.
	Notify     LevelNotifyConfig `yaml:"notify"`
	Escalation string            `yaml:"escalation"`

	cond *Condition // When, compiled at validation
}

// Summary is the one line `remediator check` prints for a valid file.
func (c *Config) Summary() string {
	s := fmt.Sprintf("ok: %s, %s, listen %s, store %s",
		count(len(c.Levels), "level"), count(len(c.Auth.Tokens), "API token"),
		c.Server.Listen, c.Storage.Path)
	var channels []string
	if c.Notifiers.Twilio != nil {
		channels = append(channels, "phone", "sms")
	}
	if c.Notifiers.Email != nil {
		channels = append(channels, "email")
	}
	for _, im := range c.Notifiers.IM {
		channels = append(channels, im.Name)
	}
	if len(c.People) > 0 || len(channels) > 0 {
		people := fmt.Sprintf("%d people", len(c.People))
		if len(c.People) == 1 {
			people = "1 person"
		}
		s += ", " + people + " paged by app"
		for _, ch := range channels {
			s += ", " + ch
		}
	}
	return s
}

// LevelNames returns the level names, most urgent first.
func (c *Config) LevelNames() []string {
	names := make([]string, len(c.Levels))
	for i, l := range c.Levels {
		names[i] = l.Name
	}
	return names
}

// IsLoopback reports whether server.listen only accepts connections from
// this host: its host is localhost, in 127.0.0.0/8 or ::1. An empty host
// or 0.0.0.0 listens on every interface, so it is not loopback.
func (c *Config) IsLoopback() bool {
	host, _, err := net.SplitHostPort(c.Server.Listen)
	return err == nil && isLoopbackHost(host)
}

// isLoopbackHost reports whether host (without a port) is localhost or a
// loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && addr.Unmap().IsLoopback()
}

// IsReachable reports whether anyone but this machine can reach the
// server: its listen address is not loopback, or server.external_url
// names a host that is not (a proxy in front of it).
func (c *Config) IsReachable() bool {
	if !c.IsLoopback() {
		return true
	}
	u, err := url.Parse(c.Server.ExternalURL)
	return c.Server.ExternalURL != "" && (err != nil || !isLoopbackHost(u.Hostname()))
}

// count writes n noun, in the plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
