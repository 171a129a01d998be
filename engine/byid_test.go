package engine

import (
	"fmt"
	"testing"
)

func TestByID(t *testing.T) {
	var b byID[int]
	for _, id := range []uint64{1, 2, 4, 5} { // 3 never reached the store
		v := int(id) * 10
		b.put(id, &v)
	}
	if b.get(3) != nil || b.get(0) != nil || b.get(99) != nil || *b.get(4) != 40 {
		t.Fatal("get")
	}
	walk := func(before uint64, limit int) string {
		var got []int
		b.newestFirst(before, func(v *int) bool {
			got = append(got, *v)
			return len(got) < limit
		})
		return fmt.Sprint(got)
	}
	tests := []struct {
		before uint64
		limit  int
		want   string
	}{
		{0, 10, "[50 40 20 10]"},  // all, newest first, skipping the hole
		{5, 10, "[40 20 10]"},     // below a cursor
		{4, 1, "[20]"},            // below a cursor, stopped early
		{1, 10, "[]"},             // nothing below the first
		{99, 10, "[50 40 20 10]"}, // a cursor past the end
	}
	for _, tt := range tests {
		if got := walk(tt.before, tt.limit); got != tt.want {
			t.Errorf("newestFirst(%d) limit %d = %s, want %s", tt.before, tt.limit, got, tt.want)
		}
	}
}
