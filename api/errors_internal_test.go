package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestReplyEncodesFirst: a value JSON cannot write (a time in the year
// 10000) is a logged 500 with a JSON error, not a 200 with an empty body.
func TestReplyEncodesFirst(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	w := httptest.NewRecorder()
	s.reply(w, httptest.NewRequest(http.MethodGet, "/api/v1/alerts", nil), http.StatusOK,
		map[string]time.Time{"at": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	var e errorBody
	if w.Code != http.StatusInternalServerError || json.Unmarshal(w.Body.Bytes(), &e) != nil || !strings.Contains(e.Error, "could not be encoded") {
		t.Fatalf("got %d %q", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), `msg="answer not encoded" method=GET path=/api/v1/alerts`) {
		t.Fatalf("not logged:\n%s", logs.String())
	}
}
