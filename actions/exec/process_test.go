package exec

import (
	"context"
	"errors"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
)

func TestRunProcess(t *testing.T) {
	t.Parallel()
	envPath, err := osexec.LookPath("env")
	if err != nil {
		t.Skip("no env(1):", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name       string
		script     string   // a /bin/sh script to run, or
		argv       []string // a program to run
		p          Process  // Argv, when neither is set, and the rest
		ctx        context.Context
		wantOK     bool
		wantExit   int
		wantOutput string
		wantErr    string // the Err, or when it ends in "…", its beginning
		cancelled  bool
	}{
		// Exit 0 is success.
		{name: "success", script: "echo hello", wantOK: true, wantOutput: "hello\n"},
		// Exit 1 is a recorded failure, output kept.
		{name: "exit 1", script: "echo failing; exit 1", wantExit: 1, wantOutput: "failing\n", wantErr: "exit status 1"},
		// Any other exit code is kept too.
		{name: "exit 3", script: "exit 3", wantExit: 3, wantErr: "exit status 3"},
		// A program killed by a signal has no exit code.
		{name: "signal", script: "kill -TERM $$", wantExit: -1, wantErr: "signal: terminated"},
		// Stdout and stderr share one pipe, in the order written.
		{name: "stdout and stderr", script: "echo 1; echo 2 >&2; echo 3", wantOK: true, wantOutput: "1\n2\n3\n"},
		// Output over the bound is cut, and the program still runs to its end.
		{name: "truncated", script: "head -c 100000 /dev/zero | tr '\\0' a; echo end >&2", p: Process{MaxOutput: 1000}, wantOK: true,
			wantOutput: strings.Repeat("a", 1000) + "…[truncated 99004 bytes]"},
		// The cut never splits a UTF-8 character.
		{name: "truncated utf8", script: "printf 'ééé'", p: Process{MaxOutput: 3}, wantOK: true, wantOutput: "é…[truncated 4 bytes]"},
		// Output exactly at the bound is not marked.
		{name: "exactly the bound", script: "printf abc", p: Process{MaxOutput: 3}, wantOK: true, wantOutput: "abc"},
		// A program that does not exist is a failure, not a panic.
		{name: "missing program", argv: []string{"/nonexistent/remediator-test"}, wantExit: -1,
			wantErr: "not started: fork/exec /nonexistent/remediator-test: no such file or directory"},
		// A name not on PATH.
		{name: "not on PATH", argv: []string{"remediator-no-such-program"}, wantExit: -1,
			wantErr: `not started: exec: "remediator-no-such-program": executable file not found in $PATH`},
		// A file that is not executable.
		{name: "not executable", argv: []string{"/etc/passwd"}, wantExit: -1, wantErr: "not started: fork/exec /etc/passwd: permission denied"},
		// A working directory that does not exist.
		{name: "missing dir", script: "true", p: Process{Dir: "/nonexistent"}, wantExit: -1, wantErr: "not started: dir: stat /nonexistent: no such file or directory"},
		// A working directory that is a file.
		{name: "dir is a file", script: "true", p: Process{Dir: "/etc/passwd"}, wantExit: -1, wantErr: "not started: dir: /etc/passwd is not a directory"},
		// No argv at all.
		{name: "no program", wantExit: -1, wantErr: "not started: no program"},
		// A context done before the start starts nothing.
		{name: "cancelled before start", script: "echo ran", ctx: cancelled, wantExit: -1, wantErr: "not started: cancelled (context canceled)", cancelled: true},
		// A nil Env is an empty environment, not remediator's.
		{name: "nil env", argv: []string{envPath}, wantOK: true, wantOutput: ""},
		// Nil Stdin reads as empty.
		{name: "nil stdin", argv: []string{"cat"}, wantOK: true, wantOutput: ""},
		// Stdin is what the program reads.
		{name: "stdin", argv: []string{"cat"}, p: Process{Stdin: []byte("{\"a\":1}")}, wantOK: true, wantOutput: "{\"a\":1}"},
		// A program that never reads a large stdin still finishes.
		{name: "unread stdin", script: "exit 0", p: Process{Stdin: make([]byte, 4<<20)}, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.p
			switch {
			case tt.script != "":
				p.Argv = script(t, tt.script)
			case tt.argv != nil:
				p.Argv = tt.argv
			}
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			res := runWithin(t, &p, ctx)
			errOK := res.Err == tt.wantErr
			if prefix, ok := strings.CutSuffix(tt.wantErr, "…"); ok {
				errOK = strings.HasPrefix(res.Err, prefix)
			}
			if res.OK != tt.wantOK || res.ExitCode != tt.wantExit || res.Output != tt.wantOutput || !errOK || res.Cancelled != tt.cancelled {
				t.Fatalf("result = %+v\nwant OK %v, exit %d, output %q, err %q, cancelled %v",
					res, tt.wantOK, tt.wantExit, tt.wantOutput, tt.wantErr, tt.cancelled)
			}
		})
	}
}

