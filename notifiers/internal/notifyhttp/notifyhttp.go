// Package notifyhttp is what the notifiers that call an HTTP API share:
// the retry decision from a status code, Retry-After, a POST whose errors
// never carry the URL (robot URLs hold access tokens), and a client that
// does not follow redirects.
package notifyhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// MaxResponse is how much of a response body is read.
const MaxResponse = 64 << 10

// Retry reports whether a response status is worth retrying: 5xx and 429
// are, other 4xx are final.
func Retry(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests
}

// RetryAfterError is a throttled request: retry, after at least Wait.
type RetryAfterError struct {
	Err  error
	Wait time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter is how long to wait (engine.RetryAfterer).
func (e *RetryAfterError) RetryAfter() time.Duration { return e.Wait }

// ParseRetryAfter reads a Retry-After header: seconds or an HTTP date
// (relative to now). It returns 0 when absent or unreadable.
func ParseRetryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Client returns an HTTP client that never follows a redirect, so a
// token in a header or query never travels to another host.
func Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Response is what Post read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Post sends body to rawURL with the given headers. Its errors describe
// the failure without the URL: a robot URL carries its access token, and
// net/http's errors quote the URL in full.
func Post(ctx context.Context, c *http.Client, rawURL string, header http.Header, body []byte) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("build request: invalid URL")
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, StripURL(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", StripURL(err))
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// StripURL removes the URL from a *url.Error, keeping the operation and
// the cause.
func StripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// Snippet is the start of a response body for an error message.
func Snippet(b []byte) string {
	const n = 200
	s := string(bytes.TrimSpace(b))
	if len(s) > n {
		for n2 := n; n2 > 0; n2-- {
			if s[n2]&0xC0 != 0x80 {
				return s[:n2] + "…"
			}
		}
	}
	return s
}

// StatusError is the error of a response that is not a success; it
// retries when Retry(status) does, after Retry-After when the peer sent
// one.
func StatusError(r *Response, now time.Time) (retry bool, err error) {
	err = fmt.Errorf("status %d: %s", r.Status, Snippet(r.Body))
	if r.Status == http.StatusTooManyRequests {
		return true, &RetryAfterError{Err: err, Wait: ParseRetryAfter(r.Header.Get("Retry-After"), now)}
	}
	return Retry(r.Status), err
}
