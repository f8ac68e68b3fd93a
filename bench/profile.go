package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maybeProfile records a CPU profile of the xvs daemon under full 64 B /
// 10 k-flow load for every xvs scenario of this lab that misses its
// throughput targets (AF_XDP only: the targets are that backend's). xvs exposes no pprof endpoint (checked: none in its
// metrics server), so the profile comes from perf when the machine has it.
func (r *runner) maybeProfile(ctx context.Context, lab *Lab, xvs, base []string) {
	rows := Aggregate(r.res.Trials)
	for _, s := range xvs {
		if r.xvsErr != nil {
			return
		}
		if isAFP(s) {
			continue
		}
		x := medianPPS(rows, s, load64x10k)
		if math.IsNaN(x) {
			continue
		}
		short := x < 0.95*medianPPS(rows, bounceFor(s), load64x10k)
		if s == ScXVSNAT {
			short = short || x < 1.5*medianPPS(rows, ScNftDNAT, load64x10k)
		}
		if !short {
			continue
		}
		r.res.Profile[s] = r.profile(ctx, lab, s)
		r.progress("profile %s: %s", s, r.res.Profile[s])
	}
}

// profile returns the profile file name relative to the results, or why
// there is none.
func (r *runner) profile(ctx context.Context, lab *Lab, scenario string) string {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return "no profile: perf is not installed and xvs exposes no pprof endpoint"
	}
	dir, err := r.startDirector(ctx, lab, scenario)
	if err != nil {
		return "no profile: " + err.Error()
	}
	defer func() { _ = dir.Stop() }()
	xd, ok := dir.(*xvsDirector)
	if !ok {
		return "no profile: not an xvs scenario"
	}
	gen, err := startChild(ctx, lab.GenNS, r.genCPU(), childGen, genConfig(lab, scenario, load64x10k, 0))
	if err != nil {
		return "no profile: " + err.Error()
	}
	defer func() { _ = gen.stop(2 * time.Second) }()
	secs := max(2, int(r.opts.Trial.Seconds())*2)
	data := filepath.Join(r.tmp, "perf-"+scenario+".data")
	rec := exec.CommandContext(ctx, perf, "record", "-F", "999", "-g", "-p", strconv.Itoa(xd.Pid()), "-o", data, "--", "sleep", strconv.Itoa(secs))
	done := make(chan error, 1)
	go func() {
		var g GenResult
		done <- gen.request(GenCommand{Duration: time.Duration(secs)*time.Second + time.Second}, &g, time.Duration(secs+10)*time.Second)
	}()
	time.Sleep(200 * time.Millisecond)
	if out, err := rec.CombinedOutput(); err != nil {
		return fmt.Sprintf("no profile: perf record: %v: %s", err, lastLines(string(out), 2))
	}
	<-done
	rep, err := exec.CommandContext(ctx, perf, "report", "-i", data, "--stdio", "--no-children", "--sort", "symbol",
		"--percent-limit", "0.5", "-g", "none").Output()
	if err != nil {
		return "no profile: perf report: " + err.Error()
	}
	sum := ProfileSummary{KernelPct: -1, Top: topSymbols(string(rep), 4)}
	if dso, err := exec.CommandContext(ctx, perf, "report", "-i", data, "--stdio", "--no-children", "--sort", "dso", "-g", "none").Output(); err == nil {
		if k, ok := kernelShare(string(dso)); ok {
			sum.KernelPct = k
		}
	}
	r.res.ProfileSummary[scenario] = sum
	name := "profile-" + scenario + ".txt"
	head := fmt.Sprintf("# perf profile of bin/xvs (%s) under full 64 B / 10 k-flow load, %d s\n", scenario, secs)
	if err := os.WriteFile(filepath.Join(r.opts.Out, name), []byte(head+strings.TrimSpace(string(rep))+"\n"), 0o644); err != nil {
		return "no profile: " + err.Error()
	}
	return name
}

// ProfileSummary is a profile in brief: the share of its samples taken in
// the kernel (percent; -1 when perf could not say) and its top symbols
// (topSymbols).
type ProfileSummary struct {
	KernelPct float64
	Top       []string
}

// kernelShare reads a `perf report --sort dso` listing: the percentage of
// the samples taken in the kernel.
func kernelShare(report string) (float64, bool) {
	var k float64
	found := false
	for _, line := range strings.Split(report, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || !strings.HasSuffix(f[0], "%") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		found = true
		if strings.HasPrefix(f[1], "[kernel") {
			k += pct
		}
	}
	return k, found
}

// topSymbols returns the first n symbols of a profile file written by
// profile, each as "name pct" and marked [k] (kernel) or [.] (user space).
func topSymbols(profile string, n int) []string {
	var out []string
	for _, line := range strings.Split(profile, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasSuffix(f[0], "%") || (f[1] != "[k]" && f[1] != "[.]") {
			continue
		}
		name := f[2]
		if i := strings.LastIndex(name, "/"); i >= 0 {
			name = name[i+1:] // github.com/xvs-project/xvs/conntrack.(*probe).match: conntrack.(*probe).match
		}
		out = append(out, fmt.Sprintf("%s %s %s", f[1], name, f[0]))
		if len(out) == n {
			break
		}
	}
	return out
}
