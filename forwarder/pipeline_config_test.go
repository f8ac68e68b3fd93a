package forwarder

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// TestSetCapacity: the table's capacity changes at run time; a capacity
// below the live entries is refused with a message saying so.
func TestSetCapacity(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.UDP, vip4, 53, "rr", service.MethodDR, 0, 1))
	for i := 0; i < 10; i++ {
		run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: uint16(100 + i), dport: 53, udp: true}))
	}
	err := e.SetCapacity(5)
	if err == nil || !strings.Contains(err.Error(), "below the 10 entries") {
		t.Fatalf("capacity below the live count: %v", err)
	}
	if got := e.Stats().Table.Capacity; got != 1<<16 {
		t.Errorf("a refused change moved the capacity to %d", got)
	}
	if err := e.SetCapacity(100); err != nil {
		t.Fatal(err)
	}
	if got := e.Stats().Table.Capacity; got != 100 {
		t.Errorf("capacity %d, want 100", got)
	}
}

// TestRefusedChangeTouchesNothing: when the backend refuses the new steering,
// the configuration, the weights and the scheduler's list stay as they were.
func TestRefusedChangeTouchesNothing(t *testing.T) {
	mem := &refusingBackend{MemBackend: linktest.NewMemBackend(1)}
	e, err := New(Options{Backend: mem, Router: testRouter(),
		Services: testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	key := e.Config().Services[0].Key()
	mem.refuse = true
	err = e.Apply(func(c *service.Config) error {
		for i := range c.Services[0].Reals {
			c.Services[0].Reals[i].Weight = 0
		}
		return c.AddReal(key, service.Real{Addr: realAddr(4, 3), Port: 8080, Weight: 1, Method: service.MethodNAT})
	})
	if err == nil {
		t.Fatal("the change went through a refusing backend")
	}
	if n := len(e.Config().Services[0].Reals); n != 2 {
		t.Errorf("config has %d reals, want the old 2", n)
	}
	// Both old servers still take connections; the refused one never does.
	seen := map[netip.Addr]bool{}
	for i := 0; i < 6; i++ {
		seen[dstOf(t, run(e, mem.MemBackend, buildFrame(t, pkt{src: client4, dst: vip4, sport: uint16(3000 + i), dport: 80, syn: true})))] = true
	}
	if len(seen) != 2 || seen[realAddr(4, 3)] {
		t.Errorf("after a refused change connections went to %v", seen)
	}
}
