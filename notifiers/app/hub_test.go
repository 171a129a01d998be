package inapp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// deadline bounds every wait of these tests; nothing is expected to take
// it, it turns a hang into a failure.
const deadline = 10 * time.Second

// newHub starts a Hub behind a 127.0.0.1 server. Unless o.Now is set, ids
// start at 1.
func newHub(t *testing.T, o HubOptions) (*Hub, *httptest.Server) {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return time.Unix(0, 0) }
	}
	h := NewHub(o)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close) // before srv.Close: streams end, the server can close
	return h, srv
}

// frame is one block of an event stream, up to its blank line.
type frame struct {
	ID, Event, Data, Retry string
	Comment                string
	Lines                  []string
}

// client reads an event stream line by line.
type client struct {
	resp   *http.Response
	frames chan frame // closed at the end of the stream
	cancel context.CancelFunc
}

// connect opens the stream at url with the given request headers and
// checks that it is one.
func connect(t *testing.T, url string, header map[string]string) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("GET: status %d: %s", resp.StatusCode, b)
	}
	c := &client{resp: resp, frames: make(chan frame, 1024), cancel: cancel}
	go c.read()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	return c
}

// read splits the stream into frames.
func (c *client) read() {
	defer close(c.frames)
	r := bufio.NewReader(c.resp.Body)
	var f frame
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			c.frames <- f
			f = frame{}
			continue
		}
		f.Lines = append(f.Lines, line)
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			f.Comment = value
		case "id":
			f.ID = value
		case "event":
			f.Event = value
		case "data":
			f.Data = value
		case "retry":
			f.Retry = value
		}
	}
}

// next returns the next frame; the stream must not end first.
func (c *client) next(t *testing.T) frame {
	t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			t.Fatal("stream ended")
		}
		return f
	case <-time.After(deadline):
		t.Fatal("no frame before the deadline")
	}
	return frame{}
}

// event returns the next frame that is an event (not a comment).
func (c *client) event(t *testing.T) frame {
	t.Helper()
	for {
		if f := c.next(t); f.Event != "" {
			return f
		}
	}
}

// ended waits for the end of the stream, skipping what comes before.
func (c *client) ended(t *testing.T) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("stream did not end before the deadline")
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not before the deadline", what)
		}
		<-tick.C
	}
}

func publish(t *testing.T, h *Hub, kind string, data any) uint64 {
	t.Helper()
	id, err := h.Publish(kind, data)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestStreamDeliversEventsInOrder(t *testing.T) {
	h, srv := newHub(t, HubOptions{})
	c := connect(t, srv.URL, nil)

	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream; charset=utf-8",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := c.resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if f := c.next(t); f.Retry != "3000" {
		t.Fatalf("first frame %q, want the retry hint 3000", f.Lines)
	}
	waitFor(t, "subscribed", func() bool { return h.Subscribers() == 1 })

	kinds := []string{"incident", "notification", "incident"}
	for i, k := range kinds {
		publish(t, h, k, map[string]int{"n": i})
	}
	for i, k := range kinds {
		f := c.event(t)
		if f.ID != strconv.Itoa(i+1) || f.Event != k || f.Data != `{"n":`+strconv.Itoa(i)+`}` {
			t.Errorf("event %d = %q, want id %d, event %s, data {\"n\":%d}", i, f.Lines, i+1, k, i)
		}
	}
}

func TestIDsStartAboveStartTime(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	h := NewHub(HubOptions{Now: func() time.Time { return start }})
	t.Cleanup(h.Close)
	// A restarted remediator issues ids above those of the last run, as
	// long as that run published less than one event per millisecond.
	if id := publish(t, h, "incident", nil); id != uint64(start.UnixMilli())+1 {
		t.Fatalf("first id %d, want %d", id, start.UnixMilli()+1)
	}
}

