package rules

import (
	"fmt"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
)

var (
	// e164RE is an E.164 phone number: +, country code, subscriber.
	e164RE = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	// twilioSIDRE is an account SID: AC and 32 hex digits.
	twilioSIDRE = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	// alnumRE is a Twilio auth token's alphabet.
	alnumRE = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	// personIDRE is what a person id may be.
	personIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)
)

// Channels a level's notify.via may name.
var notifyChannels = []string{"phone", "sms", "email", "im", "app"}

// imTypes are the IM notifier types.
var imTypes = []string{IMDingTalk, IMWeCom, IMFeishu, IMSlack, IMWebhook}

// notifyEvents are the events templates may override.
var notifyEvents = []string{"firing", "escalated", "acknowledged", "resolved", "remediation_failed", "digest"}

// setDefaults fills the notification settings' unset fields.
// Timezone stays empty when unset: the calendar's applies (Location).
func (n *NotifiersConfig) setDefaults() {
	if n.Retry.MaxAttempts == 0 {
		n.Retry.MaxAttempts = 6
	}
	setDefaultDuration(&n.Retry.Initial, 10*time.Second)
	setDefaultDuration(&n.Retry.Max, 5*time.Minute)
	setDefaultDuration(&n.Retry.Timeout, 30*time.Second)
	if t := n.Twilio; t != nil {
		if t.APIURL == "" {
			t.APIURL = "https://api.twilio.com"
		}
		setDefaultDuration(&t.Timeout, 15*time.Second)
		v := &t.Voice
		if v.Language == "" {
			v.Language = "en-US"
		}
		if v.Voice == "" {
			v.Voice = "alice"
		}
		if v.Attempts == 0 {
			v.Attempts = 3
		}
		setDefaultDuration(&v.RetryAfter, time.Minute)
		setDefaultDuration(&v.SilenceFor, time.Hour)
	}
	if e := n.Email; e != nil {
		if e.TLS == "" {
			e.TLS = "starttls"
		}
		if e.Hello == "" {
			e.Hello = "localhost"
		}
		setDefaultDuration(&e.Timeout, 30*time.Second)
	}
	for i := range n.IM {
		im := &n.IM[i]
		if im.MaxPerMinute == 0 {
			switch im.Type {
			case IMDingTalk, IMWeCom:
				im.MaxPerMinute = 20
			case IMFeishu:
				im.MaxPerMinute = 100
			case IMSlack:
				im.MaxPerMinute = 60
			}
		}
		if im.Type == IMFeishu && im.Card == nil {
			on := true
			im.Card = &on
		}
		if im.Type == IMWebhook && im.SignatureHeader == "" {
			im.SignatureHeader = "X-Remediator-Signature"
		}
		setDefaultDuration(&im.Timeout, 10*time.Second)
	}
}

// imByName returns the IM notifier called name.
func (n *NotifiersConfig) imByName(name string) (*IMConfig, bool) {
	for i := range n.IM {
		if n.IM[i].Name == name {
			return &n.IM[i], true
		}
	}
	return nil, false
}

