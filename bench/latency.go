package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

// Latency is measured with a request/response probe: a UDP echo server on
// the real servers (one socket per real-server address, and one on the VIP
// where the real servers hold it, so replies leave from the address the
// request came to) and a client in the generator namespace that sends one
// request at a time through the director and times the answer.

// EchoConfig is the echo child's setup.
type EchoConfig struct {
	Listen []netip.AddrPort
}

// RunEcho answers every datagram on cfg.Listen with itself until SIGTERM.
func RunEcho(cfg EchoConfig, out io.Writer) error {
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, ap := range cfg.Listen {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return fmt.Errorf("echo: %w", err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				_, _ = c.WriteToUDPAddrPort(buf[:n], from)
			}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if _, err := fmt.Fprintln(out, genReady); err != nil {
		return err
	}
	<-sig
	return nil
}

// ProbeConfig is the probe child's setup.
type ProbeConfig struct {
	Target   netip.AddrPort
	Count    int
	Interval time.Duration
	Timeout  time.Duration
}

// ProbeResult holds the round-trip times of the answered probes, sorted,
// and the number lost (no answer within the timeout).
type ProbeResult struct {
	RTTs []time.Duration
	Lost int
}

// errProbe says a probe run was not usable.
var errProbe = errors.New("probe failed")

// RunProbe prints "ready", waits for a line on stdin, sends cfg.Count
// requests one at a time and prints a ProbeResult.
func RunProbe(cfg ProbeConfig, out io.Writer) error {
	if cfg.Count <= 0 || cfg.Count > 1_000_000 {
		return fmt.Errorf("%w: count %d", errProbe, cfg.Count)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 50 * time.Millisecond
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(cfg.Target))
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer c.Close()
	if _, err := fmt.Fprintln(out, genReady); err != nil {
		return err
	}
	var line [1]byte
	if _, err := os.Stdin.Read(line[:]); err != nil {
		return fmt.Errorf("probe: waiting for go: %w", err)
	}
	res := ProbeResult{RTTs: make([]time.Duration, 0, cfg.Count)}
	req := make([]byte, 64)
	resp := make([]byte, 2048)
	for i := range cfg.Count {
		binary.BigEndian.PutUint64(req, uint64(i))
		start := time.Now()
		if _, err := c.Write(req); err != nil {
			res.Lost++
			continue
		}
		deadline := start.Add(cfg.Timeout)
		for {
			_ = c.SetReadDeadline(deadline)
			n, err := c.Read(resp)
			if err != nil {
				res.Lost++
				break
			}
			if n >= 8 && binary.BigEndian.Uint64(resp) == uint64(i) {
				res.RTTs = append(res.RTTs, time.Since(start))
				break
			}
			// A late answer to an earlier probe: keep waiting for ours.
		}
		if cfg.Interval > 0 {
			time.Sleep(cfg.Interval)
		}
	}
	slices.Sort(res.RTTs)
	return json.NewEncoder(out).Encode(res)
}

// latencyPhase probes every scenario but the bounces (which answer nothing)
// idle and under half of its own measured 64 B / 10 k-flow rate, and the
// latency twins (latencyTwin: each AF_XDP xvs mode with its worker
// spinning, kernel forwarding on the director's core) under their
// original's half load.
func (r *runner) latencyPhase(ctx context.Context, lab *Lab, scenarios []string) {
	if r.res.Wake == nil {
		r.res.Wake = r.wakeSeries()
		for _, w := range r.res.Wake {
			if w.Err != "" {
				r.fail(fmt.Errorf("wake CPU %d → %d: %s", w.From, w.To, w.Err))
				continue
			}
			r.progress("wake CPU %d → %d (peer spins %v): p50 %v p99 %v", w.From, w.To, w.PeerSpins,
				w.P50.Round(100*time.Nanosecond), w.P99.Round(100*time.Nanosecond))
		}
	}
	rows := Aggregate(r.res.Trials)
	half := map[string]float64{}
	for _, row := range rows {
		if row.Load == (Load{Proto: UDP, Size: 64, Flows: 10_000}) && row.PPS.N > 0 {
			half[row.Scenario] = row.PPS.Median / 2
		}
	}
	var withTwins []string
	for _, s := range scenarios {
		withTwins = append(withTwins, s)
		if twin := latencyTwin(s); twin != "" && !r.opts.Skip[twin] && (twin != ScKernelFwdRPS || r.dirCPU() >= 0) {
			withTwins = append(withTwins, twin)
			half[twin] = half[s]
		}
	}
	scenarios = withTwins
	rounds := max(1, min(r.opts.Rounds, 3))
	for round := range rounds {
		for _, s := range scenarios {
			if s == ScBounce1 || s == ScBounce2 || isGenOnly(s) || (isXVS(s) && r.xvsErr != nil) {
				continue
			}
			rates := []float64{0}
			if half[s] > 0 {
				rates = append(rates, half[s])
			}
			for _, rate := range rates {
				lr := r.latency(ctx, lab, s, rate, round)
				r.res.Latency = append(r.res.Latency, lr)
				what := "idle"
				if rate > 0 {
					what = fmt.Sprintf("under %.2f Mpps", rate/1e6)
				}
				if lr.Err != "" {
					r.fail(fmt.Errorf("latency %s %s: %s", s, what, lr.Err))
					continue
				}
				r.progress("latency %-11s %-18s round %d: p50 %v p99 %v (%d samples, %d lost)", s, what, round+1,
					lr.P50.Round(time.Microsecond), lr.P99.Round(time.Microsecond), lr.Samples, lr.Lost)
			}
		}
	}
}

// latency runs one probe series, with a background load when loadPPS > 0.
func (r *runner) latency(ctx context.Context, lab *Lab, scenario string, loadPPS float64, round int) (lr LatencyResult) {
	lr = LatencyResult{Scenario: scenario, Round: round, LoadPPS: loadPPS}
	dir, err := r.startDirector(ctx, lab, scenario)
	if err != nil {
		lr.Err = err.Error()
		return lr
	}
	defer func() {
		if err := dir.Stop(); err != nil && lr.Err == "" {
			lr.Err = err.Error()
		}
	}()
	probeTime := time.Duration(r.opts.ProbeCount) * (r.opts.ProbeInterval + 200*time.Microsecond)
	if loadPPS > 0 {
		var policy []string
		if r.genCPU() >= 0 {
			policy = backgroundPolicy
		}
		gen, err := startChildAs(ctx, lab.GenNS, r.genCPU(), childGen, genConfig(lab, scenario, Load{Proto: UDP, Size: 64, Flows: 10_000}, 0), policy)
		if err != nil {
			lr.Err = err.Error()
			return lr
		}
		defer func() { _ = gen.stop(2 * time.Second) }()
		go func() {
			var g GenResult
			_ = gen.request(GenCommand{Duration: probeTime + 3*time.Second, Rate: loadPPS}, &g, probeTime+10*time.Second)
		}()
		time.Sleep(300 * time.Millisecond) // flows established, queues in steady state
	}
	p, err := startChild(ctx, lab.GenNS, r.genCPU(), childProbe, ProbeConfig{
		Target: probeTarget(lab, scenario), Count: r.opts.ProbeCount, Interval: r.opts.ProbeInterval,
		Timeout: 50 * time.Millisecond,
	})
	if err != nil {
		lr.Err = err.Error()
		return lr
	}
	defer func() { _ = p.stop(time.Second) }()
	if _, err := p.stdin.Write([]byte("go\n")); err != nil {
		lr.Err = err.Error()
		return lr
	}
	var pr ProbeResult
	if err := p.readJSON(&pr, probeTime+time.Duration(r.opts.ProbeCount)*50*time.Millisecond+5*time.Second); err != nil {
		lr.Err = err.Error()
		return lr
	}
	lr.Samples, lr.Lost = len(pr.RTTs), pr.Lost
	if len(pr.RTTs) == 0 {
		lr.Err = fmt.Sprintf("%v: no probe answered (%d lost)", ErrNoTraffic, pr.Lost)
		return lr
	}
	lr.P50, lr.P99 = p50p99(pr.RTTs)
	lr.Max = pr.RTTs[len(pr.RTTs)-1]
	if pr.Lost > len(pr.RTTs)/2 {
		lr.Err = fmt.Sprintf("%v: %d of %d probes lost", ErrNoTraffic, pr.Lost, r.opts.ProbeCount)
	}
	return lr
}

// p50p99 returns the median and 99th percentile of sorted durations.
func p50p99(sorted []time.Duration) (p50, p99 time.Duration) {
	f := make([]float64, len(sorted))
	for i, d := range sorted {
		f[i] = float64(d)
	}
	return time.Duration(Percentile(f, 50)), time.Duration(Percentile(f, 99))
}
