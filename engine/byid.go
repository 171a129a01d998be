package engine

// byID holds records under dense, increasing IDs (1, 2, 3, …) in a slice:
// cheaper than a map on the ingest path, and already in ID order for the
// newest-first lists. An ID that never reached the store before a crash
// leaves a nil hole, which get and the walk skip.
type byID[T any] struct{ items []*T }

func (b *byID[T]) get(id uint64) *T {
	if id == 0 || id > uint64(len(b.items)) {
		return nil
	}
	return b.items[id-1]
}

func (b *byID[T]) put(id uint64, v *T) {
	for uint64(len(b.items)) < id {
		b.items = append(b.items, nil)
	}
	b.items[id-1] = v
}

// newestFirst calls f for each record with an ID below before (all when
// before is 0), highest ID first, until f returns false.
func (b *byID[T]) newestFirst(before uint64, f func(*T) bool) {
	i := len(b.items) - 1
	if before != 0 && before-1 < uint64(len(b.items)) {
		i = int(before) - 2
	}
	for ; i >= 0; i-- {
		if v := b.items[i]; v != nil && !f(v) {
			return
		}
	}
}
