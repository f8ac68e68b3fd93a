package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// Control-plane end-to-end tests: the daemon on a DR lab (see e2e_test.go)
// keeps forwarding and answering xvsadm while its metrics port is flooded by
// an unprivileged user, while 50 xvsadm loops run at once, and while hostile
// clients abuse its control socket.

// nobody is the unprivileged user the flooder runs as.
const nobody = 65534

// floodBinary builds testdata/flood into a directory nobody can read.
func floodBinary(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(xvsBinary(t)), "flood-bin")
	bin := filepath.Join(dir, "flood")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/flood").CombinedOutput(); err != nil {
		t.Fatalf("go build flood: %v\n%s", err, out)
	}
	// The build directory and its parent are 0700 by default.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// startAsNobody starts the flooder in h's network namespace as nobody. The
// child is forked from a thread inside the namespace (Host.Do), so it is
// born there without `ip netns exec`, which an unprivileged user cannot run.
func startAsNobody(t *testing.T, h *testnet.Host, bin string, args ...string) (*exec.Cmd, *testnet.SyncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out := &testnet.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: nobody, Gid: nobody, NoSetGroups: false, Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
		Setpgid:    true,
	}
	if err := h.Do(cmd.Start); err != nil {
		t.Fatalf("start flooder: %v", err)
	}
	t.Cleanup(func() {
		// Kill it by its own pid, wait for it, and check it is gone.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", cmd.Process.Pid)); err == nil {
			t.Errorf("flooder %d still exists after the test", cmd.Process.Pid)
		}
	})
	return cmd, out
}

// daemonPid is the daemon's pid (`ip netns exec` execs it in place).
func (l *lab) daemonPid() int { return l.xvs.Cmd.Process.Pid }

// fds counts the daemon's open descriptors.
func (l *lab) fds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", l.daemonPid()))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// rssKiB reads the daemon's resident set size.
func (l *lab) rssKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", l.daemonPid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// goHeap scrapes the daemon's Go heap in use from its metrics endpoint.
func (l *lab) goHeap(t *testing.T) (float64, error) {
	t.Helper()
	var c net.Conn
	if err := l.Director.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", "127.0.0.1:9100", 3*time.Second)
		return err
	}); err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: xvs\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no go_memstats_heap_inuse_bytes in the scrape (%v)", sc.Err())
}

// xvsadmPath is xvsadmBinary's result, for goroutines that have no t to
// build it with; tests set it first.
var xvsadmPath string

