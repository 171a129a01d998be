// Package inapp is the in-app channel: a Hub that streams events to the
// web console over Server-Sent Events, and the Notifier that publishes a
// notification on it. (The package is not named app: that is the
// package that wires remediator together.)
//
// # Event stream
//
// GET on the Hub answers text/event-stream. The stream starts with a
// reconnection hint, then carries events and heartbeat comments:
//
//	retry: 3000
//
//	id: 1700000000001
//	event: notification
//	data: {"id":7,"event":"firing",...}
//
//	: heartbeat
//
// Every event has an increasing id and a kind (the SSE event name); its
// data is one line of JSON (encoding/json's compact output, which escapes
// line breaks inside strings, and <, > and & as \u003c, \u003e, \u0026),
// so no value can break the framing or close a <script>.
//
// A client that reconnects with the Last-Event-ID header (EventSource
// sends it by itself) or ?last_event_id= first receives the buffered
// events newer than that id. When the id is older than the buffer holds,
// or was not issued by this hub (remediator restarted), the stream first
// sends an event of kind "reset" without an id: the client missed events
// and must reload its state. ?kinds=notification,incident limits the
// stream (replay included) to those kinds.
//
// Ids start above the hub's start time in milliseconds, so the ids of a
// restarted remediator do not collide with the ids its clients saw.
//
// Publish never waits for a subscriber: one whose queue is full is cut
// off, its stream ends, and the browser reconnects and replays from the
// buffer.
package inapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of HubOptions' zero values.
const (
	DefaultBuffer           = 256
	DefaultHeartbeat        = 15 * time.Second
	DefaultMaxSubscribers   = 1000
	DefaultSubscriberBuffer = 64
	DefaultRetry            = 3 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
)

// KindReset is the event that tells a client it missed events.
const KindReset = "reset"

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("inapp: hub closed")

// errFull refuses a subscriber past HubOptions.MaxSubscribers.
var errFull = errors.New("too many event stream subscribers")

// HubOptions configure a Hub.
type HubOptions struct {
	// Now gives the start time ids count from. Default time.Now.
	Now func() time.Time
	// Buffer is how many recent events are kept for replay. Default 256.
	Buffer int
	// Heartbeat is the interval of the comment that keeps proxies from
	// closing an idle stream. Default 15s.
	Heartbeat time.Duration
	// After arms the heartbeat timer. Default time.After.
	After func(time.Duration) <-chan time.Time
	// MaxSubscribers bounds the open streams; past it a GET gets 503.
	// Default 1000.
	MaxSubscribers int
	// SubscriberBuffer is how many events may wait for one slow stream
	// before it is cut off. Default 64.
	SubscriberBuffer int
	// Retry is the reconnection delay the stream advises. Default 3s.
	Retry time.Duration
	// WriteTimeout bounds one write to a client; a stalled client is
	// dropped. Default 10s.
	WriteTimeout time.Duration
	Logger       *slog.Logger
}

// Event is one published event.
type Event struct {
	ID   uint64
	Kind string
	Data json.RawMessage // one line of JSON
}

// Hub fans events out to event stream subscribers. It is safe for
// concurrent use.
type Hub struct {
	opts HubOptions
	log  *slog.Logger

	mu     sync.Mutex
	seq    uint64  // the last id issued
	ring   []Event // the last len(ring) ≤ opts.Buffer events, oldest first at head
	head   int
	subs   map[*subscriber]struct{}
	closed bool
}

// subscriber is one open stream.
type subscriber struct {
	ch    chan Event // closed by the hub when it cuts the stream off or closes
	kinds map[string]bool
}

func (s *subscriber) wants(kind string) bool { return s.kinds == nil || s.kinds[kind] }