// validateNotify checks people, notifiers and each level's notify.
func (c *Config) validateNotify(v *validator) {
	n := &c.Notifiers
	c.validateNotifiers(v, "notifiers")
	people := map[string]*PersonConfig{}
	phones := map[string]string{}
	for i := range c.People {
		pp := joinIndex("people", i)
		p := &c.People[i]
		switch {
		case p.ID == "":
			v.addf(pp, "id is required")
		case !personIDRE.MatchString(p.ID):
			v.addf(joinKey(pp, "id"), "%q is not a valid person id (letters, digits, '.', '_', '@' and '-')", p.ID)
		case people[p.ID] != nil:
			v.addf(joinKey(pp, "id"), "duplicate person id %q", p.ID)
		default:
			people[p.ID] = p
		}
		if p.Phone != "" && !e164RE.MatchString(p.Phone) {
			v.addf(joinKey(pp, "phone"), "%q is not an E.164 number (+ country code and number, digits only)", p.Phone)
		} else if p.Phone != "" {
			// An SMS reply is attributed by its number: one number, one person.
			if other, dup := phones[p.Phone]; dup {
				v.addf(joinKey(pp, "phone"), "%q is also %s's number; SMS replies must name one person", p.Phone, other)
			} else {
				phones[p.Phone] = p.ID
			}
		}
		if p.Email != "" {
			if err := checkAddress(p.Email); err != nil {
				v.addf(joinKey(pp, "email"), "%v", err)
			}
		}
		if p.IM != nil {
			ip := joinKey(pp, "im")
			if p.IM.ID == "" {
				v.addf(ip, "id is required: the person's handle on the IM notifier")
			}
			if p.IM.Notifier == "" {
				v.addf(ip, "notifier is required: the name of an entry of notifiers.im")
			} else if _, ok := n.imByName(p.IM.Notifier); !ok {
				v.addf(joinKey(ip, "notifier"), "%q is not defined in notifiers.im", p.IM.Notifier)
			}
		}
		if p.Timezone != "" {
			if _, err := time.LoadLocation(p.Timezone); err != nil {
				v.addf(joinKey(pp, "timezone"), "unknown time zone %q", p.Timezone)
			}
		}
	}
	for i := range c.Levels {
		l := &c.Levels[i]
		c.validateLevelNotify(v, joinKey(joinIndex("levels", i), "notify"), l, people)
	}
}

// validateLevelNotify checks that everyone a level pages can be reached on
// every channel it names: a missing address is an error, never a skip.
func (c *Config) validateLevelNotify(v *validator, path string, l *LevelConfig, people map[string]*PersonConfig) {
	nc := &l.Notify
	if len(nc.People) == 0 && len(nc.Rooms) == 0 {
		if len(nc.Via) > 0 {
			v.addf(joinKey(path, "via"), "names channels but notify has no people")
		}
		return
	}
	if l.NotifyWithin.Report {
		v.addf(path, "level %q has notify_within: report (only periodic reports), so it pages nobody; remove notify or set notify_within", l.Name)
	}
	if len(nc.People) > 0 && len(nc.Via) == 0 {
		v.addf(path, "via is required with people: the channels they are reached on (%s)", strings.Join(notifyChannels, ", "))
	}
	n := &c.Notifiers
	seenVia := map[string]bool{}
	for j, ch := range nc.Via {
		vp := joinIndex(joinKey(path, "via"), j)
		switch {
		case !slices.Contains(notifyChannels, ch):
			v.addf(vp, "unknown channel %q (want one of %s)", ch, strings.Join(notifyChannels, ", "))
			continue
		case seenVia[ch]:
			v.addf(vp, "duplicate channel %q", ch)
			continue
		case (ch == "phone" || ch == "sms") && n.Twilio == nil:
			v.addf(vp, "channel %s needs notifiers.twilio", ch)
		case ch == "email" && n.Email == nil:
			v.addf(vp, "channel email needs notifiers.email")
		}
		seenVia[ch] = true
	}
	seenPerson := map[string]bool{}
	for j, id := range nc.People {
		pp := joinIndex(joinKey(path, "people"), j)
		p, ok := people[id]
		if !ok {
			v.addf(pp, "person %q is not defined in people", id)
			continue
		}
		if seenPerson[id] {
			v.addf(pp, "duplicate person %q", id)
			continue
		}
		seenPerson[id] = true
		var missing []string
		need := func(field string, have bool) {
			if !have && !slices.Contains(missing, field) {
				missing = append(missing, field)
			}
		}
		for _, ch := range nc.Via {
			switch ch {
			case "phone", "sms":
				need("phone", p.Phone != "")
			case "email":
				need("email", p.Email != "")
			case "im":
				need("im", p.IM != nil)
			}
		}
		if len(missing) > 0 {
			v.addf(pp, "person %q has no %s, which this level's via (%s) needs", id, strings.Join(missing, " and no "), strings.Join(nc.Via, ", "))
		}
	}
	seenRoom := map[string]bool{}
	for j, room := range nc.Rooms {
		rp := joinIndex(joinKey(path, "rooms"), j)
		if _, ok := n.imByName(room); !ok && room != "app" {
			v.addf(rp, "room %q is neither app (the console) nor defined in notifiers.im", room)
		} else if seenRoom[room] {
			v.addf(rp, "duplicate room %q", room)
		}
		seenRoom[room] = true
	}
}

