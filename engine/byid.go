package engine

// byID holds records under dense, increasing IDs (1, 2, 3, …) in a slice:
// cheaper than a map on the ingest path, and already in ID order for the
// newest-first lists. An ID that never reached the store before a crash,
// or whose record left memory (Retention), leaves a nil hole, which get
// and the walk skip. Holes at the front are given back: the slice starts
// at base+1, so memory follows what is held, not every ID ever made.
type byID[T any] struct {
	items []*T
	base  uint64 // items[0] is ID base+1
	n     int    // records held (non-nil items)
}

func (b *byID[T]) get(id uint64) *T {
	if id <= b.base || id-b.base > uint64(len(b.items)) {
		return nil
	}
	return b.items[id-b.base-1]
}

func (b *byID[T]) put(id uint64, v *T) {
	if id <= b.base {
		// Below the trimmed front (a restore out of order): grow it back.
		grown := make([]*T, b.base-id+1, b.base-id+1+uint64(len(b.items)))
		b.items = append(grown, b.items...)
		b.base = id - 1
	}
	for uint64(len(b.items)) < id-b.base {
		b.items = append(b.items, nil)
	}
	if b.items[id-b.base-1] == nil {
		b.n++
	}
	b.items[id-b.base-1] = v
}

// drop forgets id's record.
func (b *byID[T]) drop(id uint64) {
	if b.get(id) == nil {
		return
	}
	b.items[id-b.base-1] = nil
	b.n--
}

// trim gives back the front of the slice once at least half of it is
// holes there (evict calls it after each pass).
func (b *byID[T]) trim() {
	lead := 0
	for lead < len(b.items) && b.items[lead] == nil {
		lead++
	}
	if lead > 0 && lead >= len(b.items)/2 {
		b.items = append([]*T(nil), b.items[lead:]...)
		b.base += uint64(lead)
	}
}

// all calls f for each record, lowest ID first.
func (b *byID[T]) all(f func(*T)) {
	for _, v := range b.items {
		if v != nil {
			f(v)
		}
	}
}

// newestFirst calls f for each record with an ID below before (all when
// before is 0), highest ID first, until f returns false.
func (b *byID[T]) newestFirst(before uint64, f func(*T) bool) {
	i := len(b.items) - 1
	if before != 0 {
		if before <= b.base+1 {
			return
		}
		if before-b.base-2 < uint64(i) {
			i = int(before - b.base - 2)
		}
	}
	for ; i >= 0; i-- {
		if v := b.items[i]; v != nil && !f(v) {
			return
		}
	}
}
