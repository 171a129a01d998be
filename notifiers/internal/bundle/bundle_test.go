package bundle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/internal/bundle/bundletest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// eventually polls cond until it holds, failing the test after a
// deadline far beyond any healthy wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// recorder is a send func that records every batch and the simulated
// time it went out at.
type recorder struct {
	clock *bundletest.Clock
	retry bool
	err   error

	mu      sync.Mutex
	batches [][]uint64
	at      []time.Time
}

func (r *recorder) send(_ context.Context, batch []*engine.Notification) (bool, error) {
	ids := make([]uint64, len(batch))
	for i, n := range batch {
		ids[i] = n.ID
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, ids)
	r.at = append(r.at, r.clock.Now())
	return r.retry, r.err
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batches)
}

func (r *recorder) batch(i int) ([]uint64, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.batches[i], r.at[i]
}

// result is what one Send returned.
type result struct {
	id    uint64
	retry bool
	err   error
}

// sendAsync starts Send of notification id in a goroutine and returns
// where its result arrives.
func sendAsync(ctx context.Context, l *Limiter, id uint64, send SendFunc) <-chan result {
	out := make(chan result, 1)
	go func() {
		retry, err := l.Send(ctx, &engine.Notification{ID: id}, send)
		out <- result{id, retry, err}
	}()
	return out
}

func TestLimiterBundlesPastTheLimit(t *testing.T) {
	clock := bundletest.NewClock(t0)
	sendErr := errors.New("robot says no")
	rec := &recorder{clock: clock, retry: true, err: sendErr}
	l := New(Config{Max: 20, Window: time.Minute, Clock: clock})

	for id := uint64(1); id <= 20; id++ {
		if _, err := l.Send(context.Background(), &engine.Notification{ID: id}, rec.send); !errors.Is(err, sendErr) {
			t.Fatalf("send %d: err = %v, want the send's", id, err)
		}
	}
	if got := rec.count(); got != 20 {
		t.Fatalf("after 20 sends in the window: %d batches, want 20 (each alone, at once)", got)
	}

	var outs []<-chan result
	for id := uint64(21); id <= 25; id++ {
		outs = append(outs, sendAsync(context.Background(), l, id, rec.send))
	}
	eventually(t, "5 wait and the dispatcher sleeps", func() bool { return l.Waiting() == 5 && clock.Timers() == 1 })
	clock.Advance(59 * time.Second)
	if got := rec.count(); got != 20 {
		t.Fatalf("before the window slid: %d batches, want 20", got)
	}
	eventually(t, "the dispatcher sleeps on", func() bool { return clock.Timers() == 1 })
	clock.Advance(time.Second)

	for _, out := range outs {
		r := <-out
		if !r.retry || !errors.Is(r.err, sendErr) {
			t.Errorf("waiter %d got (%v, %v), want its bundle's (true, %v)", r.id, r.retry, r.err, sendErr)
		}
	}
	if got := rec.count(); got != 21 {
		t.Fatalf("%d batches, want 21: the 5 waiters as one", got)
	}
	ids, at := rec.batch(20)
	if len(ids) != 5 || !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("bundle = %v at %s, want 5 notifications at %s", ids, at, t0.Add(time.Minute))
	}
}

func TestLimiterWindowSlides(t *testing.T) {
	clock := bundletest.NewClock(t0)
	rec := &recorder{clock: clock}
	l := New(Config{Max: 3, Window: time.Minute, Clock: clock})

	// Sends at 0s, 10s, 20s fill the window.
	for id := uint64(1); id <= 3; id++ {
		if _, err := l.Send(context.Background(), &engine.Notification{ID: id}, rec.send); err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Second)
	}
	// At 30s the 4th waits for the slot of the send at 0s: 60s.
	out := sendAsync(context.Background(), l, 4, rec.send)
	eventually(t, "the 4th waits", func() bool { return l.Waiting() == 1 && clock.Timers() == 1 })
	clock.Advance(30 * time.Second)
	<-out
	if _, at := rec.batch(3); !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("4th went at %s, want %s", at, t0.Add(time.Minute))
	}
	// At 70s the send at 10s has left the window: the 5th goes at once.
	clock.Advance(10 * time.Second)
	if _, err := l.Send(context.Background(), &engine.Notification{ID: 5}, rec.send); err != nil {
		t.Fatal(err)
	}
	if got := rec.count(); got != 5 {
		t.Fatalf("%d batches, want 5", got)
	}
}

