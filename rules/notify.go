package rules

// PersonConfig is someone remediator pages. Every address a level's
// notify (or, later, an escalation step) needs must be set: a missing one
// is a config error, never a silent skip.
type PersonConfig struct {
	ID    string `yaml:"id"`
	Name  string `yaml:"name"`
	Phone string `yaml:"phone"` // E.164: +8613800000000
	Email string `yaml:"email"`
	// IM is the person's handle on one of the IM notifiers: their mobile
	// for DingTalk @-mentions, a user id for WeCom, Feishu and Slack.
	IM       *PersonIMConfig `yaml:"im"`
	Role     string          `yaml:"role"`
	Timezone string          `yaml:"timezone"`
}

// PersonIMConfig is a person's IM handle.
type PersonIMConfig struct {
	Notifier string `yaml:"notifier"` // the name of an entry of notifiers.im
	ID       string `yaml:"id"`
}

// LevelNotifyConfig is who hears of an incident of a level, when it
// opens, and on which channels. Each person is reached on every channel of
// Via at once; when a channel fails for good, the person's next channel
// in the failover order (phone → sms → email → im) is tried. Rooms are IM
// robots and webhooks that post to a group rather than a person, or "app":
// the console's pop-up, for everyone watching it.
type LevelNotifyConfig struct {
	People []string `yaml:"people"`
	Via    []string `yaml:"via"` // phone, sms, email, im, app
	Rooms  []string `yaml:"rooms"`
}

// NotifiersConfig configures the notification channels and delivery.
type NotifiersConfig struct {
	// Timezone is the zone times are written in. Default: the calendar's,
	// else UTC.
	Timezone string `yaml:"timezone"`
	// Retry is how a failed delivery is retried.
	Retry NotifyRetryConfig `yaml:"retry"`
	// ConsoleURL is where a notification links to: an incident is
	// ConsoleURL/incidents/ID, its page in the web console.
	// Default: server.external_url, else http://server.listen.
	ConsoleURL string        `yaml:"console_url"`
	Twilio     *TwilioConfig `yaml:"twilio"`
	Email      *EmailConfig  `yaml:"email"`
	IM         []IMConfig    `yaml:"im"`
	// App is the in-app channel (the console's event stream); always on.
	App AppConfig `yaml:"app"`
}

// NotifyRetryConfig bounds retries: exponential backoff with jitter from
// Initial, capped at Max, for at most MaxAttempts deliveries. Transport
// errors, 5xx and 429 are retried; other 4xx are final.
type NotifyRetryConfig struct {
	MaxAttempts int      `yaml:"max_attempts"` // default 6
	Initial     Duration `yaml:"initial"`      // default 10s
	Max         Duration `yaml:"max"`          // default 5m
	// Timeout bounds one delivery attempt. Default 30s.
	Timeout Duration `yaml:"timeout"`
}

// TemplateConfig overrides one event's templates of a channel (Go
// text/template; html/template for an email's HTML part). Empty parts keep
// the default.
type TemplateConfig struct {
	Title string `yaml:"title"`
	Body  string `yaml:"body"`
	HTML  string `yaml:"html"`
}

// TwilioConfig is phone calls and SMS through Twilio's REST API.
type TwilioConfig struct {
	AccountSID string `yaml:"account_sid"`
	AuthToken  Secret `yaml:"auth_token"`
	// From is the Twilio number calls and messages come from (E.164).
	From string `yaml:"from"`
	// APIURL redirects the client (a regional edge, a test server).
	// Default https://api.twilio.com.
	APIURL  string            `yaml:"api_url"`
	Timeout Duration          `yaml:"timeout"` // one API request; default 15s
	Voice   TwilioVoiceConfig `yaml:"voice"`
	SMS     TwilioSMSConfig   `yaml:"sms"`
}

