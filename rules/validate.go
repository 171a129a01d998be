package rules

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// levelNameRE is what a level may be called.
var levelNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Defaults and limits. A zero value in the file means the default.
const (
	defaultListen        = "127.0.0.1:9095"
	defaultMaxBodyBytes  = 8 << 20
	maxMaxBodyBytes      = 1 << 30
	defaultStoragePath   = "./data/remediator.db"
	defaultMaxBatchSize  = 64
	maxMaxBatchSize      = 10000
	defaultClassifyLabel = "severity"
	// Retention: resolved incidents leave memory after an hour and the
	// file after 90 days; the audit log is kept a year.
	defaultResolvedInMemory = time.Hour
	defaultKeep             = 90 * 24 * time.Hour
	defaultKeepAudit        = 365 * 24 * time.Hour
	minTokenLength          = 16
)

// validator collects problems by config path; the loader turns each path
// into the line and column where it is written.
type validator struct{ problems []problem }

// problem is one validation failure. expr, when set, places it within the
// expression written at path.
type problem struct {
	path, msg string
	expr      *ExprError
}

// addExpr records an expression that does not compile.
func (v *validator) addExpr(path string, err error) {
	var ee *ExprError
	if errors.As(err, &ee) {
		v.problems = append(v.problems, problem{path: path, msg: ee.Msg, expr: ee})
		return
	}
	v.addf(path, "%v", err)
}

// addf records a problem at path.
func (v *validator) addf(path, format string, args ...any) {
	v.problems = append(v.problems, problem{path: path, msg: fmt.Sprintf(format, args...)})
}

// namedDuration pairs a duration with its key, for the checks every
// duration shares.
type namedDuration struct {
	key string
	d   *Duration
}

// Validate checks c with the rules Parse applies, for a parsed config that
// the caller then changed (command-line overrides). It does not set
// defaults. Problems come as Errors, by path, without file positions.
func (c *Config) Validate() error {
	var v validator
	c.validate(&v)
	if len(v.problems) == 0 {
		return nil
	}
	errs := make(Errors, len(v.problems))
	for i, p := range v.problems {
		errs[i] = Error{Msg: withPath(p.path, p.msg)}
	}
	return errs
}

// setDefaults fills every unset field with its default.
func (c *Config) setDefaults() {
	if c.Levels == nil { // absent; an explicit empty list is an error
		c.Levels = DefaultLevels()
	}
	c.Calendar.setDefaults()
	c.setScheduleDefaults()
	c.Server.setDefaults()
	c.Storage.setDefaults()
	c.Retention.setDefaults()
	c.Classify.setDefaults(c.Levels)
	c.Notifiers.setDefaults()
	c.setReportDefaults()
}

// validate checks each part, then what spans parts.
func (c *Config) validate(v *validator) {
	c.Server.validate(v, "server")
	c.Storage.validate(v, "storage")
	c.Retention.validate(v, "retention")
	c.Auth.validate(v, "auth")
	validateLevels(v, "levels", c.Levels)
	c.Classify.validate(v, "classify", c.Levels)
	c.calendar = c.Calendar.compile(v, "calendar")
	c.validateRemediations(v)
	c.validateNotify(v)
	c.validateEscalations(v)
	c.validateSchedules(v)
	c.validateReports(v)
	c.windows, c.windowConds = nil, nil
	names := map[string]string{}
	for i := range c.Maintenance {
		wp := joinIndex("maintenance", i)
		w := &c.Maintenance[i]
		c.windows = append(c.windows, w.compile(v, wp))
		var cond *Condition
		if w.When != "" {
			var err error
			if cond, err = CompileCondition(w.When); err != nil {
				v.addExpr(joinKey(wp, "when"), err)
			}
		}
		c.windowConds = append(c.windowConds, cond)
		if w.Name == "" {
			v.addf(wp, "name is required: it is what a suppressed alert says mutes it")
		} else if first, dup := names[w.Name]; dup {
			v.addf(joinKey(wp, "name"), "duplicate window name %q (also %s)", w.Name, first)
		} else {
			names[w.Name] = wp
		}
	}
	c.validateExposure(v)
}

// validateExposure refuses to serve beyond this host without API tokens
// and a webhook token.
func (c *Config) validateExposure(v *validator) {
	if checkListen(c.Server.Listen) != nil || c.IsLoopback() {
		return
	}
	var missing []string
	if len(c.Auth.Tokens) == 0 {
		missing = append(missing, "auth.tokens")
	}
	if c.Server.WebhookToken == "" {
		missing = append(missing, "server.webhook_token")
	}
	if len(missing) > 0 {
		v.addf("server.listen", "%q is not a loopback address, so auth.tokens and server.webhook_token must be set (missing: %s)",
			c.Server.Listen, strings.Join(missing, ", "))
	}
}

