package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/report"
)

// maxReportRange bounds an SLA report's period.
const maxReportRange = 366 * 24 * time.Hour

// slaReport: GET /api/v1/reports/sla?from=&to= returns MTTA, MTTR and
// breaches per level and per person for the incidents opened in [from,
// to) (RFC 3339; default the 7 days up to now).
func (s *Server) slaReport(w http.ResponseWriter, r *http.Request) {
	if err := params(r, "from", "to"); err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	to, err := timeParam(q, "to", s.clock.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	from, err := timeParam(q, "from", to.Add(-7*24*time.Hour))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case !to.After(from):
		s.fail(w, r, fmt.Errorf("to must be after from: %w", engine.ErrInvalid))
		return
	case to.Sub(from) > maxReportRange:
		s.fail(w, r, fmt.Errorf("the period may span at most 366 days: %w", engine.ErrInvalid))
		return
	}
	sum := report.Summarize(s.engine.SLAEntries(from, to), from, to)
	s.reply(w, r, http.StatusOK, sum)
}