func TestLimiterBurst(t *testing.T) {
	clock := bundletest.NewClock(t0)
	rec := &recorder{clock: clock}
	l := New(Config{Max: 10, Window: time.Minute, Burst: 3, BurstWindow: time.Second, Clock: clock})
	id := uint64(0)
	direct := func(k int) {
		t.Helper()
		for range k {
			id++
			if _, err := l.Send(context.Background(), &engine.Notification{ID: id}, rec.send); err != nil {
				t.Fatal(err)
			}
		}
	}
	// waits sends one more and checks that it waits until after
	// advancing by d.
	waits := func(d time.Duration) {
		t.Helper()
		id++
		before := rec.count()
		out := sendAsync(context.Background(), l, id, rec.send)
		eventually(t, "it waits", func() bool { return l.Waiting() == 1 && clock.Timers() == 1 })
		clock.Advance(d - time.Millisecond)
		if rec.count() != before {
			t.Fatalf("send %d went before %s", id, d)
		}
		eventually(t, "the dispatcher sleeps on", func() bool { return clock.Timers() == 1 })
		clock.Advance(time.Millisecond)
		<-out
	}

	direct(3)          // 0s: the burst is full
	waits(time.Second) // 1s: the 4th goes when the first leaves the second
	direct(2)          // 1s: 3 in this second
	clock.Advance(time.Second)
	direct(3) // 2s
	clock.Advance(time.Second)
	direct(1)               // 3s: 10 in the minute
	waits(57 * time.Second) // the minute binds: the 11th goes at 60s
	if got := rec.count(); got != 11 {
		t.Fatalf("%d sends, want 11", got)
	}
	if _, at := rec.batch(10); !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("11th went at %s, want %s", at, t0.Add(time.Minute))
	}
}

func TestLimiterBoundsTheBundle(t *testing.T) {
	clock := bundletest.NewClock(t0)
	rec := &recorder{clock: clock}
	l := New(Config{Max: 1, Window: time.Minute, MaxBundle: 3, Clock: clock})
	if _, err := l.Send(context.Background(), &engine.Notification{ID: 1}, rec.send); err != nil {
		t.Fatal(err)
	}
	var outs []<-chan result
	for id := uint64(2); id <= 8; id++ {
		outs = append(outs, sendAsync(context.Background(), l, id, rec.send))
		// Queue them in order, to know which bundle takes which.
		eventually(t, fmt.Sprintf("%d wait", id-1), func() bool { return l.Waiting() == int(id-1) })
	}
	for want := 2; want <= 4; want++ {
		eventually(t, "the dispatcher sleeps", func() bool { return clock.Timers() == 1 })
		clock.Advance(time.Minute)
		eventually(t, fmt.Sprintf("batch %d", want), func() bool { return rec.count() == want })
	}
	for _, out := range outs {
		<-out
	}
	for i, want := range [][]uint64{{1}, {2, 3, 4}, {5, 6, 7}, {8}} {
		if ids, _ := rec.batch(i); fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("batch %d = %v, want %v", i, ids, want)
		}
	}
}

