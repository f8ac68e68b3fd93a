//go:build linux

package forwarder

import "syscall"

// rusageThread is RUSAGE_THREAD: the calling thread's usage alone.
const rusageThread = 1

// threadCPU returns the CPU time the calling thread has used, in ns; ok is
// false if the system does not tell.
func threadCPU() (ns int64, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
