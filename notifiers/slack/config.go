package slack

import (
	"errors"
	"time"

	"github.com/remediator/remediator/notifiers/internal/robot"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// Defaults of an IMConfig's zero values.
const (
	DefaultMaxPerMinute = 60
	DefaultTimeout      = 10 * time.Second
)

// config is an IMConfig checked, with its defaults.
type config struct {
	url rules.Secret // the incoming webhook URL: its path is the secret
	robot.Settings
}

// parseConfig checks what only the notifier can (the URL, the
// templates) and applies the defaults. No error quotes the URL.
func parseConfig(cfg *rules.IMConfig) (*config, error) {
	if cfg == nil {
		return nil, errors.New("slack: no configuration")
	}
	check := robot.NewCheck("slack", cfg.Name)
	check.Type(cfg.Type, rules.IMSlack)
	if _, err := robot.ParseURL(cfg.URL.Value()); err != nil {
		check.Fail("url: %w", err)
	}
	c := &config{url: cfg.URL, Settings: check.Settings(cfg, DefaultMaxPerMinute, DefaultTimeout, message.KindSlack)}
	if err := check.Err(); err != nil {
		return nil, err
	}
	return c, nil
}