func TestReplay(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		header map[string]string
		reset  bool
		ids    []string
	}{
		// EventSource's reconnection: the events after the last one seen.
		{name: "header", header: map[string]string{"Last-Event-ID": "4"}, ids: []string{"5", "6"}},
		// A first connection that resumes from a known id.
		{name: "query", query: "?last_event_id=3", ids: []string{"4", "5", "6"}},
		// The header wins over the query.
		{name: "header before query", query: "?last_event_id=1", header: map[string]string{"Last-Event-ID": "5"}, ids: []string{"6"}},
		// Up to date: nothing to replay.
		{name: "up to date", header: map[string]string{"Last-Event-ID": "6"}},
		// The last buffered id before the oldest kept: nothing is lost.
		{name: "oldest edge", header: map[string]string{"Last-Event-ID": "2"}, ids: []string{"3", "4", "5", "6"}},
		// Older than the buffer: events were lost, reset, then all.
		{name: "too old", header: map[string]string{"Last-Event-ID": "1"}, reset: true, ids: []string{"3", "4", "5", "6"}},
		// An id this hub never issued (a previous run's): reset.
		{name: "unknown", header: map[string]string{"Last-Event-ID": "99"}, reset: true, ids: []string{"3", "4", "5", "6"}},
		// The kinds filter applies to the replay.
		{name: "filtered", query: "?last_event_id=2&kinds=notification", ids: []string{"4", "6"}},
		// No id: a fresh client gets only new events.
		{name: "fresh"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, srv := newHub(t, HubOptions{Buffer: 4})
			for i := 1; i <= 6; i++ { // ids 1..6; the buffer keeps 3..6
				kind := "incident"
				if i%2 == 0 {
					kind = "notification"
				}
				publish(t, h, kind, i)
			}
			c := connect(t, srv.URL+tc.query, tc.header)
			if f := c.next(t); f.Retry == "" {
				t.Fatalf("first frame %q, want the retry hint", f.Lines)
			}
			if tc.reset {
				if f := c.next(t); f.Event != KindReset || f.ID != "" {
					t.Fatalf("frame %q, want a reset without id", f.Lines)
				}
			}
			for _, id := range tc.ids {
				if f := c.next(t); f.ID != id {
					t.Fatalf("frame %q, want id %s", f.Lines, id)
				}
			}
			// Then nothing but what is published now.
			marker := publish(t, h, "notification", "marker")
			if f := c.next(t); f.ID != strconv.FormatUint(marker, 10) {
				t.Fatalf("frame %q, want the live event %d", f.Lines, marker)
			}
		})
	}
}

func TestKindsFilter(t *testing.T) {
	h, srv := newHub(t, HubOptions{})
	c := connect(t, srv.URL+"?kinds=notification,incident", nil)
	waitFor(t, "subscribed", func() bool { return h.Subscribers() == 1 })
	publish(t, h, "action", 1)
	publish(t, h, "incident", 2)
	publish(t, h, "silence", 3)
	publish(t, h, "notification", 4)
	for _, want := range []string{"incident", "notification"} {
		if f := c.event(t); f.Event != want {
			t.Fatalf("event %q, want %s", f.Lines, want)
		}
	}
}

func TestSlowSubscriberIsCutOff(t *testing.T) {
	h, srv := newHub(t, HubOptions{Buffer: 2, SubscriberBuffer: 2})
	// A client that asks for the stream and never reads: its socket
	// buffers fill, the stream's writes block, its queue fills.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "subscribed", func() bool { return h.Subscribers() == 1 })

	// A second, reading client must keep receiving everything.
	fast := connect(t, srv.URL, nil)
	waitFor(t, "second subscriber", func() bool { return h.Subscribers() == 2 })

	if f := fast.next(t); f.Retry == "" {
		t.Fatalf("first frame %q, want the retry hint", f.Lines)
	}
	big := json.RawMessage(`"` + strings.Repeat("x", 256<<10) + `"`)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() { done <- r }()
		for h.Subscribers() == 2 && r.n < 10000 {
			if _, r.err = h.Publish("incident", big); r.err != nil {
				return
			}
			r.n++
			// The reading client gets each event before the next.
			select {
			case f := <-fast.frames:
				if len(f.Data) != len(big) {
					r.err = fmt.Errorf("reading client: frame %.80q, want the event", f.Lines)
					return
				}
			case <-time.After(deadline):
				r.err = errors.New("reading client: no event before the deadline")
				return
			}
		}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(deadline):
		t.Fatal("Publish blocked on a slow subscriber")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if h.Subscribers() != 1 {
		t.Fatalf("%d subscribers after %d events, want the slow one cut off", h.Subscribers(), r.n)
	}
	t.Logf("slow subscriber cut off after %d events of 256 KiB", r.n)

	// The slow client, reading at last, finds its stream ended.
	if err := conn.SetReadDeadline(time.Now().Add(deadline)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("slow client's stream: %v, want a clean end", err)
	}
}

