package forwarder

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/internal/cpuset"
	"github.com/xvs-project/xvs/internal/pollwait"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// TestGroupWorkers: pinned workers are grouped one thread per worker CPU
// when every queue can be waited on beside the others.
func TestGroupWorkers(t *testing.T) {
	polls, err := linktest.NewPollBackend(3)
	if err != nil {
		t.Fatal(err)
	}
	defer polls.Close()
	plain := linktest.NewMemBackend(3)
	workersOf := func(b link.Backend) []*worker {
		var ws []*worker
		for _, q := range b.Queues() {
			ws = append(ws, &worker{q: q})
		}
		return ws
	}
	tests := []struct {
		name    string
		backend link.Backend
		cpus    []int
		spin    time.Duration
		want    []int // workers per group; nil: not grouped
	}{
		{"unpinned", polls, nil, 0, nil},
		{"a CPU each", polls, []int{0, 1, 2}, 0, []int{1, 1, 1}},
		{"more CPUs than queues", polls, []int{0, 1, 2, 3}, 0, []int{1, 1, 1}},
		{"one CPU", polls, []int{0}, 0, []int{3}},
		{"two CPUs, spinning", polls, []int{0, 1}, 50 * time.Microsecond, []int{2, 1}},
		{"queues without a descriptor", plain, []int{0}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := workersOf(tt.backend)
			groups, ok := groupWorkers(ws, tt.cpus, tt.spin)
			if ok != (tt.want != nil) {
				t.Fatalf("grouped %v, want %v", ok, tt.want != nil)
			}
			if len(groups) != len(tt.want) {
				t.Fatalf("%d groups, want %d", len(groups), len(tt.want))
			}
			for i, g := range groups {
				if len(g.workers) != tt.want[i] || len(g.pollers) != tt.want[i] {
					t.Errorf("group %d: %d workers, want %d", i, len(g.workers), tt.want[i])
				}
				g.wait.Got()
				if g.wait.Spinning() != (tt.spin > 0) {
					t.Errorf("group %d: busy waiter spinning %v, want %v", i, g.wait.Spinning(), tt.spin > 0)
				}
				for j, w := range g.workers {
					if w != ws[i+j*len(tt.cpus)] {
						t.Errorf("group %d worker %d is not queue %d's", i, j, i+j*len(tt.cpus))
					}
				}
			}
		})
	}
}

// TestWorkerGroupForwards: a NAT engine with two queues on one worker CPU
// runs them on one thread pinned there, which forwards a client's SYN
// arriving on one queue and the real server's answer arriving on the
// other, whether it sleeps at once or spins.
func TestWorkerGroupForwards(t *testing.T) {
	for _, spin := range []time.Duration{0, 50 * time.Microsecond} {
		t.Run("spin "+spin.String(), func(t *testing.T) { testWorkerGroupForwards(t, spin) })
	}
}

func testWorkerGroupForwards(t *testing.T, spin time.Duration) {
	cur, err := cpuset.Current()
	if err != nil {
		t.Fatal(err)
	}
	cpu := cur[len(cur)-1]
	pinned := cpuset.Set{cpu}.String()
	mem, err := linktest.NewPollBackend(2)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 1)
	e, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 10, WorkerCPUs: []int{cpu}, WorkerSpin: spin})
	if err != nil {
		t.Fatal(err)
	}
	before := threadsOn(t, pinned)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		settleThreadsOn(t, pinned, before)
	}()

	mem.Queue(0).Inject(buildFrame(t, pkt{src: client4, dst: vip4, sport: 40000, dport: 80, syn: true, ttl: 64}))
	out := waitSent(t, mem.Queue(0))
	if out.Ifindex != ifInt {
		t.Fatalf("SYN sent on interface %d, want the internal one (%d)", out.Ifindex, ifInt)
	}
	if tcp := checkFrame(t, out.Data).Layer(layers.LayerTypeTCP).(*layers.TCP); tcp.DstPort != 8080 {
		t.Errorf("SYN to port %d, want 8080", tcp.DstPort)
	}
	mem.Queue(1).Inject(buildFrame(t, pkt{src: realAddr(4, 1).Unmap(), dst: client4, sport: 8080, dport: 40000, syn: true, ack: true,
		srcMAC: [6]byte{0x02, 0, 0, 0, 0x01, 1}, dstMAC: macDirInt}))
	out = waitSent(t, mem.Queue(1))
	p := checkFrame(t, out.Data)
	src, _ := p.NetworkLayer().NetworkFlow().Endpoints()
	if out.Ifindex != ifExt || netip.MustParseAddr(src.String()) != vip4 {
		t.Errorf("answer sent on interface %d from %v, want %d from the VIP", out.Ifindex, src, ifExt)
	}
	if n := threadsOn(t, pinned); n != before+1 {
		t.Errorf("%d threads on CPU %s, want one more than the %d before (one for both queues)", n, pinned, before)
	}
}

// TestWorkerSpinRange: a spin outside 0 to pollwait.MaxSpin is refused.
func TestWorkerSpinRange(t *testing.T) {
	for _, spin := range []time.Duration{-time.Microsecond, pollwait.MaxSpin + 1} {
		cfg := testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 1)
		_, err := New(Options{Backend: linktest.NewMemBackend(1), Router: testRouter(), Services: cfg, TableCapacity: 1 << 10, WorkerSpin: spin})
		if err == nil || !strings.Contains(err.Error(), "worker spin") {
			t.Errorf("spin %v: err %v, want a worker spin error", spin, err)
		}
	}
}

// waitSent waits up to 5 s for q to transmit a frame and returns the first.
func waitSent(t *testing.T, q *linktest.MemQueue) linktest.SentFrame {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if s := q.Sent(); len(s) > 0 {
			return s[0]
		}
	}
	t.Fatal("nothing sent in 5 s")
	return linktest.SentFrame{}
}
