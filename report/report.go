// Package report makes remediator's periodic reports: the digest of
// info-level alerts and open notice incidents, and the SLA report (time
// to acknowledge and to resolve, and breaches, per level and per person).
//
// Summarize computes the SLA summary that GET /api/v1/reports/sla
// returns; RenderDigest and RenderSLA write reports as text and HTML;
// Runner mails the configured reports on their cron schedules, driven by
// Tick so that tests run it in simulated time.
package report

import (
	"context"
	"time"

	"github.com/remediator/remediator/engine"
)

// Source is what reports read from the engine.
type Source interface {
	// SLAEntries returns the incidents opened in [from, to).
	SLAEntries(from, to time.Time) []engine.SLAEntry
	// DigestOf returns the alerts of levels first seen in [from, to) and
	// the unresolved incidents of levels.
	DigestOf(from, to time.Time, levels []engine.Level) engine.Digest
}

var _ Source = (*engine.Engine)(nil)

// Mailer sends one message to several recipients (notifiers/email's
// Notifier is one).
type Mailer interface {
	SendMessage(ctx context.Context, to []string, subject, text, html string) error
}