// timers is an After that the test fires by hand.
type timers struct {
	armed chan chan time.Time
}

func (tm *timers) after(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	tm.armed <- c
	return c
}

func TestHeartbeat(t *testing.T) {
	tm := &timers{armed: make(chan chan time.Time, 4)}
	_, srv := newHub(t, HubOptions{After: tm.after})
	c := connect(t, srv.URL, nil)
	c.next(t) // retry hint
	for i := range 2 {
		select {
		case fire := <-tm.armed:
			fire <- time.Time{}
		case <-time.After(deadline):
			t.Fatal("the stream armed no heartbeat timer")
		}
		if f := c.next(t); f.Comment != "heartbeat" || len(f.Lines) != 1 {
			t.Fatalf("heartbeat %d: frame %q, want one comment line", i, f.Lines)
		}
	}
}

func TestDisconnectUnsubscribes(t *testing.T) {
	h, srv := newHub(t, HubOptions{})
	c := connect(t, srv.URL, nil)
	waitFor(t, "subscribed", func() bool { return h.Subscribers() == 1 })
	c.cancel()
	waitFor(t, "unsubscribed after the client left", func() bool { return h.Subscribers() == 0 })
}

func TestCloseEndsStreams(t *testing.T) {
	h, srv := newHub(t, HubOptions{})
	a, b := connect(t, srv.URL, nil), connect(t, srv.URL+"?kinds=incident", nil)
	waitFor(t, "subscribed", func() bool { return h.Subscribers() == 2 })
	h.Close()
	a.ended(t)
	b.ended(t)
	if h.Subscribers() != 0 {
		t.Errorf("%d subscribers after Close", h.Subscribers())
	}
	if _, err := h.Publish("incident", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET after Close: status %d, want 503", resp.StatusCode)
	}
}

// errorResponse checks a JSON error answer.
func errorResponse(t *testing.T, resp *http.Response, status int) {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d", resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var body struct{ Error string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error == "" {
		t.Errorf("body: %v, error %q; want {\"error\": ...}", err, body.Error)
	}
}

func TestRefusals(t *testing.T) {
	h, srv := newHub(t, HubOptions{MaxSubscribers: 1})
	tests := []struct {
		name   string
		method string
		query  string
		status int
	}{
		// The stream is read-only.
		{"post", http.MethodPost, "", http.StatusMethodNotAllowed},
		{"delete", http.MethodDelete, "", http.StatusMethodNotAllowed},
		// An id must be a number.
		{"bad last id", http.MethodGet, "?last_event_id=abc", http.StatusBadRequest},
		// A kind that could not be an event name.
		{"bad kind", http.MethodGet, "?kinds=notification,a%0Ab", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.query, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != http.MethodGet {
				t.Errorf("Allow %q, want GET", resp.Header.Get("Allow"))
			}
			errorResponse(t, resp, tc.status)
		})
	}
	t.Run("past the subscriber bound", func(t *testing.T) {
		connect(t, srv.URL, nil)
		waitFor(t, "subscribed", func() bool { return h.Subscribers() == 1 })
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		errorResponse(t, resp, http.StatusServiceUnavailable)
	})
}

// multiline is a value whose MarshalJSON is not compact.
type multiline struct{}

func (multiline) MarshalJSON() ([]byte, error) { return []byte("{\n  \"a\": \"b\"\n}"), nil }

func TestPublishData(t *testing.T) {
	h, srv := newHub(t, HubOptions{})
	c := connect(t, srv.URL, nil)
	waitFor(t, "subscribed", func() bool { return h.Subscribers() == 1 })

	// An indented MarshalJSON still makes one data line.
	publish(t, h, "incident", multiline{})
	if f := c.event(t); f.Data != `{"a":"b"}` || len(f.Lines) != 3 {
		t.Errorf("frame %q, want one compact data line", f.Lines)
	}
	for _, kind := range []string{"", "a\nb", "a b", KindReset, strings.Repeat("k", 65)} {
		if _, err := h.Publish(kind, 1); err == nil {
			t.Errorf("Publish(%q): no error, want an invalid kind", kind)
		}
	}
	if _, err := h.Publish("incident", func() {}); err == nil {
		t.Error("Publish of a func: no error")
	}
}