// durations lists the server's durations with their keys.
func (s *ServerConfig) durations() []namedDuration {
	return []namedDuration{
		{"read_header_timeout", &s.ReadHeaderTimeout},
		{"read_timeout", &s.ReadTimeout},
		{"write_timeout", &s.WriteTimeout},
		{"idle_timeout", &s.IdleTimeout},
		{"shutdown_timeout", &s.ShutdownTimeout},
	}
}

// setDefaults fills the server's unset fields.
func (s *ServerConfig) setDefaults() {
	if s.Listen == "" {
		s.Listen = defaultListen
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = defaultMaxBodyBytes
	}
	defaults := []time.Duration{10 * time.Second, 60 * time.Second, 60 * time.Second, 120 * time.Second, 30 * time.Second}
	for i, nd := range s.durations() {
		setDefaultDuration(nd.d, defaults[i])
	}
}

// validate checks the server section.
func (s *ServerConfig) validate(v *validator, path string) {
	if err := checkListen(s.Listen); err != nil {
		v.addf(joinKey(path, "listen"), "%v", err)
	}
	if s.ExternalURL != "" && !isHTTPURL(s.ExternalURL) {
		v.addf(joinKey(path, "external_url"), "%q is not an absolute http or https URL", s.ExternalURL)
	}
	if s.WebhookToken != "" && utf8.RuneCountInString(s.WebhookToken.Value()) < minTokenLength {
		v.addf(joinKey(path, "webhook_token"), "must be at least %d characters long", minTokenLength)
	}
	switch {
	case s.MaxBodyBytes < 0:
		v.addf(joinKey(path, "max_body_bytes"), "must be positive (got %d)", s.MaxBodyBytes)
	case s.MaxBodyBytes > maxMaxBodyBytes:
		v.addf(joinKey(path, "max_body_bytes"), "must be at most 1 GiB (%d), got %d", maxMaxBodyBytes, s.MaxBodyBytes)
	}
	validateDurations(v, path, s.durations())
}

// durations lists the storage's durations with their keys.
func (s *StorageConfig) durations() []namedDuration {
	return []namedDuration{
		{"lock_timeout", &s.LockTimeout},
	}
}

// setDefaults fills the storage's unset fields.
func (s *StorageConfig) setDefaults() {
	if s.Path == "" {
		s.Path = defaultStoragePath
	}
	if s.MaxBatchSize == 0 {
		s.MaxBatchSize = defaultMaxBatchSize
	}
	setDefaultDuration(&s.LockTimeout, 2*time.Second)
}

// validate checks the storage section.
func (s *StorageConfig) validate(v *validator, path string) {
	if strings.TrimSpace(s.Path) == "" {
		v.addf(joinKey(path, "path"), "must not be empty")
	}
	if s.MaxBatchSize < 1 || s.MaxBatchSize > maxMaxBatchSize {
		v.addf(joinKey(path, "max_batch_size"), "must be from 1 to %d (got %d)", maxMaxBatchSize, s.MaxBatchSize)
	}
	validateDurations(v, path, s.durations())
}

// durations lists the retention's durations with their keys.
func (r *RetentionConfig) durations() []namedDuration {
	return []namedDuration{
		{"resolved_in_memory", &r.ResolvedInMemory}, {"keep", &r.Keep}, {"audit", &r.Audit},
	}
}

// setDefaults fills the retention's unset fields.
func (r *RetentionConfig) setDefaults() {
	setDefaultDuration(&r.ResolvedInMemory, defaultResolvedInMemory)
	setDefaultDuration(&r.Keep, defaultKeep)
	setDefaultDuration(&r.Audit, defaultKeepAudit)
}

// validate checks the retention section: history is kept on disk at
// least as long as it stays in memory.
func (r *RetentionConfig) validate(v *validator, path string) {
	validateDurations(v, path, r.durations())
	if r.Keep > 0 && r.ResolvedInMemory > r.Keep {
		v.addf(joinKey(path, "resolved_in_memory"), "must not be longer than keep (%s), got %s", r.Keep, r.ResolvedInMemory)
	}
}

// validate checks each token, and that names and tokens are unique.
func (a *AuthConfig) validate(v *validator, path string) {
	names := make(map[string]string)
	secrets := make(map[Secret]string)
	for i, t := range a.Tokens {
		tp := joinIndex(joinKey(path, "tokens"), i)
		t.validate(v, tp)
		if first, dup := names[t.Name]; dup && t.Name != "" {
			v.addf(joinKey(tp, "name"), "duplicate token name %q (also %s)", t.Name, first)
		} else {
			names[t.Name] = tp
		}
		if first, dup := secrets[t.Token]; dup && t.Token != "" {
			v.addf(joinKey(tp, "token"), "same token as %s; every token must be different", first)
		} else {
			secrets[t.Token] = tp
		}
	}
}

