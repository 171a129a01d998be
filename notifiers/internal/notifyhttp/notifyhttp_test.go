package notifyhttp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		status int
		retry  bool
	}{
		{500, true}, {503, true}, {429, true}, // the peer's trouble or a throttle
		{400, false}, {401, false}, {403, false}, {404, false}, // final
	} {
		if got := Retry(tc.status); got != tc.retry {
			t.Errorf("Retry(%d) = %v", tc.status, got)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},                  // absent
		{"30", 30 * time.Second}, // seconds
		{"-5", 0},                // nonsense
		{"soon", 0},              // unreadable
		{now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute}, // an HTTP date
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},                  // a date in the past
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestStatusError(t *testing.T) {
	now := time.Now()
	retry, err := StatusError(&Response{Status: 429, Header: http.Header{"Retry-After": {"7"}}, Body: []byte("slow down")}, now)
	var ra *RetryAfterError
	if !retry || !errors.As(err, &ra) || ra.RetryAfter() != 7*time.Second || err.Error() != "status 429: slow down" {
		t.Fatalf("429: %v %v", retry, err)
	}
	if retry, err := StatusError(&Response{Status: 400, Body: []byte("bad")}, now); retry || err.Error() != "status 400: bad" {
		t.Fatalf("400: %v %v", retry, err)
	}
}

func TestSnippetKeepsCharactersWhole(t *testing.T) {
	s := Snippet([]byte(strings.Repeat("告警", 200)))
	if !utf8.ValidString(s) || !strings.HasSuffix(s, "…") || len(s) > 204 {
		t.Fatalf("snippet %q (%d bytes)", s, len(s))
	}
}

// Post's errors never carry the URL: robot URLs hold access tokens.
func TestPostErrorsHaveNoURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	url := srv.URL + "/robot/send?access_token=secret-token-123"
	srv.Close() // connection refused
	_, err := Post(context.Background(), Client(), url, nil, []byte("{}"))
	if err == nil || strings.Contains(err.Error(), "secret-token-123") || strings.Contains(err.Error(), "/robot/send") {
		t.Fatalf("err = %v", err)
	}
	_, err = Post(context.Background(), Client(), "http://[::1:bad/x?access_token=secret-token-123", nil, nil)
	if err == nil || strings.Contains(err.Error(), "secret-token-123") {
		t.Fatalf("bad URL err = %v", err)
	}
}

// A redirect is an answer, not followed (a token must not travel on).
func TestClientDoesNotFollowRedirects(t *testing.T) {
	followed := false
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed = true }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	resp, err := Post(context.Background(), Client(), srv.URL, nil, []byte("{}"))
	if err != nil || resp.Status != http.StatusTemporaryRedirect || followed {
		t.Fatalf("resp %+v, err %v, followed %v", resp, err, followed)
	}
}
