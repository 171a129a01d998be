// Package notifiers holds remediator's notification channels, one
// subpackage per integration, each implementing engine.Notifier:
// twilio (phone and SMS), email, dingtalk, wecom, feishu, slack, webhook
// and app (the in-app event stream). message renders what they send;
// internal/bundle is the rate limit that bundles instead of dropping,
// internal/notifyhttp the retry decision of the HTTP channels, and
// internal/robot the path the chat robots share (config checks, render,
// bundle, post, answer codes). The engine's
// outbox (engine/outbox.go) decides who is notified when, records every
// attempt, retries and fails over; app/notify.go wires config to channels.
package notifiers
