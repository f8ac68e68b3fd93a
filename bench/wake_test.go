package bench

import (
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMeasureWake(t *testing.T) {
	other := min(1, runtime.NumCPU()-1)
	for _, tt := range []struct {
		to   int
		spin bool
	}{{0, false}, {other, false}, {other, true}} {
		w, err := MeasureWake(0, tt.to, tt.spin, 200, 20*time.Microsecond)
		if err != nil {
			t.Fatalf("0→%d spin %v: %v", tt.to, tt.spin, err)
		}
		if w.Samples != 200 || w.P50 <= 0 || w.P99 < w.P50 || w.From != 0 || w.To != tt.to || w.PeerSpins != tt.spin {
			t.Errorf("0→%d spin %v: %+v", tt.to, tt.spin, w)
		}
		t.Logf("CPU 0 → %d, peer spins %v: p50 %v p99 %v", tt.to, tt.spin, w.P50, w.P99)
	}
	if _, err := MeasureWake(0, 0, false, 0, 0); err == nil {
		t.Error("0 round trips: no error")
	}
	if _, err := MeasureWake(0, 4096, false, 10, 0); err == nil {
		t.Error("CPU 4096: no error")
	}
}

func TestLatencySummary(t *testing.T) {
	lat := []LatencyResult{
		{Scenario: ScKernelFwd, P50: 40 * time.Microsecond, Samples: 10},
		{Scenario: ScKernelFwd, LoadPPS: 1, P99: 100 * time.Microsecond, Samples: 10},
		{Scenario: ScKernelFwdRPS, P50: 150 * time.Microsecond, Samples: 10},
		{Scenario: ScKernelFwdRPS, LoadPPS: 1, P99: 900 * time.Microsecond, Samples: 10},
	}
	wake := []WakeResult{
		{From: 0, To: 0, P50: 9 * time.Microsecond, P99: 30 * time.Microsecond},
		{From: 0, To: 1, P50: 95 * time.Microsecond, P99: 1100 * time.Microsecond},
		{From: 0, To: 1, PeerSpins: true, P50: 12 * time.Microsecond, P99: 600 * time.Microsecond},
	}
	got := strings.Join(LatencySummary(lat, wake), "\n")
	for _, want := range []string{"95.0 µs at p50 and 1100.0 µs at p99", "on one core, 9.0 µs and 30.0 µs", "adds 110.0 µs at idle p50 and 800.0 µs at p99"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(got, "misses the 50 µs bar on added p99 even when it is the kernel") {
		t.Errorf("summary does not say the kernel misses the bar too:\n%s", got)
	}
	lat[3].P99 = 140 * time.Microsecond
	if got := strings.Join(LatencySummary(lat, nil), "\n"); !strings.Contains(got, "and 40.0 µs at p99") || strings.Contains(got, "misses") {
		t.Errorf("kernel on the director's core within the bar:\n%s", got)
	}
	if s := LatencySummary(lat[:2], nil); len(s) != 0 {
		t.Errorf("without kernel-fwd-rps or wake series: %q", s)
	}
}

// TestMeasureWakeKeepsChildren: the bench's children die with the thread
// that started them (Pdeathsig), so the wake series must not let a thread
// exit. (With the threads left to exit with their goroutines, the lab's
// echo server died and every latency probe after the series was lost.)
func TestMeasureWakeKeepsChildren(t *testing.T) {
	var cmds []*exec.Cmd
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Locked while it starts the child, so the children come from
			// many threads; unlocked after, so those threads stay.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cmd := exec.Command("sleep", "60")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			cmds = append(cmds, cmd)
			mu.Unlock()
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	other := min(1, runtime.NumCPU()-1)
	for range 8 {
		if _, err := MeasureWake(0, other, false, 20, 0); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // a SIGKILL sent is delivered by now
	for _, c := range cmds {
		var st unix.WaitStatus
		pid, err := unix.Wait4(c.Process.Pid, &st, unix.WNOHANG, nil)
		if err != nil || pid != 0 {
			t.Errorf("child %d ended (%v, %v) while the wake series ran", c.Process.Pid, st, err)
		}
	}
}
