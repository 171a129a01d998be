package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/remediator/remediator/engine"
)

// Defaults of a Process.
const (
	// DefaultMaxOutput bounds captured stdout+stderr.
	DefaultMaxOutput = 65536
	// DefaultWaitDelay is how long Run waits, once the program has
	// exited or been killed, for whatever still holds its output open (a
	// background child) before closing the pipes and returning.
	DefaultWaitDelay = 2 * time.Second
)

// describeMax is how many bytes of one argument Describe shows.
const describeMax = 512

// Process is one program run without a shell, in its own process group.
// It is the Invocation of the exec action and of the systemd action.
type Process struct {
	// Argv[0] is the program: a path, or a name looked up on remediator's
	// PATH. The rest are its arguments, passed as they are.
	Argv []string
	// Env is the program's whole environment (KEY=value); nil means an
	// empty one, never remediator's own.
	Env []string
	// Stdin is the program's input; nil means /dev/null.
	Stdin []byte
	// Dir is the working directory; "" means remediator's.
	Dir string
	// Timeout, when positive, kills the process group after that long.
	Timeout time.Duration
	// MaxOutput bounds captured stdout+stderr (DefaultMaxOutput when
	// not positive); the rest is counted and dropped.
	MaxOutput int
	// WaitDelay is DefaultWaitDelay when not positive.
	WaitDelay time.Duration
	// StopSignal is sent to the whole process group at the timeout or on
	// cancel (a resolve); after StopGrace the group gets SIGKILL. Zero
	// means SIGKILL at once.
	StopSignal syscall.Signal
	StopGrace  time.Duration
}

var _ engine.Invocation = (*Process)(nil)

// Describe shows the argv, each element quoted; an element longer than
// 512 bytes is cut and its length given.
func (p *Process) Describe() string {
	parts := make([]string, len(p.Argv))
	for i, a := range p.Argv {
		if len(a) > describeMax {
			parts[i] = strconv.Quote(a[:describeMax]) + "…(" + strconv.Itoa(len(a)) + " bytes)"
			continue
		}
		parts[i] = strconv.Quote(a)
	}
	return strings.Join(parts, " ")
}

// Run is RunProcess(ctx, p).
func (p *Process) Run(ctx context.Context) engine.Result { return RunProcess(ctx, p) }

// RunProcess runs p and waits for it. The program gets its own process
// group; when p.Timeout passes or ctx is done, the whole group is killed
// with SIGKILL, so children it forked die with it. Stdout and stderr
// share one pipe, captured up to p.MaxOutput bytes. Every failure (a
// program that cannot start, a non-zero exit, a kill) is in the Result.
func RunProcess(ctx context.Context, p *Process) engine.Result {
	start := time.Now()
	res := engine.Result{ExitCode: -1}
	if len(p.Argv) == 0 || p.Argv[0] == "" {
		res.Err, res.NotStarted = "not started: no program", true
		return res
	}
	if p.Dir != "" {
		// Checked here because a failed chdir is reported as the
		// program not being found.
		if fi, err := os.Stat(p.Dir); err != nil {
			res.Err, res.NotStarted = "not started: dir: "+err.Error(), true
			return res
		} else if !fi.IsDir() {
			res.Err, res.NotStarted = "not started: dir: "+p.Dir+" is not a directory", true
			return res
		}
	}
	runCtx := ctx
	var timedOut error
	if p.Timeout > 0 {
		timedOut = fmt.Errorf("timed out after %s", p.Timeout)
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, p.Timeout, timedOut)
		defer cancel()
	}

	out := &capped{max: p.MaxOutput}
	if out.max <= 0 {
		out.max = DefaultMaxOutput
	}
	cmd := osexec.CommandContext(runCtx, p.Argv[0], p.Argv[1:]...)
	cmd.Env = p.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would hand the child remediator's environment
	}
	cmd.Dir = p.Dir
	if p.Stdin != nil {
		cmd.Stdin = bytes.NewReader(p.Stdin)
	}
	// The same writer for both: one pipe, so the output keeps its order.
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var hardKill *time.Timer
	stopped := false // Cancel ran: the group was signalled
	cmd.Cancel = func() error {
		stopped = true
		// The group's ID is the leader's PID (Setpgid with Pgid 0).
		pgid := cmd.Process.Pid
		sig := p.StopSignal
		if sig == 0 {
			sig = syscall.SIGKILL
		}
		err := syscall.Kill(-pgid, sig)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		if sig != syscall.SIGKILL {
			hardKill = time.AfterFunc(p.StopGrace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		}
		return err
	}
	cmd.WaitDelay = p.WaitDelay
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = DefaultWaitDelay
	}
	if p.StopSignal != 0 && p.StopSignal != syscall.SIGKILL {
		// Wait may not give up on the group before its grace is over.
		cmd.WaitDelay = max(cmd.WaitDelay, p.StopGrace+time.Second)
	}

	err := cmd.Run()
	if hardKill != nil {
		// Stopped once the group's leader is reaped, so that the SIGKILL
		// never reaches a process group ID that was reused since.
		hardKill.Stop()
	}
	res.Duration = time.Since(start)
	res.Output = out.String()

	reason := func() string {
		cause := context.Cause(runCtx)
		if timedOut != nil && cause == timedOut {
			return timedOut.Error()
		}
		return "cancelled (" + cause.Error() + ")"
	}
	state := cmd.ProcessState
	switch {
	case state == nil && runCtx.Err() != nil:
		res.Cancelled = true
		res.Err = "not started: " + reason()
	case state == nil:
		// The program could not be started (not found, not executable).
		res.Err, res.NotStarted = "not started: "+err.Error(), true
	case stopped && p.StopSignal != 0 && p.StopSignal != syscall.SIGKILL:
		// Stopped gracefully (or not): cancelled, whatever its exit.
		res.Cancelled = true
		res.ExitCode = state.ExitCode()
		res.Err = "stopped (" + p.StopSignal.String() + "): " + reason()
	case state.Success():
		// An exit status of 0 is success even when a leftover child held
		// the output open past WaitDelay (err is then ErrWaitDelay).
		res.OK = true
		res.ExitCode = 0
	case runCtx.Err() != nil:
		res.Cancelled = true
		res.ExitCode = state.ExitCode()
		res.Err = "killed: " + reason()
	default:
		res.ExitCode = state.ExitCode()
		res.Err = state.String() // "exit status 1", "signal: terminated"
	}
	return res
}

// BaseEnv is the environment every action's program starts from:
// remediator's PATH and HOME, when they are set, and nothing else.
func BaseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// capped keeps the first max bytes written to it and counts the rest. It
// always accepts a whole write, so the program is never blocked on a full
// pipe. os/exec calls Write from one goroutine at a time.
type capped struct {
	buf     []byte
	max     int
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if room := c.max - len(c.buf); room > 0 {
		room = min(room, len(p))
		c.buf = append(c.buf, p[:room]...)
		p = p[room:]
	}
	c.dropped += len(p)
	return n, nil
}

// String is the kept output, and when some was dropped, a marker saying
// how much. A UTF-8 sequence cut by the bound is dropped whole.
func (c *capped) String() string {
	if c.dropped == 0 {
		return string(c.buf)
	}
	kept := c.buf
	for i := len(kept) - 1; i >= 0 && i >= len(kept)-utf8.UTFMax; i-- {
		if utf8.RuneStart(kept[i]) {
			if !utf8.FullRune(kept[i:]) {
				kept = kept[:i]
			}
			break
		}
	}
	return fmt.Sprintf("%s…[truncated %d bytes]", kept, c.dropped+len(c.buf)-len(kept))
}
