// Package bundle keeps a chat robot within its rate limit without
// dropping a notification: at most Max sends per Window, and the
// notifications that arrive while the window is full wait and go out
// together, as one message, when the next slot opens.
package bundle

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/remediator/remediator/engine"
)

// Defaults of a Config's zero values.
const (
	DefaultWindow      = time.Minute
	DefaultBurstWindow = time.Second
	DefaultMaxBundle   = 50
)

// Clock is the time a Limiter reads and waits on.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config is a robot's rate limit.
type Config struct {
	// Max is how many sends a Window allows; 0 or less: unlimited (and
	// Burst is ignored).
	Max int
	// Window is the sliding window Max counts in. Default 1m.
	Window time.Duration
	// Burst, above 0, also bounds the sends in any BurstWindow (default
	// 1s, shorter than Window): Feishu takes 100 a minute, but only 5 a
	// second.
	Burst       int
	BurstWindow time.Duration
	// MaxBundle is the most notifications one send carries; the rest
	// wait for the next slot. Default 50.
	MaxBundle int
	// Clock is the time; nil: the wall clock.
	Clock Clock
}

// Limiter lets at most Max sends per Window per robot; sends past it wait
// and are bundled: the waiters queued when a slot opens go out as one
// message. It is safe for concurrent use.
type Limiter struct {
	max         int
	window      time.Duration
	burst       int
	burstWindow time.Duration
	maxBundle   int
	clock       Clock

	mu sync.Mutex
	// sent holds the times of the sends still inside the window, oldest
	// first.
	sent    []time.Time
	queue   []*waiter
	running bool // a dispatcher is draining the queue
}

// SendFunc delivers a batch of notifications as one message.
type SendFunc = func(ctx context.Context, batch []*engine.Notification) (retry bool, err error)

// waiter is one Send waiting for a slot.
type waiter struct {
	ctx  context.Context
	n    *engine.Notification
	send SendFunc
	// taken is closed when the waiter joins a bundle; b is that bundle.
	taken chan struct{}
	b     *batch
}

// batch is one send of several waiters; done is closed once retry and
// err are set.
type batch struct {
	done  chan struct{}
	retry bool
	err   error
}

// New returns a Limiter for c.
func New(c Config) *Limiter {
	l := &Limiter{max: c.Max, window: c.Window, burst: c.Burst, burstWindow: c.BurstWindow, maxBundle: c.MaxBundle, clock: c.Clock}
	if l.window <= 0 {
		l.window = DefaultWindow
	}
	if l.burstWindow <= 0 {
		l.burstWindow = DefaultBurstWindow
	}
	l.burstWindow = min(l.burstWindow, l.window)
	if l.maxBundle <= 0 {
		l.maxBundle = DefaultMaxBundle
	}
	if l.clock == nil {
		l.clock = realClock{}
	}
	return l
}

// Send delivers n through send, alone if a slot is free, else bundled
// with the others waiting when the next slot opens. Every waiter of one
// bundle gets that bundle's result. Bundles go out one at a time, in
// order, each with its first waiter's send, under a context that ends
// when every waiter's has. A waiter whose ctx ends before its bundle is
// taken leaves the queue and gets ctx's error with retry=true; once
// taken, it waits for the bundle's result.
func (l *Limiter) Send(ctx context.Context, n *engine.Notification, send func(ctx context.Context, batch []*engine.Notification) (retry bool, err error)) (bool, error) {
	if l.max <= 0 {
		return send(ctx, []*engine.Notification{n})
	}
	l.mu.Lock()
	if now := l.clock.Now(); len(l.queue) == 0 && l.wait(now) <= 0 {
		l.sent = append(l.sent, now)
		l.mu.Unlock()
		return send(ctx, []*engine.Notification{n})
	}
	w := &waiter{ctx: ctx, n: n, send: send, taken: make(chan struct{})}
	l.queue = append(l.queue, w)
	if !l.running {
		l.running = true
		go l.dispatch()
	}
	l.mu.Unlock()

	select {
	case <-w.taken:
	case <-ctx.Done():
		l.mu.Lock()
		if w.b == nil {
			l.queue = slices.DeleteFunc(l.queue, func(o *waiter) bool { return o == w })
			l.mu.Unlock()
			return true, fmt.Errorf("rate limit: waiting for a slot: %w", context.Cause(ctx))
		}
		l.mu.Unlock()
	}
	<-w.b.done
	return w.b.retry, w.b.err
}

// Waiting is how many notifications wait for a slot.
func (l *Limiter) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// wait forgets the sends that left the window at now and returns how long
// until a slot is free (0 or less: one is). l.mu is held.
func (l *Limiter) wait(now time.Time) time.Duration {
	i := 0
	for i < len(l.sent) && now.Sub(l.sent[i]) >= l.window {
		i++
	}
	if i > 0 {
		l.sent = slices.Delete(l.sent, 0, i)
	}
	d := l.waitFor(now, l.max, l.window)
	if l.burst > 0 {
		d = max(d, l.waitFor(now, l.burst, l.burstWindow))
	}
	return d
}

// waitFor is how long until fewer than most of the sends are inside the
// window that ends at now. l.mu is held.
func (l *Limiter) waitFor(now time.Time, most int, window time.Duration) time.Duration {
	if len(l.sent) < most {
		return 0
	}
	// The most-th latest send leaves the window last of those that keep
	// it full.
	return l.sent[len(l.sent)-most].Add(window).Sub(now)
}

// dispatch sends the queue, a bundle per slot, until it is empty.
func (l *Limiter) dispatch() {
	for {
		l.mu.Lock()
		// A waiter whose context ended is leaving: it takes no slot.
		l.queue = slices.DeleteFunc(l.queue, func(w *waiter) bool { return w.ctx.Err() != nil })
		if len(l.queue) == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		now := l.clock.Now()
		if d := l.wait(now); d > 0 {
			l.mu.Unlock()
			<-l.clock.After(d)
			continue
		}
		k := min(len(l.queue), l.maxBundle)
		ws := slices.Clone(l.queue[:k])
		l.queue = slices.Delete(l.queue, 0, k)
		l.sent = append(l.sent, now)
		b := &batch{done: make(chan struct{})}
		for _, w := range ws {
			w.b = b
			close(w.taken)
		}
		l.mu.Unlock()
		// One bundle at a time: bundles reach the room in order.
		deliver(b, ws)
	}
}

// deliver sends one bundle and hands its result to every waiter.
func deliver(b *batch, ws []*waiter) {
	ns := make([]*engine.Notification, len(ws))
	for i, w := range ws {
		ns[i] = w.n
	}
	ctx, cancel := joinContexts(ws)
	defer cancel()
	b.retry, b.err = ws[0].send(ctx, ns)
	close(b.done)
}

// joinContexts returns a context with the values of the first waiter's
// that is cancelled once every waiter's context has ended: a bundle is
// worth sending while anyone still waits for it.
func joinContexts(ws []*waiter) (context.Context, context.CancelFunc) {
	if len(ws) == 1 {
		return ws[0].ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(ws[0].ctx))
	left := atomic.Int64{}
	left.Store(int64(len(ws)))
	stops := make([]func() bool, 0, len(ws))
	for _, w := range ws {
		stops = append(stops, context.AfterFunc(w.ctx, func() {
			if left.Add(-1) == 0 {
				cancel(context.Cause(w.ctx))
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel(context.Canceled)
	}
}