// NewHub returns a Hub.
func NewHub(o HubOptions) *Hub {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.MaxSubscribers <= 0 {
		o.MaxSubscribers = DefaultMaxSubscribers
	}
	if o.SubscriberBuffer <= 0 {
		o.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var seq uint64
	if ms := o.Now().UnixMilli(); ms > 0 {
		seq = uint64(ms)
	}
	return &Hub{opts: o, log: log, seq: seq, subs: map[*subscriber]struct{}{}}
}

// validKind reports whether kind can be an SSE event name and a filter
// entry: 1 to 64 of [A-Za-z0-9_.-].
func validKind(kind string) bool {
	if kind == "" || len(kind) > 64 {
		return false
	}
	for _, c := range []byte(kind) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Publish encodes data as JSON and sends it to every subscriber that
// wants kind, without waiting for any. It returns the event's id.
func (h *Hub) Publish(kind string, data any) (uint64, error) {
	if !validKind(kind) || kind == KindReset {
		return 0, fmt.Errorf("inapp: publish: invalid event kind %q", kind)
	}
	// json.Marshal's output is compact, even that of a MarshalJSON
	// method: no line breaks.
	b, err := json.Marshal(data)
	if err != nil {
		return 0, fmt.Errorf("inapp: publish %s: %w", kind, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, ErrClosed
	}
	h.seq++
	ev := Event{ID: h.seq, Kind: kind, Data: b}
	if len(h.ring) < h.opts.Buffer {
		h.ring = append(h.ring, ev)
	} else {
		h.ring[h.head] = ev
		h.head = (h.head + 1) % len(h.ring)
	}
	for s := range h.subs {
		if !s.wants(kind) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			delete(h.subs, s)
			close(s.ch)
			h.log.Warn("inapp: event stream subscriber too slow, disconnected", "event_id", ev.ID)
		}
	}
	return ev.ID, nil
}

// Subscribers is how many streams are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Close ends every stream; Publish fails and new streams are refused
// from then on.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}

// subscribe registers a stream and returns, in the same critical section
// so that no event falls between them, the buffered events to replay:
// those after last when hasLast, and whether the client missed events.
func (h *Hub) subscribe(last uint64, hasLast bool, kinds map[string]bool) (s *subscriber, replay []Event, reset bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, false, ErrClosed
	}
	if len(h.subs) >= h.opts.MaxSubscribers {
		return nil, nil, false, errFull
	}
	s = &subscriber{ch: make(chan Event, h.opts.SubscriberBuffer), kinds: kinds}
	h.subs[s] = struct{}{}
	if !hasLast {
		return s, nil, false, nil
	}
	oldest := h.seq + 1 - uint64(len(h.ring)) // the id at head
	if last > h.seq || last+1 < oldest {
		reset, last = true, 0
	}
	for i := range h.ring {
		ev := h.ring[(h.head+i)%len(h.ring)]
		if ev.ID > last && s.wants(ev.Kind) {
			replay = append(replay, ev)
		}
	}
	return s, replay, reset, nil
}

// unsubscribe forgets s unless the hub already did.
func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: msg})
}

// ServeHTTP streams events (see the package comment).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: the event stream is GET only")
		return
	}
	last, hasLast, err := lastEventID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	kinds, err := parseKinds(r.URL.Query().Get("kinds"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s, replay, reset, err := h.subscribe(last, hasLast, kinds)
	switch {
	case errors.Is(err, errFull):
		w.Header().Set("Retry-After", strconv.Itoa(int(h.opts.Retry.Seconds())+1))
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "event stream closed: remediator is shutting down")
		return
	}
	defer h.unsubscribe(s)

	st := &stream{w: w, rc: http.NewResponseController(w), timeout: h.opts.WriteTimeout}
	defer st.clearDeadline()
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	buf := fmt.Appendf(nil, "retry: %d\n\n", h.opts.Retry.Milliseconds())
	if reset {
		buf = append(buf, "event: "+KindReset+"\ndata: {\"reason\":\"missed events: reload\"}\n\n"...)
	}
	for _, ev := range replay {
		buf = appendEvent(buf, ev)
	}
	if err := st.send(buf); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			h.log.Error("inapp: the event stream's response writer cannot flush", "err", err)
		} else {
			h.log.Debug("inapp: event stream write failed", "err", err)
		}
		return
	}
	heartbeat := h.opts.After(h.opts.Heartbeat)
	for {
		buf = buf[:0]
		select {
		case ev, ok := <-s.ch:
			if !ok {
				return
			}
			buf = appendEvent(buf, ev)
			// Send what else is queued in the same write.
			for more := true; more && len(buf) < 64<<10; {
				select {
				case ev, ok := <-s.ch:
					if !ok {
						more = false
						break
					}
					buf = appendEvent(buf, ev)
				default:
					more = false
				}
			}
		case <-heartbeat:
			buf = append(buf, ": heartbeat\n\n"...)
			heartbeat = h.opts.After(h.opts.Heartbeat)
		case <-r.Context().Done():
			return
		}
		if err := st.send(buf); err != nil {
			h.log.Debug("inapp: event stream write failed", "err", err)
			return
		}
	}
}

// appendEvent frames ev. Kind is checked by Publish and Data is compact
// JSON, so neither holds a line break.
func appendEvent(b []byte, ev Event) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, ev.ID, 10)
	b = append(b, "\nevent: "...)
	b = append(b, ev.Kind...)
	b = append(b, "\ndata: "...)
	b = append(b, ev.Data...)
	return append(b, "\n\n"...)
}

// stream writes to one client, each write bounded by a deadline.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (s *stream) send(b []byte) error {
	// A socket deadline is wall-clock time by nature. ErrNotSupported
	// (a writer without deadlines) leaves writes unbounded.
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

// clearDeadline leaves the connection as it was found, for the next
// request on it.
func (s *stream) clearDeadline() { _ = s.rc.SetWriteDeadline(time.Time{}) }

// lastEventID reads the Last-Event-ID header, else ?last_event_id=.
func lastEventID(r *http.Request) (id uint64, ok bool, err error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, false, nil
	}
	id, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("last event id %q is not an event id", v)
	}
	return id, true, nil
}

// parseKinds reads ?kinds=a,b; "" is every kind.
func parseKinds(v string) (map[string]bool, error) {
	if v == "" {
		return nil, nil
	}
	kinds := map[string]bool{}
	for _, k := range strings.Split(v, ",") {
		k = strings.TrimSpace(k)
		if !validKind(k) {
			return nil, fmt.Errorf("kinds: %q is not an event kind", k)
		}
		kinds[k] = true
	}
	return kinds, nil
}
