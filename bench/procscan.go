package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Other jobs on a shared machine show up in /proc/stat's busy time. To keep
// them out of the director's figure, the bench also sums the CPU time of
// every user-space process that is neither the bench itself nor inside a lab
// namespace (/proc/PID/stat utime+stime) over the measured window, and
// subtracts it. Kernel threads stay in: ksoftirqd and NAPI threads do the
// packets' work. A process that exits inside the window takes its time with
// it, so this removes most, not all, of the noise.

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

// otherJobs snapshots user-space processes outside the lab namespaces (by
// inode) and other than this process.
func otherJobs(labNS map[uint64]bool) procTimes {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	out := make(procTimes, len(ents))
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
		if err != nil || ppid == 2 {
			continue // kernel thread: its work is the packets'
		}
		if fi, err := os.Stat(base + "/ns/net"); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && labNS[st.Ino] {
				continue
			}
		}
		out[pid] = ticks
	}
	return out
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
