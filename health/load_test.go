package health

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperHTTPServer is the web server of TestLoad1000HTTP, run in a child process so the
// measured CPU is the checker's alone.
func TestHelperHTTPServer(t *testing.T) {
	if os.Getenv("XVS_HEALTH_HELPER") != "1" {
		t.Skip("helper process only")
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }() // the parent closing stdin ends us
	srv.Serve(ln)
}

// TestLoad1000HTTP checks 1000 real servers by HTTP every second for 10 s and reports the
// checking process's CPU time (set XVS_HEALTH_LOAD=1; it is a measurement, not a unit test).
func TestLoad1000HTTP(t *testing.T) {
	if os.Getenv("XVS_HEALTH_LOAD") != "1" {
		t.Skip("set XVS_HEALTH_LOAD=1 to measure")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHTTPServer$")
	cmd.Env = append(os.Environ(), "XVS_HEALTH_HELPER=1")
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(strings.TrimSpace(line))
	tm := Timing{DelayLoop: time.Second, Timeout: 2 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Warmup: time.Second}
	var reals []Real
	for i := 0; i < 1000; i++ {
		reals = append(reals, Real{Key: i, Name: fmt.Sprint(i), Weight: 1,
			Checks: []Check{{Checker: &HTTP{Addr: addr, URLs: []URL{{Path: "/"}}}, Timing: tm}}})
	}
	e, err := New([]Service{{Key: "vs", Name: "vs", Quorum: 1, Reals: reals}}, nopActions{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	time.Sleep(3 * time.Second) // past bootstrap and warmup
	before, t0 := cpu(), time.Now()
	time.Sleep(10 * time.Second)
	used, wall := cpu()-before, time.Since(t0)
	e.Stop()
	var runs, fails uint64
	for _, st := range e.Status() {
		runs += st.Runs
		fails += st.Failures
	}
	t.Logf("1000 HTTP checks/s: %.1f%% of one core (%v CPU in %v), %d probes, %d failed", 100*used.Seconds()/wall.Seconds(), used, wall.Truncate(time.Millisecond), runs, fails)
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type nopActions struct{}

func (nopActions) AddReal(any, any, int) error   { return nil }
func (nopActions) RemoveReal(any, any) error     { return nil }
func (nopActions) SetWeight(any, any, int) error { return nil }
