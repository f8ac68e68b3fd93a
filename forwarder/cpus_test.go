package forwarder

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/cpuset"
	"github.com/xvs-project/xvs/link/linktest"
)

// TestWorkerCPUs: with Options.WorkerCPUs every queue's worker runs on a
// thread pinned to its CPU, and a CPU the process may not use is refused
// by New.
func TestWorkerCPUs(t *testing.T) {
	cur, err := cpuset.Current()
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) < 2 {
		t.Skip("needs two CPUs to tell a pinned thread from the rest") // CI's machines have two
	}
	cpu := cur[len(cur)-1]
	want := cpuset.Set{cpu}.String()
	before := threadsOn(t, want)
	const queues = 2
	e, err := New(Options{Backend: linktest.NewMemBackend(queues), Router: testRouter(), TableCapacity: 1 << 10, WorkerCPUs: []int{cpu}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for threadsOn(t, want) < before+queues {
		if time.Now().After(deadline) {
			t.Fatalf("%d threads on CPU %s, want %d more than the %d before", threadsOn(t, want), want, queues, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	settleThreadsOn(t, want, before)

	_, err = New(Options{Backend: linktest.NewMemBackend(1), Router: testRouter(), WorkerCPUs: []int{1023}})
	if err == nil || !strings.Contains(err.Error(), "worker CPUs: CPU 1023 is not one this process may run on") {
		t.Errorf("CPU 1023: %v", err)
	}
}

// threadsOn counts the process's threads whose CPU list is exactly cpus.
func threadsOn(t *testing.T, cpus string) int {
	masks, err := cpuset.ThreadMasks(0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range masks {
		if m == cpus {
			n++
		}
	}
	return n
}

// settleThreadsOn waits up to 2 s for the threads on cpus to fall back to
// n: a stopped worker's locked thread exits after Run returns, and the
// next test counts from that baseline.
func settleThreadsOn(t *testing.T, cpus string, n int) {
	for deadline := time.Now().Add(2 * time.Second); threadsOn(t, cpus) > n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}
