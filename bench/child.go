package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Child processes: the bench re-executes its own binary inside a lab
// namespace (`ip netns exec NS /proc/self/exe __NAME ARGS`) for everything
// that must live there: the generator, the bounce, the echo servers and the
// latency probe. A child writes one ready line when set up; its last stdout
// line is its result.

// Child names, the first argument of a child process.
const (
	childGen    = "__gen"
	childBounce = "__bounce"
	childEcho   = "__echo"
	childProbe  = "__probe"
)

// ErrChild says a child process failed; its text carries the child's stderr.
var ErrChild = errors.New("child process failed")

// IsChild reports whether args (os.Args[1:]) ask for a child role.
func IsChild(args []string) bool {
	return len(args) > 0 && strings.HasPrefix(args[0], "__")
}

// RunChild runs the child role named in args[0] with its JSON argument in
// args[1], on stdin/stdout. Only the xvs-bench command calls it.
func RunChild(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("child %v: want NAME JSON", args)
	}
	arg := []byte(args[1])
	switch args[0] {
	case childGen:
		var c GenConfig
		if err := json.Unmarshal(arg, &c); err != nil {
			return err
		}
		return RunGenerator(c, os.Stdin, os.Stdout)
	case childBounce:
		var c BounceConfig
		if err := json.Unmarshal(arg, &c); err != nil {
			return err
		}
		return RunBounce(c, os.Stdout)
	case childEcho:
		var c EchoConfig
		if err := json.Unmarshal(arg, &c); err != nil {
			return err
		}
		return RunEcho(c, os.Stdout)
	case childCTMem:
		var sizes []int
		if err := json.Unmarshal(arg, &sizes); err != nil {
			return err
		}
		return RunTableMem(sizes, os.Stdout)
	case childCheckd:
		var c CheckdConfig
		if err := json.Unmarshal(arg, &c); err != nil {
			return err
		}
		return RunCheckd(c, os.Stdin, os.Stdout)
	case childProbe:
		var c ProbeConfig
		if err := json.Unmarshal(arg, &c); err != nil {
			return err
		}
		return RunProbe(c, os.Stdout)
	}
	return fmt.Errorf("unknown child %q", args[0])
}

// proc is a running child.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *tailBuffer
	done   chan struct{}
	err    error // valid after done
}

// startChild starts role in namespace ns pinned to cpu (-1: not pinned) and
// waits for its ready line. A pinned generator runs at nice genNice.
func startChild(ctx context.Context, ns string, cpu int, role string, arg any) (*proc, error) {
	var policy []string
	switch {
	case cpu < 0:
	case role == childGen:
		policy = []string{"nice", "-n", strconv.Itoa(genNice)}
	}
	return startChildAs(ctx, ns, cpu, role, arg, policy)
}

// startChildAs is startChild with the command (nice, chrt) that sets the
// child's scheduling, nil for the default.
func startChildAs(ctx context.Context, ns string, cpu int, role string, arg any, policy []string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(arg)
	if err != nil {
		return nil, err
	}
	argv := slices.Concat(policy, []string{"ip", "netns", "exec", ns, exe, role, string(js)})
	return startProc(ctx, role+" in "+ns, cpu, argv, true)
}

// backgroundPolicy is how the latency phase's background load runs when
// pinned: SCHED_IDLE, which every other task on its core preempts at once
// (the kernel's scheduler gives an idle-policy task no slice to protect),
// where at nice 10 a woken task still waited out the generator's slice.
// Under it the director's control threads (which hand a worker its P back
// after the Go runtime preempts it, every 10 ms of forwarding) and the
// probe run when they wake, as on a director whose control CPUs have
// nothing else to do; the load itself only needs the core's spare time,
// half of what it can send.
var backgroundPolicy = []string{"chrt", "-i", "0"}

// genNice is the pinned generator's nice value. It shares its core with
// the xvs daemon's control threads, which on a real director have cores
// of their own: a worker the Go runtime preempts gets its core back through
// one of them (see xvs run's placeThreads), so they must not wait behind a
// generator that never sleeps. At nice 10 they run as soon as they wake,
// and the generator still has the core to itself whenever nothing else
// runs there (every baseline).
const genNice = 10

// startProc starts argv (through taskset when cpu >= 0). With waitReady it
// waits up to 10 s for the first stdout line and fails if it is not "ready".
func startProc(ctx context.Context, name string, cpu int, argv []string, waitReady bool) (*proc, error) {
	if cpu >= 0 {
		argv = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	p := &proc{name: name, cmd: cmd, stderr: &tailBuffer{max: 4096}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.lines = bufio.NewScanner(stdout)
	p.lines.Buffer(make([]byte, 64<<10), 16<<20)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if !waitReady {
		go func() { p.err = cmd.Wait(); close(p.done) }()
		return p, nil
	}
	ready := make(chan string, 1)
	go func() {
		line := ""
		if p.lines.Scan() {
			line = p.lines.Text()
		}
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != genReady {
			_ = cmd.Process.Kill()
			werr := cmd.Wait()
			return nil, fmt.Errorf("%w: %s: %v: %s", ErrChild, name, werr, p.stderr.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%w: %s: not ready after 10s: %s", ErrChild, name, p.stderr.String())
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// request writes one JSON line and decodes the answer line into resp.
func (p *proc) request(req, resp any, timeout time.Duration) error {
	js, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := p.stdin.Write(append(js, '\n')); err != nil {
		return fmt.Errorf("%w: %s: write: %v: %s", ErrChild, p.name, err, p.stderr.String())
	}
	return p.readJSON(resp, timeout)
}

// readJSON decodes the next stdout line into v.
func (p *proc) readJSON(v any, timeout time.Duration) error {
	got := make(chan error, 1)
	go func() {
		if !p.lines.Scan() {
			got <- fmt.Errorf("%w: %s: exited: %s", ErrChild, p.name, p.stderr.String())
			return
		}
		got <- json.Unmarshal(p.lines.Bytes(), v)
	}()
	select {
	case err := <-got:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("%w: %s: no answer in %v", ErrChild, p.name, timeout)
	}
}

// stop ends the child: stdin closed (generators exit on EOF) and SIGTERM,
// then SIGKILL after a grace period. It returns the exit error unless the
// child ended because of the SIGTERM.
func (p *proc) stop(grace time.Duration) error {
	_ = p.stdin.Close()
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(50 * time.Millisecond):
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%w: %s: killed after %v: %s", ErrChild, p.name, grace, p.stderr.String())
	}
	return p.exitErr()
}

func (p *proc) exitErr() error {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	if p.err != nil {
		return fmt.Errorf("%w: %s: %v: %s", ErrChild, p.name, p.err, p.stderr.String())
	}
	return nil
}

// exited reports whether the child has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
