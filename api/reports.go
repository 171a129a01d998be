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
	q := r.URL.Query()
	to := s.clock.Now()
	from := to.Add(-7 * 24 * time.Hour)
	parse := func(key string, def time.Time) (time.Time, error) {
		v := q.Get(key)
		if v == "" {
			return def, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time: %w", key, truncate(v, 40), engine.ErrInvalid)
		}
		return t, nil
	}
	var err error
	if to, err = parse("to", to); err != nil {
		s.fail(w, r, err)
		return
	}
	if q.Get("from") == "" {
		from = to.Add(-7 * 24 * time.Hour)
	} else if from, err = parse("from", from); err != nil {
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
	writeJSON(w, http.StatusOK, sum)
}
