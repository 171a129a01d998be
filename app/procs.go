package app

import (
	"runtime"
	"strconv"
)

// AddSpareProc runs Go code on one more processor (P) than the runtime
// chose, unless the GOMAXPROCS environment variable decides or a
// container CPU limit is in force. It returns the GOMAXPROCS in effect.
//
// Every webhook waits for a bbolt commit, and each commit calls fdatasync
// twice. A goroutine blocked in a file syscall keeps its P until the
// runtime's monitor takes it back, which can take milliseconds (Go has no
// way to mark a syscall as blocking: golang/go#29734), so on a 2-core
// machine one core idles through much of every fsync. With a spare P the
// other goroutines keep the cores busy meanwhile, and more webhooks queue
// for each commit. cmd/loadgen measured, on 2 cores with 8 senders:
// 1.55–1.60 cores busy and 0.82–0.90 commits per webhook with
// GOMAXPROCS=2; 1.73–1.80 cores busy, 0.32–0.38 commits per webhook and
// 27% more alerts/s with 3.
//
// Under a CPU quota (the runtime's choice is below the CPUs the process
// may run on) a spare P would let bursts exceed the quota and be
// throttled, so it is not added. Setting GOMAXPROCS, here or in the
// environment, turns off the runtime's own updates when the quota
// changes.
func AddSpareProc(lookupEnv func(string) (string, bool)) int {
	n := SpareProcs(lookupEnv)
	// Only a change is set: any call turns off the runtime's updates,
	// which a process under a quota keeps.
	if n != runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(n)
	}
	return n
}

// SpareProcs is the GOMAXPROCS AddSpareProc would set, from the current
// one; it changes nothing.
func SpareProcs(lookupEnv func(string) (string, bool)) int {
	env, _ := lookupEnv("GOMAXPROCS")
	return spareProcs(env, runtime.GOMAXPROCS(0), runtime.NumCPU())
}

// spareProcs is the GOMAXPROCS AddSpareProc sets, given the environment
// variable, the runtime's current choice and the CPUs available.
func spareProcs(env string, current, cpus int) int {
	if n, err := strconv.Atoi(env); err == nil && n > 0 {
		return current // the runtime took it from the environment
	}
	if current < cpus {
		return current // a CPU quota is in force
	}
	return current + 1
}
