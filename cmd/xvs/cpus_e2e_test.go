package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/internal/cpuset"
	"github.com/xvs-project/xvs/internal/testnet"
)

// TestPinnedThreads: with --worker-cpus and --control-cpus the workers run
// on threads of their own CPU and every other thread of the daemon on the
// control CPUs, and the service works as without them, whether the workers
// sleep at once or spin first (--worker-spin).
func TestPinnedThreads(t *testing.T) {
	for _, spin := range []string{"0s", "50us"} {
		t.Run("spin "+spin, func(t *testing.T) { testPinnedThreads(t, spin) })
	}
}

func testPinnedThreads(t *testing.T, spin string) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	cpus, err := cpuset.Current()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) < 2 {
		t.Skip("needs two CPUs") // CI's machines have two
	}
	worker, control := cpus[len(cpus)-1], cpus[0]
	l := startWith(t, setup{mode: testnet.NAT, backend: "xdp", config: config,
		serve: testnet.ServeOptions{HTTP: []string{fmt.Sprintf(":%d", realPort(testnet.NAT))}, UDP: []string{":53"}},
		args:  []string{"--worker-cpus", fmt.Sprint(worker), "--control-cpus", fmt.Sprint(control), "--worker-spin", spin}})
	checkService(t, l, l.VIP4)
	masks := threadMasks(t, daemonPID(t, l.sock))
	workers := 0
	for tid, m := range masks {
		switch m {
		case fmt.Sprint(worker):
			workers++
		case fmt.Sprint(control):
		default:
			t.Errorf("thread %d on CPUs %s, want %d (control) or %d (worker)", tid, m, control, worker)
		}
	}
	if workers == 0 {
		t.Errorf("no thread on the worker CPU %d: %v", worker, masks)
	}
	if !strings.Contains(l.xvs.Output(), "threads placed") {
		t.Errorf("no log line says where the threads went:\n%s", l.xvs.Output())
	}
}

// daemonPID finds the xvs run serving sock.
func daemonPID(t *testing.T, sock string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && args[1] == "run" && strings.Contains(string(b), "\x00"+sock+"\x00") {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	t.Fatalf("no xvs run serving %s", sock)
	return 0
}

// threadMasks reads each thread's CPU list.
func threadMasks(t *testing.T, pid int) map[int]string {
	masks, err := cpuset.ThreadMasks(pid)
	if err != nil {
		t.Fatal(err)
	}
	return masks
}