// validate checks one API token. The token itself never appears in a
// message.
func (t *TokenConfig) validate(v *validator, path string) {
	switch {
	case t.Name == "":
		v.addf(path, "name is required")
	case strings.TrimSpace(t.Name) != t.Name || strings.ContainsFunc(t.Name, unicode.IsControl):
		// It is who the audit log and the console name.
		v.addf(joinKey(path, "name"), "%q must not start or end with spaces or hold control characters", t.Name)
	}
	switch t.Role {
	case RoleViewer, RoleResponder, RoleAdmin:
	case "":
		v.addf(path, "role is required (viewer, responder or admin)")
	default:
		v.addf(joinKey(path, "role"), "%q is not a role (use viewer, responder or admin)", t.Role)
	}
	switch {
	case t.Token == "":
		v.addf(path, "token is required")
	case utf8.RuneCountInString(t.Token.Value()) < minTokenLength:
		v.addf(joinKey(path, "token"), "must be at least %d characters long", minTokenLength)
	}
}

// DefaultLevels are the levels of our users' support process, used when a
// config has no levels key: critical (P1: respond in 15m, resolve in 4h,
// notify at once), warning (P2: 30m, 8h, within 5m), notice (P3: 2h, 24h,
// within 30m: each is paged well before its respond-by time) and info (P4: 1 and 5 working days, periodic report). They
// are given by the severity label (classify), and the first three pop up
// in the console (the app room). rules/default.yml spells out the same list.
func DefaultLevels() []LevelConfig {
	wall := func(d time.Duration) SLADuration { return SLADuration{Wall: d} }
	console := LevelNotifyConfig{Rooms: []string{"app"}}
	return []LevelConfig{
		{Name: "critical", Priority: "P1", RespondWithin: wall(15 * time.Minute), ResolveWithin: wall(4 * time.Hour), Notify: console},
		{Name: "warning", Priority: "P2", RespondWithin: wall(30 * time.Minute), ResolveWithin: wall(8 * time.Hour), NotifyWithin: NotifyWithin{Within: 5 * time.Minute}, Notify: console},
		{Name: "notice", Priority: "P3", RespondWithin: wall(2 * time.Hour), ResolveWithin: wall(24 * time.Hour), NotifyWithin: NotifyWithin{Within: 30 * time.Minute}, Notify: console},
		{Name: "info", Priority: "P4", RespondWithin: SLADuration{WorkingDays: 1}, ResolveWithin: SLADuration{WorkingDays: 5}, NotifyWithin: NotifyWithin{Report: true}},
	}
}

// validateLevels checks that there is a level and that names are valid
// and unique.
func validateLevels(v *validator, path string, levels []LevelConfig) {
	if len(levels) == 0 {
		v.addf(path, "at least one level is required")
		return
	}
	seen := make(map[string]string)
	for i := range levels {
		lv := &levels[i]
		lp := joinIndex(path, i)
		lv.validate(v, lp)
		if first, dup := seen[lv.Name]; dup && lv.Name != "" {
			v.addf(joinKey(lp, "name"), "duplicate level %q (also %s)", lv.Name, first)
		} else {
			seen[lv.Name] = lp
		}
	}
}

// validate checks one level and compiles its expression.
func (l *LevelConfig) validate(v *validator, path string) {
	switch {
	case l.Name == "":
		v.addf(path, "name is required")
	case !levelNameRE.MatchString(l.Name):
		v.addf(joinKey(path, "name"), "%q is not a valid level name (lowercase letters, digits, _ and -, starting with a letter)", l.Name)
	}
	l.cond = nil
	if l.When != "" {
		cond, err := CompileCondition(l.When)
		if err != nil {
			v.addExpr(joinKey(path, "when"), err)
		}
		l.cond = cond
	}
	l.RespondWithin.validate(v, joinKey(path, "respond_within"))
	l.ResolveWithin.validate(v, joinKey(path, "resolve_within"))
}

// setDefaults fills the label and makes the last level the default.
func (c *ClassifyConfig) setDefaults(levels []LevelConfig) {
	if c.Label == "" {
		c.Label = defaultClassifyLabel
	}
	if c.Default == "" && len(levels) > 0 {
		c.Default = levels[len(levels)-1].Name
	}
}

// validate checks that the default names a level.
func (c *ClassifyConfig) validate(v *validator, path string, levels []LevelConfig) {
	if c.Default == "" || len(levels) == 0 {
		return
	}
	for _, lv := range levels {
		if lv.Name == c.Default {
			return
		}
	}
	v.addf(joinKey(path, "default"), "level %q is not defined", c.Default)
}

// setDefaultDuration sets *d to def when it is zero.
func setDefaultDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

// validateDurations refuses negative durations.
func validateDurations(v *validator, path string, ds []namedDuration) {
	for _, nd := range ds {
		if *nd.d < 0 {
			v.addf(joinKey(path, nd.key), "must not be negative (got %s)", *nd.d)
		}
	}
}

// checkListen checks that addr is HOST:PORT with a numeric port.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// isHTTPURL reports whether s is an absolute http or https URL with a host.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