// TestKillGroup: cancellation and children that keep the output open
// never make Run hang, and a killed group takes its children with it.
func TestKillGroup(t *testing.T) {
	t.Parallel()
	resolved := errors.New("alert resolved")
	tests := []struct {
		name     string
		script   string // $1 is where the script writes its child's PID
		p        Process
		cancel   bool // cancel ctx once the child's PID is written
		wantOK   bool
		wantErr  string
		survives bool // the child is not killed, and lives on
	}{
		// A resolve cancels a hanging action, child and all.
		{name: "cancel kills group", script: "sleep 1000 &\necho $! > \"$1\"\nsleep 1000\n", cancel: true,
			wantErr: "killed: cancelled (alert resolved)"},
		// A child holding stdout open does not keep a cancelled Run waiting.
		{name: "cancel with child holding output", script: "sleep 1000 &\necho $! > \"$1\"\nwait\n", cancel: true,
			wantErr: "killed: cancelled (alert resolved)"},
		// A leader that exits 0 leaving a child with its stdout: Run returns
		// after WaitDelay, a success; the child is not killed.
		{name: "leader exits, child holds output", script: "sleep 1000 &\necho $! > \"$1\"\n", p: Process{WaitDelay: 1},
			wantOK: true, survives: true},
		// A child that left the group (setsid) is out of reach of the group
		// kill, but its open stdout does not make Run hang either. It
		// writes its own PID, once it has left.
		{name: "escaped child", script: "setsid sh -c 'echo $$ > \"$1\"; exec sleep 1000' sh \"$1\" &\nsleep 1000\n", p: Process{WaitDelay: 1}, cancel: true,
			wantErr: "killed: cancelled (alert resolved)", survives: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if strings.Contains(tt.script, "setsid") {
				if _, err := osexec.LookPath("setsid"); err != nil {
					t.Skip("no setsid(1)")
				}
			}
			pidFile := filepath.Join(t.TempDir(), "child.pid")
			p := tt.p
			p.Argv = append(script(t, tt.script), pidFile)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			done := make(chan engine.Result, 1)
			go func() { done <- p.Run(ctx) }()
			pid := readPID(t, pidFile)
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			if tt.cancel {
				cancel(resolved)
			}
			var res engine.Result
			select {
			case res = <-done:
			case <-time.After(time.Minute):
				t.Fatal("Run did not return")
			}
			wantExit := -1
			if tt.wantOK {
				wantExit = 0
			}
			if res.OK != tt.wantOK || res.Err != tt.wantErr || res.Cancelled != tt.cancel || res.ExitCode != wantExit {
				t.Fatalf("result = %+v", res)
			}
			if tt.survives {
				if !alive(pid) {
					t.Fatalf("child %d was killed", pid)
				}
				return
			}
			waitGone(t, pid)
		})
	}
}

func TestCapped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		// Under the bound: all of it.
		{"under", 10, []string{"abc", "def"}, "abcdef"},
		// A write that crosses the bound is split.
		{"crossing", 4, []string{"abc", "def"}, "abcd…[truncated 2 bytes]"},
		// Writes after the bound are only counted.
		{"after", 2, []string{"ab", "cd", "ef"}, "ab…[truncated 4 bytes]"},
		// A 3-byte character cut after its first byte is dropped whole.
		{"cut rune", 4, []string{"abc€"}, "abc…[truncated 3 bytes]"},
		// An invalid byte at the cut is kept as it is.
		{"invalid byte", 2, []string{"a\xffb"}, "a\xff…[truncated 1 bytes]"},
	}
	for _, tt := range tests {
		c := &capped{max: tt.max}
		for _, w := range tt.writes {
			if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("%s: Write = %d, %v", tt.name, n, err)
			}
		}
		if got := c.String(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
