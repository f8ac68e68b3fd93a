package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The TCP-load phase's tools are Debian's: ApacheBench (apache2-utils) for
// HTTP requests per second, iperf3 for bulk TCP, nginx as the real
// servers' web server (scripts/deps.sh installs them). This file runs the
// two clients and reads what they print.

// tcpTools are the programs the phase needs, by the Debian package that
// has them.
var tcpTools = [][2]string{{"ab", "apache2-utils"}, {"iperf3", "iperf3"}, {"nginx", "nginx-light"}, {"ss", "iproute2"}}

// missingTCPTools lists the phase's tools that are not installed, as
// "tool (package)".
func missingTCPTools() []string {
	var out []string
	for _, t := range tcpTools {
		if _, err := exec.LookPath(t[0]); err != nil {
			out = append(out, t[0]+" ("+t[1]+")")
		}
	}
	return out
}

// installTCPTools installs the phase's missing tools with the project's
// scripts/deps.sh (moduleDir is the module root) and fails, naming them,
// if any is still missing after.
func installTCPTools(moduleDir string) error {
	if len(missingTCPTools()) == 0 {
		return nil
	}
	script := filepath.Join(moduleDir, "scripts", "deps.sh")
	if out, err := exec.Command("bash", script).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", script, err, strings.TrimSpace(string(out)))
	}
	if miss := missingTCPTools(); len(miss) > 0 {
		return fmt.Errorf("%s ran but %s are still missing", script, strings.Join(miss, ", "))
	}
	return nil
}

// toolCommand runs argv in namespace ns, pinned to cpu (-1: not pinned),
// killed with ctx and when the bench dies. Unlike the generator it keeps
// the default nice: the kernel baselines forward in softirq in the
// context of the process that sends, so a niced client would lower the
// baselines' priority too, which other jobs on a shared machine then
// take (measured: nice 10 cut nft DNAT's and kernel-ecmp's requests/s by
// half or more on a loaded machine, xvs's, whose worker has CPU 1, less).
func toolCommand(ctx context.Context, ns string, cpu int, argv ...string) *exec.Cmd {
	full := append([]string{"ip", "netns", "exec", ns}, argv...)
	if cpu >= 0 {
		full = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, full...)
	}
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// ABRun is one ab run's bounds: Concurrency requests in flight, at most
// Requests of them, for at most Time (whole seconds, ab's -t), keep-alive
// off (ab's default: every request is a new connection).
type ABRun struct {
	URL         string
	Concurrency int
	Requests    int
	Time        time.Duration
}

// args is ab's command line. -t comes before -n: ab's -t sets the request
// bound to 50000, and a later -n overrides it. -r keeps ab going on a
// socket error, so that a failure is counted, not fatal; -s bounds each
// request's wait.
func (a ABRun) args() []string {
	return []string{"ab", "-q", "-r", "-s", "5", "-c", strconv.Itoa(a.Concurrency),
		"-t", strconv.Itoa(wholeSeconds(a.Time)), "-n", strconv.Itoa(a.Requests), a.URL}
}

// wholeSeconds rounds d to whole seconds, at least one: ab's and iperf3's
// -t take integers.
func wholeSeconds(d time.Duration) int { return max(1, int(d.Round(time.Second)/time.Second)) }

// ABResult is what ab reported.
type ABResult struct {
	// Complete requests, Failed ones (connect, receive, length and
	// exception errors) and Non2xx answers.
	Complete, Failed, Non2xx int
	// Taken is ab's "Time taken for tests".
	Taken time.Duration
	// RPS is ab's "Requests per second" (complete ÷ taken).
	RPS float64
}

// ErrToolOutput says ab's or iperf3's output lacked a figure the bench
// needs.
var ErrToolOutput = errors.New("unexpected tool output")

