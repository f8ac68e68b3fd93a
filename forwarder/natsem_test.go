package forwarder

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

var vip4b = netip.MustParseAddr("198.18.0.11")

// twoVIPs is two NAT services, VIP1:80 and VIP2:80, on one real server :80:
// the common case of one pool behind two names.
func twoVIPs() *service.Config {
	real := service.Real{Addr: realAddr(4, 1), Port: 80, Weight: 1, Method: service.MethodNAT}
	return &service.Config{Services: []service.Service{
		{Proto: service.TCP, Addr: vip4, Port: 80, Scheduler: "rr", Reals: []service.Real{real}},
		{Proto: service.TCP, Addr: vip4b, Port: 80, Scheduler: "rr", Reals: []service.Real{real}},
	}}
}

// fromClient and fromReal are the two ends of a NAT connection on port sport.
func fromClient(vip netip.Addr, sport uint16, syn, ack, fin bool) pkt {
	return pkt{src: client4, dst: vip, sport: sport, dport: 80, syn: syn, ack: ack, fin: fin}
}

func fromReal(sport uint16, syn, ack, fin bool) pkt { return fromRealN(1, sport, syn, ack, fin) }

func fromRealN(i int, sport uint16, syn, ack, fin bool) pkt {
	return pkt{src: realAddr(4, i), dst: client4, sport: 80, dport: sport, syn: syn, ack: ack, fin: fin,
		srcMAC: realMAC(i), dstMAC: macDirInt}
}

// TestTwoVIPsReplyClash: a client port reused towards the second VIP while
// the first VIP's connection on it is closing takes the reply tuple over; a
// live one is refused and counted as reply-clash, never as table-full.
func TestTwoVIPsReplyClash(t *testing.T) {
	e, mem := newTestEngine(t, twoVIPs())
	frames := func(ps ...pkt) [][]byte {
		var out [][]byte
		for _, p := range ps {
			out = append(out, buildFrame(t, p))
		}
		return out
	}
	// A connection to VIP1 from port 40000, closed by the client: TIME_WAIT.
	const port = 40000
	if out := run(e, mem, frames(
		fromClient(vip4, port, true, false, false), fromReal(port, true, true, false),
		fromClient(vip4, port, false, true, false), fromClient(vip4, port, false, true, true),
		fromReal(port, false, true, true), fromClient(vip4, port, false, true, false))...); len(out) != 6 {
		t.Fatalf("first connection: %d of 6 frames forwarded (drops %v)", len(out), e.Stats().Drops)
	}
	// The same client port to VIP2: the real server sees the same tuple.
	out := run(e, mem, buildFrame(t, fromClient(vip4b, port, true, false, false)))
	if len(out) != 1 {
		t.Fatalf("SYN to VIP2 on a reused port: dropped (%v)", e.Stats().Drops)
	}
	// Its reply leaves as from VIP2, not VIP1.
	out = run(e, mem, buildFrame(t, fromReal(port, true, true, false)))
	if len(out) != 1 {
		t.Fatalf("reply of the VIP2 connection dropped (%v)", e.Stats().Drops)
	}
	p := checkFrame(t, out[0].Data)
	if src := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4).SrcIP; !src.Equal(vip4b.AsSlice()) {
		t.Errorf("reply source %v, want VIP2 %v", src, vip4b)
	}

	// A live (established) connection to VIP1 keeps its tuple.
	const live = 40001
	if out := run(e, mem, frames(fromClient(vip4, live, true, false, false), fromReal(live, true, true, false),
		fromClient(vip4, live, false, true, false))...); len(out) != 3 {
		t.Fatalf("live connection: %d of 3 frames forwarded", len(out))
	}
	mem.Queue(0).Inject(buildFrame(t, fromClient(vip4b, live, true, false, false)))
	for e.workers[0].poll() == 0 {
	}
	if out := mem.Queue(0).Sent(); len(out) != 0 {
		t.Fatalf("SYN clashing with a live connection was forwarded")
	}
	drops := e.Stats().Drops
	if service.DropCount(drops, "mem/0", "reply-clash") != 1 || service.DropCount(drops, "mem/0", "table-full") != 0 {
		t.Errorf("drops %v, want one reply-clash and no table-full", drops)
	}
	// The live connection still answers.
	if out := run(e, mem, buildFrame(t, fromReal(live, false, true, false))); len(out) != 1 {
		t.Errorf("live connection's reply dropped")
	}
}

