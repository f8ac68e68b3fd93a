package forwarder

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xvs-project/xvs/service"
)

// TestPersistence: one client network sticks to one real server over many
// connections; other clients spread.
func TestPersistence(t *testing.T) {
	cfg := testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 3)
	cfg.Services[0].Persistence = &service.Persistence{Timeout: 300 * time.Second, NetmaskBits: 24}
	e, mem := newTestEngine(t, cfg)
	first := dstOf(t, run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: 1000, dport: 80, syn: true})))
	for i := 1; i < 50; i++ {
		// Another host of the same /24 counts as the same client.
		src := netip.AddrFrom4([4]byte{198, 18, 0, byte(1 + i%5)})
		if got := dstOf(t, run(e, mem, buildFrame(t, pkt{src: src, dst: vip4, sport: uint16(1000 + i), dport: 80, syn: true}))); got != first {
			t.Fatalf("connection %d from %v went to %v, first to %v", i, src, got, first)
		}
	}
	seen := map[netip.Addr]bool{}
	for i := 0; i < 30; i++ {
		src := netip.AddrFrom4([4]byte{198, 19, byte(i), 1})
		seen[dstOf(t, run(e, mem, buildFrame(t, pkt{src: src, dst: vip4, sport: 999, dport: 80, syn: true})))] = true
	}
	if len(seen) != 3 {
		t.Errorf("different client networks used %d real servers, want 3", len(seen))
	}
}

// TestQuiescentAndDeleted: weight 0 takes no new connections but keeps the
// open one; a deleted server's connection is scheduled afresh.
func TestQuiescentAndDeleted(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 2))
	syn := func(sport uint16) netip.Addr {
		return dstOf(t, run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: sport, dport: 80, syn: true})))
	}
	ack := func(sport uint16) netip.Addr {
		return dstOf(t, run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: sport, dport: 80, ack: true})))
	}
	open := syn(5000) // real 1 (rr starts at the first)
	key := service.Service{Proto: service.TCP, Addr: vip4, Port: 80}.Key()
	err := e.Apply(func(c *service.Config) error {
		r := c.Services[0].Reals[c.Services[0].FindReal(service.RealKey{Addr: open, Port: 8080})]
		r.Weight = 0
		return c.EditReal(key, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if got := syn(uint16(6000 + i)); got == open {
			t.Fatalf("new connection %d went to the quiescent server", i)
		}
	}
	if got := ack(5000); got != open {
		t.Fatalf("open connection moved to %v", got)
	}
	if err := e.Apply(func(c *service.Config) error { return c.DeleteReal(key, service.RealKey{Addr: open, Port: 8080}) }); err != nil {
		t.Fatal(err)
	}
	// A new SYN on the same tuple is scheduled afresh to the remaining server.
	if got := syn(5000); got == open {
		t.Fatalf("connection of a deleted server still goes to it")
	}
}

// TestDrops: malformed frames, traffic to no service, and TCP without SYN
// are counted by reason, and nothing is sent.
func TestDrops(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 1))
	good := buildFrame(t, pkt{src: client4, dst: vip4, sport: 1, dport: 80, syn: true})
	frames := [][]byte{
		good[:20], // truncated IPv4 header
		buildFrame(t, pkt{src: client4, dst: vip4, sport: 1, dport: 81, syn: true}),         // no service
		buildFrame(t, pkt{src: client4, dst: vip4, sport: 2, dport: 80, ack: true}),         // no connection
		buildFrame(t, pkt{src: client4, dst: vip4, sport: 3, dport: 80, syn: true, ttl: 1}), // TTL
	}
	if out := run(e, mem, frames...); len(out) != 0 {
		t.Fatalf("sent %d frames", len(out))
	}
	st := e.Stats()
	for _, want := range []string{"malformed", "no-service", "no-conn", "ttl"} {
		if n := service.DropCount(st.Drops, "mem/0", want); n != 1 {
			t.Errorf("drop %s = %d, want 1 (all: %v)", want, n, st.Drops)
		}
	}
}
