package dingtalk

import (
	"errors"
	"time"

	"github.com/remediator/remediator/notifiers/internal/robot"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// Defaults of an IMConfig's zero values.
const (
	DefaultMaxPerMinute = 20
	DefaultTimeout      = 10 * time.Second
)

// config is an IMConfig checked and defaulted.
type config struct {
	url    string
	secret string
	robot.Settings
}

// parseConfig checks what only the notifier can check, applies the
// defaults, and reports every problem, joined. No error quotes the URL
// or the secret.
func parseConfig(cfg *rules.IMConfig) (*config, error) {
	if cfg == nil {
		return nil, errors.New("dingtalk: no configuration")
	}
	check := robot.NewCheck("dingtalk", cfg.Name)
	c := &config{url: check.URL(cfg.URL), secret: cfg.Secret.Value()}
	c.Settings = check.Settings(cfg, DefaultMaxPerMinute, DefaultTimeout, message.KindMarkdown)
	return c, check.Err()
}
