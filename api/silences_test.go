package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSilencesAPI(t *testing.T) {
	e := newEnv(t, true)
	end := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	good := `{"matchers":[{"name":"service","value":"game-api","is_regex":false,"is_equal":true}],"ends_at":"` + end + `","comment":"deploy"}`

	bad := []struct {
		name, method, path, token, body string
		status                          int
		contains                        string
	}{
		// A viewer cannot create one.
		{"viewer", "POST", "/api/v1/silences", viewerToken, good, 403, "needs responder"},
		// No end.
		{"no end", "POST", "/api/v1/silences", responderToken, `{"matchers":[{"name":"a","value":"b","is_equal":true}]}`, 400, "ends_at: required"},
		// No matchers.
		{"no matchers", "POST", "/api/v1/silences", responderToken, `{"matchers":[],"ends_at":"` + end + `"}`, 400, "matchers: at least one is required"},
		// A matcher that would mute everything.
		{"match all", "POST", "/api/v1/silences", responderToken, `{"matchers":[{"name":"a","value":".*","is_regex":true,"is_equal":true}],"ends_at":"` + end + `"}`, 400, "must not match the empty string"},
		// A broken regex.
		{"bad regex", "POST", "/api/v1/silences", responderToken, `{"matchers":[{"name":"a","value":"((","is_regex":true,"is_equal":true}],"ends_at":"` + end + `"}`, 400, "matchers[0]:"},
		// An end in the past.
		{"past", "POST", "/api/v1/silences", responderToken, `{"matchers":[{"name":"a","value":"b","is_equal":true}],"ends_at":"2020-01-01T00:00:00Z"}`, 400, "ends_at: must be after starts_at"},
		// A time that is not RFC 3339.
		{"bad time", "POST", "/api/v1/silences", responderToken, `{"matchers":[{"name":"a","value":"b","is_equal":true}],"ends_at":"tomorrow"}`, 400, "invalid JSON body"},
		// An unknown field.
		{"unknown field", "POST", "/api/v1/silences", responderToken, `{"matcher":[]}`, 400, `unknown field "matcher"`},
		// A bad state filter.
		{"bad state", "GET", "/api/v1/silences?state=gone", viewerToken, "", 400, "state: must be pending, active or expired"},
		// Unknown silence.
		{"unknown", "GET", "/api/v1/silences/42", viewerToken, "", 404, "silence 42: not found"},
		// Expire an unknown silence.
		{"expire unknown", "DELETE", "/api/v1/silences/42", responderToken, "", 404, "not found"},
		// A method the path does not take.
		{"method", "PUT", "/api/v1/silences/1", responderToken, "", 405, "use DELETE, GET"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := e.do(tt.method, tt.path, tt.token, []byte(tt.body))
			if status != tt.status || !strings.Contains(errorOf(t, body), tt.contains) {
				t.Fatalf("got %d %s, want %d containing %q", status, body, tt.status, tt.contains)
			}
		})
	}

	status, body, _ := e.do("POST", "/api/v1/silences", responderToken, []byte(good))
	var sil struct {
		ID        uint64
		State     string
		CreatedBy string `json:"created_by"`
	}
	if status != 201 || json.Unmarshal(body, &sil) != nil || sil.State != "active" || sil.CreatedBy != "rita" {
		t.Fatalf("create: %d %s", status, body)
	}
	// A firing alert it matches is stored, and shown as suppressed.
	if status, body, _ := e.do("POST", "/api/v1/webhook", webhookToken, webhookFile(t, "firing.json")); status != 200 {
		t.Fatalf("webhook: %d %s", status, body)
	}
	_, body, _ = e.do("GET", "/api/v1/alerts", viewerToken, nil)
	if !strings.Contains(string(body), fmt.Sprintf(`"suppressed":{"by":"silence %d"`, sil.ID)) {
		t.Fatalf("alert not shown as silenced: %s", body)
	}
	// Expire it: once, then 409; the alert is no longer suppressed.
	path := fmt.Sprintf("/api/v1/silences/%d", sil.ID)
	if status, body, _ := e.do("DELETE", path, viewerToken, nil); status != 403 {
		t.Fatalf("viewer expire: %d %s", status, body)
	}
	if status, body, _ := e.do("DELETE", path, responderToken, nil); status != 200 || !strings.Contains(string(body), `"state":"expired"`) {
		t.Fatalf("expire: %d %s", status, body)
	}
	if status, body, _ := e.do("DELETE", path, responderToken, nil); status != 409 {
		t.Fatalf("expire twice: %d %s", status, body)
	}
	_, body, _ = e.do("GET", "/api/v1/alerts", viewerToken, nil)
	if strings.Contains(string(body), `"suppressed"`) {
		t.Fatalf("alert still suppressed after expiry: %s", body)
	}
	_, body, _ = e.do("GET", "/api/v1/silences?state=expired", viewerToken, nil)
	if !strings.Contains(string(body), `"expired_by":"rita"`) {
		t.Fatalf("expired list: %s", body)
	}
}
