package app

import "runtime"

// AddSpareProc runs Go code on one more processor (P) than the runtime
// would by default, unless the GOMAXPROCS environment variable decides.
// It returns the GOMAXPROCS in effect.
//
// Every webhook waits for a bbolt commit, and each commit calls fdatasync
// twice. A goroutine blocked in a file syscall keeps its P until the
// runtime's monitor takes it back, which can take milliseconds (Go has no
// way to mark a syscall as blocking: golang/go#29734), so on a 2-core
// machine one core idles through much of every fsync. With a spare P the
// other goroutines keep the cores busy meanwhile, and more webhooks queue
// for each commit. cmd/loadgen measured, on 2 cores: 1.55–1.6 cores busy
// and 0.85 commits per webhook with GOMAXPROCS=2; 1.75–1.8 cores busy,
// 0.33 commits per webhook and about 25% more alerts/s with 3.
//
// Setting GOMAXPROCS this way turns off the runtime's own updates when
// a container's CPU limit changes; set the environment variable to keep
// those.
func AddSpareProc(lookupEnv func(string) (string, bool)) int {
	if _, set := lookupEnv("GOMAXPROCS"); set {
		return runtime.GOMAXPROCS(0)
	}
	n := runtime.GOMAXPROCS(0) + 1
	runtime.GOMAXPROCS(n)
	return n
}
