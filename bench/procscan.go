package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU attribution on a shared machine. /proc/stat's busy time counts every
// job on the machine, and other engineers' builds and tests come and go in
// short-lived processes that no per-process scan catches. So the bench also
// sums, from /proc/PID/stat, the CPU time of what is its own: every process
// inside a lab namespace (generator, xvs or the bounce, echo servers) and
// the kernel threads that run deferred packet work (ksoftirqd, threaded
// NAPI). Without IRQ time accounting the softirq work of a packet is charged
// to the task it interrupted, which on this path is almost always one of the
// lab's own processes (the generator's or the director's sendto).

// procTimes maps pid to cumulative utime+stime in clock ticks.
type procTimes map[int]uint64

// ParsePidStat extracts the parent pid and utime+stime (ticks) from a
// /proc/PID/stat line. The command name is parenthesised and may contain
// spaces or parentheses, so fields are counted from the last ')'.
func ParsePidStat(line string) (ppid int, ticks uint64, err error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("%w: no command name in %q", ErrProcStat, line)
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("%w: %d fields after the command", ErrProcStat, len(f))
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, fmt.Errorf("%w: ppid: %w", ErrProcStat, err)
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: utime: %w", ErrProcStat, err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: stime: %w", ErrProcStat, err)
	}
	return ppid, ut + st, nil
}

// cpuScan is one pass over /proc: lab holds the lab's processes and the
// packet kernel threads, others every other user-space process.
type cpuScan struct{ lab, others procTimes }

// scanCPU snapshots processes by where they run (lab namespaces by inode).
// The bench itself is in neither set.
func scanCPU(labNS map[uint64]bool) cpuScan {
	sc := cpuScan{lab: procTimes{}, others: procTimes{}}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return sc
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == 2 {
			continue
		}
		base := "/proc/" + e.Name()
		b, err := os.ReadFile(base + "/stat")
		if err != nil {
			continue
		}
		ppid, ticks, err := ParsePidStat(string(b))
		if err != nil {
			continue
		}
		if ppid == 2 {
			if packetThread(string(b)) {
				sc.lab[pid] = ticks
			}
			continue
		}
		if fi, err := os.Stat(base + "/ns/net"); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && labNS[st.Ino] {
				sc.lab[pid] = ticks
				continue
			}
		}
		sc.others[pid] = ticks
	}
	return sc
}

// packetThread reports whether a kernel thread's stat line names one that
// runs deferred packet processing.
func packetThread(stat string) bool {
	i := strings.IndexByte(stat, '(')
	if i < 0 {
		return false
	}
	name := stat[i+1:]
	return strings.HasPrefix(name, "ksoftirqd/") || strings.HasPrefix(name, "napi/")
}

// Sub returns the CPU time spent between prev and t; processes born since
// count whole.
func (t procTimes) Sub(prev procTimes) time.Duration {
	var ticks uint64
	for pid, v := range t {
		if p, ok := prev[pid]; ok && p <= v {
			ticks += v - p
		} else if !ok {
			ticks += v
		}
	}
	return time.Duration(ticks) * (time.Second / userHz)
}

// nsInodes returns the inodes of the lab's namespaces.
func (l *Lab) nsInodes() map[uint64]bool {
	m := map[uint64]bool{}
	for _, ns := range []string{l.GenNS, l.DirNS, l.RealNS} {
		if fi, err := os.Stat(netnsDir + "/" + ns); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				m[st.Ino] = true
			}
		}
	}
	return m
}
