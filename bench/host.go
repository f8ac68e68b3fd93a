package bench

import (
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// runNotes are caveats the figures need, derived from the run.
func runNotes(res *Results) []string {
	var notes []string
	if n, err := strconv.Atoi(res.Host.ConntrackMax); err == nil {
		for _, r := range res.Rows {
			if r.Scenario == ScNftDNAT && r.Load.Flows > n {
				notes = append(notes, fmt.Sprintf("nftables at %s: %d flows exceed nf_conntrack_max %d (a global sysctl the bench leaves alone), so the kernel evicts unreplied entries to admit new ones.", r.Load, r.Load.Flows, n))
			}
		}
	}
	notes = append(notes, prefillNotes(res)...)
	oneK, ct := false, false
	for _, g := range res.GoBench {
		if strings.HasPrefix(g.Pkg, "./conntrack") {
			ct = true
			oneK = oneK || strings.HasSuffix(g.Name, "/1k")
		}
	}
	if ct && !oneK {
		notes = append(notes, "conntrack's own benchmarks have no 1 k size; the 1 k figure is in the connection-table table, measured by the bench.")
	}
	if len(res.Profile) > 0 {
		notes = append(notes, "Profiles come from perf record -g on the xvs process (software cpu-clock events on this VM); [k] lines are kernel time spent in the daemon's syscalls.")
	}
	return notes
}

func hostInfo(opts Options) HostInfo {
	h := HostInfo{Cores: runtime.NumCPU(), LoadAvgStart: loadAvg()}
	h.Kernel, _ = readFileTrim("/proc/sys/kernel/osrelease")
	if out, err := exec.Command("git", "-C", opts.ModuleDir, "describe", "--always", "--dirty=+dirty").Output(); err == nil {
		h.Commit = strings.TrimSpace(string(out))
	}
	if opts.Pin && h.Cores >= 2 {
		h.PinnedGen, h.PinnedDirector = "CPU 0, at nice 10", "CPU 1 (xvs: its workers; the rest of the daemon on CPU 0)"
	} else {
		h.PinnedGen, h.PinnedDirector = "not pinned", "not pinned"
	}
	return h
}

func loadAvg() string {
	s, _ := readFileTrim("/proc/loadavg")
	f := strings.Fields(s)
	if len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return s
}