// ParseAB reads ab's report: the "Key: value" lines of its summary. A
// report without the complete and failed counts, the time taken and the
// rate is an error.
func ParseAB(out string) (ABResult, error) {
	var res ABResult
	const need = 4
	found := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		var err error
		switch strings.TrimSpace(key) {
		case "Complete requests":
			res.Complete, err = strconv.Atoi(f[0])
			found++
		case "Failed requests":
			res.Failed, err = strconv.Atoi(f[0])
			found++
		case "Non-2xx responses":
			res.Non2xx, err = strconv.Atoi(f[0])
		case "Time taken for tests":
			var s float64
			if s, err = strconv.ParseFloat(f[0], 64); err == nil && s >= 0 && s < 1e9 {
				res.Taken = time.Duration(s * float64(time.Second))
			} else if err == nil {
				err = fmt.Errorf("%v s out of range", s)
			}
			found++
		case "Requests per second":
			res.RPS, err = strconv.ParseFloat(f[0], 64)
			found++
		default:
			continue
		}
		if err != nil {
			return ABResult{}, fmt.Errorf("%w: ab: %s: %w", ErrToolOutput, strings.TrimSpace(key), err)
		}
	}
	if found < need || res.Complete < 0 || res.Failed < 0 || res.Non2xx < 0 || !(res.RPS >= 0) {
		return ABResult{}, fmt.Errorf("%w: ab printed no complete summary: %s", ErrToolOutput, lastLines(out, 3))
	}
	return res, nil
}

// runAB runs ab in namespace ns (the client) and reads its report.
func runAB(ctx context.Context, ns string, cpu int, a ABRun) (ABResult, error) {
	ctx, cancel := context.WithTimeout(ctx, a.Time+30*time.Second)
	defer cancel()
	out, err := toolCommand(ctx, ns, cpu, a.args()...).CombinedOutput()
	if err != nil {
		return ABResult{}, fmt.Errorf("ab: %w: %s", err, lastLines(string(out), 3))
	}
	return ParseAB(string(out))
}

// IperfRun is one iperf3 client run: one TCP stream to Host:Port for Time
// (whole seconds).
type IperfRun struct {
	Host string
	Port int
	Time time.Duration
}

func (i IperfRun) args() []string {
	return []string{"iperf3", "-J", "-c", i.Host, "-p", strconv.Itoa(i.Port), "-t", strconv.Itoa(wholeSeconds(i.Time))}
}

// IperfResult is what iperf3's client reported (its --json end summary).
type IperfResult struct {
	// Seconds, Bytes and BitsPerSecond are the receiver's: what reached
	// the server.
	Seconds       float64
	Bytes         uint64
	BitsPerSecond float64
	// Retransmits are the sender's TCP retransmissions.
	Retransmits int
}

// Gbps is the received rate in Gbit/s.
func (i IperfResult) Gbps() float64 { return i.BitsPerSecond / 1e9 }

// iperfJSON is the part of iperf3 --json's output the bench reads.
type iperfJSON struct {
	End struct {
		SumSent struct {
			Retransmits int `json:"retransmits"`
		} `json:"sum_sent"`
		SumReceived *struct {
			Seconds       float64 `json:"seconds"`
			Bytes         uint64  `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// ParseIperf3 reads iperf3 --json's output; a run iperf3 says failed, or
// one without the receiver's summary, is an error.
func ParseIperf3(out []byte) (IperfResult, error) {
	var j iperfJSON
	if err := json.Unmarshal(out, &j); err != nil {
		return IperfResult{}, fmt.Errorf("%w: iperf3 --json: %w", ErrToolOutput, err)
	}
	if j.Error != "" {
		return IperfResult{}, fmt.Errorf("iperf3: %s", j.Error)
	}
	s := j.End.SumReceived
	if s == nil || s.Seconds <= 0 {
		return IperfResult{}, fmt.Errorf("%w: iperf3 --json: no receiver summary", ErrToolOutput)
	}
	return IperfResult{Seconds: s.Seconds, Bytes: s.Bytes, BitsPerSecond: s.BitsPerSecond, Retransmits: j.End.SumSent.Retransmits}, nil
}

// runIperf3 runs iperf3's client in namespace ns and reads its summary.
func runIperf3(ctx context.Context, ns string, cpu int, i IperfRun) (IperfResult, error) {
	ctx, cancel := context.WithTimeout(ctx, i.Time+30*time.Second)
	defer cancel()
	// iperf3 writes its JSON, errors included, to stdout.
	out, err := toolCommand(ctx, ns, cpu, i.args()...).Output()
	res, perr := ParseIperf3(out)
	if perr != nil && err != nil {
		return IperfResult{}, fmt.Errorf("iperf3: %w (%w)", perr, err)
	}
	return res, perr
}
