package forwarder

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

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
	if drops["mem/0/reply-clash"] != 1 || drops["mem/0/table-full"] != 0 {
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
			mem := NewMemBackend(1)
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
