package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/remediator/remediator/engine"
)

// listNotifications: GET /api/v1/notifications?incident=&status=&channel=
// lists every notification with its channel, recipient, status, attempts
// and last error, newest first.
func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) {
	if err := params(r, append([]string{"incident", "status", "channel"}, listParams...)...); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := page(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := engine.NotificationFilter{Status: q.Get("status"), Channel: q.Get("channel")}
	if f.Incident, err = incidentParam(q); err != nil {
		s.fail(w, r, err)
		return
	}
	switch f.Status {
	case "", engine.NotePending, engine.NoteSending, engine.NoteSent, engine.NoteDelivered, engine.NoteFailed, engine.NoteCancelled:
	default:
		s.fail(w, r, fmt.Errorf("status: %q is not a notification status: %w", truncate(f.Status, 20), engine.ErrInvalid))
		return
	}
	if len(f.Channel) > 100 {
		s.fail(w, r, fmt.Errorf("channel: too long: %w", engine.ErrInvalid))
		return
	}
	list, next := s.engine.Notifications(f, p)
	out := struct {
		Notifications []notificationJSON `json:"notifications"`
		NextCursor    string             `json:"next_cursor,omitempty"`
	}{Notifications: make([]notificationJSON, len(list)), NextCursor: cursor(next)}
	for i := range list {
		out.Notifications[i] = toNotificationJSON(&list[i])
	}
	s.reply(w, r, http.StatusOK, out)
}

// incidentParam reads the optional ?incident= filter of a list: 0 when
// absent.
func incidentParam(q url.Values) (uint64, error) {
	v := q.Get("incident")
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("incident: %q is not an incident id: %w", truncate(v, 20), engine.ErrInvalid)
	}
	return id, nil
}

// twilio passes Twilio's callbacks to the Twilio handler, which checks
// their signatures; without Twilio configured they are 404.
func (s *Server) twilio(w http.ResponseWriter, r *http.Request) {
	h := s.settings.Load().twilio
	if h == nil {
		writeError(w, http.StatusNotFound, "twilio is not configured")
		return
	}
	h.ServeHTTP(w, r)
}