// TestConnReuseModes: a SYN from a reused client port on a closing entry,
// under each conn_reuse_mode: rescheduled (rr moves to the next real server)
// or continued on the old entry (same real server).
func TestConnReuseModes(t *testing.T) {
	cases := []struct {
		mode    int
		method  service.Method
		closing func(real int) []pkt // after the SYN that made the entry, to real server number real
		resched bool
	}{
		// NAT, client closed first: TIME_WAIT.
		{1, service.MethodNAT, natClientClose, true},
		{2, service.MethodNAT, natClientClose, true},
		{0, service.MethodNAT, natClientClose, false},
		// DR: the director sees the client's FIN only: FIN_WAIT.
		{1, service.MethodDR, drFinWait, false},
		{2, service.MethodDR, drFinWait, true},
		{0, service.MethodDR, drFinWait, false},
	}
	for _, tc := range cases {
		name := map[service.Method]string{service.MethodNAT: "nat", service.MethodDR: "dr"}[tc.method]
		t.Run(name+"/mode"+string(rune('0'+tc.mode)), func(t *testing.T) {
			reuse, err := ParseConnReuse(tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			if reuse.Mode() != tc.mode {
				t.Fatalf("mode %d round-trips as %d", tc.mode, reuse.Mode())
			}
			mem := linktest.NewMemBackend(1)
			cfg := testService(service.TCP, vip4, 80, "rr", tc.method, 80, 2)
			e, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 10, ConnReuse: reuse})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close() })
			syn := fromClient(vip4, 40000, true, false, false)
			out := run(e, mem, buildFrame(t, syn))
			if len(out) != 1 {
				t.Fatal("first SYN dropped")
			}
			first := out[0].Data[0:6]
			for _, p := range tc.closing(int(first[5])) {
				run(e, mem, buildFrame(t, p))
			}
			out = run(e, mem, buildFrame(t, syn))
			if len(out) != 1 {
				t.Fatalf("SYN on the reused port dropped (%v)", e.Stats().Drops)
			}
			moved := string(out[0].Data[0:6]) != string(first)
			if moved != tc.resched {
				t.Errorf("rescheduled %v, want %v", moved, tc.resched)
			}
		})
	}
	for _, bad := range []int{-1, 4} {
		if _, err := ParseConnReuse(bad); err == nil {
			t.Errorf("conn_reuse_mode %d accepted", bad)
		}
	}
}

func natClientClose(real int) []pkt {
	const port = 40000
	return []pkt{fromRealN(real, port, true, true, false), fromClient(vip4, port, false, true, false),
		fromClient(vip4, port, false, true, true), fromRealN(real, port, false, true, true), fromClient(vip4, port, false, true, false)}
}

func drFinWait(int) []pkt {
	const port = 40000
	return []pkt{fromClient(vip4, port, false, true, false), fromClient(vip4, port, false, true, true),
		fromClient(vip4, port, false, true, false)}
}

// TestTrashRevive: a real server deleted and re-added (same service, address
// and port) while its connections live gets them back, as IPVS's destination
// trash does; one that is not re-added loses them on their next packet.
func TestTrashRevive(t *testing.T) {
	for _, readd := range []bool{true, false} {
		name := map[bool]string{true: "re-added", false: "deleted"}[readd]
		t.Run(name, func(t *testing.T) {
			e, mem := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodDR, 80, 2))
			syn := fromClient(vip4, 40000, true, false, false)
			out := run(e, mem, buildFrame(t, syn))
			if len(out) != 1 {
				t.Fatal("SYN dropped")
			}
			n := int(out[0].Data[5]) // the real server's number, from its MAC
			key := e.Config().Services[0].Key()
			var real service.Real
			for _, r := range e.Config().Services[0].Reals {
				if r.Addr == realAddr(4, n) {
					real = r
				}
			}
			old := e.snap.Load().reals
			if err := e.Apply(func(c *service.Config) error { return c.DeleteReal(key, real.Key()) }); err != nil {
				t.Fatal(err)
			}
			if readd {
				if err := e.Apply(func(c *service.Config) error { return c.AddReal(key, real) }); err != nil {
					t.Fatal(err)
				}
			}
			ack := fromClient(vip4, 40000, false, true, false)
			out = run(e, mem, buildFrame(t, ack))
			if !readd {
				if len(out) != 0 || service.DropCount(e.Stats().Drops, "mem/0", "no-conn") != 1 {
					t.Fatalf("ACK of a deleted real's connection: sent %d, drops %v", len(out), e.Stats().Drops)
				}
				return
			}
			if len(out) != 1 || int(out[0].Data[5]) != n {
				t.Fatalf("ACK after the re-add: sent %d frames (drops %v), want to real %d", len(out), e.Stats().Drops, n)
			}
			var rs *realState
			for _, r := range e.snap.Load().services[0].reals {
				if r.addr == flow.Addr16(realAddr(4, n)) {
					rs = r
				}
			}
			if rs == nil || old[rs.id] == nil || old[rs.id].gen != rs.gen || old[rs.id].dest != rs.dest {
				t.Fatalf("re-added real server did not get its id, generation and counts back")
			}
			if a := rs.dest.ActiveConns(); a != 1 {
				t.Errorf("active connections %d, want 1", a)
			}
		})
	}
}

