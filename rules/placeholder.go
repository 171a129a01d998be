package rules

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The seed policy's published placeholder secrets: a value that holds
// placeholderPrefix, or the Twilio auth token placeholder. Anyone who has
// read testdata/seed-policy.yml knows them.
const (
	placeholderPrefix = "change-me"
	placeholderTwilio = "changemetwiliotoken"
)

// isPlaceholder reports whether a secret is one of the seed policy's
// published placeholders: it holds "change-me" (also inside "Bearer
// change-me-…" or a URL's query), or is the Twilio placeholder.
func isPlaceholder(s Secret) bool {
	v := strings.ToLower(s.Value())
	return strings.Contains(v, placeholderPrefix) || v == placeholderTwilio
}

// Placeholders returns the keys whose secret is one of the seed policy's
// published placeholders (change-me-…, changemetwiliotoken): API and
// webhook tokens, the Twilio auth token, the SMTP password, IM robot URLs
// and signing secrets, and the secrets of remediation actions. `check`
// warns of each; `serve` refuses them when others can reach it (see
// CheckExposedPlaceholders).
func (c *Config) Placeholders() []string {
	var out []string
	add := func(key string, s Secret) {
		if s != "" && isPlaceholder(s) {
			out = append(out, key)
		}
	}
	add("server.webhook_token", c.Server.WebhookToken)
	for i, t := range c.Auth.Tokens {
		add(joinKey(joinIndex("auth.tokens", i), "token"), t.Token)
	}
	if t := c.Notifiers.Twilio; t != nil {
		add("notifiers.twilio.auth_token", t.AuthToken)
	}
	if e := c.Notifiers.Email; e != nil {
		add("notifiers.email.password", e.Password)
	}
	for i, im := range c.Notifiers.IM {
		add(joinKey(joinIndex("notifiers.im", i), "url"), im.URL)
		add(joinKey(joinIndex("notifiers.im", i), "secret"), im.Secret)
	}
	for i, r := range c.Remediations {
		for j, a := range r.Actions {
			path := joinIndex(joinKey(joinIndex("remediations", i), "actions"), j)
			if a.HTTP != nil {
				for _, h := range slices.Sorted(maps.Keys(a.HTTP.Headers)) {
					add(joinKey(joinKey(path, "http.headers"), h), a.HTTP.Headers[h])
				}
			}
			if a.Kubernetes != nil {
				add(joinKey(path, "kubernetes.token"), a.Kubernetes.Token)
			}
		}
	}
	return out
}

// placeholderWarnings is one warning per placeholder secret.
func (c *Config) placeholderWarnings() []string {
	var out []string
	for _, key := range c.Placeholders() {
		out = append(out, fmt.Sprintf("%s: is a placeholder published in the seed policy (change-me-…, changemetwiliotoken): anyone can know it; set a secret of your own (serve refuses it when others can reach remediator)", key))
	}
	return out
}

// ErrPlaceholderExposed is why serve refuses a config that others can
// reach while a secret is a published placeholder.
var ErrPlaceholderExposed = errors.New("a secret is a placeholder published in the seed policy, and server.listen is not a loopback address or server.external_url names another host")

// CheckExposedPlaceholders fails when the server can be reached from
// elsewhere (IsReachable: a listen address that is not loopback, or an
// external_url naming another host, as behind a proxy) and a secret is a
// published placeholder (Placeholders), naming the keys.
func (c *Config) CheckExposedPlaceholders() error {
	keys := c.Placeholders()
	if len(keys) == 0 || !c.IsReachable() {
		return nil
	}
	return fmt.Errorf("%w (%s): set secrets of your own", ErrPlaceholderExposed, strings.Join(keys, ", "))
}
