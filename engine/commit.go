package engine

import (
	"context"
	"fmt"
	"sync"
)

// commitQueue writes the engine's changes to the store in the order the
// engine made them, with group commit and no timer: the first waiter
// whose changes are not yet written takes everything queued, merged into
// one Changes, and applies it while later waiters queue up behind it.
//
// Order matters: a later change can name records an earlier one created
// (an incident listing a new alert). So a write that fails fails every
// change queued with it or after it; all of them move to the engine's
// unsynced set, which the next write carries first. Nothing is answered
// as durable while an earlier change is not.
type commitQueue struct {
	mu       sync.Mutex
	cond     *sync.Cond
	queue    []*ticket
	writing  bool
	maxBatch int // most changes merged into one write
}

// ticket is one change on its way to the store.
type ticket struct {
	ch   *Changes
	done bool
	err  error
}

func newCommitQueue(maxBatch int) *commitQueue {
	if maxBatch <= 0 {
		maxBatch = 64
	}
	q := &commitQueue{maxBatch: maxBatch}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues ch. Callers hold the engine's mu, so the queue is in
// revision order.
func (q *commitQueue) push(ch *Changes) *ticket {
	t := &ticket{ch: ch}
	if ch.Empty() {
		t.done = true
		return t
	}
	q.mu.Lock()
	q.queue = append(q.queue, t)
	q.mu.Unlock()
	return t
}

// wait returns once t is written (nil) or failed.
func (e *Engine) wait(ctx context.Context, t *ticket) error {
	q := e.commits
	q.mu.Lock()
	for !t.done {
		if q.writing {
			q.cond.Wait()
			continue
		}
		n := min(len(q.queue), q.maxBatch)
		batch := q.queue[:n:n]
		q.queue = q.queue[n:]
		q.writing = true
		q.mu.Unlock()

		// The write goes on even if this caller's client went away: the
		// others in the batch wait for it too.
		ch := merge(batch)
		err := e.applySafely(context.WithoutCancel(ctx), ch)
		if err != nil {
			e.failAfter(batch, err)
		} else {
			e.written(ch)
		}
		q.mu.Lock()
		for _, b := range batch {
			if !b.done {
				b.done, b.err = true, nil
			}
		}
		q.writing = false
		q.cond.Broadcast()
	}
	q.mu.Unlock()
	if t.err != nil {
		return fmt.Errorf("engine: persist: %w", t.err)
	}
	return nil
}

// applySafely applies ch, turning a panic in the store into an error so
// that the queue never stays marked as writing.
func (e *Engine) applySafely(ctx context.Context, ch *Changes) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store panicked: %v", p)
		}
	}()
	return e.store.Apply(ctx, ch)
}

// Flush writes whatever an earlier failed write left unsynced, behind
// everything already queued. App.Close calls it before closing the store;
// a conflict answer calls it so that what the conflict reports is on disk.
func (e *Engine) Flush(ctx context.Context) error {
	e.mu.Lock()
	if e.unsyncedCnt == 0 {
		e.mu.Unlock()
		return nil
	}
	t := e.begin().commit()
	e.mu.Unlock()
	return e.wait(ctx, t)
}

// failAfter fails batch and everything queued after it, and keeps their
// changes as unsynced. It takes the engine's mu first (the lock order is
// engine, then queue), so nothing new is queued meanwhile.
func (e *Engine) failAfter(batch []*ticket, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.commits
	q.mu.Lock()
	failed := append(batch, q.queue...)
	q.queue = nil
	for _, t := range failed {
		t.done, t.err = true, err
		e.unsynced.add(t.ch)
	}
	e.unsyncedCnt += len(failed)
	q.cond.Broadcast()
	q.mu.Unlock()
}

// merge joins the changes of a batch in order.
func merge(batch []*ticket) *Changes {
	if len(batch) == 1 {
		return batch[0].ch
	}
	out := &Changes{}
	for _, t := range batch {
		out.add(t.ch)
	}
	return out
}
