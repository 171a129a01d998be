package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/oncall"
)

// OnCall is what the API needs of the on-call schedules.
type OnCall interface {
	Names() []string
	At(name string, t time.Time) (oncall.Shift, error)
	// AddOverride checks, stores and applies an override.
	AddOverride(ctx context.Context, o engine.ScheduleOverride) (engine.ScheduleOverride, error)
}

// shiftJSON is who is on call on a schedule, from when to when.
type shiftJSON struct {
	Schedule string     `json:"schedule"`
	People   []string   `json:"people"`
	From     *time.Time `json:"from,omitempty"` // absent: no change within the horizon
	To       *time.Time `json:"to,omitempty"`
	Layer    string     `json:"layer,omitempty"`
	Override bool       `json:"override,omitempty"`
}

// getOnCall: GET /api/v1/oncall?schedule=&at= says who is on call (at
// an RFC 3339 time, default now), on one schedule or all.
func (s *Server) getOnCall(w http.ResponseWriter, r *http.Request) {
	if err := params(r, "schedule", "at"); err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	at, err := timeParam(q, "at", s.clock.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names := s.oncall.Names()
	if v := q.Get("schedule"); v != "" {
		names = []string{v}
	}
	out := struct {
		At     time.Time   `json:"at"`
		OnCall []shiftJSON `json:"oncall"`
	}{At: at, OnCall: []shiftJSON{}}
	for _, name := range names {
		sh, err := s.oncall.At(name, at)
		if err != nil {
			if errors.Is(err, oncall.ErrUnknownSchedule) {
				err = fmt.Errorf("%w: %w", err, engine.ErrNotFound)
			}
			s.fail(w, r, err)
			return
		}
		out.OnCall = append(out.OnCall, toShiftJSON(sh))
	}
	s.reply(w, r, http.StatusOK, out)
}

func toShiftJSON(sh oncall.Shift) shiftJSON {
	j := shiftJSON{Schedule: sh.Schedule, People: sh.People, Layer: sh.Layer, Override: sh.Override}
	if j.People == nil {
		j.People = []string{}
	}
	// A bound past what JSON can write (the next change of a shift asked
	// about in the year 9999) is past the horizon too.
	if !sh.From.IsZero() && checkTime(sh.From, false) == nil {
		j.From = &sh.From
	}
	if !sh.To.IsZero() && checkTime(sh.To, false) == nil {
		j.To = &sh.To
	}
	return j
}

// overrideRequest is the body of POST /api/v1/schedules/{name}/overrides.
type overrideRequest struct {
	Person  string     `json:"person"`
	From    *time.Time `json:"from"`
	To      *time.Time `json:"to"`
	Comment string     `json:"comment"`
}

// addOverride: POST /api/v1/schedules/{name}/overrides {person, from, to,
// comment}: person covers the schedule from from to to. 201 with the
// stored override.
func (s *Server) addOverride(w http.ResponseWriter, r *http.Request) {
	var req overrideRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	var problems []string
	if strings.TrimSpace(req.Person) == "" {
		problems = append(problems, "person: required")
	}
	if req.From == nil || req.To == nil {
		problems = append(problems, "from and to: required (RFC 3339)")
	}
	if len(problems) > 0 {
		s.fail(w, r, fmt.Errorf("%s: %w", strings.Join(problems, "; "), engine.ErrInvalid))
		return
	}
	if err := bodyTimes(bodyTime{"from", req.From}, bodyTime{"to", req.To}); err != nil {
		s.fail(w, r, err)
		return
	}
	o, err := s.oncall.AddOverride(r.Context(), engine.ScheduleOverride{
		Schedule: r.PathValue("name"), Person: req.Person, From: *req.From, To: *req.To,
		CreatedBy: principalOf(r).Name, Comment: req.Comment,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteAudit(r, "", fmt.Sprintf("%s covers from %s to %s", o.Person, o.From.UTC().Format(time.RFC3339), o.To.UTC().Format(time.RFC3339)))
	s.reply(w, r, http.StatusCreated, o)
}