// TwilioVoiceConfig is how a call speaks and how hard it tries.
type TwilioVoiceConfig struct {
	// Language and Voice of <Say>: e.g. zh-CN with Polly.Zhiyu, en-US
	// with alice. Defaults en-US and alice.
	Language string `yaml:"language"`
	Voice    string `yaml:"voice"`
	// Attempts is how many calls are made until one is answered. Default 3.
	Attempts int `yaml:"attempts"`
	// RetryAfter is the pause between an unanswered call and the next.
	// Default 1m.
	RetryAfter Duration `yaml:"retry_after"`
	// SilenceFor is how long keypress 3 silences the incident's alerts.
	// Default 1h.
	SilenceFor Duration `yaml:"silence_for"`
	// Prompts are what the call says around the incident; defaults in
	// English.
	Prompts   TwilioPromptsConfig       `yaml:"prompts"`
	Templates map[string]TemplateConfig `yaml:"templates"`
}

// TwilioPromptsConfig is the fixed speech of a call.
type TwilioPromptsConfig struct {
	Menu         string `yaml:"menu"`         // default "Press 1 to acknowledge, 2 to resolve, 3 to silence."
	Acknowledged string `yaml:"acknowledged"` // default "Acknowledged. Goodbye."
	Resolved     string `yaml:"resolved"`     // default "Resolved. Goodbye."
	Silenced     string `yaml:"silenced"`     // default "Silenced. Goodbye."
	Invalid      string `yaml:"invalid"`      // default "Sorry, that did not work."
	NoInput      string `yaml:"no_input"`     // default "No key was pressed. Goodbye."
}

// TwilioSMSConfig is the SMS channel.
type TwilioSMSConfig struct {
	Templates map[string]TemplateConfig `yaml:"templates"`
}

// EmailConfig is SMTP delivery.
type EmailConfig struct {
	// Smarthost is the SMTP server, HOST:PORT.
	Smarthost string `yaml:"smarthost"`
	// TLS is none, starttls (default) or tls (implicit TLS, port 465).
	TLS                string   `yaml:"tls"`
	Username           string   `yaml:"username"`
	Password           Secret   `yaml:"password"`
	From               string   `yaml:"from"`
	Hello              string   `yaml:"hello"` // EHLO name; default localhost
	CAFile             string   `yaml:"ca_file"`
	InsecureSkipVerify bool     `yaml:"insecure_skip_verify"`
	Timeout            Duration `yaml:"timeout"` // default 30s

	Templates map[string]TemplateConfig `yaml:"templates"`
}

// IM notifier types.
const (
	IMDingTalk = "dingtalk"
	IMWeCom    = "wecom"
	IMFeishu   = "feishu"
	IMSlack    = "slack"
	IMWebhook  = "webhook"
)

// IMConfig is one chat robot or webhook. Its URL usually holds an access
// token, so it is a secret.
type IMConfig struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // dingtalk, wecom, feishu, slack, webhook
	URL  Secret `yaml:"url"`
	// Secret signs requests: DingTalk's and Feishu's signing secret, the
	// generic webhook's HMAC-SHA256 key.
	Secret Secret `yaml:"secret"`
	// MaxPerMinute is the robot's rate limit; messages past it are
	// queued and bundled. Defaults: 20 (DingTalk, WeCom), 100 (Feishu),
	// 60 (Slack), 0 = unlimited (webhook).
	MaxPerMinute int `yaml:"max_per_minute"`
	// Card (Feishu) sends an interactive card instead of text. Default true.
	Card *bool `yaml:"card"`
	// SignatureHeader (webhook) carries the HMAC. Default
	// X-Remediator-Signature.
	SignatureHeader string   `yaml:"signature_header"`
	Timeout         Duration `yaml:"timeout"` // default 10s

	Templates map[string]TemplateConfig `yaml:"templates"`
}

// AppConfig is the in-app channel.
type AppConfig struct {
	Templates map[string]TemplateConfig `yaml:"templates"`
}
