package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// GoBenchSpec names Go benchmarks to run with `go test -bench`: the
// connection table's memory and lookup cost and the forwarder's in-memory
// pipeline live in their packages' benchmarks, so the bench runs those
// rather than re-implementing them.
type GoBenchSpec struct {
	Pkg       string // e.g. "./conntrack/"
	Bench     string // -bench regexp
	BenchTime string // -benchtime, e.g. "1s" or "100000x"
	Short     bool   // pass -short (benchmarks skip their largest sizes)
	Timeout   time.Duration
}

// GoBench is one parsed benchmark line.
type GoBench struct {
	Pkg        string
	Name       string // without the "Benchmark" prefix and the -GOMAXPROCS suffix
	Iterations int64
	// Metrics by unit: "ns/op", "B/op", "allocs/op" and any b.ReportMetric unit.
	Metrics map[string]float64
	Units   []string // units in the order printed
}

var benchLineRE = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// ParseGoBench reads `go test -bench` output and returns its benchmark
// lines; other lines (goos, PASS, ok) are ignored.
func ParseGoBench(pkg string, r io.Reader) ([]GoBench, error) {
	var out []GoBench
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLineRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		iters, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil {
			continue
		}
		b := GoBench{Pkg: pkg, Name: m[1], Iterations: iters, Metrics: map[string]float64{}}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: value %q: %w", m[1], f[i], err)
			}
			b.Metrics[f[i+1]] = v
			b.Units = append(b.Units, f[i+1])
		}
		out = append(out, b)
	}
	return out, sc.Err()
}

// RunGoBench runs spec in dir (the module root) and parses the result.
func RunGoBench(ctx context.Context, dir string, spec GoBenchSpec) ([]GoBench, error) {
	if spec.Timeout == 0 {
		spec.Timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	args := []string{"test", "-run", "^$", "-bench", spec.Bench, "-benchmem", "-count", "1"}
	if spec.BenchTime != "" {
		args = append(args, "-benchtime", spec.BenchTime)
	}
	if spec.Short {
		args = append(args, "-short")
	}
	args = append(args, "-timeout", spec.Timeout.String(), spec.Pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, lastLines(string(out), 8))
	}
	return ParseGoBench(spec.Pkg, strings.NewReader(string(out)))
}
