package app_test

import (
	"runtime"
	"testing"

	"github.com/remediator/remediator/app"
)

// TestAddSpareProc adds one P to the runtime's choice, and leaves a
// GOMAXPROCS set in the environment alone.
func TestAddSpareProc(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })

	set := func(string) (string, bool) { return "2", true }
	if got := app.AddSpareProc(set); got != before || runtime.GOMAXPROCS(0) != before {
		t.Fatalf("with GOMAXPROCS set: returned %d, runtime %d; want %d unchanged", got, runtime.GOMAXPROCS(0), before)
	}
	unset := func(string) (string, bool) { return "", false }
	if got := app.AddSpareProc(unset); got != before+1 || runtime.GOMAXPROCS(0) != before+1 {
		t.Fatalf("without GOMAXPROCS: returned %d, runtime %d; want %d", got, runtime.GOMAXPROCS(0), before+1)
	}
}
