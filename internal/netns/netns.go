// Package netns runs code inside another network namespace: the daemon's
// probes, VRRP speakers and sync sockets open their sockets there, and a
// socket keeps the namespace it was opened in for life.
package netns

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn with the calling goroutine's thread inside the network
// namespace at path (/run/netns/NAME, /proc/PID/ns/net), or as it is when
// path is empty. If the thread cannot return to its own namespace it stays
// locked to the goroutine, so no other goroutine ever runs in the wrong one.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &Error{path, err}
	}
	defer unix.Close(target)
	runtime.LockOSThread()
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return &Error{path, err}
	}
	defer unix.Close(self)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return &Error{path, err}
	}
	ferr := fn()
	if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
		return &Error{path, err}
	}
	runtime.UnlockOSThread()
	return ferr
}

// Error is a namespace that could not be entered or left.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return "netns " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the system error.
func (e *Error) Unwrap() error { return e.Err }
