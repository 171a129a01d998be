package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/remediator/remediator/engine"
)

type silenceRequest struct {
	Matchers  []engine.Matcher `json:"matchers"`
	StartsAt  *time.Time       `json:"starts_at"`
	EndsAt    *time.Time       `json:"ends_at"`
	CreatedBy string           `json:"created_by"`
	Comment   string           `json:"comment"`
}

type silenceJSON struct {
	ID        uint64           `json:"id"`
	State     string           `json:"state"`
	Matchers  []engine.Matcher `json:"matchers"`
	StartsAt  time.Time        `json:"starts_at"`
	EndsAt    time.Time        `json:"ends_at"`
	CreatedBy string           `json:"created_by"`
	Comment   string           `json:"comment"`
	CreatedAt time.Time        `json:"created_at"`
	ExpiredBy string           `json:"expired_by,omitempty"`
}

func toSilenceJSON(s *engine.Silence) silenceJSON {
	return silenceJSON{ID: s.ID, State: s.CurrentState, Matchers: s.Matchers, StartsAt: s.StartsAt, EndsAt: s.EndsAt,
		CreatedBy: s.CreatedBy, Comment: s.Comment, CreatedAt: s.CreatedAt, ExpiredBy: s.ExpiredBy}
}

// createSilence: POST /api/v1/silences. created_by defaults to the token's
// name; a different one is recorded as "NAME (token TOKEN)".
func (s *Server) createSilence(w http.ResponseWriter, r *http.Request) {
	var req silenceRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.EndsAt == nil {
		s.fail(w, r, fmt.Errorf("ends_at: required: %w", engine.ErrInvalid))
		return
	}
	// A zero starts_at is "now", as an absent one.
	if err := bodyTimes(bodyTime{"starts_at", req.StartsAt}, bodyTime{"ends_at", req.EndsAt}); err != nil {
		s.fail(w, r, err)
		return
	}
	by := principalOf(r).Name
	if c := strings.TrimSpace(req.CreatedBy); c != "" && c != by {
		by = c + " (token " + by + ")"
	}
	n := engine.NewSilence{Matchers: req.Matchers, EndsAt: *req.EndsAt, CreatedBy: by, Comment: req.Comment}
	if req.StartsAt != nil {
		n.StartsAt = *req.StartsAt
	}
	sil, err := s.engine.CreateSilence(r.Context(), n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteAudit(r, fmt.Sprintf("silence %d", sil.ID), silenceDetail(&sil))
	s.reply(w, r, http.StatusCreated, toSilenceJSON(&sil))
}

// silenceDetail is a new silence's audit detail: what it mutes, until
// when, and why.
func silenceDetail(sil *engine.Silence) string {
	ms := make([]string, len(sil.Matchers))
	for i, m := range sil.Matchers {
		op := "="
		if !m.Equal() {
			op = "!="
		}
		if m.IsRegex {
			op = op[:1] + "~"
		}
		ms[i] = fmt.Sprintf("%s%s%q", m.Name, op, m.Value)
	}
	d := "{" + strings.Join(ms, ", ") + "} until " + sil.EndsAt.UTC().Format(time.RFC3339)
	if sil.Comment != "" {
		d += "; comment: " + sil.Comment
	}
	return d
}

func (s *Server) listSilences(w http.ResponseWriter, r *http.Request) {
	if err := params(r, append([]string{"state"}, listParams...)...); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := page(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := engine.SilenceFilter{State: r.URL.Query().Get("state")}
	switch f.State {
	case "", engine.SilencePending, engine.SilenceActive, engine.SilenceExpired:
	default:
		s.fail(w, r, fmt.Errorf("state: must be pending, active or expired, got %q: %w", truncate(f.State, 20), engine.ErrInvalid))
		return
	}
	list, next := s.engine.Silences(f, p)
	out := struct {
		Silences   []silenceJSON `json:"silences"`
		NextCursor string        `json:"next_cursor,omitempty"`
	}{Silences: make([]silenceJSON, len(list)), NextCursor: cursor(next)}
	for i := range list {
		out.Silences[i] = toSilenceJSON(&list[i])
	}
	s.reply(w, r, http.StatusOK, out)
}

func (s *Server) getSilence(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("silence %q not found", truncate(r.PathValue("id"), 20)))
		return
	}
	if err := params(r); err != nil {
		s.fail(w, r, err)
		return
	}
	sil, err := s.engine.GetSilence(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, toSilenceJSON(&sil))
}

// expireSilence: DELETE /api/v1/silences/{id} ends the silence now.
func (s *Server) expireSilence(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("silence %q not found", truncate(r.PathValue("id"), 20)))
		return
	}
	sil, err := s.engine.ExpireSilence(r.Context(), id, principalOf(r).Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, toSilenceJSON(&sil))
}
