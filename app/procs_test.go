package app

import (
	"runtime"
	"testing"
)

func TestSpareProcs(t *testing.T) {
	for _, c := range []struct {
		env           string
		current, cpus int
		want          int
	}{
		{"", 2, 2, 3},   // no variable, no quota: one more
		{"", 8, 8, 9},   //
		{"4", 4, 8, 4},  // the variable decides
		{"1", 1, 2, 1},  //
		{"0", 2, 2, 3},  // ignored by the runtime, so here too
		{"x", 2, 2, 3},  //
		{"-3", 2, 2, 3}, //
		{"", 2, 16, 2},  // a quota of 2 CPUs on a 16-CPU node
		{"", 1, 1, 2},   // one CPU, no quota
	} {
		if got := spareProcs(c.env, c.current, c.cpus); got != c.want {
			t.Errorf("spareProcs(%q, %d, %d) = %d, want %d", c.env, c.current, c.cpus, got, c.want)
		}
	}
}

// TestAddSpareProcLeavesASetVariableAlone changes nothing when
// GOMAXPROCS is set in the environment.
func TestAddSpareProcLeavesASetVariableAlone(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	set := func(string) (string, bool) { return "2", true }
	if got := AddSpareProc(set); got != before || runtime.GOMAXPROCS(0) != before {
		t.Fatalf("with GOMAXPROCS set: returned %d, runtime %d; want %d unchanged", got, runtime.GOMAXPROCS(0), before)
	}
	unset := func(string) (string, bool) { return "", false }
	want := spareProcs("", before, runtime.NumCPU())
	if got := AddSpareProc(unset); got != want || runtime.GOMAXPROCS(0) != want {
		t.Fatalf("without GOMAXPROCS: returned %d, runtime %d; want %d", got, runtime.GOMAXPROCS(0), want)
	}
}
