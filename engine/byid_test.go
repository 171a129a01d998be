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

func TestByIDDropAndTrim(t *testing.T) {
	var b byID[int]
	vals := make([]int, 10)
	for i := range vals {
		vals[i] = i + 1
		b.put(uint64(i+1), &vals[i])
	}
	for id := uint64(1); id <= 6; id++ {
		b.drop(id)
	}
	b.drop(42) // unknown: nothing happens
	b.trim()
	if b.n != 4 || len(b.items) != 4 || b.base != 6 {
		t.Fatalf("after dropping 1-6 and trim: n %d, len %d, base %d; want 4, 4, 6", b.n, len(b.items), b.base)
	}
	if b.get(6) != nil || *b.get(7) != 7 || *b.get(10) != 10 {
		t.Fatal("get after trim")
	}
	var got []int
	b.newestFirst(9, func(v *int) bool { got = append(got, *v); return true })
	if fmt.Sprint(got) != "[8 7]" {
		t.Fatalf("newestFirst(9) after trim = %v, want [8 7]", got)
	}
	got = nil
	b.newestFirst(7, func(v *int) bool { got = append(got, *v); return true })
	if len(got) != 0 {
		t.Fatalf("newestFirst(7) after trim = %v, want none", got)
	}
	v := 3
	b.put(3, &v) // below the front: the slice grows back
	if *b.get(3) != 3 || *b.get(10) != 10 || b.get(4) != nil || b.n != 5 {
		t.Fatal("put below the front")
	}
}