// validateNotifiers checks the channels' settings.
func (c *Config) validateNotifiers(v *validator, path string) {
	n := &c.Notifiers
	if n.Timezone != "" {
		if _, err := time.LoadLocation(n.Timezone); err != nil {
			v.addf(joinKey(path, "timezone"), "unknown time zone %q", n.Timezone)
		}
	}
	if n.ConsoleURL != "" && !isHTTPURL(n.ConsoleURL) {
		v.addf(joinKey(path, "console_url"), "%q is not an absolute http or https URL", n.ConsoleURL)
	}
	rp := joinKey(path, "retry")
	if n.Retry.MaxAttempts < 1 || n.Retry.MaxAttempts > 100 {
		v.addf(joinKey(rp, "max_attempts"), "must be between 1 and 100 (got %d)", n.Retry.MaxAttempts)
	}
	validateDurations(v, rp, []namedDuration{{"initial", &n.Retry.Initial}, {"max", &n.Retry.Max}, {"timeout", &n.Retry.Timeout}})
	if n.Retry.Initial > n.Retry.Max {
		v.addf(joinKey(rp, "initial"), "%s is longer than max (%s)", n.Retry.Initial, n.Retry.Max)
	}
	if t := n.Twilio; t != nil {
		tp := joinKey(path, "twilio")
		if !twilioSIDRE.MatchString(t.AccountSID) {
			v.addf(joinKey(tp, "account_sid"), "must be a Twilio account SID (AC and 32 hex digits)")
		}
		if t.AuthToken == "" {
			v.addf(tp, "auth_token is required")
		} else if !alnumRE.MatchString(t.AuthToken.Value()) {
			v.addf(joinKey(tp, "auth_token"), "must be letters and digits only, as Twilio's are (the value is not shown)")
		}
		if !e164RE.MatchString(t.From) {
			v.addf(joinKey(tp, "from"), "%q is not an E.164 number", t.From)
		}
		if !isHTTPURL(t.APIURL) {
			v.addf(joinKey(tp, "api_url"), "%q is not an absolute http or https URL", t.APIURL)
		}
		if c.Server.ExternalURL == "" {
			v.addf(tp, "needs server.external_url: Twilio calls it back (keypresses, SMS replies, call status), and signatures are checked against it")
		}
		if t.Voice.Attempts < 1 || t.Voice.Attempts > 10 {
			v.addf(joinKey(joinKey(tp, "voice"), "attempts"), "must be between 1 and 10 (got %d)", t.Voice.Attempts)
		}
		validateDurations(v, tp, []namedDuration{{"timeout", &t.Timeout}})
		validateDurations(v, joinKey(tp, "voice"), []namedDuration{{"retry_after", &t.Voice.RetryAfter}, {"silence_for", &t.Voice.SilenceFor}})
		validateTemplates(v, joinKey(joinKey(tp, "voice"), "templates"), t.Voice.Templates, false)
		validateTemplates(v, joinKey(joinKey(tp, "sms"), "templates"), t.SMS.Templates, false)
	}
	if e := n.Email; e != nil {
		ep := joinKey(path, "email")
		if host, port, err := net.SplitHostPort(e.Smarthost); err != nil || host == "" || port == "" {
			v.addf(joinKey(ep, "smarthost"), "%q is not HOST:PORT", e.Smarthost)
		}
		if !slices.Contains([]string{"none", "starttls", "tls"}, e.TLS) {
			v.addf(joinKey(ep, "tls"), "%q is not one of none, starttls, tls", e.TLS)
		}
		if e.From == "" {
			v.addf(ep, "from is required")
		} else if err := checkAddress(e.From); err != nil {
			v.addf(joinKey(ep, "from"), "%v", err)
		}
		if e.Password != "" && e.Username == "" {
			v.addf(joinKey(ep, "password"), "is set without username")
		}
		validateDurations(v, ep, []namedDuration{{"timeout", &e.Timeout}})
		validateTemplates(v, joinKey(ep, "templates"), e.Templates, true)
	}
	names := map[string]string{}
	for i := range n.IM {
		ip := joinIndex(joinKey(path, "im"), i)
		im := &n.IM[i]
		switch {
		case im.Name == "":
			v.addf(ip, "name is required")
		case slices.Contains(notifyChannels, im.Name):
			v.addf(joinKey(ip, "name"), "%q is a channel name; call the notifier something else", im.Name)
		case names[im.Name] != "":
			v.addf(joinKey(ip, "name"), "duplicate notifier name %q (also %s)", im.Name, names[im.Name])
		default:
			names[im.Name] = ip
		}
		if !slices.Contains(imTypes, im.Type) {
			v.addf(joinKey(ip, "type"), "%q is not one of %s", im.Type, strings.Join(imTypes, ", "))
		}
		if im.URL == "" {
			v.addf(ip, "url is required")
		} else if !isHTTPURL(im.URL.Value()) {
			v.addf(joinKey(ip, "url"), "is not an absolute http or https URL")
		}
		if im.Secret != "" && (im.Type == IMWeCom || im.Type == IMSlack) {
			v.addf(joinKey(ip, "secret"), "%s robots are not signed: the URL is the secret", im.Type)
		}
		if im.MaxPerMinute < 0 {
			v.addf(joinKey(ip, "max_per_minute"), "must not be negative (got %d)", im.MaxPerMinute)
		}
		if im.Card != nil && im.Type != IMFeishu {
			v.addf(joinKey(ip, "card"), "only feishu sends cards")
		}
		if im.SignatureHeader != "" && im.Type != IMWebhook {
			v.addf(joinKey(ip, "signature_header"), "only a webhook has a signature header")
		}
		validateDurations(v, ip, []namedDuration{{"timeout", &im.Timeout}})
		validateTemplates(v, joinKey(ip, "templates"), im.Templates, false)
	}
	validateTemplates(v, joinKey(joinKey(path, "app"), "templates"), n.App.Templates, false)
}

// validateTemplates checks the events of a channel's template overrides;
// the notifier compiles them (and `check` reports what does not parse).
func validateTemplates(v *validator, path string, ts map[string]TemplateConfig, html bool) {
	for ev, t := range ts {
		if !slices.Contains(notifyEvents, ev) {
			v.addf(joinKey(path, ev), "unknown event %q (want one of %s)", ev, strings.Join(notifyEvents, ", "))
		}
		if t.HTML != "" && !html {
			v.addf(joinKey(joinKey(path, ev), "html"), "only email has an HTML part")
		}
	}
}

// checkAddress accepts a bare email address.
func checkAddress(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return fmt.Errorf("%q is not an email address (name@domain, without a display name)", s)
	}
	return nil
}

// NotifyLocation is the time zone notifications write times in:
// notifiers.timezone, else the calendar's, else UTC.
func (c *Config) NotifyLocation() *time.Location {
	for _, tz := range []string{c.Notifiers.Timezone, c.Calendar.Timezone} {
		if tz == "" {
			continue
		}
		if loc, err := time.LoadLocation(tz); err == nil {
			return loc
		}
	}
	return time.UTC
}