func TestLimiterCancelledWaiterLeaves(t *testing.T) {
	clock := bundletest.NewClock(t0)
	rec := &recorder{clock: clock}
	l := New(Config{Max: 1, Clock: clock})
	if _, err := l.Send(context.Background(), &engine.Notification{ID: 1}, rec.send); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leaving := sendAsync(ctx, l, 2, rec.send)
	eventually(t, "2 waits", func() bool { return l.Waiting() == 1 })
	staying := sendAsync(context.Background(), l, 3, rec.send)
	eventually(t, "3 waits", func() bool { return l.Waiting() == 2 })

	cancel()
	r := <-leaving
	if !r.retry || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled waiter got (%v, %v), want (true, context.Canceled)", r.retry, r.err)
	}
	if got := l.Waiting(); got != 1 {
		t.Fatalf("Waiting() = %d after a waiter left, want 1", got)
	}
	eventually(t, "the dispatcher sleeps", func() bool { return clock.Timers() == 1 })
	clock.Advance(time.Minute)
	if r := <-staying; r.err != nil {
		t.Fatal(r.err)
	}
	if ids, _ := rec.batch(1); fmt.Sprint(ids) != "[3]" {
		t.Errorf("bundle = %v, want only the waiter that stayed", ids)
	}
}

func TestLimiterBundleContext(t *testing.T) {
	// setup queues waiters 2 and 3 behind a first send and returns the
	// cancel of each, the bundle's context once taken, and a release of
	// the bundle's send.
	setup := func(t *testing.T) (l *Limiter, outs []<-chan result, cancels []context.CancelFunc, sendCtx <-chan context.Context, release chan struct{}) {
		t.Helper()
		clock := bundletest.NewClock(t0)
		l = New(Config{Max: 1, Clock: clock})
		if _, err := l.Send(context.Background(), &engine.Notification{ID: 1}, (&recorder{clock: clock}).send); err != nil {
			t.Fatal(err)
		}
		ctxs := make(chan context.Context, 1)
		release = make(chan struct{})
		t.Cleanup(func() {
			select {
			case <-release:
			default:
				close(release)
			}
		})
		send := func(ctx context.Context, _ []*engine.Notification) (bool, error) {
			ctxs <- ctx
			select {
			case <-release:
				return false, nil
			case <-ctx.Done():
				return true, fmt.Errorf("send: %w", ctx.Err())
			}
		}
		for id := uint64(2); id <= 3; id++ {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			cancels = append(cancels, cancel)
			outs = append(outs, sendAsync(ctx, l, id, send))
			eventually(t, "queued", func() bool { return l.Waiting() == int(id-1) })
		}
		eventually(t, "the dispatcher sleeps", func() bool { return clock.Timers() == 1 })
		clock.Advance(time.Minute)
		return l, outs, cancels, ctxs, release
	}

	t.Run("a taken waiter whose context ends still gets the bundle's result", func(t *testing.T) {
		_, outs, cancels, ctxs, release := setup(t)
		ctx := <-ctxs
		cancels[0]()
		if ctx.Err() != nil {
			t.Fatal("the bundle's context ended while a waiter still waits")
		}
		close(release)
		for _, out := range outs {
			if r := <-out; r.err != nil {
				t.Errorf("waiter %d: %v, want the bundle's success", r.id, r.err)
			}
		}
	})
	t.Run("the send is cancelled when every waiter's context has ended", func(t *testing.T) {
		_, outs, cancels, ctxs, _ := setup(t)
		ctx := <-ctxs
		cancels[0]()
		cancels[1]()
		<-ctx.Done()
		for _, out := range outs {
			if r := <-out; !r.retry || !errors.Is(r.err, context.Canceled) {
				t.Errorf("waiter %d got (%v, %v), want the cancelled send's", r.id, r.retry, r.err)
			}
		}
	})
}

// noClock fails the test if the limiter reads or waits on time.
type noClock struct{ t *testing.T }

func (c noClock) Now() time.Time { c.t.Error("unlimited limiter read the clock"); return t0 }
func (c noClock) After(time.Duration) <-chan time.Time {
	c.t.Error("unlimited limiter waited")
	return nil
}

