package rules

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden testdata/invalid/*.err files")

// Tokens testEnv hands out; no test output may contain them.
const (
	testWebhookToken   = "wh-7f3a9c1e5b2d4680aa"
	testViewerToken    = "vw-0d1e2f3a4b5c6d7e8f"
	testResponderToken = "rs-99887766554433221100"
)

// testEnv is the environment every test parses with, so that results do
// not depend on the machine.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"WEBHOOK_TOKEN":   testWebhookToken,
		"VIEWER_TOKEN":    testViewerToken,
		"RESPONDER_TOKEN": testResponderToken,
		"EMPTY":           "",
	}[name]
	return v, ok
}

// envOf returns a lookup over vars only.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestInvalidConfigs(t *testing.T) {
	cases := []struct {
		name string
	}{
		{"unknown_key"},                      // a misspelt key, with a suggestion
		{"remediation_unknown_level"},        // level in [..., "critcal"]: a level that is not defined
		{"level_when_syntax"},                // an expression that does not parse, with its caret
		{"level_when_not_bool"},              // an expression whose result is not boolean
		{"level_when_unknown_name"},          // lables.service: a name the expression cannot see
		{"level_when_bad_regex"},             // matches() with a constant regex that does not compile
		{"window_bad_cron"},                  // a cron spec that does not parse
		{"window_negative_duration"},         // a window with a negative duration
		{"calendar_errors"},                  // an unknown time zone, hours backwards, a weekday that is not one
		{"remediation_bad_actions"},          // two kinds in one action, bad enums, empty command, unused pattern, bad templates
		{"remediation_bad_safeguards"},       // negative cooldown, attempts and breaker out of range, queue, a bad on_failure, too much concurrency
		{"remediation_missing"},              // no when, target or actions; a duplicate name; a syntax error; an unknown reference
		{"remediation_placement"},            // a bad pattern, allow_leading_dash naming unused or repeated parameters, unit_suffixes that are no unit types
		{"unknown_key_in_list_item"},         // a misspelt key inside auth.tokens[1]
		{"bad_integer"},                      // max_body_bytes: abc
		{"bad_duration"},                     // lock_timeout: 5 parsecs
		{"negative_duration"},                // read_timeout: -5s
		{"bad_listen"},                       // port out of range
		{"bad_external_url"},                 // no scheme
		{"bad_role"},                         // role: root
		{"duplicate_token_name"},             // two tokens named alice
		{"duplicate_token"},                  // two tokens with one value, which is not shown
		{"short_token"},                      // a token under 16 characters, which is not shown
		{"missing_token_fields"},             // role and token missing: errors at the list item
		{"duplicate_level"},                  // two levels named critical
		{"bad_level_name"},                   // an upper-case level name
		{"no_levels"},                        // levels missing: error at 1:1
		{"undefined_classify_default"},       // classify.default names no level
		{"public_listen_without_tokens"},     // 0.0.0.0 without API or webhook tokens
		{"empty_host_without_webhook_token"}, // :9095 is every interface, webhook token missing
		{"unset_env"},                        // ${VAR} with VAR unset and no default
		{"malformed_env"},                    // "${" without "}"
		{"quoted_env_is_string"},             // a quoted expansion is a string, not an integer
		{"empty"},                            // an empty file
		{"comments_only"},                    // a file of comments is empty too
		{"syntax_error"},                     // bad indentation
		{"two_documents"},                    // a second YAML document
		{"duplicate_key"},                    // listen written twice
		{"wrong_kind"},                       // a string for a mapping, a mapping for a list
		{"three_errors"},                     // unknown key, bad integer and unset variable at once
		{"many_validation_errors"},           // validation reports every problem
		{"notify_people"},                    // bad addresses, duplicate and unknown people, a missing address a level needs, unknown rooms
		{"notify_channels"},                  // every channel's settings wrong at once; twilio without external_url
		{"token_name_spaces"},                // a blank name, a name with a tab: names are who the audit log names
		{"escalation_errors"},                // unknown targets, people without a step's address, waits, repeat, level references
		{"schedule_errors"},                  // unknown and Local time zones, bad and duplicate holidays, bad overrides, duplicate, bad and missing names, no layers
		{"schedule_layers"},                  // empty and unknown members, per_shift out of range, missing or bad rotations, an anchor a DST change skips
		{"schedule_restrictions"},            // unknown and duplicate days, bad and equal times, overlapping windows (also across the week's end)
		{"schedule_holidays"},                // holidays neither "calendar" nor a list
		{"report_errors"},                    // duplicate and missing names, @every, six fields, a bad zone, a cron that never fires, an unknown kind
		{"report_levels"},                    // default levels that do not exist, unknown and duplicate levels, nothing to list, keys of the other kind, a negative period
		{"report_recipients"},                // unknown people, a person without email, bad and duplicate addresses, no to, no notifiers.email
		{"retention_errors"},                 // history kept in memory longer than on disk, a negative audit retention
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "testdata/invalid/" + tc.name + ".yml"
			cfg, err := Load(path, testEnv)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want errors", path, cfg)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load(%s) error is %T, want Errors", path, err)
			}
			assertGolden(t, strings.TrimSuffix(path, ".yml")+".err", err.Error()+"\n")
		})
	}
	t.Run("every file is a case", func(t *testing.T) {
		files, err := filepath.Glob("testdata/invalid/*.yml")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".yml")
			if !slices.ContainsFunc(cases, func(c struct{ name string }) bool { return c.name == name }) {
				t.Errorf("%s is not in the table of cases", f)
			}
		}
	})
}

// assertGolden compares got with the file at path, or rewrites the file
// under -update.
func assertGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./rules -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./rules -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestValidFull(t *testing.T) {
	cfg, err := Load("testdata/valid.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Server: ServerConfig{
			Listen:            "0.0.0.0:9095",
			ExternalURL:       "https://remediator.example.com/",
			WebhookToken:      testWebhookToken,
			MaxBodyBytes:      1048576,
			ReadHeaderTimeout: Duration(5 * time.Second),
			ReadTimeout:       Duration(90 * time.Second),
			WriteTimeout:      Duration(90 * time.Second),
			IdleTimeout:       Duration(24 * time.Hour),
			ShutdownTimeout:   Duration(45 * time.Second),
		},
		Storage: StorageConfig{
			Path:         "/var/lib/remediator/remediator.db",
			MaxBatchSize: 128,
			LockTimeout:  Duration(7 * 24 * time.Hour),
		},
		Retention: RetentionConfig{ // the defaults: 1h in memory, 90 days on disk, the audit log a year
			ResolvedInMemory: Duration(time.Hour), Keep: Duration(90 * 24 * time.Hour), Audit: Duration(365 * 24 * time.Hour),
		},
		Auth: AuthConfig{Tokens: []TokenConfig{
			{Name: "grafana", Role: RoleViewer, Token: testViewerToken},
			{Name: "oncall", Role: RoleResponder, Token: testResponderToken},
			{Name: "admin", Role: RoleAdmin, Token: "$literal-dollar-admin-token"},
		}},
		Classify: ClassifyConfig{Label: "priority", Default: "warning"},
		Levels: []LevelConfig{
			{Name: "page", Priority: "P1"},
			{Name: "warning", Priority: "P2"},
			{Name: "low_prio-3", Priority: "P5"},
		},
		Calendar:    defaultCalendarConfig(),
		Remediation: RemediationSettings{MaxConcurrent: 4},
		Notifiers: NotifiersConfig{Retry: NotifyRetryConfig{
			MaxAttempts: 6, Initial: Duration(10 * time.Second), Max: Duration(5 * time.Minute), Timeout: Duration(30 * time.Second),
		}},
	}
	if !reflect.DeepEqual(exported(cfg), want) {
		t.Errorf("Load(valid.yml) =\n%#v\nwant\n%#v", cfg, want)
	}
	// The secrets print as <secret>, so compare them separately.
	for i, tok := range cfg.Auth.Tokens {
		if tok.Token.Value() != want.Auth.Tokens[i].Token.Value() {
			t.Errorf("token %d differs", i)
		}
	}
	if got := cfg.Summary(); got != "ok: 3 levels, 3 API tokens, listen 0.0.0.0:9095, store /var/lib/remediator/remediator.db" {
		t.Errorf("Summary() = %q", got)
	}
}

func TestDefault(t *testing.T) {
	cfg, err := Default()
	if err != nil {
		t.Fatalf("the embedded default.yml does not parse: %v", err)
	}
	if got, want := cfg.Summary(), "ok: 4 levels, 0 API tokens, listen 127.0.0.1:9095, store ./data/remediator.db"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if got, want := cfg.LevelNames(), []string{"critical", "warning", "notice", "info"}; !slices.Equal(got, want) {
		t.Errorf("LevelNames() = %q, want %q", got, want)
	}
	wantPriorities := []string{"P1", "P2", "P3", "P4"}
	for i, l := range cfg.Levels {
		if l.Priority != wantPriorities[i] {
			t.Errorf("level %s has priority %q, want %q", l.Name, l.Priority, wantPriorities[i])
		}
	}
	if cfg.Classify != (ClassifyConfig{Label: "severity", Default: "info"}) {
		t.Errorf("Classify = %+v", cfg.Classify)
	}
	// default.yml spells out the levels a config without a levels key gets.
	if !reflect.DeepEqual(cfg.Levels, DefaultLevels()) {
		t.Errorf("default.yml levels %+v differ from DefaultLevels() %+v", cfg.Levels, DefaultLevels())
	}
	noLevels, err := Parse("x.yml", []byte("server:\n  listen: 127.0.0.1:1\n"), nil)
	if err != nil || !reflect.DeepEqual(noLevels.Levels, DefaultLevels()) || noLevels.Classify.Default != "info" {
		t.Errorf("a config without levels: %v, levels %+v", err, noLevels)
	}
	if !cfg.IsLoopback() || len(cfg.Auth.Tokens) != 0 || cfg.Server.WebhookToken != "" {
		t.Errorf("default must listen on loopback without tokens: %+v", cfg)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse("min.yml", []byte("levels:\n  - name: only\n"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Server: ServerConfig{
			Listen:            "127.0.0.1:9095",
			MaxBodyBytes:      8 << 20,
			ReadHeaderTimeout: Duration(10 * time.Second),
			ReadTimeout:       Duration(60 * time.Second),
			WriteTimeout:      Duration(60 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			ShutdownTimeout:   Duration(30 * time.Second),
		},
		Storage: StorageConfig{
			Path:         "./data/remediator.db",
			MaxBatchSize: 64,
			LockTimeout:  Duration(2 * time.Second),
		},
		Retention: RetentionConfig{ // the defaults: 1h in memory, 90 days on disk, the audit log a year
			ResolvedInMemory: Duration(time.Hour), Keep: Duration(90 * 24 * time.Hour), Audit: Duration(365 * 24 * time.Hour),
		},
		Classify:    ClassifyConfig{Label: "severity", Default: "only"},
		Levels:      []LevelConfig{{Name: "only"}},
		Calendar:    defaultCalendarConfig(),
		Remediation: RemediationSettings{MaxConcurrent: 4},
		Notifiers: NotifiersConfig{Retry: NotifyRetryConfig{
			MaxAttempts: 6, Initial: Duration(10 * time.Second), Max: Duration(5 * time.Minute), Timeout: Duration(30 * time.Second),
		}},
	}
	if !reflect.DeepEqual(exported(cfg), want) {
		t.Errorf("defaults =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestParseEnvTyping(t *testing.T) {
	const levels = "levels:\n  - name: critical\n"
	cases := []struct {
		name  string
		yaml  string
		env   map[string]string
		check func(*Config) any // returns the field under test
		want  any
	}{
		// A plain expansion is re-typed: the default is an integer.
		{"plain default is an int", "server:\n  max_body_bytes: ${LIMIT:-1024}\n", nil,
			func(c *Config) any { return c.Server.MaxBodyBytes }, int64(1024)},
		// The variable wins over the default.
		{"plain variable is an int", "server:\n  max_body_bytes: ${LIMIT:-1024}\n", map[string]string{"LIMIT": "2048"},
			func(c *Config) any { return c.Server.MaxBodyBytes }, int64(2048)},
		// A quoted expansion stays a string, even when it looks like a number.
		{"quoted stays a string", "storage:\n  path: \"${P}\"\n", map[string]string{"P": "0123"},
			func(c *Config) any { return c.Storage.Path }, "0123"},
		// A plain expansion into a string field keeps its exact text.
		{"plain number into string", "storage:\n  path: ${P}\n", map[string]string{"P": "0x10"},
			func(c *Config) any { return c.Storage.Path }, "0x10"},
		// YAML in a variable is not parsed: no injection of keys.
		{"no yaml injection", "storage:\n  path: ${P}\n", map[string]string{"P": "x\nserver: {listen: '0.0.0.0:1'}"},
			func(c *Config) any { return c.Storage.Path + "|" + c.Server.Listen }, "x\nserver: {listen: '0.0.0.0:1'}|127.0.0.1:9095"},
		// A value is expanded once: ${...} inside a variable stays as is.
		{"no double expansion", "storage:\n  path: ${P}\n", map[string]string{"P": "${Q}", "Q": "no"},
			func(c *Config) any { return c.Storage.Path }, "${Q}"},
		// A duration may come from the environment.
		{"duration from env", "storage:\n  lock_timeout: ${D:-5ms}\n", nil,
			func(c *Config) any { return c.Storage.LockTimeout }, Duration(5 * time.Millisecond)},
		// $$ is a literal dollar, and a lone $ too.
		{"dollar literals", "storage:\n  path: a$$b$c\n", nil,
			func(c *Config) any { return c.Storage.Path }, "a$b$c"},
		// A block scalar is expanded and stays a string.
		{"literal block", "storage:\n  path: |-\n    ${P}\n", map[string]string{"P": "42"},
			func(c *Config) any { return c.Storage.Path }, "42"},
		// An expanded ~ or null is that text, never "no value": a token
		// that comes out as null would turn into no token at all.
		{"tilde is text", "storage:\n  path: ${P}\n", map[string]string{"P": "~"},
			func(c *Config) any { return c.Storage.Path }, "~"},
		{"null is text", "storage:\n  path: ${P}\n", map[string]string{"P": "null"},
			func(c *Config) any { return c.Storage.Path }, "null"},
		{"NULL is text", "storage:\n  path: ${P:-NULL}\n", nil,
			func(c *Config) any { return c.Storage.Path }, "NULL"},
		// An anchored value is expanded once and the alias shares it.
		{"alias shares expansion", "storage:\n  path: &p ${P}\nclassify:\n  label: *p\n", map[string]string{"P": "team"},
			func(c *Config) any { return c.Classify.Label }, "team"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("env.yml", []byte(tc.yaml+levels), envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.check(cfg); got != tc.want {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestWebhookTokenFromEnv: webhook_token: ${WT} with WT=~ or null is a
// one- or four-character token, which is refused like every token under
// 16 characters (without showing it), never "no token".
func TestWebhookTokenFromEnv(t *testing.T) {
	for _, v := range []string{"~", "null", "Null", "short-token"} {
		_, err := Parse("env.yml", []byte("server:\n  webhook_token: ${WT}\n"), envOf(map[string]string{"WT": v}))
		want := "env.yml:2:18: server.webhook_token: must be at least 16 characters"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("WT=%q: err = %v, want %s", v, err, want)
		}
		if err != nil && strings.Contains(err.Error(), v) {
			t.Errorf("WT=%q: the error shows the token: %v", v, err)
		}
	}
	// Set but empty is no token either: refused, not an open webhook.
	for _, src := range []string{"server:\n  webhook_token: ${WT}\n", "server:\n  webhook_token: \"\"\n", "server:\n  webhook_token:\n"} {
		_, err := Parse("env.yml", []byte(src), envOf(map[string]string{"WT": ""}))
		if err == nil || !strings.Contains(err.Error(), "server.webhook_token: is empty") {
			t.Errorf("%q with WT empty: err = %v", src, err)
		}
	}
	cfg, err := Parse("env.yml", []byte("server:\n  webhook_token: ${WT}\n"), envOf(map[string]string{"WT": testWebhookToken}))
	if err != nil || cfg.Server.WebhookToken.Value() != testWebhookToken {
		t.Fatalf("a good token: %v", err)
	}
}

func TestParseKeysAreNotExpanded(t *testing.T) {
	_, err := Parse("k.yml", []byte("${K}: 1\nlevels:\n  - name: a\n"), envOf(map[string]string{"K": "server"}))
	want := `k.yml:1:1: unknown key "${K}" at the top level`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestParseMerge(t *testing.T) {
	src := `
storage: &store
  path: /a
  max_batch_size: 10
levels:
  - &base {name: base, priority: P1}
  - <<: *base
    name: derived
`
	cfg, err := Parse("m.yml", []byte(src), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Levels[1]; !reflect.DeepEqual(got, LevelConfig{Name: "derived", Priority: "P1"}) {
		t.Errorf("merged level = %+v", got)
	}
	_, err = Parse("m.yml", []byte(src+"    priorty: P2\n"), testEnv)
	if want := `m.yml:9:5: unknown key "priorty" in levels[1] (did you mean "priority"?)`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestErrorsSortedAndJoined(t *testing.T) {
	errs := Errors{
		{File: "f", Line: 3, Col: 1, Msg: "c"},
		{File: "f", Line: 1, Col: 9, Msg: "b"},
		{File: "f", Line: 1, Col: 2, Msg: "a"},
		{File: "f", Msg: "no position"},
	}
	want := "f: no position\nf:1:2: a\nf:1:9: b\nf:3:1: c"
	if got := errs.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	var one Error
	if !errors.As(error(errs), &one) || one.Msg != "c" {
		t.Errorf("errors.As(Errors, *Error) = %v", one)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

// exported returns a copy of c without what validation compiled, to
// compare what was read.
func exported(c *Config) *Config {
	cp := *c
	cp.calendar, cp.windows, cp.windowConds = nil, nil, nil
	cp.Levels = append([]LevelConfig(nil), c.Levels...)
	for i := range cp.Levels {
		cp.Levels[i].cond = nil
	}
	return &cp
}

// defaultCalendarConfig is the calendar of a config that names none.
func defaultCalendarConfig() CalendarConfig {
	var c CalendarConfig
	c.setDefaults()
	return c
}
