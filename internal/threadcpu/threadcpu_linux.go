//go:build linux

// Package threadcpu reads the calling thread's own CPU time, which
// benchmarks on a shared machine report beside wall time: other processes
// slow a thread down, they do not add to its CPU time.
package threadcpu

import "syscall"

// rusageThread is RUSAGE_THREAD: the calling thread's usage alone.
const rusageThread = 1

// Now returns the user and system time the calling thread has used, in ns;
// ok is false if the system does not tell. A caller measuring a span
// should lock its goroutine to its thread for the span.
func Now() (ns int64, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