func TestLimiterUnlimited(t *testing.T) {
	rec := &recorder{clock: bundletest.NewClock(t0)}
	l := New(Config{Max: 0, Clock: noClock{t}})
	for id := uint64(1); id <= 100; id++ {
		if _, err := l.Send(context.Background(), &engine.Notification{ID: id}, rec.send); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.count(); got != 100 {
		t.Fatalf("%d batches, want 100, each alone", got)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	const max, senders = 5, 200
	clock := bundletest.NewClock(t0)
	rec := &recorder{clock: clock}
	l := New(Config{Max: max, Window: time.Minute, MaxBundle: 7, Clock: clock})

	var wg sync.WaitGroup
	for id := uint64(1); id <= senders; id++ {
		wg.Go(func() {
			if _, err := l.Send(context.Background(), &engine.Notification{ID: id}, rec.send); err != nil {
				t.Error(err)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	windows := 0
	deadline := time.Now().Add(10 * time.Second)
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
			if time.Now().After(deadline) {
				t.Fatal("senders still waiting")
			}
			if clock.Timers() > 0 {
				clock.Advance(time.Minute)
				windows++
			}
			time.Sleep(time.Millisecond)
		}
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	// From t0 to t0+windows minutes, windows+1 windows' worth of slots.
	if got, most := len(rec.batches), max*(windows+1); got > most {
		t.Errorf("%d sends in %d minutes, more than %d", got, windows, most)
	}
	seen := map[uint64]int{}
	for i, b := range rec.batches {
		if len(b) > 7 {
			t.Errorf("batch %d carries %d, more than MaxBundle", i, len(b))
		}
		for _, id := range b {
			seen[id]++
		}
	}
	for id := uint64(1); id <= senders; id++ {
		if seen[id] != 1 {
			t.Errorf("notification %d sent %d times, want once", id, seen[id])
		}
	}
}

func TestJoin(t *testing.T) {
	link := func(url string) string { return "…\n\n[Full incident](" + url + ")" }
	one := Part{Title: "[FIRING] #1 disk", Body: "### FIRING #1 disk\nfull", URL: "https://r/incidents/1"}
	plain := Part{Title: "[FIRING] #2 cpu", Body: "cpu hot", URL: "https://r/incidents/2"}
	long := Part{Title: "[FIRING] #3 磁盘", Body: "### 磁盘\n" + strings.Repeat("磁盘已满", 200), URL: "https://r/incidents/3"}
	tests := []struct {
		name  string
		parts []Part
		max   int
		want  string // "" : check only the cut
	}{
		// One part is its body; its title goes in the message's title.
		{"one part is its body", []Part{one}, 1000, one.Body},
		// A body without a heading of its own gets its title as one.
		{"several parts under headings, separated", []Part{one, plain}, 1000, one.Body + "\n\n---\n\n#### [FIRING] #2 cpu\ncpu hot"},
		// The cut links the incident that did not fit whole.
		{"a long part is cut with a link to it", []Part{one, long}, 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Join(tt.parts, "\n\n---\n\n", tt.max, link)
			if len(got) > tt.max {
				t.Errorf("%d bytes, more than %d", len(got), tt.max)
			}
			if !utf8.ValidString(got) {
				t.Errorf("cut inside a character: %q", got)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("Join =\n%s\nwant\n%s", got, tt.want)
			}
			if tt.want == "" {
				if !strings.HasPrefix(got, one.Body) || !strings.HasSuffix(got, link(long.URL)) {
					t.Errorf("Join = %q, want the first part whole and a link to the cut one", got)
				}
			}
		})
	}
}

func TestTitle(t *testing.T) {
	parts := []Part{{Title: "a"}, {Title: "b"}, {Title: "c"}}
	for _, tt := range []struct {
		n    int
		want string
	}{{0, ""}, {1, "a"}, {3, "a (+2 more)"}} {
		if got := Title(parts[:tt.n]); got != tt.want {
			t.Errorf("Title(%d parts) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
