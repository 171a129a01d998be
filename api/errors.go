package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/remediator/remediator/engine"
)

// errorStatus is the one table that maps error kinds to HTTP statuses.
func errorStatus(err error) int {
	var (
		de *DecodeError
		mb *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mb):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errMediaType):
		return http.StatusUnsupportedMediaType
	case errors.As(err, &de), errors.Is(err, engine.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, engine.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, engine.ErrConflict):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error string `json:"error"`
}

// reply answers v as JSON with status. The body is encoded before
// anything is written, so a value that cannot be encoded is a logged 500,
// never a success with a broken or empty body.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("answer not encoded", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "the answer could not be encoded: "+err.Error())
		return
	}
	writeBody(w, status, b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(errorBody{Error: msg}) // a string always encodes
	writeBody(w, status, b)
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// fail answers err with the status errorStatus gives it. Server errors are
// logged; their text still reaches the client, since it never carries a
// secret (config and store errors name files and fields, not values).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := errorStatus(err)
	msg := err.Error()
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		msg = "request body larger than the limit of " + itoa(mb.Limit) + " bytes"
	}
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, status, msg)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