// tryXvsadm runs xvsadm and returns its output and error (no t.Fatal: it
// is called from many goroutines).
func (l *lab) tryXvsadm(args ...string) (string, error) {
	cmd := exec.Command(xvsadmPath, args...)
	cmd.Env = append(os.Environ(), "XVS_SOCKET="+l.sock)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// timedList runs xvsadm -Ln and fails the test if it fails or takes over
// bound.
func (l *lab) timedList(t *testing.T, bound time.Duration) time.Duration {
	start := time.Now()
	out, err := l.tryXvsadm("-L", "-n")
	d := time.Since(start)
	if err != nil {
		t.Errorf("xvsadm -Ln: %v\n%s", err, out)
	} else if d > bound {
		t.Errorf("xvsadm -Ln took %v (bound %v)", d, bound)
	}
	return d
}

// TestMetricsFlood: 20 000 idle keep-alive connections to the metrics port,
// opened by nobody from the director's own namespace, spread over four
// processes (the hard open-files limit is inherited from the test). The
// daemon's descriptors stay within the cap, real traffic through the VIP is
// answered all along, xvsadm -Ln answers within 2 s, and a real scrape gets
// through.
func TestMetricsFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	l := startLab(t, testnet.DR, "xdp")
	xvsadmPath = xvsadmBinary(t)
	bin := floodBinary(t)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	const total, procs = 20000, 4
	if lim.Max < total/procs+64 {
		t.Fatalf("hard open-files limit %d: the flooders cannot open %d connections each", lim.Max, total/procs)
	}
	base := l.fds(t)
	var floods []*testnet.SyncBuffer
	var flooders []*exec.Cmd
	for range procs {
		cmd, out := startAsNobody(t, l.Director, bin, "-addr", "127.0.0.1:9100", "-n", strconv.Itoa(total/procs), "-hold", "30s")
		floods = append(floods, out)
		flooders = append(flooders, cmd)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var peakFds atomic.Int64
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		for ctx.Err() == nil {
			if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", l.daemonPid())); err == nil {
				peakFds.Store(max(peakFds.Load(), int64(len(ents))))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// Traffic and admin while the flood opens and holds its connections.
	trafficDone := make(chan error, 1)
	var answered atomic.Int64
	go func() {
		for i := 0; i < 10 && ctx.Err() == nil; i++ {
			sum, err := l.Client.HTTPGet(ctx, testnet.GetOptions{URL: testnet.HTTPURL(l.VIP4, 80, "/"), N: 50, Parallel: 2})
			if err != nil {
				trafficDone <- err
				return
			}
			answered.Add(int64(sum.OK))
			if sum.OK != 50 {
				trafficDone <- fmt.Errorf("round %d: %d of 50 answered: %v", i, sum.OK, sum.Errors)
				return
			}
			time.Sleep(time.Second)
		}
		trafficDone <- nil
	}()
	var worst time.Duration
	scraped := false
	for end := time.Now().Add(28 * time.Second); time.Now().Before(end); {
		worst = max(worst, l.timedList(t, 2*time.Second))
		if !scraped {
			_, err := l.goHeap(t)
			scraped = err == nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := <-trafficDone; err != nil {
		t.Errorf("traffic through the VIP during the flood: %v", err)
	}
	cancel()
	<-sampleDone
	opened := 0
	for i, out := range floods {
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		t.Logf("flooder %d: %s ... %s", i, lines[0], lines[len(lines)-1])
		last := 0
		for _, line := range strings.Split(out.String(), "\n") {
			var o, f int
			if _, err := fmt.Sscanf(line, "opened %d failed %d", &o, &f); err == nil {
				last = o
			}
		}
		opened += last
	}
	t.Logf("daemon fds: %d before, peak %d; %d connections opened by nobody; %d requests answered through the VIP; worst xvsadm -Ln %v",
		base, peakFds.Load(), opened, answered.Load(), worst.Round(time.Millisecond))
	if opened < total/2 {
		t.Errorf("the flood opened only %d of %d connections: not a flood", opened, total)
	}
	// The cap is 64 metrics connections, 16 more closed but not yet
	// released by their goroutine, and the one being accepted; allow a
	// few more for xvsadm's connections and the daemon's own short-lived
	// descriptors.
	if p := peakFds.Load(); p > int64(base)+81+8 {
		t.Errorf("daemon held %d descriptors during the flood (%d before, cap 64+16)", p, base)
	}
	if !scraped {
		t.Error("no scrape of /metrics got through during the flood")
	}
	// Once the flooders are gone, so are their connections' descriptors.
	for _, cmd := range flooders {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	var after int
	for range 100 {
		if after = l.fds(t); after <= base+2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("daemon fds after the flooders left: %d", after)
	if after > base+2 {
		t.Errorf("daemon holds %d descriptors 10 s after the flood, %d before", after, base)
	}
}

// TestParallelXvsadm: 50 xvsadm loops at once for 10 s, listing, listing
// with statistics, and adding and deleting real servers of a scratch
// service: no command fails.
func TestParallelXvsadm(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	l := startLab(t, testnet.DR, "xdp")
	xvsadmPath = xvsadmBinary(t)
	scratch := fmt.Sprintf("%s:8888", l.VIP4)
	l.xvsadm(t, "-A", "-t", scratch, "-s", "rr")
	real := l.Reals[0].Addr4
	var cmds, fails atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(10 * time.Second)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs := fmt.Sprintf("%s:%d", real, 10000+i)
			for n := 0; time.Now().Before(end); n++ {
				var steps [][]string
				switch i % 3 {
				case 0:
					steps = [][]string{{"-L", "-n"}}
				case 1:
					steps = [][]string{{"-L", "-n", "--stats"}}
				case 2:
					steps = [][]string{{"-a", "-t", scratch, "-r", rs, "-m"}, {"-d", "-t", scratch, "-r", rs}}
				}
				for _, args := range steps {
					cmds.Add(1)
					if out, err := l.tryXvsadm(args...); err != nil {
						if fails.Add(1) <= 5 {
							t.Errorf("xvsadm %s: %v\n%s", strings.Join(args, " "), err, out)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d commands in 10 s from 50 loops, %d failed", cmds.Load(), fails.Load())
	if fails.Load() > 0 {
		t.Errorf("%d of %d commands failed", fails.Load(), cmds.Load())
	}
	if out := l.xvsadm(t, "-L", "-n", "-t", scratch); strings.Contains(out, "->") && strings.Count(out, "->") > 1 {
		t.Errorf("scratch service not back to empty:\n%s", out)
	}
}

// TestHostileControlClients: root clients that open hundreds of connections
// and never send a whole request, or send a line that never ends, do not
// grow the daemon's memory beyond its bounds, others are served meanwhile,
// and the memory is returned after they leave.
func TestHostileControlClients(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	l := startLab(t, testnet.DR, "xdp")
	xvsadmPath = xvsadmBinary(t)
	l.timedList(t, 2*time.Second)
	heap0, err := l.goHeap(t)
	if err != nil {
		t.Fatal(err)
	}
	rss0, fds0 := l.rssKiB(t), l.fds(t)

	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	// 400 connections that send half a request and stall, more than the
	// daemon keeps open.
	for i := range 400 {
		c, err := net.Dial("unix", l.sock)
		if err != nil {
			t.Fatalf("half-open connection %d: %v", i, err)
		}
		fmt.Fprintf(c, `{"op":"sta`)
		held = append(held, c)
	}
	// Four clients that send an endless line, reconnecting when refused.
	var sent atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chunk := []byte(strings.Repeat("x", 64<<10))
			for ctx.Err() == nil {
				c, err := net.Dial("unix", l.sock)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
				c.Write([]byte(`{"op":"apply","changes":"`))
				for ctx.Err() == nil {
					c.SetWriteDeadline(time.Now().Add(time.Second))
					n, err := c.Write(chunk)
					sent.Add(int64(n))
					if err != nil && !isTimeoutErr(err) {
						break
					}
				}
				c.Close()
			}
		}()
	}
	var peakRSS, peakHeap float64
	var lists int
	var worst time.Duration
	for ctx.Err() == nil {
		worst = max(worst, l.timedList(t, 5*time.Second))
		lists++
		peakRSS = max(peakRSS, float64(l.rssKiB(t))*1024)
		if h, err := l.goHeap(t); err == nil {
			peakHeap = max(peakHeap, h)
		}
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	mu.Lock()
	for _, c := range held {
		c.Close()
	}
	mu.Unlock()
	// Give the daemon a moment to see them leave (and its rate-limited
	// release of a long line's memory to run).
	var heap1 float64
	var rss1 int
	for range 20 {
		time.Sleep(500 * time.Millisecond)
		heap1, err = l.goHeap(t)
		rss1 = l.rssKiB(t)
		if err == nil && heap1 < heap0+8<<20 && rss1 < rss0+16<<10 {
			break
		}
	}
	fds1 := l.fds(t)
	const mib = 1 << 20
	t.Logf("hostile clients sent %d MiB; %d xvsadm -Ln answered meanwhile, worst %v", sent.Load()/mib, lists, worst.Round(time.Millisecond))
	t.Logf("Go heap in use: %.1f MiB before, peak %.1f, after %.1f; RSS %.1f MiB before, peak %.1f, after %.1f; fds %d before, %d after",
		heap0/mib, peakHeap/mib, heap1/mib, float64(rss0)/1024, peakRSS/mib, float64(rss1)/1024, fds0, fds1)
	// Bound: 256 connections × 16 KiB buffers, the one 32 MiB long-line
	// buffer with its last doubling (16 + 32 MiB at once) and the garbage
	// of the doublings, which GOGC=100 lets reach the live heap's size
	// before a collection; independent of how much the clients send.
	if grow := peakHeap - heap0; grow > 112*mib {
		t.Errorf("Go heap grew by %.1f MiB under hostile clients (bound 112)", grow/mib)
	}
	if grow := peakRSS - float64(rss0)*1024; grow > 160*mib {
		t.Errorf("RSS grew by %.1f MiB under hostile clients (bound 160)", grow/mib)
	}
	if heap1 > heap0+8*mib {
		t.Errorf("Go heap %.1f MiB after the clients left, %.1f before: not returned", heap1/mib, heap0/mib)
	}
	if fds1 > fds0+4 {
		t.Errorf("%d descriptors after the clients left, %d before", fds1, fds0)
	}
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
