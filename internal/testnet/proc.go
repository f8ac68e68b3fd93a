package testnet

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const stopGrace = 3 * time.Second

// maxOutput bounds the output a Proc keeps; older output is dropped first.
const maxOutput = 1 << 20

// Proc is a program started in a lab namespace by Host.Start.
type Proc struct {
	// Cmd is the running command; do not Wait on it (Proc does).
	Cmd *exec.Cmd

	done     chan struct{} // closed when the program has exited
	err      error         // Wait's result; read only after done
	stopOnce sync.Once
	stopErr  error

	mu      sync.Mutex    // guards out, dropped, changed
	out     []byte        // the latest output
	dropped bool          // output was dropped to keep the bound
	changed chan struct{} // closed and replaced on every write
}

func newProc(cmd *exec.Cmd) *Proc {
	p := &Proc{Cmd: cmd, done: make(chan struct{}), changed: make(chan struct{})}
	cmd.Stdout = p
	cmd.Stderr = p
	return p
}

func (p *Proc) wait() {
	p.err = p.Cmd.Wait()
	close(p.done)
}

// Write collects the program's output; it implements io.Writer for exec.
func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = append(p.out, b...)
	if len(p.out) > maxOutput {
		p.out = append(p.out[:0], p.out[len(p.out)-maxOutput/2:]...)
		p.dropped = true
	}
	close(p.changed)
	p.changed = make(chan struct{})
	return len(b), nil
}

// Output returns the program's stdout and stderr so far (the last MiB at most).
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropped {
		return "...\n" + string(p.out)
	}
	return string(p.out)
}

// Done is closed when the program has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err returns the program's exit error once Done is closed, nil before.
func (p *Proc) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// WaitOutput waits until the program's output contains s. It fails with
// ErrNotReady if the program exits first or ctx ends.
func (p *Proc) WaitOutput(ctx context.Context, s string) error {
	for {
		p.mu.Lock()
		found := strings.Contains(string(p.out), s)
		changed := p.changed
		p.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-p.done:
			// Output written just before exit may race with done.
			if strings.Contains(p.Output(), s) {
				return nil
			}
			return fmt.Errorf("%w: %q exited (%v) before printing %q: %s",
				ErrNotReady, p.Cmd.Args, p.err, s, trimOutput([]byte(p.Output())))
		case <-ctx.Done():
			return fmt.Errorf("%w: %q did not print %q: %w: %s",
				ErrNotReady, p.Cmd.Args, s, ctx.Err(), trimOutput([]byte(p.Output())))
		}
	}
}

// Stop sends SIGTERM, waits up to three seconds, then sends SIGKILL. It
// returns nil if the program exited cleanly or by Stop's signal, and the exit
// error otherwise. Calling it again returns the first result.
func (p *Proc) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			p.stopErr = p.exitErr()
			return
		default:
		}
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
		p.stopErr = p.exitErr()
	})
	return p.stopErr
}

// exitErr is p.err with deaths by SIGTERM or SIGKILL treated as success:
// those are Stop's or Close's doing.
func (p *Proc) exitErr() error {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() &&
			(ws.Signal() == syscall.SIGTERM || ws.Signal() == syscall.SIGKILL) {
			return nil
		}
	}
	return p.err
}
