package engine

import (
	"context"
	"time"
)

// The queries answer from memory and, once something has left it
// (Retention), from the store too: a page is the newest records of both
// below the cursor, with memory's version of a record that is in both.
// A record leaves memory only once its last version is stored, so the two
// agree on whatever has left. A store that fails a read is logged and the
// answer is what memory holds (the queries have no error to return: the
// store is a local file that fails only when it is damaged).

// historyChunk is how many matching records one read of the store takes
// before the engine's lock is taken to drop those memory holds.
const historyChunk = 256

// historyVisit bounds the records one read of the store walks: a long
// read transaction makes a commit that grows the file wait (bbolt's
// remap waits for readers).
const historyVisit = 4096

// listPage returns one page newest first. mem collects, under mu, up to
// limit matching records below the cursor from memory; held reports,
// under mu, whether memory holds a record; scan walks the store.
//
// need, when not nil, tells under mu whether the store can hold a match
// memory does not: a filter that only live records match (open
// incidents, firing alerts, pending pages, the records of an incident in
// memory) never reads it.
func listPage[T any](e *Engine, p Page, need func() bool, mem func(limit int) []T, held func(uint64) bool,
	scan func(ctx context.Context, before uint64, f func(*T) bool) error, match func(*T) bool, id func(*T) uint64) ([]T, uint64) {
	limit := p.limit()
	e.mu.Lock()
	out := mem(limit + 1)
	history := e.hasHistory && (need == nil || need())
	e.mu.Unlock()
	if history {
		var floor uint64 // records at or below it cannot make the page
		if len(out) > limit {
			floor = id(&out[limit])
		}
		out = mergeNewest(out, fromStore(e, p.Cursor, floor, limit+1, held, scan, match, id), id)
	}
	if len(out) > limit {
		return out[:limit], id(&out[limit-1])
	}
	return out, 0
}

// fromStore reads up to want matching records below before and above
// floor that memory does not hold, newest first.
func fromStore[T any](e *Engine, before, floor uint64, want int, held func(uint64) bool,
	scan func(ctx context.Context, before uint64, f func(*T) bool) error, match func(*T) bool, id func(*T) uint64) []T {
	var out []T
	for {
		var chunk []T
		last, more, visited := before, false, 0
		err := scan(context.Background(), before, func(r *T) bool {
			rid := id(r)
			if rid <= floor {
				return false
			}
			last = rid
			if visited++; visited == historyVisit {
				more = true // go on in a new read transaction
			}
			if match(r) {
				chunk = append(chunk, *r)
				if len(chunk) == historyChunk {
					more = true
				}
			}
			return !more
		})
		if err != nil {
			e.log.Error("history not read from the store; the answer has only what memory holds", "err", err)
			return out
		}
		e.mu.Lock()
		for i := range chunk {
			if !held(id(&chunk[i])) {
				out = append(out, chunk[i])
			}
		}
		e.mu.Unlock()
		if len(out) >= want || !more {
			return out
		}
		before = last
	}
}

// mergeNewest merges two lists sorted by ID, highest first, keeping a's
// version of an ID in both.
func mergeNewest[T any](a, b []T, id func(*T) uint64) []T {
	if len(b) == 0 {
		return a
	}
	out := make([]T, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && id(&a[i]) > id(&b[j])):
			out = append(out, a[i])
			i++
		case i == len(a) || id(&b[j]) > id(&a[i]):
			out = append(out, b[j])
			j++
		default: // the same record: memory's
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}

// storedIncident reads an incident that has left memory.
func (e *Engine) storedIncident(id uint64) (IncidentHistory, bool) {
	h, ok, err := e.store.Incident(context.Background(), id)
	if err != nil {
		e.log.Error("incident not read from the store", "incident", id, "err", err)
		return IncidentHistory{}, false
	}
	return h, ok
}

// storedFingerprints fills in the fingerprints of summaries read from the
// store (memory's come filled).
func (e *Engine) storedFingerprints(list []IncidentSummary) {
	for i := range list {
		s := &list[i]
		if s.Fingerprints != nil || len(s.Alerts) == 0 {
			continue
		}
		ids := s.Alerts[:min(len(s.Alerts), SummaryFingerprints)]
		s.Fingerprints = make([]string, 0, len(ids))
		for _, aid := range ids {
			a, ok, err := e.store.Alert(context.Background(), aid)
			if err != nil {
				e.log.Error("alert not read from the store", "alert", aid, "err", err)
			}
			if ok {
				s.Fingerprints = append(s.Fingerprints, a.Fingerprint)
			}
		}
	}
}

// clockSlack is how far before a period's start the walks of SLAEntries
// and DigestOf go on through the store, newest first, before they stop:
// records are made in time order, but the wall clock may step back.
const clockSlack = time.Hour
