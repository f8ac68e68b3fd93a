package cpuset

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Set is a sorted list of distinct CPU numbers.
type Set []int

// Parse reads a CPU list: comma-separated numbers and inclusive ranges
// ("0", "1-3", "0,2-3"). The empty string is the empty set.
func Parse(s string) (Set, error) {
	var set Set
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := parseCPU(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", s, err)
		}
		last := first
		if isRange {
			if last, err = parseCPU(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", s, err)
			}
			if last < first {
				return nil, fmt.Errorf("cpu list %q: range %s runs backwards", s, part)
			}
		}
		for c := first; c <= last; c++ {
			set = append(set, c)
		}
	}
	slices.Sort(set)
	return slices.Compact(set), nil
}

// maxCPU bounds CPU numbers to what unix.CPUSet can hold.
const maxCPU = 1024

func parseCPU(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n >= maxCPU {
		return 0, fmt.Errorf("bad CPU number %q", s)
	}
	return n, nil
}

// String writes s back as a comma-separated list of numbers.
func (s Set) String() string {
	parts := make([]string, len(s))
	for i, c := range s {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

// Union returns the CPUs of s and t.
func (s Set) Union(t Set) Set {
	u := slices.Concat(s, t)
	slices.Sort(u)
	return slices.Compact(u)
}

func (s Set) mask() *unix.CPUSet {
	var m unix.CPUSet
	for _, c := range s {
		m.Set(c)
	}
	return &m
}

// startMask is the CPU mask the process started with (what taskset, a
// cgroup or the parent gave it), read before anything here narrows a
// thread's mask; startErr says why it could not be read.
var startMask, startErr = func() (unix.CPUSet, error) {
	var m unix.CPUSet
	err := unix.SchedGetaffinity(0, &m)
	return m, err
}()

// CheckAllowed returns an error naming the first CPU of s that is not in
// the mask the process started with (an offline CPU, or one outside its
// taskset or cgroup): PinProcess narrows every thread's mask, so the start
// mask is the one to check against.
func (s Set) CheckAllowed() error {
	if startErr != nil {
		return fmt.Errorf("reading the CPU affinity: %w", startErr)
	}
	for _, c := range s {
		if !startMask.IsSet(c) {
			return fmt.Errorf("CPU %d is not one this process may run on (allowed: %s)", c, fromMask(&startMask))
		}
	}
	return nil
}

func fromMask(m *unix.CPUSet) Set {
	var s Set
	for c := 0; c < maxCPU; c++ {
		if m.IsSet(c) {
			s = append(s, c)
		}
	}
	return s
}

// PinThread pins the calling goroutine's thread to s and keeps the
// goroutine on that thread (runtime.LockOSThread) for the rest of its life:
// when it returns without unlocking, the runtime ends the thread, so the
// pinned mask never leaks to other goroutines.
func PinThread(s Set) error {
	if len(s) == 0 {
		return errors.New("cpuset: pinning to no CPU")
	}
	runtime.LockOSThread()
	if err := unix.SchedSetaffinity(0, s.mask()); err != nil {
		return fmt.Errorf("pinning a thread to CPUs %s: %w", s, err)
	}
	return nil
}

// PinProcess moves every thread the process has now to s. Threads started
// later inherit the mask of the thread that starts them; the Go runtime
// starts new threads from a thread of its own when the asking one is
// locked (as PinThread's are), so they inherit s too. Call it early, before
// any PinThread.
func PinProcess(s Set) error {
	if len(s) == 0 {
		return errors.New("cpuset: pinning to no CPU")
	}
	// Twice: a thread the runtime starts during the first pass is cloned
	// from one that may not have been moved yet.
	for range 2 {
		tids, err := threads()
		if err != nil {
			return err
		}
		for _, tid := range tids {
			err := unix.SchedSetaffinity(tid, s.mask())
			if err != nil && !errors.Is(err, unix.ESRCH) { // ESRCH: the thread ended meanwhile
				return fmt.Errorf("pinning thread %d to CPUs %s: %w", tid, s, err)
			}
		}
	}
	return nil
}

// threads lists the process's thread IDs.
func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("listing the process's threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// Current returns the calling thread's CPU mask.
func Current() (Set, error) {
	var m unix.CPUSet
	if err := unix.SchedGetaffinity(0, &m); err != nil {
		return nil, err
	}
	return fromMask(&m), nil
}

// Allowed returns the CPUs the process started with (see CheckAllowed).
func Allowed() (Set, error) {
	if startErr != nil {
		return nil, fmt.Errorf("reading the CPU affinity: %w", startErr)
	}
	return fromMask(&startMask), nil
}

// ThreadMasks returns the CPU list of each thread of process pid (0: this
// process) by thread ID, as /proc shows it ("1", "0-3"); a thread that ends
// while it is read is left out.
func ThreadMasks(pid int) (map[int]string, error) {
	dir := "/proc/self/task/"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid) + "/task/"
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing the threads: %w", err)
	}
	masks := make(map[int]string, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				masks[tid] = strings.TrimSpace(v)
			}
		}
	}
	return masks, nil
}
