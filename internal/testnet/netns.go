package testnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has entered h's network namespace, and
// returns fn's error. Sockets and listeners fn creates belong to h's namespace
// for their whole life, so they can be used after Do returns; that is the way
// to open a connection from a lab host inside the test process.
//
// fn runs on a new goroutine locked to its thread (the caller's goroutine is
// never moved), so it must not call t.FailNow and friends; a panic in fn is
// re-raised in the caller once the thread is back in its own namespace. If the
// thread cannot return, it is discarded rather than reused.
func (h *Host) Do(fn func() error) error {
	if err := h.lab.checkOpen(); err != nil {
		return err
	}
	return DoIn(h.NS, fn)
}

// nsResult carries fn's outcome back from the locked goroutine.
type nsResult struct {
	err      error
	panicked bool
	pv       any
}

// DoIn runs fn on an OS thread that has entered the named network namespace
// (under /run/netns), as Host.Do does for a lab's hosts; it serves callers
// that build namespaces of their own (the benchmark harness). If the thread
// cannot return to its namespace it is discarded rather than reused.
func DoIn(ns string, fn func() error) error {
	target, err := os.Open(filepath.Join(netnsDir, ns))
	if err != nil {
		return fmt.Errorf("open namespace: %w", err)
	}
	defer target.Close()

	resc := make(chan nsResult, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), syscall.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			resc <- nsResult{err: fmt.Errorf("open own namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			resc <- nsResult{err: fmt.Errorf("enter %s: %w", ns, err)}
			return
		}
		res := runCatching(fn)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: the runtime ends it with this goroutine.
			res.err = errors.Join(fmt.Errorf("leave %s: %w", ns, err), res.err)
			res.panicked = false
			resc <- res
			return
		}
		runtime.UnlockOSThread()
		resc <- res
	}()
	res := <-resc
	if res.panicked {
		panic(res.pv)
	}
	return res.err
}

// runCatching calls fn and turns a panic into a result.
func runCatching(fn func() error) (res nsResult) {
	defer func() {
		if v := recover(); v != nil {
			res = nsResult{panicked: true, pv: v}
		}
	}()
	return nsResult{err: fn()}
}
