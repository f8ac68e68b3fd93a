package bench

import (
	"os"
	"strconv"

	"github.com/xvs-project/xvs/internal/cpuset"
)

// The workers' own CPU: the bench starts xvs with its forwarding workers
// pinned to the director's core and the rest of the daemon on the
// generator's (xvs.go), so the threads whose CPU list is the director's
// core are the workers, and their CPU time per delivered frame is what
// forwarding costs the core that bounds it. On veth the transmit half of
// each frame (the sink port's receive, in softirq inside the worker's
// sendto) is charged to the worker too; the receive half lands on the
// generator's core whatever the daemon does.

// workerThreads lists pid's threads pinned to exactly cpu.
func workerThreads(pid, cpu int) []string {
	masks, err := cpuset.ThreadMasks(pid)
	if err != nil {
		return nil
	}
	want := strconv.Itoa(cpu)
	var tids []string
	for tid, m := range masks {
		if m == want {
			tids = append(tids, strconv.Itoa(tid))
		}
	}
	return tids
}

// threadTicks sums the user and system ticks of pid's threads tids; a
// thread that ended counts nothing.
func threadTicks(pid int, tids []string) uint64 {
	var sum uint64
	for _, tid := range tids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + tid + "/stat")
		if err != nil {
			continue
		}
		if _, t, err := ParsePidStat(string(b)); err == nil {
			sum += t
		}
	}
	return sum
}