// TestTrashEmptied: a deleted real server without connections leaves the
// trash at once, and a re-add is a new real server.
func TestTrashEmptied(t *testing.T) {
	e, _ := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodDR, 80, 1))
	s := e.Config().Services[0]
	before := *e.snap.Load().services[0].reals[0]
	if err := e.Apply(func(c *service.Config) error { return c.DeleteReal(s.Key(), s.Reals[0].Key()) }); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(func(c *service.Config) error { return c.AddReal(s.Key(), s.Reals[0]) }); err != nil {
		t.Fatal(err)
	}
	after := e.snap.Load().services[0].reals[0]
	if after.id == before.id && after.gen == before.gen {
		t.Errorf("a real server without connections was revived (id %d gen %d)", after.id, after.gen)
	}
	for _, rs := range e.reg.services {
		if len(rs.trash) != 0 {
			t.Errorf("trash holds %d entries", len(rs.trash))
		}
	}
}

// TestServiceTotalsKept: deleting a real server keeps the service's
// counters (3000 connections stay 3000, not 2000); -Z clears them.
func TestServiceTotalsKept(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodDR, 80, 3))
	for i := 0; i < 30; i++ {
		run(e, mem, buildFrame(t, fromClient(vip4, uint16(41000+i), true, false, false)))
	}
	st := e.Stats().Services[0]
	if st.Counters.Conns != 30 || st.Counters.InPkts != 30 {
		t.Fatalf("before: %+v", st.Counters)
	}
	s := e.Config().Services[0]
	if err := e.Apply(func(c *service.Config) error { return c.DeleteReal(s.Key(), s.Reals[0].Key()) }); err != nil {
		t.Fatal(err)
	}
	st = e.Stats().Services[0]
	if len(st.Reals) != 2 || st.Counters.Conns != 30 || st.Counters.InPkts != 30 {
		t.Errorf("after -d: %d reals, %+v; want the totals kept", len(st.Reals), st.Counters)
	}
	if err := e.ZeroStats(nil); err != nil {
		t.Fatal(err)
	}
	if c := e.Stats().Services[0].Counters; c != (service.Counters{}) {
		t.Errorf("after -Z: %+v", c)
	}
}

// TestRouteWarning: adding a real server no served interface routes to is
// answered with a warning (and a log line), and the change is made.
func TestRouteWarning(t *testing.T) {
	router := testRouter()
	router.Default4 = nil // only the reals 198.18.1.1-8 are reachable
	e, err := New(Options{Backend: linktest.NewMemBackend(1), Router: router, TableCapacity: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	cfg := testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 1)
	far := service.Real{Addr: netip.MustParseAddr("198.19.9.9"), Port: 8080, Weight: 1, Method: service.MethodNAT}
	cfg.Services[0].Reals = append(cfg.Services[0].Reals, far)
	warnings, err := e.ApplyWarn(func(c *service.Config) error { *c = *cfg; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "198.19.9.9:8080") || !strings.Contains(warnings[0], "no route") {
		t.Fatalf("warnings %q, want one about 198.19.9.9:8080", warnings)
	}
	if n := len(e.Config().Services[0].Reals); n != 2 {
		t.Errorf("%d reals installed, want 2", n)
	}
	// An unrelated change does not repeat it.
	warnings, err = e.ApplyWarn(func(c *service.Config) error { c.Services[0].Scheduler = "wrr"; return nil })
	if err != nil || len(warnings) != 0 {
		t.Errorf("second apply: %v %q", err, warnings)
	}
}
