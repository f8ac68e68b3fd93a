package health

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// Exec is keepalived's MISC_CHECK: it runs Command; exit status 0 passes and any other fails.
// With Dynamic (misc_dynamic) an exit status of 2..255 passes too and sets the server's weight
// to status−2, and 0 gives it back its configured weight. The command runs in its own process
// group; when the deadline comes first the whole group is killed and the check fails.
type Exec struct {
	Command []string // argv; see SplitCommand for keepalived's quoted form
	Dynamic bool
	// Enter, when set, starts the process through it (e.g. InNetns, so the command runs inside
	// a probe namespace: a child inherits the namespace of the thread that forks it).
	Enter func(fn func() error) error
}

// Describe names the command.
func (e *Exec) Describe() (Kind, string) { return KindMisc, strings.Join(e.Command, " ") }

// Check runs the command to its end or to the deadline.
func (e *Exec) Check(ctx context.Context) Result {
	if len(e.Command) == 0 {
		return fail("no command")
	}
	cmd := exec.Command(e.Command[0], e.Command[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := cmd.Start
	if e.Enter != nil {
		start = func() error { return e.Enter(cmd.Start) }
	}
	if err := start(); err != nil {
		return failErr("exec", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// The group id is the child's pid (Setpgid); its descendants are in it too.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if ctx.Err() == context.DeadlineExceeded {
			return fail("timeout, killed")
		}
		return fail("canceled, killed")
	}
	return exitResult(err, e.Dynamic)
}

func exitResult(err error, dynamic bool) Result {
	if err == nil {
		if dynamic {
			return Result{OK: true, Dynamic: true, Weight: -1}
		}
		return pass()
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return failErr("wait", err)
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return fail("signal: " + ws.Signal().String())
	}
	code := ee.ExitCode()
	if dynamic && code >= 2 && code <= 255 {
		return Result{OK: true, Dynamic: true, Weight: code - 2, Reason: "exit status " + strconv.Itoa(code)}
	}
	return fail("exit status " + strconv.Itoa(code))
}

// SplitCommand splits a keepalived script string into argv as keepalived does: words separated
// by blanks, with single or double quotes grouping words and a backslash escaping the next
// character outside single quotes.
func SplitCommand(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inTok bool
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == '\'':
			cur.WriteRune(r)
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			inTok = true
		case quote == '"':
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inTok = r, true
		case r == ' ' || r == '\t':
			if inTok {
				args = append(args, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteRune(r)
			inTok = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote in command " + strconv.Quote(s))
	}
	if inTok {
		args = append(args, cur.String())
	}
	return args, nil
}
