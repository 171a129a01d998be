package api

import (
	"fmt"
	"net/http"

	"github.com/remediator/remediator/engine"
)

// listActions: GET /api/v1/actions?incident=&rule=&status= lists the
// remediation records, newest first.
func (s *Server) listActions(w http.ResponseWriter, r *http.Request) {
	if err := params(r, append([]string{"incident", "rule", "status"}, listParams...)...); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := page(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := engine.ActionFilter{Rule: q.Get("rule"), Status: q.Get("status")}
	if f.Incident, err = incidentParam(q); err != nil {
		s.fail(w, r, err)
		return
	}
	switch f.Status {
	case "", engine.ActionSkipped, engine.ActionRefused, engine.ActionDryRun, engine.ActionPending, engine.ActionRunning,
		engine.ActionSucceeded, engine.ActionFailed, engine.ActionCancelled, engine.ActionInterrupted, engine.ActionNotStarted,
		engine.ActionAwaiting, engine.ActionRejected, engine.ActionExpired:
	default:
		s.fail(w, r, fmt.Errorf("status: %q is not an action status: %w", truncate(f.Status, 20), engine.ErrInvalid))
		return
	}
	list, next := s.engine.Actions(f, p)
	out := struct {
		Actions    []actionJSON `json:"actions"`
		NextCursor string       `json:"next_cursor,omitempty"`
	}{Actions: make([]actionJSON, len(list)), NextCursor: cursor(next)}
	for i := range list {
		out.Actions[i] = toActionJSON(&list[i])
	}
	s.reply(w, r, http.StatusOK, out)
}

// decideAction: POST /api/v1/actions/{id}/approve or /reject, with an
// optional {"by", "note"}; "by" defaults to the token's name.
func (s *Server) decideAction(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(r)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("action %q not found", truncate(r.PathValue("id"), 20)))
			return
		}
		var req transitionRequest
		if err := decodeOptionalJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		by := principalOf(r).Name
		if req.By != "" && req.By != by {
			by = req.By + " (token " + by + ")"
		}
		decide := s.engine.RejectAction
		if approve {
			decide = s.engine.ApproveAction
		}
		rec, err := decide(r.Context(), id, engine.Transition{By: by, Note: req.Note})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		noteAudit(r, "", transitionDetail(req))
		s.reply(w, r, http.StatusOK, toActionJSON(&rec))
	}
}
