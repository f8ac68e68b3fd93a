package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrProcStat says /proc/stat could not be read or parsed.
var ErrProcStat = errors.New("bad /proc/stat")

// CPUTimes are the cumulative times of the "cpu" line of /proc/stat, in
// clock ticks (USER_HZ, 100 per second on Linux).
type CPUTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// userHz is USER_HZ, fixed at 100 by the kernel's ABI on every architecture
// Go supports on Linux.
const userHz = 100

// Busy returns the ticks spent doing anything but idling or waiting for I/O.
// Steal is excluded: it is time the hypervisor gave to someone else.
func (c CPUTimes) Busy() uint64 {
	return c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ
}

// Sub returns c - prev field by field.
func (c CPUTimes) Sub(prev CPUTimes) CPUTimes {
	return CPUTimes{
		User: c.User - prev.User, Nice: c.Nice - prev.Nice, System: c.System - prev.System,
		Idle: c.Idle - prev.Idle, IOWait: c.IOWait - prev.IOWait, IRQ: c.IRQ - prev.IRQ,
		SoftIRQ: c.SoftIRQ - prev.SoftIRQ, Steal: c.Steal - prev.Steal,
	}
}

// BusyDuration returns Busy as a duration.
func (c CPUTimes) BusyDuration() time.Duration {
	return time.Duration(c.Busy()) * (time.Second / userHz)
}

// ParseProcStat reads /proc/stat's format and returns the aggregate "cpu"
// line (all cores) and the number of per-core "cpuN" lines.
func ParseProcStat(r io.Reader) (total CPUTimes, cores int, err error) {
	sc := bufio.NewScanner(r)
	found := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			if _, err := strconv.Atoi(f[0][3:]); err == nil {
				cores++
			}
			continue
		}
		// cpu user nice system idle iowait irq softirq steal [guest guest_nice]
		if len(f) < 9 {
			return CPUTimes{}, 0, fmt.Errorf("%w: cpu line has %d fields", ErrProcStat, len(f))
		}
		var v [8]uint64
		for i := range v {
			if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return CPUTimes{}, 0, fmt.Errorf("%w: field %d: %w", ErrProcStat, i+1, err)
			}
		}
		total = CPUTimes{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}
		found = true
	}
	if err := sc.Err(); err != nil {
		return CPUTimes{}, 0, fmt.Errorf("%w: %w", ErrProcStat, err)
	}
	if !found {
		return CPUTimes{}, 0, fmt.Errorf("%w: no cpu line", ErrProcStat)
	}
	return total, cores, nil
}

// ReadCPUTimes reads the machine's aggregate CPU times.
func ReadCPUTimes() (CPUTimes, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return CPUTimes{}, fmt.Errorf("%w: %w", ErrProcStat, err)
	}
	defer f.Close()
	t, _, err := ParseProcStat(f)
	return t, err
}
