package exec

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestStopSignalAndGrace: at cancel the group gets the stop signal first,
// so a program can clean up; one that ignores it is killed after the
// grace.
func TestStopSignalAndGrace(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, script string
		wantFile     bool // the program's TERM handler ran
	}{
		// A program that handles SIGTERM cleans up and exits.
		{"graceful", `trap 'echo bye > "$1"; exit 0' TERM; echo up > "$1.up"; while :; do sleep 0.05; done`, true},
		// A program (and its children) that ignore SIGTERM are killed after the grace.
		{"stubborn", `trap '' TERM; echo up > "$1.up"; while :; do sleep 0.05; done`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := filepath.Join(dir, tt.name)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			var res = make(chan struct {
				cancelled bool
				err       string
			}, 1)
			go func() {
				r := RunProcess(ctx, &Process{Argv: []string{"/bin/sh", "-c", tt.script, "sh", mark}, Env: BaseEnv(),
					StopSignal: syscall.SIGTERM, StopGrace: 200 * time.Millisecond})
				res <- struct {
					cancelled bool
					err       string
				}{r.Cancelled, r.Err}
				close(done)
			}()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := os.Stat(mark + ".up"); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the program did not start")
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatal("Run did not return after cancel and grace")
			}
			r := <-res
			_, err := os.Stat(mark)
			if !r.cancelled || (err == nil) != tt.wantFile {
				t.Fatalf("cancelled %v (%s), handler ran %v; want handler %v", r.cancelled, r.err, err == nil, tt.wantFile)
			}
		})
	}
}
